package baselines

import (
	"math"
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler/core"
)

func TestWeightSpan(t *testing.T) {
	for _, c := range []struct {
		ws   []float64
		want float64
	}{
		{[]float64{10, 7, 4}, 6},
		{[]float64{10, 9.5, 9}, 2},   // 0.2·10 floor
		{[]float64{1}, 1},            // absolute floor
		{[]float64{-5, -20}, 15},     // negative weights
		{[]float64{0.1, 0.2}, 1},     // absolute floor
		{[]float64{100, 99, 98}, 20}, // 0.2·100
	} {
		var cs []core.Candidate
		for _, w := range c.ws {
			cs = append(cs, core.Candidate{Weight: w})
		}
		if got := weightSpan(cs); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("weightSpan(%v) = %v, want %v", c.ws, got, c.want)
		}
	}
}

// The ETTFT estimate: warm 0 plus queue, sleeping 2.5 s, plus 3 s reclaim
// when room must be made from an idle lane, 30 s when only busy lanes could
// give it.
func TestETTFTEstimate(t *testing.T) {
	e := NewETTFT()
	v := &core.View{
		GPUs: []core.GPU{{TotalMB: 10000, UsedMB: 7000}},
		Lanes: []core.Lane{
			{Model: "a", GPUs: []int{0}, State: core.Awake, AwakeMB: 6000, SleepMB: 1000},
			{Model: "b", GPUs: []int{0}, State: core.Sleeping, AwakeMB: 6000, SleepMB: 1000},
		},
	}
	e.index(v)
	if got := e.estimate(v, "a"); got != 0 {
		t.Errorf("warm estimate = %v, want 0", got)
	}
	if got := e.estimate(v, "b"); got != overheadSleepingS+reclaimIdleEvictS {
		t.Errorf("sleeping, idle victim = %v", got)
	}
	v.Lanes[0].Running = 3
	if got := e.estimate(v, "b"); got != overheadSleepingS+reclaimBusyDrainS {
		t.Errorf("sleeping, busy victim = %v", got)
	}
	for range 24 {
		e.queue("a").Push(&core.Request{})
	}
	// 24 queued / 12 slots × 3 s default service time
	if got := e.estimate(v, "a"); got != 6 {
		t.Errorf("warm with queue = %v, want 6", got)
	}
}

// A policy-routed request goes to the warm candidate when the cold top one
// carries a large enough ETTFT penalty.
func TestETTFTCorrection(t *testing.T) {
	e := NewETTFT()
	v := &core.View{
		GPUs: []core.GPU{{TotalMB: 10000, UsedMB: 7000}},
		Lanes: []core.Lane{
			{Model: "warm", GPUs: []int{0}, State: core.Awake, AwakeMB: 6000, SleepMB: 1000},
			{Model: "cold", GPUs: []int{0}, State: core.Sleeping, AwakeMB: 6000, SleepMB: 1000},
		},
	}
	r := &core.Request{Arrival: time.Unix(0, 0), Candidates: []core.Candidate{{Model: "cold", Weight: 10}, {Model: "warm", Weight: 9}}}
	acts := e.Handle(time.Unix(0, 0), v, core.Event{Kind: core.Arrival, Req: r})
	if len(acts) == 0 || acts[0].Kind != core.Dispatch || acts[0].Lane != 0 {
		t.Fatalf("actions = %+v, want dispatch to the warm lane", acts)
	}
}
