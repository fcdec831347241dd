// Package classify picks a model when a client states a policy instead of
// naming one: a Classifier ranks the models a caller may use, best first.
//
// Pipeline is the built-in Classifier. It runs the three stages of the
// original Logos — a policy stage (hard privacy and cost filters, soft
// latency/accuracy/quality scores), a tag stage (model tags found in the
// system prompt) and a similarity stage (prompt against model descriptions) —
// and combines them with a Balancer. ParseModelString reads the logos-v model
// strings clients use to state a policy in the model field.
package classify

import (
	"context"
	"errors"
	"fmt"
)

// Privacy levels, least to most permissive. They are the values of
// store.Privacy.
const (
	PrivacyLocal                    = "LOCAL"
	PrivacyCloudInEUByEUProvider    = "CLOUD_IN_EU_BY_EU_PROVIDER"
	PrivacyCloudInEUByUSProvider    = "CLOUD_IN_EU_BY_US_PROVIDER"
	PrivacyCloudNotInEUByUSProvider = "CLOUD_NOT_IN_EU_BY_US_PROVIDER"
)

// privacyRank returns the position of a privacy level in the permissiveness
// order (LOCAL = 0), or -1 for an unknown level.
func privacyRank(p string) int {
	switch p {
	case PrivacyLocal:
		return 0
	case PrivacyCloudInEUByEUProvider:
		return 1
	case PrivacyCloudInEUByUSProvider:
		return 2
	case PrivacyCloudNotInEUByUSProvider:
		return 3
	}
	return -1
}

func validPrivacy(p string) bool { return privacyRank(p) >= 0 }

// Filter names of the policy stage's hard filters, as NoModelError reports them.
const (
	FilterNone            = "none" // the caller may use no model at all
	FilterPrivacy         = "privacy"
	FilterProviderPrivacy = "provider_privacy"
	FilterCost            = "cost"
)

// ErrNoModelPassed is wrapped by the error a Classifier returns when no model
// passes the policy.
var ErrNoModelPassed = errors.New("no model passed the policy")

// ErrInvalidPolicy means a policy names an unknown privacy level.
var ErrInvalidPolicy = errors.New("invalid policy")

// NoModelError says which hard filter removed the last candidates.
type NoModelError struct {
	Filter string // one of the Filter constants
	Models int    // how many models the caller may use
}

// Error names the filter.
func (e *NoModelError) Error() string {
	switch e.Filter {
	case FilterNone:
		return "no model passed the policy: the caller may use no model"
	case FilterProviderPrivacy:
		return fmt.Sprintf("no model passed the policy: the privacy filter removed every provider of the %d models left", e.Models)
	}
	return fmt.Sprintf("no model passed the policy: the %s filter removed the last of %d models", e.Filter, e.Models)
}

// Unwrap lets errors.Is match ErrNoModelPassed.
func (e *NoModelError) Unwrap() error { return ErrNoModelPassed }

// Provider is a provider that serves a model, as the privacy filter sees it.
type Provider struct {
	ID      int64
	Privacy string // "" = not set: only the model's privacy counts
}

// Model is what a classifier knows of a model.
type Model struct {
	ID          int64
	Name        string
	Privacy     string // a privacy level
	Latency     int
	Accuracy    int
	Cost        int // higher = cheaper
	Quality     int
	Tags        string // space separated
	Description string
	Parallel    int
	// Providers serving the model. When listed, a provider whose privacy is
	// set must pass the privacy filter too, and a model none of whose
	// providers pass is removed. Empty means the model's privacy decides.
	Providers []Provider
}

// Policy holds the thresholds a request must satisfy. The latency, accuracy,
// cost and quality thresholds are in the rank space of the model weights;
// 1024 means "the best of the models still in the running", -1024 "the
// worst" (for cost: of those that passed the privacy filters; for the soft
// thresholds: of those that passed every filter).
type Policy struct {
	ID               int64
	ThresholdPrivacy string // "" = the most permissive level
	Latency          int
	Accuracy         int
	Cost             int
	Quality          int
	Priority         int
}

// DefaultPolicy is the policy of requests that state none: every privacy
// level, every cost, neutral soft thresholds (the original's ProxyPolicy).
func DefaultPolicy() Policy {
	return Policy{ThresholdPrivacy: PrivacyCloudNotInEUByUSProvider, Cost: -1024}
}

// Request is one classification.
type Request struct {
	System string  // last system prompt
	User   string  // last user prompt
	Policy Policy  // thresholds
	Models []Model // the models the caller may use
}

// Scores are a candidate's per-stage scores before weighting.
type Scores struct {
	Policy     float64 // sum of three sigmoids, in (0, 3)
	Token      float64 // share of the model's tags found in the system prompt, [0, 1]
	Similarity float64 // prompt against description, [0, 1]
}

// Candidate is a ranked model.
type Candidate struct {
	ModelID  int64
	Weight   float64
	Priority int
	Scores   Scores
	// Providers are the providers that passed the privacy filter; nil means
	// all of the model's providers.
	Providers []int64
	// Similarity names the similarity implementation that answered
	// ("lexical", "embeddings", "lexical_fallback"); empty for a classifier
	// that does not say.
	Similarity string
}

// Classifier ranks models for a request, best first. When no model passes the
// policy it returns an error wrapping ErrNoModelPassed (ideally a
// *NoModelError); an empty result without error means the same.
type Classifier interface {
	Classify(ctx context.Context, r Request) ([]Candidate, error)
}

// ClassifierFunc adapts a function to the Classifier interface.
type ClassifierFunc func(ctx context.Context, r Request) ([]Candidate, error)

// Classify calls f.
func (f ClassifierFunc) Classify(ctx context.Context, r Request) ([]Candidate, error) {
	return f(ctx, r)
}

// CatalogueReceiver is implemented by classifiers that prepare the catalogue
// ahead of requests. The gateway calls SetModels with every model after each
// catalogue change; the next request sees the new snapshot.
type CatalogueReceiver interface {
	SetModels(models []Model)
}
