package pipeline

import (
	"fmt"
	"testing"
	"time"
)

// TestBreakerLifecycle walks one deployment's breaker through its states
// with explicit times: consecutive failures open it, the cool-off keeps it
// open, then one probe may pass (half open), a failed probe opens it again,
// an abandoned probe frees it for the next, and a successful one closes it.
func TestBreakerLifecycle(t *testing.T) {
	const id = 7
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	b := NewBreakers(3, 10*time.Second)
	state := func(at time.Time, want BreakerState, blocked bool) {
		t.Helper()
		if got := b.State(id, at); got != want {
			t.Fatalf("state at +%v = %v, want %v", at.Sub(t0), got, want)
		}
		if got := b.Blocked(id, at); got != blocked {
			t.Fatalf("blocked at +%v = %v, want %v", at.Sub(t0), got, blocked)
		}
	}
	state(t0, BreakerClosed, false)
	b.Failed(id, t0)
	b.Failed(id, t0)
	b.Succeeded(id) // not consecutive any more
	b.Failed(id, t0)
	b.Failed(id, t0)
	state(t0, BreakerClosed, false)
	b.Failed(id, t0)
	state(t0, BreakerOpen, true)
	state(t0.Add(9*time.Second), BreakerOpen, true)
	if b.Opened() != 1 {
		t.Fatalf("opened %d times", b.Opened())
	}
	if b.Blocked(id+1, t0) {
		t.Fatal("another deployment is blocked")
	}

	// Cool-off over: one probe.
	t1 := t0.Add(10 * time.Second)
	state(t1, BreakerHalfOpen, false)
	b.Begin(id, t1)
	state(t1, BreakerHalfOpen, true) // the probe is in flight
	b.Failed(id, t1)
	state(t1, BreakerOpen, true) // failed probe: open again, from t1
	state(t1.Add(9*time.Second), BreakerOpen, true)

	t2 := t1.Add(10 * time.Second)
	b.Begin(id, t2)
	b.Abandoned(id) // the client left: nothing learnt
	state(t2, BreakerHalfOpen, false)
	b.Begin(id, t2)
	b.Succeeded(id)
	state(t2, BreakerClosed, false)
	if b.tracked.Load() != 0 {
		t.Fatalf("closed breaker still tracked: %d", b.tracked.Load())
	}
	if b.Opened() != 2 {
		t.Fatalf("opened %d times, want 2", b.Opened())
	}
	var n int
	b.Each(t2, func(int64, BreakerState) { n++ })
	if n != 0 {
		t.Fatalf("%d breakers reported after closing", n)
	}
}

// TestBackoffIsJitteredAndBounded checks the backoff's range, not time.
func TestBackoffIsJitteredAndBounded(t *testing.T) {
	x := &exchange{p: &Pipeline{cfg: Config{RetryBackoff: 100 * time.Millisecond}}}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 30: maxRetryBackoff} {
		for range 50 {
			if d := x.backoff(n); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
	x.p.cfg.RetryBackoff = -1
	if d := x.backoff(3); d != 0 {
		t.Fatalf("negative base: backoff %v", d)
	}
}

func ExampleBreakers() {
	b := NewBreakers(2, 30*time.Second)
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	b.Failed(42, now)
	b.Failed(42, now) // the second consecutive failure opens it
	fmt.Println(b.State(42, now), b.Blocked(42, now))
	later := now.Add(30 * time.Second)
	fmt.Println(b.State(42, later), b.Blocked(42, later)) // one probe may pass
	b.Begin(42, later)
	b.Succeeded(42)
	fmt.Println(b.State(42, later))
	// Output:
	// open true
	// half_open false
	// closed
}
