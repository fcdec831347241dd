// Package schedulertest checks that a scheduler.Scheduler behaves as the
// interface promises: grants within capacity, hand-over on release, queue
// timeouts, context cancellation that leaves the queue, idempotent release and
// no leaked slots or goroutines. Every implementation should pass Run.
package schedulertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler"
)

// Timing of the suite. Waits that must end are bounded by long, so a slow or
// loaded machine does not fail the suite; waits that must not succeed use
// short.
const (
	long  = 5 * time.Second
	short = 50 * time.Millisecond
)

// Run checks the behaviour every Scheduler must have. newScheduler is called
// once per subtest and must return a fresh scheduler using the real clock.
// Schedulers that implement io.Closer are closed at the end of each subtest
// and are also checked to end waits with scheduler.ErrClosed; those that
// implement scheduler.StateReporter are also checked for priority order and an
// empty, idle state after their work.
func Run(t *testing.T, newScheduler func() scheduler.Scheduler) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s scheduler.Scheduler)
	}{
		{"NoCandidates", testNoCandidates},
		{"GrantAndRelease", testGrantAndRelease},
		{"CapacityIsRespected", testCapacityIsRespected},
		{"ReleaseHandsOver", testReleaseHandsOver},
		{"QueueTimeout", testQueueTimeout},
		{"CancelLeavesQueue", testCancelLeavesQueue},
		{"ReleaseIsIdempotent", testReleaseIsIdempotent},
		{"MultipleCandidates", testMultipleCandidates},
		{"Concurrent", testConcurrent},
		{"PriorityOrder", testPriorityOrder},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			CheckGoroutines(t)
			s := newScheduler()
			if c, ok := s.(io.Closer); ok {
				t.Cleanup(func() {
					if err := c.Close(); err != nil {
						t.Errorf("Close() = %v", err)
					}
				})
			}
			tt.fn(t, s)
		})
	}
}

// CheckGoroutines records how many goroutines are running and, when the test
// ends (after the cleanups registered later), fails it if more are still
// running once a grace period has passed.
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines running, %d before the test:\n%s", n, before, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func candidate(id int64, capacity int) scheduler.Candidate {
	return scheduler.Candidate{DeploymentID: id, ModelID: 100 + id, ProviderID: 200 + id, Weight: 1, Capacity: capacity}
}

func job(id string, p scheduler.Priority, timeout time.Duration, cands ...scheduler.Candidate) scheduler.Job {
	return scheduler.Job{RequestID: id, Priority: p, Timeout: timeout, Candidates: cands}
}

// mustAcquire acquires a lease that must be granted promptly.
func mustAcquire(t *testing.T, s scheduler.Scheduler, j scheduler.Job) *scheduler.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), long)
	defer cancel()
	l, err := s.Acquire(ctx, j)
	if err != nil {
		t.Fatalf("Acquire(%s) = %v, want a lease", j.RequestID, err)
	}
	if l == nil {
		t.Fatalf("Acquire(%s) returned a nil lease and no error", j.RequestID)
	}
	return l
}

// mustNotAcquire checks that j is not granted within short.
func mustNotAcquire(t *testing.T, s scheduler.Scheduler, j scheduler.Job) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), short)
	defer cancel()
	l, err := s.Acquire(ctx, j)
	if err == nil {
		l.Release(scheduler.Outcome{})
		t.Fatalf("Acquire(%s) granted a lease on deployment %d; want none (capacity)", j.RequestID, l.Candidate().DeploymentID)
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, scheduler.ErrQueueTimeout) {
		t.Fatalf("Acquire(%s) = %v, want context.DeadlineExceeded or ErrQueueTimeout", j.RequestID, err)
	}
}

