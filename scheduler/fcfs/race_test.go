package fcfs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/clock"
)

// TestGrantRacingCancelIsHandedOn makes a grant and a context cancellation
// meet: the grant is decided while the waiter is already woken by its
// cancelled context. The waiter must return ctx.Err() and the slot must go to
// the next waiter instead of leaking.
func TestGrantRacingCancelIsHandedOn(t *testing.T) {
	for i := range 20 {
		fc := clock.NewFake(epoch)
		s, err := New(Config{Clock: fc})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Acquire(context.Background(), *job("held", normal, cand(1, 1))); err != nil {
			t.Fatal(err)
		}
		type result struct {
			lease *scheduler.Lease
			err   error
		}
		acquire := func(ctx context.Context, id string) <-chan result {
			ch := make(chan result, 1)
			go func() {
				l, err := s.Acquire(ctx, *job(id, normal, cand(1, 1)))
				ch <- result{l, err}
			}()
			return ch
		}
		ctx, cancel := context.WithCancel(context.Background())
		b := acquire(ctx, "b")
		waitTimers(t, fc, 1)
		c := acquire(context.Background(), "c")
		waitTimers(t, fc, 2)

		s.mu.Lock()
		cancel()
		if i%2 == 0 {
			time.Sleep(5 * time.Millisecond) // b wakes and waits for the lock
		}
		// Release the held slot without its lease: the grant goes to b.
		g, ok := s.core.Release(1, fc.Now())
		if !ok || g.Entry.RequestID() != "b" {
			s.mu.Unlock()
			t.Fatalf("grant = %+v, %v; want b", g, ok)
		}
		s.deliverLocked(g)
		s.mu.Unlock()

		rb := <-b
		if !errors.Is(rb.err, context.Canceled) || rb.lease != nil {
			t.Fatalf("b = %+v, want context.Canceled and no lease", rb)
		}
		rc := <-c
		if rc.err != nil {
			t.Fatalf("c = %v, want the slot b gave back", rc.err)
		}
		if st := s.State(); st.QueueDepth != 0 || st.Deployments[0].Active != 1 {
			t.Fatalf("state = %+v, want c's lease only", st)
		}
		rc.lease.Release(scheduler.Outcome{})
		if st := s.State(); st.Deployments[0].Active != 0 {
			t.Fatalf("state after release = %+v", st)
		}
		s.Close()
	}
}

func waitTimers(t *testing.T, fc *clock.Fake, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fc.BlockUntil(ctx, n); err != nil {
		t.Fatal(err)
	}
}
