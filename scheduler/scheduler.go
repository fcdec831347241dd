// Package scheduler defines how Logos admits requests onto limited backends: a
// Scheduler grants a Lease on one deployment when a request may run, queueing it
// by priority until then.
package scheduler

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors of Acquire.
var (
	// ErrQueueTimeout means the job waited longer than its queue timeout.
	ErrQueueTimeout = errors.New("scheduler: queue wait timeout")
	// ErrNoCandidates means the job named no deployment.
	ErrNoCandidates = errors.New("scheduler: no candidates")
	// ErrClosed means the scheduler was closed.
	ErrClosed = errors.New("scheduler: closed")
)

// Priority orders queued jobs; higher runs first.
type Priority int

// Priority levels.
const (
	PriorityLow    Priority = 1
	PriorityNormal Priority = 5
	PriorityHigh   Priority = 10
)

// Candidate is one deployment a job may run on.
type Candidate struct {
	DeploymentID int64
	ModelID      int64
	ProviderID   int64
	Weight       float64 // classification weight; higher is better
	// Capacity is how many requests may run on the deployment at once;
	// 0 means unlimited. The latest value seen is used.
	Capacity int
}

// Job asks to run one request.
type Job struct {
	RequestID  string
	Candidates []Candidate // best first
	Priority   Priority
	// Timeout bounds the time spent waiting in the queue; 0 means the
	// scheduler's default.
	Timeout         time.Duration
	EstimatedTokens int
}

// Outcome is reported when a lease is released, so a scheduler can learn.
type Outcome struct {
	Err        error
	StatusCode int
	Latency    time.Duration
	Tokens     int64
	// TTFT is the time from forwarding to the first byte of the answer;
	// 0 when none arrived.
	TTFT time.Duration
	// RateLimit is the upstream's rate-limit state after the response.
	RateLimit UpstreamLimit
}

// Scheduler admits jobs. Acquire blocks until a deployment is free, the job's
// queue timeout passes (ErrQueueTimeout) or ctx ends (ctx.Err()); a job that
// gives up leaves the queue. Every granted Lease must be released exactly once;
// Release is idempotent.
type Scheduler interface {
	Acquire(ctx context.Context, j Job) (*Lease, error)
}

// BestModel returns the leading candidates that share the first one's
// weight: the deployments of the best model, as a scheduler that waits for
// the best model (rather than taking a free second-best one) considers them.
// c must be ordered best first, as Job.Candidates is.
func BestModel(c []Candidate) []Candidate {
	for i := 1; i < len(c); i++ {
		if c[i].Weight != c[0].Weight {
			return c[:i]
		}
	}
	return c
}