// waitQueued waits until n jobs are queued when s reports its state, and
// otherwise sleeps a little. It reports whether it knows they are queued.
func waitQueued(t *testing.T, s scheduler.Scheduler, n int) bool {
	t.Helper()
	r, ok := s.(scheduler.StateReporter)
	if !ok {
		time.Sleep(short)
		return false
	}
	deadline := time.Now().Add(long)
	for r.State().QueueDepth < n {
		if time.Now().After(deadline) {
			t.Fatalf("QueueDepth stayed below %d: %+v", n, r.State())
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// checkIdle checks, when s reports its state, that nothing is active or
// queued.
func checkIdle(t *testing.T, s scheduler.Scheduler) {
	t.Helper()
	r, ok := s.(scheduler.StateReporter)
	if !ok {
		return
	}
	st := r.State()
	if st.QueueDepth != 0 {
		t.Errorf("QueueDepth = %d after all work ended", st.QueueDepth)
	}
	for _, d := range st.Deployments {
		if d.Active != 0 || d.Queued.Total() != 0 || len(d.Waiting) != 0 {
			t.Errorf("deployment %d not idle after all work ended: %+v", d.DeploymentID, d)
		}
	}
}

type result struct {
	lease *scheduler.Lease
	err   error
}

// acquireAsync runs Acquire in a goroutine; the caller must receive from the
// returned channel.
func acquireAsync(ctx context.Context, s scheduler.Scheduler, j scheduler.Job) <-chan result {
	ch := make(chan result, 1)
	go func() {
		l, err := s.Acquire(ctx, j)
		ch <- result{l, err}
	}()
	return ch
}

func receive(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(long):
		t.Fatal("Acquire did not return")
		return result{}
	}
}

func testNoCandidates(t *testing.T, s scheduler.Scheduler) {
	_, err := s.Acquire(context.Background(), job("none", scheduler.PriorityNormal, 0))
	if !errors.Is(err, scheduler.ErrNoCandidates) {
		t.Fatalf("Acquire without candidates = %v, want ErrNoCandidates", err)
	}
}

func testGrantAndRelease(t *testing.T, s scheduler.Scheduler) {
	c := candidate(1, 2)
	a := mustAcquire(t, s, job("a", scheduler.PriorityNormal, 0, c))
	b := mustAcquire(t, s, job("b", scheduler.PriorityLow, 0, c))
	for _, l := range []*scheduler.Lease{a, b} {
		if got := l.Candidate(); got.DeploymentID != c.DeploymentID || got.ModelID != c.ModelID || got.ProviderID != c.ProviderID {
			t.Errorf("lease candidate = %+v, want %+v", got, c)
		}
		if w := l.QueueWait(); w < 0 || w > long {
			t.Errorf("QueueWait() = %v for a free deployment", w)
		}
	}
	mustNotAcquire(t, s, job("c", scheduler.PriorityHigh, time.Hour, c))
	a.Release(scheduler.Outcome{StatusCode: 200, Latency: time.Millisecond})
	b.Release(scheduler.Outcome{Err: errors.New("upstream failed"), StatusCode: 502})
	for range 3 { // slots come back every time
		l1 := mustAcquire(t, s, job("d", scheduler.PriorityNormal, 0, c))
		l2 := mustAcquire(t, s, job("e", scheduler.PriorityNormal, 0, c))
		l1.Release(scheduler.Outcome{})
		l2.Release(scheduler.Outcome{})
	}
	checkIdle(t, s)
}

func testCapacityIsRespected(t *testing.T, s scheduler.Scheduler) {
	c := candidate(1, 1)
	held := mustAcquire(t, s, job("held", scheduler.PriorityLow, 0, c))
	mustNotAcquire(t, s, job("high", scheduler.PriorityHigh, time.Hour, c))
	held.Release(scheduler.Outcome{})
	mustAcquire(t, s, job("after", scheduler.PriorityNormal, 0, c)).Release(scheduler.Outcome{})
	checkIdle(t, s)
}

func testReleaseHandsOver(t *testing.T, s scheduler.Scheduler) {
	c := candidate(1, 1)
	held := mustAcquire(t, s, job("held", scheduler.PriorityNormal, 0, c))
	ctx, cancel := context.WithTimeout(context.Background(), long)
	defer cancel()
	ch := acquireAsync(ctx, s, job("waiter", scheduler.PriorityNormal, long, c))
	queued := waitQueued(t, s, 1)
	time.Sleep(5 * time.Millisecond) // let some queue time pass
	held.Release(scheduler.Outcome{})
	r := receive(t, ch)
	if r.err != nil {
		t.Fatalf("waiter: %v, want a lease after the release", r.err)
	}
	if got := r.lease.Candidate().DeploymentID; got != c.DeploymentID {
		t.Errorf("waiter got deployment %d, want %d", got, c.DeploymentID)
	}
	if queued && r.lease.QueueWait() <= 0 {
		t.Errorf("QueueWait() = %v for a job that waited", r.lease.QueueWait())
	}
	mustNotAcquire(t, s, job("extra", scheduler.PriorityHigh, time.Hour, c))
	r.lease.Release(scheduler.Outcome{})
	checkIdle(t, s)
}

func testQueueTimeout(t *testing.T, s scheduler.Scheduler) {
	c := candidate(1, 1)
	held := mustAcquire(t, s, job("held", scheduler.PriorityNormal, 0, c))
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 40*short)
	defer cancel()
	_, err := s.Acquire(ctx, job("late", scheduler.PriorityHigh, short, c))
	if !errors.Is(err, scheduler.ErrQueueTimeout) {
		t.Fatalf("Acquire with a %v queue timeout = %v, want ErrQueueTimeout", short, err)
	}
	if !strings.Contains(err.Error(), "late") {
		t.Errorf("timeout error %q does not name the request", err)
	}
	if d := time.Since(start); d < short*8/10 {
		t.Errorf("timed out after %v, before the %v timeout", d, short)
	}
	checkIdleQueue(t, s)
	held.Release(scheduler.Outcome{})
	// The timed-out job left the queue: the slot is free again.
	mustAcquire(t, s, job("next", scheduler.PriorityNormal, 0, c)).Release(scheduler.Outcome{})
	checkIdle(t, s)
}

// checkIdleQueue checks, when s reports its state, that no job is queued.
func checkIdleQueue(t *testing.T, s scheduler.Scheduler) {
	t.Helper()
	if r, ok := s.(scheduler.StateReporter); ok {
		if st := r.State(); st.QueueDepth != 0 {
			t.Errorf("QueueDepth = %d, want 0: %+v", st.QueueDepth, st)
		}
	}
}

func testCancelLeavesQueue(t *testing.T, s scheduler.Scheduler) {
	c := candidate(1, 1)
	held := mustAcquire(t, s, job("held", scheduler.PriorityNormal, 0, c))

	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	if _, err := s.Acquire(done, job("done", scheduler.PriorityHigh, time.Hour, c)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire with a cancelled context = %v, want context.Canceled", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	ch := acquireAsync(ctx, s, job("cancelled", scheduler.PriorityHigh, time.Hour, c))
	waitQueued(t, s, 1)
	cancel()
	if r := receive(t, ch); !errors.Is(r.err, context.Canceled) {
		if r.err == nil {
			r.lease.Release(scheduler.Outcome{})
		}
		t.Fatalf("cancelled Acquire = %v, want context.Canceled", r.err)
	}
	checkIdleQueue(t, s)
	held.Release(scheduler.Outcome{})
	mustAcquire(t, s, job("next", scheduler.PriorityNormal, 0, c)).Release(scheduler.Outcome{})
	checkIdle(t, s)
}

func testReleaseIsIdempotent(t *testing.T, s scheduler.Scheduler) {
	c := candidate(1, 1)
	l := mustAcquire(t, s, job("a", scheduler.PriorityNormal, 0, c))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { l.Release(scheduler.Outcome{}) })
	}
	wg.Wait()
	l.Release(scheduler.Outcome{})
	b := mustAcquire(t, s, job("b", scheduler.PriorityNormal, 0, c))
	mustNotAcquire(t, s, job("c", scheduler.PriorityNormal, time.Hour, c))
	b.Release(scheduler.Outcome{})
	checkIdle(t, s)
}

