package logos

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/core"
)

func view() *core.View {
	return &core.View{
		GPUs: []core.GPU{{TotalMB: 16000}},
		Lanes: []core.Lane{
			{ID: 0, Model: "top", GPUs: []int{0}, State: core.Sleeping, AwakeMB: 12000, SleepMB: 1000, WakeCost: 2 * time.Second, SleepCost: 5 * time.Second},
			{ID: 1, Model: "near", GPUs: []int{0}, State: core.Awake, AwakeMB: 6000, SleepMB: 1000, StepTime: 20 * time.Millisecond, StepPerSeq: time.Millisecond, WakeCost: 2 * time.Second, SleepCost: 5 * time.Second},
			{ID: 2, Model: "far", GPUs: []int{0}, State: core.Awake, AwakeMB: 3000, SleepMB: 1000},
		},
	}
}

func TestBatchLimitUnderTPOT(t *testing.T) {
	p := New(Config{TPOTTarget: 80 * time.Millisecond})
	v := view()
	// alone: (80 − 20) / 1 = 60 sequences
	if got := p.batchLimit(v, 1); got != 60 {
		t.Errorf("batchLimit alone = %d, want 60", got)
	}
	// another busy lane on the GPU halves the budget: 40/1 − 20 = 20
	v.Lanes[2].Running = 1
	if got := p.batchLimit(v, 1); got != 20 {
		t.Errorf("batchLimit shared = %d, want 20", got)
	}
	if got := p.batchLimit(v, 2); got != math.MaxInt {
		t.Errorf("batchLimit without a step model = %d, want no limit", got)
	}
	// a fast engine is capped at MaxBatch
	v.Lanes[2].Running = 0
	v.Lanes[1].StepPerSeq = time.Microsecond
	if got := p.batchLimit(v, 1); got != 256 {
		t.Errorf("batchLimit of a fast engine = %d, want MaxBatch 256", got)
	}
}

func TestNearEqualWarmCandidate(t *testing.T) {
	p := New(Config{})
	v := view()
	p.index(v)
	r := &core.Request{Candidates: []core.Candidate{{Model: "top", Weight: 10}, {Model: "near", Weight: 7}, {Model: "far", Weight: 4}}}
	if got := p.choose(v, r); got != "near" {
		t.Errorf("choose = %s, want the warm near-equal candidate", got)
	}
	r.Candidates[1].Weight = 4.5 // now (10−4.5)/6 > 0.5: not near-equal
	r.Candidates[2].Weight = 4
	if got := p.choose(v, r); got != "top" {
		t.Errorf("choose = %s, want top", got)
	}
	v.Lanes[0].State = core.Awake
	if got := p.choose(v, r); got != "top" {
		t.Errorf("choose with top awake = %s", got)
	}
}

// A high-priority request for a model that needs room forces a switch once
// it is overdue, and its lane is woken when the victims are down.
func TestSwitchOnDeadline(t *testing.T) {
	// RideAlong off: the victim is told to sleep at once and drains.
	p := New(Config{MaxWaitHigh: 5 * time.Second, Kappa: 1000, RideAlong: -1})
	v := view()
	v.Lanes[2].State = core.Sleeping
	v.GPUs[0].UsedMB = 6000 + 1000 + 1000
	v.Lanes[1].Running = 1
	t0 := time.Unix(0, 0)
	r := &core.Request{ID: "r", Priority: scheduler.PriorityHigh, Arrival: t0, Candidates: []core.Candidate{{Model: "top", Weight: 1}}}
	// "near" keeps getting traffic, so the cost rule alone never switches.
	for i := range 20 {
		p.noteArrival(t0, &core.Request{Candidates: []core.Candidate{{Model: "near"}}, Arrival: t0.Add(time.Duration(i) * time.Second)})
	}
	if acts := p.Handle(t0, v, core.Event{Kind: core.Arrival, Req: r}); len(acts) != 0 {
		t.Fatalf("switched before the deadline: %+v", acts)
	}
	acts := p.Handle(t0.Add(6*time.Second), v, core.Event{Kind: core.Tick, Lane: -1})
	if len(acts) != 1 || acts[0].Kind != core.Sleep || acts[0].Lane != 1 {
		t.Fatalf("after the deadline got %+v, want one Sleep of lane 1", acts)
	}
	// The executor drains and sleeps lane 1; then top fits and is woken.
	v.Lanes[1].State, v.Lanes[1].Running = core.Sleeping, 0
	v.GPUs[0].UsedMB = 3000
	acts = p.Handle(t0.Add(12*time.Second), v, core.Event{Kind: core.TransitionDone, Lane: 1})
	if len(acts) != 1 || acts[0].Kind != core.Wake || acts[0].Lane != 0 {
		t.Fatalf("after the victim slept got %+v, want Wake of lane 0", acts)
	}
	v.Lanes[0].State = core.Awake
	acts = p.Handle(t0.Add(14*time.Second), v, core.Event{Kind: core.TransitionDone, Lane: 0})
	if len(acts) != 1 || acts[0].Kind != core.Dispatch || acts[0].Req != r {
		t.Fatalf("after the wake got %+v, want the request dispatched", acts)
	}
}

