package scheduler

import (
	"sync"
	"time"
)

// Lease is the right to run one job on one deployment.
type Lease struct {
	candidate Candidate
	queueWait time.Duration
	coldStart bool
	once      sync.Once
	release   func(Outcome)
}

// NewLease returns a lease on c. release is called once, by the first Release.
func NewLease(c Candidate, queueWait time.Duration, coldStart bool, release func(Outcome)) *Lease {
	return &Lease{candidate: c, queueWait: queueWait, coldStart: coldStart, release: release}
}

// Candidate returns the deployment the lease is for.
func (l *Lease) Candidate() Candidate { return l.candidate }

// QueueWait returns how long the job waited before it was admitted.
func (l *Lease) QueueWait() time.Duration { return l.queueWait }

// ColdStart reports whether the model was expected to need loading.
func (l *Lease) ColdStart() bool { return l.coldStart }

// Release gives the slot back and reports the outcome. Only the first call has
// an effect; it is safe to call from several goroutines.
func (l *Lease) Release(o Outcome) {
	l.once.Do(func() {
		if l.release != nil {
			l.release(o)
		}
	})
}
