package pipeline

import (
	"sync"
	"sync/atomic"
	"time"
)

// BreakerState is the state of one deployment's circuit breaker.
type BreakerState int

// Breaker states.
const (
	// BreakerClosed lets requests through.
	BreakerClosed BreakerState = iota
	// BreakerOpen keeps requests away until the cool-off has passed.
	BreakerOpen
	// BreakerHalfOpen lets one probe request through; its success closes
	// the breaker, its failure opens it again.
	BreakerHalfOpen
)

// String returns "closed", "open" or "half_open".
func (s BreakerState) String() string {
	switch s {
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half_open"
	default:
		return "closed"
	}
}

// Breakers are the per-deployment circuit breakers: Threshold consecutive
// failures (connection errors, timeouts before headers, 5xx answers) open a
// deployment's breaker, which keeps it out of requests' candidates for
// CoolOff; then one probe request may use it, and its success closes the
// breaker while its failure opens it again. Deployments that never failed
// cost one atomic load per request. It is safe for concurrent use.
type Breakers struct {
	threshold int
	coolOff   time.Duration

	// tracked counts the deployments with a state (one failure or more);
	// zero means every breaker is closed and nothing need be looked up.
	tracked atomic.Int64
	mu      sync.Mutex
	states  map[int64]*breaker
	opened  atomic.Int64 // breakers opened, ever
}

type breaker struct {
	failures int
	state    BreakerState
	openedAt time.Time
	probing  bool // a half-open probe is in flight
}

// NewBreakers returns breakers opening after threshold consecutive failures
// (default 5) for coolOff (default 30s).
func NewBreakers(threshold int, coolOff time.Duration) *Breakers {
	if threshold <= 0 {
		threshold = 5
	}
	if coolOff <= 0 {
		coolOff = 30 * time.Second
	}
	return &Breakers{threshold: threshold, coolOff: coolOff, states: map[int64]*breaker{}}
}

// Blocked reports whether a request must not try the deployment at now: its
// breaker is open and cooling off, or half open with its probe in flight.
func (b *Breakers) Blocked(deploymentID int64, now time.Time) bool {
	if b == nil || b.tracked.Load() == 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.blockedLocked(deploymentID, now)
}

// tracking reports whether any deployment has a breaker state (failures
// counted or open). While none has, every deployment may be used and the
// per-request checks cost one atomic load.
func (b *Breakers) tracking() bool { return b != nil && b.tracked.Load() != 0 }

// keep returns the items of s whose deployment's breaker lets a request
// through at now, taking the lock once. It returns s itself when it drops
// none.
func keep[T any](b *Breakers, now time.Time, s []T, id func(T) int64) []T {
	if !b.tracking() {
		return s
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []T
	for i, v := range s {
		if !b.blockedLocked(id(v), now) {
			if out != nil {
				out = append(out, v)
			}
			continue
		}
		if out == nil {
			out = append(make([]T, 0, len(s)-1), s[:i]...)
		}
	}
	if out == nil {
		return s
	}
	return out
}

// blockedLocked is Blocked with b.mu held.
func (b *Breakers) blockedLocked(deploymentID int64, now time.Time) bool {
	s := b.states[deploymentID]
	switch {
	case s == nil:
		return false
	case s.state == BreakerOpen:
		return now.Sub(s.openedAt) < b.coolOff
	case s.state == BreakerHalfOpen:
		return s.probing
	}
	return false
}

// Begin is called when an attempt on the deployment starts: an open
// breaker whose cool-off has passed becomes half open, with this attempt as
// its probe. Every Begin is followed by one Succeeded, Failed or Abandoned.
func (b *Breakers) Begin(deploymentID int64, now time.Time) {
	if b == nil || b.tracked.Load() == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.states[deploymentID]
	if s == nil {
		return
	}
	if s.state == BreakerOpen && now.Sub(s.openedAt) >= b.coolOff {
		s.state = BreakerHalfOpen
	}
	if s.state == BreakerHalfOpen {
		s.probing = true
	}
}

// Succeeded reports that the deployment answered (any status but a 5xx or
// a 429): its breaker closes.
func (b *Breakers) Succeeded(deploymentID int64) {
	if b == nil || b.tracked.Load() == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.states[deploymentID]; ok {
		delete(b.states, deploymentID)
		b.tracked.Add(-1)
	}
}

// Failed reports a failure of the deployment at now.
func (b *Breakers) Failed(deploymentID int64, now time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.states[deploymentID]
	if s == nil {
		s = &breaker{}
		b.states[deploymentID] = s
		b.tracked.Add(1)
	}
	s.failures++
	if s.state == BreakerHalfOpen || (s.state == BreakerClosed && s.failures >= b.threshold) {
		s.state, s.openedAt, s.probing = BreakerOpen, now, false
		b.opened.Add(1)
	}
}

// Abandoned reports that an attempt ended without telling whether the
// deployment works (the client left, a 429): a probe it was frees the
// half-open breaker for the next request.
func (b *Breakers) Abandoned(deploymentID int64) {
	if b == nil || b.tracked.Load() == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.states[deploymentID]; s != nil {
		s.probing = false
	}
}

// State returns the breaker state of a deployment at now.
func (b *Breakers) State(deploymentID int64, now time.Time) BreakerState {
	if b == nil || b.tracked.Load() == 0 {
		return BreakerClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stateLocked(b.states[deploymentID], now)
}

func (b *Breakers) stateLocked(s *breaker, now time.Time) BreakerState {
	switch {
	case s == nil:
		return BreakerClosed
	case s.state == BreakerOpen && now.Sub(s.openedAt) >= b.coolOff:
		// Due for a probe: the next request may use it.
		return BreakerHalfOpen
	}
	return s.state
}

// Each calls fn with every deployment whose breaker is not closed (or has
// failures counted towards opening it), for metrics.
func (b *Breakers) Each(now time.Time, fn func(deploymentID int64, s BreakerState)) {
	if b == nil {
		return
	}
	type entry struct {
		id int64
		s  BreakerState
	}
	b.mu.Lock()
	all := make([]entry, 0, len(b.states))
	for id, s := range b.states {
		all = append(all, entry{id, b.stateLocked(s, now)})
	}
	b.mu.Unlock()
	for _, e := range all {
		fn(e.id, e.s)
	}
}

// Opened returns how many times a breaker opened (for metrics).
func (b *Breakers) Opened() int64 {
	if b == nil {
		return 0
	}
	return b.opened.Load()
}

// EachState calls fn with every deployment that has a breaker state, by
// state name (monitor.BreakerSource).
func (b *Breakers) EachState(fn func(deploymentID int64, state string)) {
	b.Each(time.Now(), func(id int64, s BreakerState) { fn(id, s.String()) })
}
