package scheduler_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/schedulertest"
)

// anyFree is a small custom Scheduler: a job runs on the first of its
// candidates with a free slot, or waits until a slot is released, its queue
// timeout passes or its context ends. It has no priority order (scheduler/fcfs
// has), no state report and no Close, the two optional parts of the suite;
// it shows the contract every Scheduler keeps, which schedulertest.Run checks
// (TestAnyFreeConforms).
type anyFree struct {
	timeout time.Duration
	mu      sync.Mutex
	active  map[int64]int // running jobs by deployment
	freed   chan struct{} // closed and replaced on every release
}

func newAnyFree(timeout time.Duration) *anyFree {
	return &anyFree{timeout: timeout, active: map[int64]int{}, freed: make(chan struct{})}
}

// Acquire grants a lease on the first candidate with a free slot, waiting
// for one if there is none.
func (s *anyFree) Acquire(ctx context.Context, j scheduler.Job) (*scheduler.Lease, error) {
	if len(j.Candidates) == 0 {
		return nil, scheduler.ErrNoCandidates
	}
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = s.timeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	start := time.Now()
	for {
		s.mu.Lock()
		for _, c := range j.Candidates {
			if c.Capacity == 0 || s.active[c.DeploymentID] < c.Capacity {
				s.active[c.DeploymentID]++
				s.mu.Unlock()
				return scheduler.NewLease(c, time.Since(start), false, func(scheduler.Outcome) { s.release(c.DeploymentID) }), nil
			}
		}
		freed := s.freed
		s.mu.Unlock()
		select {
		case <-freed:
		case <-timer.C:
			return nil, fmt.Errorf("request %s waited %v: %w", j.RequestID, timeout, scheduler.ErrQueueTimeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// release frees a slot and wakes every waiting job to try again.
func (s *anyFree) release(deployment int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active[deployment]--
	close(s.freed)
	s.freed = make(chan struct{})
}

// A custom Scheduler grants leases on deployments; Logos calls Acquire for
// every request with the deployments it may run on, best first, and releases
// the lease when the answer has been relayed. Pass it as
// logos.Config.Scheduler, and run schedulertest.Run against it.
func ExampleScheduler() {
	var s scheduler.Scheduler = newAnyFree(50 * time.Millisecond)
	job := scheduler.Job{RequestID: "r1", Priority: scheduler.PriorityNormal, Candidates: []scheduler.Candidate{
		{DeploymentID: 10, Capacity: 1}, {DeploymentID: 20, Capacity: 1},
	}}
	ctx := context.Background()
	first, _ := s.Acquire(ctx, job)
	second, _ := s.Acquire(ctx, job)
	fmt.Println(first.Candidate().DeploymentID, second.Candidate().DeploymentID)

	_, err := s.Acquire(ctx, job) // both deployments are busy until the timeout
	fmt.Println(err)

	first.Release(scheduler.Outcome{StatusCode: 200})
	third, _ := s.Acquire(ctx, job)
	fmt.Println(third.Candidate().DeploymentID)
	second.Release(scheduler.Outcome{StatusCode: 200})
	third.Release(scheduler.Outcome{StatusCode: 200})
	// Output:
	// 10 20
	// request r1 waited 50ms: scheduler: queue wait timeout
	// 10
}

// The example's scheduler passes the conformance suite every Scheduler
// should pass.
func TestAnyFreeConforms(t *testing.T) {
	schedulertest.Run(t, func() scheduler.Scheduler { return newAnyFree(time.Second) })
}