// With MaxQueue set, a request whose model already has MaxQueue waiting is
// rejected with scheduler.ErrQueueFull; the ones before it wait.
func TestMaxQueue(t *testing.T) {
	p := New(Config{MaxQueue: 2})
	v := view()
	t0 := time.Unix(0, 0)
	var last []core.Action
	for i := range 3 {
		r := &core.Request{ID: fmt.Sprint(i), Arrival: t0, Candidates: []core.Candidate{{Model: "top", Weight: 1}}}
		last = p.Handle(t0, v, core.Event{Kind: core.Arrival, Req: r})
		if i < 2 && slices.ContainsFunc(last, func(a core.Action) bool { return a.Kind == core.Reject }) {
			t.Fatalf("request %d rejected with %d waiting: %+v", i, i, last)
		}
	}
	if len(last) == 0 || last[0].Kind != core.Reject || !errors.Is(last[0].Err, scheduler.ErrQueueFull) || last[0].Req.ID != "2" {
		t.Fatalf("third request got %+v, want a Reject with ErrQueueFull", last)
	}
	if n := p.queues["top"].Len(); n != 2 {
		t.Errorf("queue holds %d, want 2", n)
	}
}

// With MaxQueue, a request whose chosen model's queue is full waits in the
// queue of another candidate it may take (here a second deployment of the
// same model) and is rejected with scheduler.ErrQueueFull only when every
// such queue is full, as with FCFS.
func TestMaxQueueOverflowsThenRejects(t *testing.T) {
	p := New(Config{MaxQueue: 1})
	v := &core.View{Lanes: []core.Lane{
		{ID: 0, Model: "a", State: core.Awake, Slots: 1, Running: 1},
		{ID: 1, Model: "b", State: core.Awake, Slots: 1, Running: 1},
	}}
	now := time.Unix(0, 0)
	var got []string
	for i := range 3 {
		r := &core.Request{ID: fmt.Sprint(i), Index: i, Arrival: now, Candidates: []core.Candidate{{Model: "a"}, {Model: "b"}}}
		acts := p.Handle(now, v, core.Event{Kind: core.Arrival, Req: r})
		switch {
		case len(acts) == 0:
			got = append(got, p.where[r])
		case acts[0].Kind == core.Reject && errors.Is(acts[0].Err, scheduler.ErrQueueFull):
			got = append(got, "full")
		default:
			t.Fatalf("request %d: %+v", i, acts)
		}
	}
	if want := []string{"a", "b", "full"}; !slices.Equal(got, want) {
		t.Errorf("placements = %v, want %v", got, want)
	}
}

// A victim with a step model drains without being told to sleep: a new
// request of its model that is not expected to outlast the drain rides
// along, one that would hold the waiting model back longer than it saves
// itself waits, and Sleep goes out when the last request ends.
func TestRideAlongWhileDraining(t *testing.T) {
	p := New(Config{MaxWaitHigh: 5 * time.Second, Kappa: 1000})
	v := view()
	v.Lanes[2].State = core.Sleeping
	v.GPUs[0].UsedMB = 6000 + 1000 + 1000
	t0 := time.Unix(0, 0)
	near := func(id string, maxTokens int, at time.Time) *core.Request {
		return &core.Request{ID: id, Arrival: at, MaxTokens: maxTokens, Candidates: []core.Candidate{{Model: "near"}}}
	}
	// a long request runs on near (bound 1000 × 20 ms = 20 s)
	long := near("long", 1000, t0)
	acts := p.Handle(t0, v, core.Event{Kind: core.Arrival, Req: long})
	if len(acts) != 1 || acts[0].Kind != core.Dispatch || acts[0].Lane != 1 {
		t.Fatalf("first request: %+v", acts)
	}
	v.Lanes[1].Running = 1
	top := &core.Request{ID: "top", Priority: scheduler.PriorityHigh, Arrival: t0, Candidates: []core.Candidate{{Model: "top", Weight: 1}}}
	if acts := p.Handle(t0, v, core.Event{Kind: core.Arrival, Req: top}); len(acts) != 0 {
		t.Fatalf("switched before the deadline: %+v", acts)
	}
	// past top's patience near is chosen to make room, but not yet told
	// to sleep: it has a request running
	if acts := p.Handle(t0.Add(6*time.Second), v, core.Event{Kind: core.Tick, Lane: -1}); len(acts) != 0 {
		t.Fatalf("at the deadline got %+v, want nothing until near drains", acts)
	}
	// a short request of near (bound ≈ 2 s, within the 14 s left) rides along
	short := near("short", 100, t0.Add(7*time.Second))
	acts = p.Handle(t0.Add(7*time.Second), v, core.Event{Kind: core.Arrival, Req: short})
	if len(acts) != 1 || acts[0].Kind != core.Dispatch || acts[0].Req != short || acts[0].Lane != 1 {
		t.Fatalf("short request while draining: %+v, want it dispatched to lane 1", acts)
	}
	v.Lanes[1].Running = 2
	// a huge one (bound > 10 min) would hold top back far longer than the
	// time near will be away: it waits
	huge := near("huge", 30000, t0.Add(8*time.Second))
	if acts := p.Handle(t0.Add(8*time.Second), v, core.Event{Kind: core.Arrival, Req: huge}); len(acts) != 0 {
		t.Fatalf("huge request while draining: %+v, want it to wait", acts)
	}
	v.Lanes[1].Running = 1
	if acts := p.Handle(t0.Add(9*time.Second), v, core.Event{Kind: core.Complete, Req: short, Lane: 1}); len(acts) != 0 {
		t.Fatalf("one of two done: %+v", acts)
	}
	v.Lanes[1].Running = 0
	acts = p.Handle(t0.Add(15*time.Second), v, core.Event{Kind: core.Complete, Req: long, Lane: 1})
	if len(acts) != 1 || acts[0].Kind != core.Sleep || acts[0].Lane != 1 {
		t.Fatalf("last request done: %+v, want Sleep of lane 1", acts)
	}
}
