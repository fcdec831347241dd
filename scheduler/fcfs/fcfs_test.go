package fcfs_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/clock"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/scheduler/schedulertest"
)

var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func cand(dep int64, capacity int) scheduler.Candidate {
	return scheduler.Candidate{DeploymentID: dep, ModelID: dep * 10, ProviderID: dep * 100, Capacity: capacity}
}

func job(id string, p scheduler.Priority, timeout time.Duration, cands ...scheduler.Candidate) scheduler.Job {
	return scheduler.Job{RequestID: id, Priority: p, Timeout: timeout, Candidates: cands}
}

func newScheduler(t testing.TB, cfg fcfs.Config) *fcfs.Scheduler {
	t.Helper()
	s, err := fcfs.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	schedulertest.Run(t, func() scheduler.Scheduler {
		s, err := fcfs.New(fcfs.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestConformanceWithAging(t *testing.T) {
	schedulertest.Run(t, func() scheduler.Scheduler {
		s, err := fcfs.New(fcfs.Config{AgeAfter: time.Hour, MaxQueue: 100})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		cfg   fcfs.Config
		field string
	}{
		{fcfs.Config{DefaultTimeout: -time.Second}, "DefaultTimeout"},
		{fcfs.Config{MaxQueue: -1}, "MaxQueue"},
		{fcfs.Config{AgeAfter: -time.Second}, "AgeAfter"},
	}
	for _, tt := range tests {
		s, err := fcfs.New(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("New(%+v) = %v, %v; want an error naming %s", tt.cfg, s, err, tt.field)
		}
	}
}

type result struct {
	lease *scheduler.Lease
	err   error
}

func acquireAsync(ctx context.Context, s *fcfs.Scheduler, j scheduler.Job) <-chan result {
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
	case <-time.After(10 * time.Second):
		t.Fatal("Acquire did not return")
		return result{}
	}
}

func assertPending(t *testing.T, ch <-chan result) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("Acquire returned early: %+v", r)
	case <-time.After(20 * time.Millisecond):
	}
}

// blockUntil waits until n timers are armed on the fake clock, i.e. n jobs
// are queued.
func blockUntil(t *testing.T, fc *clock.Fake, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fc.BlockUntil(ctx, n); err != nil {
		t.Fatalf("waiting for %d queued jobs: %v", n, err)
	}
}

func mustAcquire(t *testing.T, s *fcfs.Scheduler, j scheduler.Job) *scheduler.Lease {
	t.Helper()
	l, err := s.Acquire(context.Background(), j)
	if err != nil {
		t.Fatalf("Acquire(%s) = %v", j.RequestID, err)
	}
	return l
}

func TestQueueWaitIsClockTime(t *testing.T) {
	fc := clock.NewFake(epoch)
	s := newScheduler(t, fcfs.Config{Clock: fc})
	held := mustAcquire(t, s, job("held", 0, 0, cand(1, 1)))
	if held.QueueWait() != 0 {
		t.Fatalf("immediate grant QueueWait() = %v, want 0", held.QueueWait())
	}
	ch := acquireAsync(context.Background(), s, job("w", 0, time.Hour, cand(1, 1)))
	blockUntil(t, fc, 1)
	fc.Advance(3 * time.Second)
	assertPending(t, ch)
	held.Release(scheduler.Outcome{})
	r := receive(t, ch)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.lease.QueueWait() != 3*time.Second {
		t.Fatalf("QueueWait() = %v, want 3s", r.lease.QueueWait())
	}
	if r.lease.ColdStart() {
		t.Error("ColdStart() = true, FCFS has no load data")
	}
	if fc.Pending() != 0 {
		t.Fatalf("%d timers pending after the grant, want 0", fc.Pending())
	}
	r.lease.Release(scheduler.Outcome{})
}

func TestQueueTimeout(t *testing.T) {
	tests := []struct {
		name       string
		cfgTimeout time.Duration
		jobTimeout time.Duration
		want       time.Duration
	}{
		{"job timeout", 0, 5 * time.Second, 5 * time.Second},
		{"built-in default", 0, 0, fcfs.DefaultTimeout},
		{"configured default", 10 * time.Second, 0, 10 * time.Second},
		{"negative job timeout uses the default", 10 * time.Second, -time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := clock.NewFake(epoch)
			s := newScheduler(t, fcfs.Config{Clock: fc, DefaultTimeout: tt.cfgTimeout})
			held := mustAcquire(t, s, job("held", 0, 0, cand(1, 1), cand(2, 1)))
			other := mustAcquire(t, s, job("other", 0, 0, cand(1, 1), cand(2, 1)))
			ch := acquireAsync(context.Background(), s, job("req-7", 0, tt.jobTimeout, cand(1, 1), cand(2, 1)))
			blockUntil(t, fc, 1)
			fc.Advance(tt.want - time.Millisecond)
			assertPending(t, ch)
			if d := s.QueueDepth(); d != 1 {
				t.Fatalf("QueueDepth() = %d, want 1", d)
			}
			fc.Advance(time.Millisecond)
			r := receive(t, ch)
			if !errors.Is(r.err, scheduler.ErrQueueTimeout) {
				t.Fatalf("Acquire = %v, want ErrQueueTimeout", r.err)
			}
			if msg := r.err.Error(); !strings.Contains(msg, "req-7") || !strings.Contains(msg, tt.want.String()) {
				t.Errorf("error %q lacks the request id or the wait %v", msg, tt.want)
			}
			// It left both queues: the freed slots stay free.
			st := s.State()
			if st.QueueDepth != 0 || st.Deployments[0].Queued.Total() != 0 || st.Deployments[1].Queued.Total() != 0 {
				t.Fatalf("state after timeout: %+v", st)
			}
			held.Release(scheduler.Outcome{})
			other.Release(scheduler.Outcome{})
			if st := s.State(); st.Deployments[0].Active != 0 || st.Deployments[1].Active != 0 {
				t.Fatalf("state after releases: %+v", st)
			}
		})
	}
}

// TestReleaseAndTimeoutAtTheSameInstant checks both orders of a release and a
// queue timeout due at the same fake instant: whichever runs first decides,
// and nothing leaks either way.
func TestReleaseAndTimeoutAtTheSameInstant(t *testing.T) {
	for _, releaseFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("releaseFirst=%v", releaseFirst), func(t *testing.T) {
			fc := clock.NewFake(epoch)
			s := newScheduler(t, fcfs.Config{Clock: fc})
			held := mustAcquire(t, s, job("held", 0, 0, cand(1, 1)))
			release := func() { held.Release(scheduler.Outcome{}) }
			if releaseFirst { // armed first, so it fires first
				fc.AfterFunc(time.Second, release)
			}
			ch := acquireAsync(context.Background(), s, job("w", 0, time.Second, cand(1, 1)))
			blockUntil(t, fc, map[bool]int{true: 2, false: 1}[releaseFirst])
			if !releaseFirst {
				fc.AfterFunc(time.Second, release)
			}
			fc.Advance(time.Second)
			r := receive(t, ch)
			wantActive := 0
			if releaseFirst {
				if r.err != nil {
					t.Fatalf("Acquire = %v, want the grant of the release that ran first", r.err)
				}
				if r.lease.QueueWait() != time.Second {
					t.Errorf("QueueWait() = %v, want 1s", r.lease.QueueWait())
				}
				wantActive = 1
			} else if !errors.Is(r.err, scheduler.ErrQueueTimeout) {
				t.Fatalf("Acquire = %+v, want the timeout that ran first", r)
			}
			if st := s.State(); st.Deployments[0].Active != wantActive || st.QueueDepth != 0 {
				t.Fatalf("state: %+v", st)
			}
			if r.lease != nil {
				r.lease.Release(scheduler.Outcome{})
			}
		})
	}
}

