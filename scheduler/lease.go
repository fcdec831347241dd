package scheduler

import (
	"sync"
	"time"
)

// Lease is the right to run one job on one deployment.
type Lease struct {
	candidate Candidate
	info      LeaseInfo
	once      sync.Once
	release   func(Outcome)
}

// NewLease returns a lease on c. release is called once, by the first Release.
func NewLease(c Candidate, queueWait time.Duration, coldStart bool, release func(Outcome)) *Lease {
	return &Lease{candidate: c, info: LeaseInfo{QueueWait: queueWait, ColdStart: coldStart}, release: release}
}

// NewLeaseInfo returns a lease on c described by info. release is called
// once, by the first Release.
func NewLeaseInfo(c Candidate, info LeaseInfo, release func(Outcome)) *Lease {
	return &Lease{candidate: c, info: info, release: release}
}

// Info returns what the scheduler told about the grant.
func (l *Lease) Info() LeaseInfo { return l.info }

// Candidate returns the deployment the lease is for.
func (l *Lease) Candidate() Candidate { return l.candidate }

// QueueWait returns how long the job waited before it was admitted.
func (l *Lease) QueueWait() time.Duration { return l.info.QueueWait }

// ColdStart reports whether the job waited for its model to be loaded or
// woken.
func (l *Lease) ColdStart() bool { return l.info.ColdStart }

// Release gives the slot back and reports the outcome. Only the first call has
// an effect; it is safe to call from several goroutines.
func (l *Lease) Release(o Outcome) {
	l.once.Do(func() {
		if l.release != nil {
			l.release(o)
		}
	})
}
