package fcfs_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/fcfs"
)

func ExampleScheduler_Acquire() {
	s, err := fcfs.New(fcfs.Config{DefaultTimeout: 30 * time.Second})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	job := scheduler.Job{
		RequestID: "req-1",
		Priority:  scheduler.ParsePriority("high"),
		Candidates: []scheduler.Candidate{
			{DeploymentID: 7, ModelID: 1, ProviderID: 2, Capacity: 1},
		},
	}
	lease, err := s.Acquire(context.Background(), job)
	if err != nil {
		panic(err)
	}
	// Release on every exit path; the outcome lets a scheduler learn.
	defer lease.Release(scheduler.Outcome{StatusCode: 200})

	fmt.Println("running on deployment", lease.Candidate().DeploymentID, "after", lease.QueueWait())

	// The only slot is taken: a second job waits, here until its timeout.
	job.RequestID, job.Timeout = "req-2", 10*time.Millisecond
	_, err = s.Acquire(context.Background(), job)
	fmt.Println("second job timed out:", errors.Is(err, scheduler.ErrQueueTimeout))
	// Output:
	// running on deployment 7 after 0s
	// second job timed out: true
}

// ExampleCore drives the FCFS decisions directly in virtual time, as a
// discrete-event simulator does.
func ExampleCore() {
	c := fcfs.NewCore(fcfs.CoreConfig{})
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	gpu := scheduler.Candidate{DeploymentID: 1, Capacity: 1}

	a, _ := c.Admit(scheduler.Job{RequestID: "a", Candidates: []scheduler.Candidate{gpu}}, start)
	fmt.Println("a granted:", a.Granted)
	b, _ := c.Admit(scheduler.Job{RequestID: "b", Priority: scheduler.PriorityLow, Candidates: []scheduler.Candidate{gpu}}, start.Add(time.Second))
	fmt.Println("b queued:", b.Entry != nil)
	h, _ := c.Admit(scheduler.Job{RequestID: "h", Priority: scheduler.PriorityHigh, Candidates: []scheduler.Candidate{gpu}}, start.Add(2*time.Second))
	fmt.Println("h queued:", h.Entry != nil, "depth:", c.QueueDepth())

	// a finishes at 5s: the high-priority job goes next.
	g, _ := c.Release(1, start.Add(5*time.Second))
	fmt.Println(g.Entry.RequestID(), "granted after", g.Wait)
	g, _ = c.Release(1, start.Add(9*time.Second))
	fmt.Println(g.Entry.RequestID(), "granted after", g.Wait)
	// Output:
	// a granted: true
	// b queued: true
	// h queued: true depth: 2
	// h granted after 3s
	// b granted after 8s
}
