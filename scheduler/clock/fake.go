package clock

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Fake is a Clock whose time moves only when Advance or AdvanceTo is called.
// Timers fire from inside those calls, in order of their due time (ties in the
// order they were created), and Now reports each timer's due time while its
// function runs. Timer functions run without Fake's lock held, so they may use
// the clock, including arming new timers; a timer armed with d <= 0 is due at
// once and fires on the next Advance, never inside AfterFunc.
//
// A Fake is safe for concurrent use. The zero value is not usable; call NewFake.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  timerHeap
	seq     uint64
	changed chan struct{} // closed and replaced whenever the set of timers changes
}

// NewFake returns a Fake clock reading start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// AfterFunc arranges for fn to be called when the fake time reaches Now()+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	d = max(d, 0)
	t := &fakeTimer{clock: f, when: f.now.Add(d), seq: f.seq, fn: fn}
	f.seq++
	heap.Push(&f.timers, t)
	f.notifyLocked()
	return t
}

// Advance moves the time forward by d, firing every timer that falls due on
// the way. A negative d is treated as 0.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	target := f.now.Add(max(d, 0))
	f.mu.Unlock()
	f.AdvanceTo(target)
}

// AdvanceTo moves the time forward to t, firing every timer due at or before
// t. If t is before Now, only the timers already due fire and the time stays.
func (f *Fake) AdvanceTo(t time.Time) {
	f.mu.Lock()
	for len(f.timers) > 0 && !f.timers[0].when.After(t) {
		next := heap.Pop(&f.timers).(*fakeTimer)
		if next.when.After(f.now) {
			f.now = next.when
		}
		f.notifyLocked()
		f.mu.Unlock()
		next.fn()
		f.mu.Lock()
	}
	if t.After(f.now) {
		f.now = t
	}
	f.mu.Unlock()
}

// Pending returns the number of timers that have neither fired nor been
// stopped.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// Next returns the due time of the earliest pending timer; ok is false when
// none is pending. A simulator advances to it to process the next event.
func (f *Fake) Next() (t time.Time, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.timers) == 0 {
		return time.Time{}, false
	}
	return f.timers[0].when, true
}

// BlockUntil waits until at least n timers are pending or ctx ends, in which
// case it returns ctx.Err(). Tests use it to know that a goroutine has armed
// its timer before they advance the clock.
func (f *Fake) BlockUntil(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		pending, changed := len(f.timers), f.changed
		f.mu.Unlock()
		if pending >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notifyLocked wakes BlockUntil callers; f.mu must be held.
func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

type fakeTimer struct {
	clock *Fake
	when  time.Time
	seq   uint64
	fn    func()
	index int // position in the heap; -1 once fired or stopped
}

// Stop removes the timer if it is still pending.
func (t *fakeTimer) Stop() bool {
	f := t.clock
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&f.timers, t.index)
	f.notifyLocked()
	return true
}

// timerHeap orders timers by due time, then creation order.
type timerHeap []*fakeTimer

func (h timerHeap) Len() int { return len(h) }

func (h timerHeap) Less(i, j int) bool {
	if !h[i].when.Equal(h[j].when) {
		return h[i].when.Before(h[j].when)
	}
	return h[i].seq < h[j].seq
}

func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) Push(x any) {
	t := x.(*fakeTimer)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.index = -1
	*h = old[:n-1]
	return t
}
