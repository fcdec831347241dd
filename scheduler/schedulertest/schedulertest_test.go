package schedulertest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/schedulertest"
)

// poller is a minimal Scheduler: it polls its candidates for a free slot. It
// has no priorities, no state and no Close, so it exercises the suite's paths
// for schedulers without those capabilities. Its flags break it on purpose.
type poller struct {
	ignoreCapacity bool // grant whatever the capacity
	ignoreTimeout  bool // wait until ctx ends
	leakOnCancel   bool // keep a slot when ctx ends
	leakGoroutine  bool // start a goroutine that never ends

	mu     sync.Mutex
	active map[int64]int
}

func newPoller() *poller { return &poller{active: map[int64]int{}} }

func (p *poller) tryAcquire(j scheduler.Job) (scheduler.Candidate, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range j.Candidates {
		if p.ignoreCapacity || c.Capacity == 0 || p.active[c.DeploymentID] < c.Capacity {
			p.active[c.DeploymentID]++
			return c, true
		}
	}
	return scheduler.Candidate{}, false
}

func (p *poller) Acquire(ctx context.Context, j scheduler.Job) (*scheduler.Lease, error) {
	if p.leakGoroutine {
		go func() { select {} }()
	}
	if len(j.Candidates) == 0 {
		return nil, scheduler.ErrNoCandidates
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	timeout := j.Timeout
	if timeout <= 0 || p.ignoreTimeout {
		timeout = time.Hour
	}
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if c, ok := p.tryAcquire(j); ok {
			return scheduler.NewLease(c, time.Since(start), false, func(scheduler.Outcome) {
				p.mu.Lock()
				p.active[c.DeploymentID]--
				p.mu.Unlock()
			}), nil
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return nil, fmt.Errorf("request %s: %w", j.RequestID, scheduler.ErrQueueTimeout)
		case <-ctx.Done():
			if p.leakOnCancel {
				p.mu.Lock()
				p.active[j.Candidates[0].DeploymentID]++
				p.mu.Unlock()
			}
			return nil, ctx.Err()
		}
	}
}

func TestRunAcceptsCorrectScheduler(t *testing.T) {
	schedulertest.Run(t, func() scheduler.Scheduler { return newPoller() })
}

// TestRunDetectsBrokenSchedulers runs the suite against broken schedulers in
// a child process and checks that the expected subtest fails.
func TestRunDetectsBrokenSchedulers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	for _, broken := range []struct{ flag, subtest string }{
		{"ignoreCapacity", "CapacityIsRespected"},
		{"ignoreTimeout", "QueueTimeout"},
		{"leakOnCancel", "CancelLeavesQueue"},
		{"leakGoroutine", "NoCandidates"},
	} {
		t.Run(broken.flag, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenChild$/^"+broken.subtest+"$", "-test.v")
			cmd.Env = append(os.Environ(), "SCHEDULERTEST_BROKEN="+broken.flag)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a scheduler with %s:\n%s", broken.flag, out)
			}
			if want := "--- FAIL: TestBrokenChild/" + broken.subtest; !strings.Contains(string(out), want) {
				t.Fatalf("output lacks %q:\n%s", want, out)
			}
		})
	}
}

// TestBrokenChild is run by TestRunDetectsBrokenSchedulers in a child
// process; it does nothing otherwise.
func TestBrokenChild(t *testing.T) {
	flag := os.Getenv("SCHEDULERTEST_BROKEN")
	if flag == "" {
		t.Skip("only run as a child of TestRunDetectsBrokenSchedulers")
	}
	schedulertest.Run(t, func() scheduler.Scheduler {
		p := newPoller()
		switch flag {
		case "ignoreCapacity":
			p.ignoreCapacity = true
		case "ignoreTimeout":
			p.ignoreTimeout = true
		case "leakOnCancel":
			p.leakOnCancel = true
		case "leakGoroutine":
			p.leakGoroutine = true
		}
		return p
	})
}

func TestCheckGoroutinesPassesWhenNothingLeaks(t *testing.T) {
	schedulertest.CheckGoroutines(t)
	done := make(chan struct{})
	go func() { <-done }()
	close(done)
}