func TestCancelStopsTimerAndLeavesQueues(t *testing.T) {
	fc := clock.NewFake(epoch)
	s := newScheduler(t, fcfs.Config{Clock: fc})
	held1 := mustAcquire(t, s, job("h1", 0, 0, cand(1, 1)))
	held2 := mustAcquire(t, s, job("h2", 0, 0, cand(2, 1)))
	ctx, cancel := context.WithCancel(context.Background())
	ch := acquireAsync(ctx, s, job("c", scheduler.PriorityHigh, 0, cand(1, 1), cand(2, 1)))
	blockUntil(t, fc, 1)
	later := acquireAsync(context.Background(), s, job("later", scheduler.PriorityLow, 0, cand(2, 1)))
	blockUntil(t, fc, 2)
	st := s.State()
	if st.QueueDepth != 2 || strings.Join(st.Deployments[1].Waiting, ",") != "c,later" {
		t.Fatalf("state before cancel: %+v", st)
	}
	cancel()
	if r := receive(t, ch); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Acquire = %+v, want context.Canceled", r)
	}
	if fc.Pending() != 1 {
		t.Fatalf("%d timers pending, want only the one of 'later'", fc.Pending())
	}
	st = s.State()
	if st.QueueDepth != 1 || len(st.Deployments[0].Waiting) != 0 || strings.Join(st.Deployments[1].Waiting, ",") != "later" {
		t.Fatalf("state after cancel: %+v", st)
	}
	held2.Release(scheduler.Outcome{})
	r := receive(t, later)
	if r.err != nil {
		t.Fatal(r.err)
	}
	r.lease.Release(scheduler.Outcome{})
	held1.Release(scheduler.Outcome{})
}