func testMultipleCandidates(t *testing.T, s scheduler.Scheduler) {
	c1, c2 := candidate(1, 1), candidate(2, 1)
	a := mustAcquire(t, s, job("a", scheduler.PriorityNormal, 0, c1, c2))
	b := mustAcquire(t, s, job("b", scheduler.PriorityNormal, 0, c1, c2))
	if a.Candidate().DeploymentID == b.Candidate().DeploymentID {
		t.Fatalf("two leases on deployment %d of capacity 1", a.Candidate().DeploymentID)
	}
	mustNotAcquire(t, s, job("c", scheduler.PriorityHigh, time.Hour, c1, c2))

	ctx, cancel := context.WithTimeout(context.Background(), long)
	defer cancel()
	ch := acquireAsync(ctx, s, job("waiter", scheduler.PriorityNormal, long, c2, c1))
	waitQueued(t, s, 1)
	freed := b.Candidate().DeploymentID
	b.Release(scheduler.Outcome{})
	r := receive(t, ch)
	if r.err != nil {
		t.Fatalf("waiter on both deployments: %v", r.err)
	}
	if got := r.lease.Candidate().DeploymentID; got != freed {
		t.Errorf("waiter got deployment %d, want the freed %d", got, freed)
	}
	a.Release(scheduler.Outcome{})
	r.lease.Release(scheduler.Outcome{})
	checkIdle(t, s)
}

