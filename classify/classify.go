// Package classify defines how Logos picks a model when a client states a policy
// instead of naming one: a Classifier ranks the models a caller may use.
package classify

import "context"

// Model is what a classifier knows of a model.
type Model struct {
	ID          int64
	Name        string
	Privacy     string // a privacy level, see store.Privacy
	Latency     int
	Accuracy    int
	Cost        int
	Quality     int
	Tags        string
	Description string
	Parallel    int
}

// Policy holds the thresholds a request must satisfy.
type Policy struct {
	ID               int64
	ThresholdPrivacy string
	Latency          int
	Accuracy         int
	Cost             int
	Quality          int
	Priority         int
}

// Request is one classification.
type Request struct {
	System string  // last system prompt
	User   string  // last user prompt
	Policy Policy  // thresholds
	Models []Model // the models the caller may use
}

// Candidate is a ranked model.
type Candidate struct {
	ModelID  int64
	Weight   float64
	Priority int
}

// Classifier ranks models for a request, best first. An empty result means no
// model passed the policy.
type Classifier interface {
	Classify(ctx context.Context, r Request) ([]Candidate, error)
}

// ClassifierFunc adapts a function to the Classifier interface.
type ClassifierFunc func(ctx context.Context, r Request) ([]Candidate, error)

// Classify calls f.
func (f ClassifierFunc) Classify(ctx context.Context, r Request) ([]Candidate, error) {
	return f(ctx, r)
}