func TestAgingThroughScheduler(t *testing.T) {
	fc := clock.NewFake(epoch)
	s := newScheduler(t, fcfs.Config{Clock: fc, AgeAfter: 10 * time.Second})
	held := mustAcquire(t, s, job("held", 0, 0, cand(1, 1)))
	low := acquireAsync(context.Background(), s, job("low", scheduler.PriorityLow, time.Hour, cand(1, 1)))
	blockUntil(t, fc, 1)
	fc.Advance(25 * time.Second) // low is high since 20s, without any release
	if q := s.State().Deployments[0].Queued; q != (scheduler.QueueCounts{High: 1}) {
		t.Fatalf("queued after 25s = %+v, want one high", q)
	}
	high := acquireAsync(context.Background(), s, job("high", scheduler.PriorityHigh, time.Hour, cand(1, 1)))
	blockUntil(t, fc, 2)
	held.Release(scheduler.Outcome{})
	r := receive(t, low)
	if r.err != nil {
		t.Fatal(r.err)
	}
	assertPending(t, high)
	r.lease.Release(scheduler.Outcome{})
	r = receive(t, high)
	if r.err != nil {
		t.Fatal(r.err)
	}
	r.lease.Release(scheduler.Outcome{})
}

func TestCapacityChangesThroughScheduler(t *testing.T) {
	fc := clock.NewFake(epoch)
	s := newScheduler(t, fcfs.Config{Clock: fc})
	held := mustAcquire(t, s, job("held", 0, 0, cand(1, 1)))
	w := acquireAsync(context.Background(), s, job("w", 0, 0, cand(1, 1)))
	blockUntil(t, fc, 1)
	// A job seeing capacity 2 grants the waiter at once, then queues itself.
	n := acquireAsync(context.Background(), s, job("n", 0, 0, cand(1, 2)))
	r := receive(t, w)
	if r.err != nil {
		t.Fatal(r.err)
	}
	blockUntil(t, fc, 1)
	if st := s.State(); st.Deployments[0].Active != 2 || st.Deployments[0].Capacity != 2 || st.QueueDepth != 1 {
		t.Fatalf("state: %+v", st)
	}
	// Capacity lowered to 1: a release does not grant while 1 is still active.
	lower := acquireAsync(context.Background(), s, job("lower", 0, 0, cand(1, 1)))
	blockUntil(t, fc, 2)
	held.Release(scheduler.Outcome{})
	assertPending(t, n)
	r.lease.Release(scheduler.Outcome{})
	rn := receive(t, n)
	if rn.err != nil {
		t.Fatal(rn.err)
	}
	assertPending(t, lower)
	rn.lease.Release(scheduler.Outcome{})
	rl := receive(t, lower)
	if rl.err != nil {
		t.Fatal(rl.err)
	}
	rl.lease.Release(scheduler.Outcome{})
	if st := s.State(); st.Deployments[0].Active != 0 || st.QueueDepth != 0 {
		t.Fatalf("final state: %+v", st)
	}
}

func TestQueueFull(t *testing.T) {
	fc := clock.NewFake(epoch)
	s := newScheduler(t, fcfs.Config{Clock: fc, MaxQueue: 1})
	held := mustAcquire(t, s, job("held", 0, 0, cand(1, 1)))
	w := acquireAsync(context.Background(), s, job("w", 0, 0, cand(1, 1)))
	blockUntil(t, fc, 1)
	_, err := s.Acquire(context.Background(), job("full-1", scheduler.PriorityHigh, 0, cand(1, 1)))
	if !errors.Is(err, scheduler.ErrQueueFull) || !strings.Contains(err.Error(), "full-1") {
		t.Fatalf("Acquire = %v, want ErrQueueFull naming full-1", err)
	}
	held.Release(scheduler.Outcome{})
	r := receive(t, w)
	if r.err != nil {
		t.Fatal(r.err)
	}
	r.lease.Release(scheduler.Outcome{})
}

func TestNoCandidatesNamesRequest(t *testing.T) {
	s := newScheduler(t, fcfs.Config{})
	_, err := s.Acquire(context.Background(), job("nothing", 0, 0))
	if !errors.Is(err, scheduler.ErrNoCandidates) || !strings.Contains(err.Error(), "nothing") {
		t.Fatalf("Acquire = %v", err)
	}
}

