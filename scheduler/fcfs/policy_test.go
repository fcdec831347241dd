package fcfs_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/clock"
	"github.com/logos-llm/logos/scheduler/core"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/scheduler/schedulertest"
)

// The FCFS policy run through the decision core's production adapter passes
// the same conformance suite as Scheduler.
func TestPolicyConformance(t *testing.T) {
	schedulertest.Run(t, func() scheduler.Scheduler {
		return core.NewAdapter(fcfs.NewPolicy(fcfs.CoreConfig{}), core.AdapterConfig{})
	})
}

// Policy makes Core's decisions: on the same random sequence of arrivals,
// completions and timeouts it dispatches the same jobs to the same
// deployments in the same order.
func TestPolicyMatchesCore(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 7))
		c := fcfs.NewCore(fcfs.CoreConfig{})
		p := fcfs.NewPolicy(fcfs.CoreConfig{})
		view := &core.View{}
		for d := range 3 {
			view.Lanes = append(view.Lanes, core.Lane{ID: d, Model: fmt.Sprint(d), State: core.Awake, Slots: 2})
		}
		now := time.Unix(1_000_000, 0)
		var want, got []string
		var entries []*fcfs.Entry
		var reqs []*core.Request
		var running [][2]int // (request index, lane)
		exec := func(acts []core.Action) {
			for _, a := range acts {
				if a.Kind == core.Dispatch {
					view.Lanes[a.Lane].Running++
					running = append(running, [2]int{a.Req.Index, a.Lane})
					got = append(got, fmt.Sprintf("%s@%d", a.Req.ID, a.Lane))
				}
			}
		}
		for i := range 200 {
			now = now.Add(time.Second)
			switch op := rng.IntN(10); {
			case op < 3 && len(running) > 0:
				k := rng.IntN(len(running))
				r := running[k]
				running = append(running[:k], running[k+1:]...)
				if g, ok := c.Release(int64(r[1]), now); ok {
					want = append(want, fmt.Sprintf("%s@%d", g.Entry.RequestID(), g.Candidate.DeploymentID))
				}
				view.Lanes[r[1]].Running--
				exec(p.Handle(now, view, core.Event{Kind: core.Complete, Req: reqs[r[0]], Lane: r[1]}))
			case op == 3 && len(entries) > 0:
				k := rng.IntN(len(entries))
				if c.Cancel(entries[k]) {
					exec(p.Handle(now, view, core.Event{Kind: core.Timeout, Req: reqs[entries[k].Value.(int)]}))
				}
			default:
				id := fmt.Sprintf("j%d", i)
				prio := []scheduler.Priority{scheduler.PriorityLow, scheduler.PriorityNormal, scheduler.PriorityHigh}[rng.IntN(3)]
				var jc []scheduler.Candidate
				var rc []core.Candidate
				for d := range 1 + rng.IntN(2) {
					dep := (rng.IntN(3) + d) % 3
					jc = append(jc, scheduler.Candidate{DeploymentID: int64(dep), Capacity: 2})
					rc = append(rc, core.Candidate{Model: fmt.Sprint(dep)})
				}
				r := &core.Request{ID: id, Index: len(reqs), Priority: prio, Candidates: rc}
				reqs = append(reqs, r)
				a, err := c.Admit(scheduler.Job{RequestID: id, Priority: prio, Candidates: jc}, now)
				if err != nil {
					t.Fatal(err)
				}
				if a.Granted {
					want = append(want, fmt.Sprintf("%s@%d", id, a.Candidate.DeploymentID))
				} else {
					a.Entry.Value = r.Index
					entries = append(entries, a.Entry)
				}
				exec(p.Handle(now, view, core.Event{Kind: core.Arrival, Req: r}))
			}
		}
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Fatalf("seed %d: decisions differ:\nCore   %v\nPolicy %v", seed, want, got)
		}
		if len(want) < 50 {
			t.Fatalf("seed %d: only %d grants; the test exercises too little", seed, len(want))
		}
	}
}

// The adapter runs the policy's timers on the injected clock and closes
// cleanly with a waiter queued.
func TestPolicyAdapterTimeoutAndClose(t *testing.T) {
	fc := clock.NewFake(time.Unix(0, 0))
	a := core.NewAdapter(fcfs.NewPolicy(fcfs.CoreConfig{}), core.AdapterConfig{Clock: fc, DefaultTimeout: time.Minute})
	cand := scheduler.Candidate{DeploymentID: 9, Capacity: 1}
	l, err := a.Acquire(context.Background(), scheduler.Job{RequestID: "a", Candidates: []scheduler.Candidate{cand}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.Acquire(context.Background(), scheduler.Job{RequestID: "b", Candidates: []scheduler.Candidate{cand}})
		done <- err
	}()
	for a.State().QueueDepth != 1 {
		time.Sleep(time.Millisecond)
	}
	fc.Advance(time.Minute)
	if err := <-done; !errors.Is(err, scheduler.ErrQueueTimeout) {
		t.Fatalf("queued Acquire = %v, want ErrQueueTimeout", err)
	}
	l.Release(scheduler.Outcome{})
	if st := a.State(); st.QueueDepth != 0 || st.Deployments[0].Active != 0 {
		t.Fatalf("State() = %+v, want idle", st)
	}
	a.Close()
	if _, err := a.Acquire(context.Background(), scheduler.Job{RequestID: "c", Candidates: []scheduler.Candidate{cand}}); !errors.Is(err, scheduler.ErrClosed) {
		t.Fatalf("Acquire after Close = %v, want ErrClosed", err)
	}
}
