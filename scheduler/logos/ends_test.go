package logos

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/core"
)

// stepLife is a lifecycle of one always-awake deployment (1) with a step
// model, so the policy records a run-time bound for what it dispatches.
type stepLife struct{}

func (stepLife) Deployments() []int64 { return []int64{1} }

func (stepLife) Lane(dep int64) (scheduler.LaneSpec, bool) {
	if dep != 1 {
		return scheduler.LaneSpec{}, false
	}
	return scheduler.LaneSpec{Node: 1, State: scheduler.LaneAwake, StepTime: 20 * time.Millisecond, StepPerSeq: time.Millisecond}, true
}

func (stepLife) Transition(context.Context, int64, scheduler.Transition, int) error { return nil }

// leftCtx is a context whose client has left (Err is Canceled) without its
// Done channel firing: a grant reaches the waiter, which then finds nobody
// to take it, deterministically.
type leftCtx struct {
	context.Context
	left atomic.Bool
}

func (c *leftCtx) Err() error {
	if c.left.Load() {
		return context.Canceled
	}
	return nil
}

// TestRunEndsForgottenOnEveryPath: through the production adapter, a request
// that runs and is released, one cancelled or timed out while it waits, one
// granted after its client left (the adapter releases the grant nobody
// takes), and one whose client leaves just as it is dispatched (either of
// the two, whichever wins) all leave nothing behind in the policy: its
// per-request maps stay empty however many requests pass. Not covered: a
// dispatch the adapter refuses as illegal, which no path of this policy
// produces.
func TestRunEndsForgottenOnEveryPath(t *testing.T) {
	p := New(Config{})
	a := core.NewAdapter(p, core.AdapterConfig{Lifecycle: stepLife{}})
	t.Cleanup(func() { _ = a.Close() })
	n := 0
	job := func(timeout time.Duration) scheduler.Job {
		n++
		return scheduler.Job{
			RequestID:       fmt.Sprint("r", n),
			Candidates:      []scheduler.Candidate{{DeploymentID: 1, Capacity: 1, Weight: 1}},
			EstimatedTokens: 100,
			Timeout:         timeout,
		}
	}
	// queued starts an Acquire that must wait (the one slot is taken) and
	// returns once the adapter holds it.
	queued := func(ctx context.Context) <-chan error {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			l, err := a.Acquire(ctx, job(time.Minute))
			if l != nil {
				l.Release(scheduler.Outcome{})
			}
			done <- err
		}()
		for deadline := time.Now().Add(10 * time.Second); a.State().QueueDepth != 1; time.Sleep(50 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatal("the second request never queued")
			}
		}
		return done
	}
	// sizes reads the maps under the adapter's lock (State takes it, and
	// every call that touched the policy has returned).
	sizes := func() (ends, where, soft int) {
		a.State()
		return len(p.ends), len(p.where), len(p.soft)
	}

	const rounds = 300
	var raceGranted, raceCancelled int
	for i := range rounds {
		// Runs and is released.
		first, err := a.Acquire(context.Background(), job(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if e, _, _ := sizes(); e != 1 {
			t.Fatalf("round %d: %d run ends recorded for one running request; want 1 (else this test proves nothing)", i, e)
		}

		// Cancelled while it waits.
		ctx, cancel := context.WithCancel(context.Background())
		done := queued(ctx)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: cancelled waiter: %v", i, err)
		}

		// Times out while it waits.
		if _, err := a.Acquire(context.Background(), job(time.Millisecond)); !errors.Is(err, scheduler.ErrQueueTimeout) {
			t.Fatalf("round %d: waiter past its timeout: %v", i, err)
		}

		// Granted after its client left: released unused by the adapter.
		lctx := &leftCtx{Context: context.Background()}
		done = queued(lctx)
		lctx.left.Store(true)
		first.Release(scheduler.Outcome{})
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: grant for a client that left: %v, want context.Canceled", i, err)
		}
		if e, _, _ := sizes(); e != 0 {
			t.Fatalf("round %d: %d run ends left by a grant nobody took", i, e)
		}
		if first, err = a.Acquire(context.Background(), job(time.Minute)); err != nil {
			t.Fatal(err)
		}

		// Leaves as the slot frees: dispatched then released unused, or
		// cancelled in the queue, whichever wins.
		ctx, cancel = context.WithCancel(context.Background())
		done = queued(ctx)
		go cancel()
		first.Release(scheduler.Outcome{})
		switch err := <-done; {
		case err == nil:
			raceGranted++
		case errors.Is(err, context.Canceled):
			raceCancelled++
		default:
			t.Fatalf("round %d: leaving waiter: %v", i, err)
		}
		cancel()

		if e, w, s := sizes(); e != 0 || w != 0 || s != 0 {
			t.Fatalf("round %d: with nothing running or waiting the policy holds %d run ends, %d waiters, %d soft lanes; want none", i, e, w, s)
		}
	}
	t.Logf("%d rounds; the leaving waiter was granted %d times, cancelled %d times", rounds, raceGranted, raceCancelled)
}