func TestStateAndQueueDepth(t *testing.T) {
	fc := clock.NewFake(epoch)
	s := newScheduler(t, fcfs.Config{Clock: fc})
	if st := s.State(); st.QueueDepth != 0 || len(st.Deployments) != 0 || s.QueueDepth() != 0 {
		t.Fatalf("empty state: %+v", st)
	}
	a := mustAcquire(t, s, job("a", 0, 0, cand(2, 1)))
	b := mustAcquire(t, s, job("b", 0, 0, cand(1, 0)))
	var chans []<-chan result
	for i, p := range []scheduler.Priority{scheduler.PriorityLow, scheduler.PriorityHigh, scheduler.PriorityNormal} {
		chans = append(chans, acquireAsync(context.Background(), s, job(fmt.Sprintf("q%d", i), p, 0, cand(2, 1))))
		blockUntil(t, fc, i+1)
	}
	want := scheduler.State{
		QueueDepth: 3,
		Deployments: []scheduler.DeploymentState{
			{DeploymentID: 1, Active: 1, Capacity: 0, Queued: scheduler.QueueCounts{}, Waiting: []string{}},
			{DeploymentID: 2, Active: 1, Capacity: 1, Queued: scheduler.QueueCounts{Low: 1, Normal: 1, High: 1}, Waiting: []string{"q1", "q2", "q0"}},
		},
	}
	if got := s.State(); fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("State() =\n%+v\nwant\n%+v", got, want)
	}
	if d := s.QueueDepth(); d != 3 {
		t.Fatalf("QueueDepth() = %d, want 3", d)
	}
	var _ scheduler.StateReporter = s
	b.Release(scheduler.Outcome{}) // unlimited deployment: no hand-over
	a.Release(scheduler.Outcome{})
	// The slot of deployment 2 passes high (q1), normal (q2), low (q0).
	for _, next := range []struct{ i, depthAfter int }{{1, 2}, {2, 1}, {0, 0}} {
		r := receive(t, chans[next.i])
		if r.err != nil {
			t.Fatal(r.err)
		}
		if d := s.QueueDepth(); d != next.depthAfter {
			t.Fatalf("QueueDepth() = %d after q%d was granted, want %d", d, next.i, next.depthAfter)
		}
		r.lease.Release(scheduler.Outcome{})
	}
	if st := s.State(); st.QueueDepth != 0 || st.Deployments[1].Active != 0 || st.Deployments[0].Active != 0 {
		t.Fatalf("final state: %+v", st)
	}
}

func TestCloseReleasesWaiters(t *testing.T) {
	schedulertest.CheckGoroutines(t)
	fc := clock.NewFake(epoch)
	s, err := fcfs.New(fcfs.Config{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	held := mustAcquire(t, s, job("held", 0, 0, cand(1, 1)))
	held2 := mustAcquire(t, s, job("held2", 0, 0, cand(2, 1)))
	var chans []<-chan result
	for i := range 5 {
		chans = append(chans, acquireAsync(context.Background(), s, job(fmt.Sprintf("w%d", i), scheduler.Priority(i*2), 0, cand(1, 1), cand(2, 1))))
	}
	blockUntil(t, fc, 5)
	var wg sync.WaitGroup
	for range 3 { // concurrent Close calls are fine
		wg.Go(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
		})
	}
	wg.Wait()
	for _, ch := range chans {
		if r := receive(t, ch); !errors.Is(r.err, scheduler.ErrClosed) {
			t.Errorf("waiter = %+v, want ErrClosed", r)
		}
	}
	if fc.Pending() != 0 {
		t.Errorf("%d timers pending after Close", fc.Pending())
	}
	if _, err := s.Acquire(context.Background(), job("after", 0, 0, cand(3, 0))); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("Acquire after Close = %v", err)
	}
	held.Release(scheduler.Outcome{})
	held2.Release(scheduler.Outcome{})
	if st := s.State(); st.QueueDepth != 0 || st.Deployments[0].Active != 0 || st.Deployments[1].Active != 0 {
		t.Errorf("state after Close and release: %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() again = %v", err)
	}
}

// TestStress runs many goroutines against few slots with every way out of the
// queue — grants, timeouts, cancellations — and checks capacity, termination,
// slot accounting and goroutine leaks.
func TestStress(t *testing.T) {
	for _, closeEarly := range []bool{false, true} {
		t.Run(fmt.Sprintf("close=%v", closeEarly), func(t *testing.T) {
			schedulertest.CheckGoroutines(t)
			stress(t, closeEarly)
		})
	}
}

