package core_test

import (
	"context"
	"fmt"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/core"
)

// firstFree dispatches a request to the first awake lane of its first
// candidate that has a free slot, and queues it otherwise; a completion hands
// the slot to the oldest waiter of that lane's model.
type firstFree struct{ waiting []*core.Request }

func (p *firstFree) Handle(_ time.Time, v *core.View, ev core.Event) []core.Action {
	switch ev.Kind {
	case core.Arrival:
		for i := range v.Lanes {
			if v.Lanes[i].Model == ev.Req.Candidates[0].Model && v.Lanes[i].Free() {
				return []core.Action{core.DispatchTo(ev.Req, i)}
			}
		}
		p.waiting = append(p.waiting, ev.Req)
		return []core.Action{core.EnqueueReq(ev.Req)}
	case core.Complete:
		for i, r := range p.waiting {
			if r.Candidates[0].Model == v.Lanes[ev.Lane].Model {
				p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
				return []core.Action{core.DispatchTo(r, ev.Lane)}
			}
		}
	}
	return nil
}

// A policy written on the decision core serves the Router through Adapter.
func ExampleNewAdapter() {
	s := core.NewAdapter(&firstFree{}, core.AdapterConfig{})
	defer s.Close()
	job := scheduler.Job{RequestID: "r1", Candidates: []scheduler.Candidate{{DeploymentID: 7, Capacity: 1}}}
	lease, err := s.Acquire(context.Background(), job)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("granted deployment", lease.Candidate().DeploymentID)
	lease.Release(scheduler.Outcome{})
	// Output: granted deployment 7
}

// View.Fits tells a policy whether waking a lane needs room first.
func ExampleView_Fits() {
	v := &core.View{
		GPUs: []core.GPU{{TotalMB: 16384, UsedMB: 9000}},
		Lanes: []core.Lane{
			{Model: "small", GPUs: []int{0}, State: core.Sleeping, AwakeMB: 7000, SleepMB: 700},
			{Model: "big", GPUs: []int{0}, State: core.Sleeping, AwakeMB: 11000, SleepMB: 700},
		},
	}
	fmt.Println(v.Fits(0), v.Fits(1))
	// Output: true false
}