func testConcurrent(t *testing.T, s scheduler.Scheduler) {
	const (
		workers    = 32
		iterations = 20
	)
	cands := []scheduler.Candidate{candidate(1, 1), candidate(2, 2), candidate(3, 3)}
	var active, peak [4]atomic.Int32
	var granted atomic.Int32
	errs := make(chan error, workers*iterations)
	ctx, cancel := context.WithTimeout(context.Background(), 4*long)
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range iterations {
				// Each job may run on a rotating subset of the deployments.
				first := (w + i) % len(cands)
				js := []scheduler.Candidate{cands[first], cands[(first+1)%len(cands)]}[:1+(w+i)%2]
				p := []scheduler.Priority{scheduler.PriorityLow, scheduler.PriorityNormal, scheduler.PriorityHigh}[(w*7+i)%3]
				l, err := s.Acquire(ctx, job(fmt.Sprintf("w%d-%d", w, i), p, 4*long, js...))
				if err != nil {
					errs <- err
					continue
				}
				granted.Add(1)
				id := l.Candidate().DeploymentID
				n := active[id].Add(1)
				for {
					m := peak[id].Load()
					if n <= m || peak[id].CompareAndSwap(m, n) {
						break
					}
				}
				runtime.Gosched()
				time.Sleep(time.Duration((w+i)%3) * 100 * time.Microsecond)
				active[id].Add(-1)
				l.Release(scheduler.Outcome{})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Acquire: %v", err)
	}
	if n := granted.Load(); n != workers*iterations {
		t.Errorf("%d grants, want %d", n, workers*iterations)
	}
	for _, c := range cands {
		if p := int(peak[c.DeploymentID].Load()); p > c.Capacity {
			t.Errorf("deployment %d: %d leases at once, capacity %d", c.DeploymentID, p, c.Capacity)
		}
	}
	checkIdle(t, s)
}

func testPriorityOrder(t *testing.T, s scheduler.Scheduler) {
	if _, ok := s.(scheduler.StateReporter); !ok {
		t.Skip("the scheduler does not report its state, so the queue order cannot be arranged")
	}
	c := candidate(1, 1)
	held := mustAcquire(t, s, job("held", scheduler.PriorityNormal, 0, c))
	ctx, cancel := context.WithTimeout(context.Background(), long)
	defer cancel()
	low := acquireAsync(ctx, s, job("low", scheduler.PriorityLow, long, c))
	waitQueued(t, s, 1)
	high := acquireAsync(ctx, s, job("high", scheduler.PriorityHigh, long, c))
	waitQueued(t, s, 2)
	held.Release(scheduler.Outcome{})
	r := receive(t, high)
	if r.err != nil {
		t.Fatalf("high: %v", r.err)
	}
	select {
	case lr := <-low:
		t.Fatalf("low was granted (%v) while high held the only slot", lr.err)
	case <-time.After(short):
	}
	r.lease.Release(scheduler.Outcome{})
	lr := receive(t, low)
	if lr.err != nil {
		t.Fatalf("low: %v", lr.err)
	}
	lr.lease.Release(scheduler.Outcome{})
	checkIdle(t, s)
}

func testClose(t *testing.T, s scheduler.Scheduler) {
	closer, ok := s.(io.Closer)
	if !ok {
		t.Skip("the scheduler has no Close")
	}
	c := candidate(1, 1)
	held := mustAcquire(t, s, job("held", scheduler.PriorityNormal, 0, c))
	ctx, cancel := context.WithTimeout(context.Background(), long)
	defer cancel()
	var waiters []<-chan result
	for i := range 3 {
		waiters = append(waiters, acquireAsync(ctx, s, job(fmt.Sprintf("w%d", i), scheduler.PriorityNormal, time.Hour, c)))
	}
	waitQueued(t, s, 3)
	if err := closer.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	for _, ch := range waiters {
		if r := receive(t, ch); !errors.Is(r.err, scheduler.ErrClosed) {
			t.Errorf("waiter after Close = %v, want ErrClosed", r.err)
		}
	}
	if _, err := s.Acquire(ctx, job("after", scheduler.PriorityNormal, 0, candidate(2, 0))); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("Acquire after Close = %v, want ErrClosed", err)
	}
	held.Release(scheduler.Outcome{}) // a lease outlives Close
	if err := closer.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
}