func stress(t *testing.T, closeEarly bool) {
	s, err := fcfs.New(fcfs.Config{AgeAfter: 2 * time.Millisecond, MaxQueue: 40})
	if err != nil {
		t.Fatal(err)
	}
	capacity := map[int64]int{1: 1, 2: 2, 3: 3}
	var active, peak [4]atomic.Int32
	var granted, timedOut, cancelled, full, closed atomic.Int32
	const workers, iterations = 64, 30
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range iterations {
				var cands []scheduler.Candidate
				for _, id := range rng.Perm(3)[:1+rng.IntN(3)] {
					cands = append(cands, cand(int64(id+1), capacity[int64(id+1)]))
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+rng.IntN(20))*time.Millisecond)
				timeout := time.Duration(1+rng.IntN(20)) * time.Millisecond
				l, err := s.Acquire(ctx, job(fmt.Sprintf("%d-%d", w, i), scheduler.Priority(rng.IntN(11)), timeout, cands...))
				cancel()
				switch {
				case err == nil:
					granted.Add(1)
					id := l.Candidate().DeploymentID
					n := active[id].Add(1)
					for m := peak[id].Load(); n > m && !peak[id].CompareAndSwap(m, n); m = peak[id].Load() {
					}
					time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
					active[id].Add(-1)
					l.Release(scheduler.Outcome{})
					if rng.IntN(4) == 0 {
						l.Release(scheduler.Outcome{}) // a second release has no effect
					}
				case errors.Is(err, scheduler.ErrQueueTimeout):
					timedOut.Add(1)
				case errors.Is(err, context.DeadlineExceeded):
					cancelled.Add(1)
				case errors.Is(err, scheduler.ErrQueueFull):
					full.Add(1)
				case errors.Is(err, scheduler.ErrClosed) && closeEarly:
					closed.Add(1)
				default:
					t.Errorf("Acquire: %v", err)
				}
			}
		})
	}
	if closeEarly {
		time.Sleep(20 * time.Millisecond)
		s.Close()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("workers did not finish: an Acquire never returned")
	}
	t.Logf("granted %d, queue timeouts %d, ctx ends %d, full %d, closed %d",
		granted.Load(), timedOut.Load(), cancelled.Load(), full.Load(), closed.Load())
	if granted.Load() == 0 {
		t.Error("nothing was granted")
	}
	if !closeEarly && (timedOut.Load() == 0 || cancelled.Load() == 0) {
		t.Error("the stress did not exercise both timeouts and cancellations")
	}
	for id, c := range capacity {
		if p := int(peak[id].Load()); p > c {
			t.Errorf("deployment %d: %d leases at once, capacity %d", id, p, c)
		}
	}
	st := s.State()
	if st.QueueDepth != 0 {
		t.Errorf("QueueDepth = %d at the end", st.QueueDepth)
	}
	for _, d := range st.Deployments {
		if d.Active != 0 || d.Queued.Total() != 0 {
			t.Errorf("deployment %d leaked: %+v", d.DeploymentID, d)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWaitsForTheBestModel(t *testing.T) {
	best := scheduler.Candidate{DeploymentID: 1, ModelID: 10, Weight: 5, Capacity: 1}
	second := scheduler.Candidate{DeploymentID: 2, ModelID: 20, Weight: 3, Capacity: 1}
	for _, across := range []bool{false, true} {
		t.Run(fmt.Sprint("AcrossModels=", across), func(t *testing.T) {
			s := newScheduler(t, fcfs.Config{AcrossModels: across})
			ctx := context.Background()
			first, err := s.Acquire(ctx, job("a", scheduler.PriorityNormal, time.Second, best, second))
			if err != nil || first.Candidate().DeploymentID != 1 {
				t.Fatalf("first job: %v, %+v", err, first)
			}
			defer first.Release(scheduler.Outcome{})
			j := job("b", scheduler.PriorityNormal, time.Millisecond, best, second)
			l, err := s.Acquire(ctx, j)
			if across {
				if err != nil || l.Candidate().DeploymentID != 2 {
					t.Fatalf("AcrossModels: want the free second-best deployment, got %v %+v", err, l)
				}
				l.Release(scheduler.Outcome{})
				return
			}
			if !errors.Is(err, scheduler.ErrQueueTimeout) {
				t.Fatalf("default: want to wait for the best model (queue timeout), got %v %+v", err, l)
			}
		})
	}
}
