package core_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/baselines"
	"github.com/logos-llm/logos/scheduler/clock"
	"github.com/logos-llm/logos/scheduler/core"
)

// fakeLife is a node of 32,000 MB with deployments 1 and 2 (20,000 MB
// awake, 1,000 asleep, both asleep at start). Transitions succeed at once
// unless fail names them; every call is logged.
type fakeLife struct {
	mu    sync.Mutex
	log   []string
	fail  map[string]bool
	state map[int64]string
	calls chan string
}

func newFakeLife() *fakeLife {
	return &fakeLife{fail: map[string]bool{}, state: map[int64]string{1: scheduler.LaneSleeping, 2: scheduler.LaneSleeping},
		calls: make(chan string, 100)}
}

func (f *fakeLife) Deployments() []int64 { return []int64{1, 2} }

func (f *fakeLife) Lane(dep int64) (scheduler.LaneSpec, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.state[dep]
	return scheduler.LaneSpec{Node: 7, NodeMB: 32000, AwakeMB: 20000, SleepMB: 1000, State: st,
		WakeCost: 2 * time.Second, SleepCost: 5 * time.Second, LoadCost: 40 * time.Second}, ok
}

func (f *fakeLife) Transition(_ context.Context, dep int64, t scheduler.Transition, _ int) error {
	call := fmt.Sprintf("%s %d", t, dep)
	f.mu.Lock()
	f.log = append(f.log, call)
	failed := f.fail[call]
	f.mu.Unlock()
	f.calls <- call
	if failed {
		return errors.New("CUDA out of memory")
	}
	return nil
}

func (f *fakeLife) calls2() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func acquire(t *testing.T, a *core.Adapter, id string, dep int64) <-chan *scheduler.Lease {
	t.Helper()
	ch := make(chan *scheduler.Lease, 1)
	go func() {
		l, err := a.Acquire(context.Background(), scheduler.Job{RequestID: id, Candidates: []scheduler.Candidate{{DeploymentID: dep, Weight: 1}}})
		if err != nil {
			t.Errorf("Acquire(%s): %v", id, err)
		}
		ch <- l
	}()
	return ch
}

func TestAdapterExecutesLifecycleActions(t *testing.T) {
	life := newFakeLife()
	a := core.NewAdapter(baselines.NewFCFS(), core.AdapterConfig{Lifecycle: life})
	defer a.Close()

	l1 := <-acquire(t, a, "r1", 1)
	if l1 == nil {
		t.FailNow()
	}
	info := l1.Info()
	if !info.ColdStart || info.Tier != scheduler.TierSleeping || !info.ETTFTKnown || info.ETTFT != 2*time.Second {
		t.Errorf("first lease on a sleeping lane: %+v; want a cold start, tier sleeping, ETTFT 2s", info)
	}
	l2 := <-acquire(t, a, "r2", 1)
	if info := l2.Info(); info.ColdStart || info.Tier != scheduler.TierWarm || info.ETTFT != 0 {
		t.Errorf("lease on the awake lane: %+v; want warm", info)
	}
	// Deployment 2 does not fit beside 1: 1 drains (two leases), sleeps,
	// then 2 wakes.
	ch := acquire(t, a, "r3", 2)
	l1.Release(scheduler.Outcome{})
	select {
	case <-ch:
		t.Fatal("granted on deployment 2 while deployment 1 still ran a request")
	case <-time.After(20 * time.Millisecond):
	}
	if st := a.State(); st.Deployments[0].Lane != "draining" {
		t.Errorf("deployment 1's lane is %q while it drains", st.Deployments[0].Lane)
	}
	l2.Release(scheduler.Outcome{})
	l3 := <-ch
	if info := l3.Info(); !info.ColdStart || info.Tier != scheduler.TierSleeping {
		t.Errorf("lease after a swap: %+v", info)
	}
	l3.Release(scheduler.Outcome{})
	want := []string{"wake 1", "sleep 1", "wake 2"}
	if got := life.calls2(); !slices.Equal(got, want) {
		t.Errorf("transitions = %v, want %v", got, want)
	}
	st := a.State()
	if st.Deployments[0].Lane != "sleeping" || st.Deployments[1].Lane != "awake" {
		t.Errorf("lanes = %+v", st.Deployments)
	}
}

func TestAdapterCoolsDownAfterFailedWake(t *testing.T) {
	life := newFakeLife()
	life.fail["wake 1"] = true
	clk := clock.NewFake(time.Unix(0, 0))
	a := core.NewAdapter(baselines.NewFCFS(), core.AdapterConfig{Lifecycle: life, Clock: clk, DefaultTimeout: time.Hour})
	defer a.Close()
	ch := acquire(t, a, "r1", 1)
	if got := <-life.calls; got != "wake 1" {
		t.Fatalf("first transition %q", got)
	}
	// The failure is handled and the policy asks again at once: the
	// adapter must not send it during the cooldown.
	select {
	case got := <-life.calls:
		t.Fatalf("transition %q during the cooldown", got)
	case <-time.After(50 * time.Millisecond):
	}
	life.mu.Lock()
	life.fail["wake 1"] = false
	life.mu.Unlock()
	clk.Advance(core.DefaultWakeCooldown)
	if got := <-life.calls; got != "wake 1" {
		t.Fatalf("transition after the cooldown %q", got)
	}
	l := <-ch
	if l == nil || !l.ColdStart() {
		t.Fatalf("lease after a retried wake: %+v", l)
	}
	l.Release(scheduler.Outcome{})
}

// tickCounter counts Tick events.
type tickCounter struct {
	mu    sync.Mutex
	ticks int
}

func (p *tickCounter) Handle(_ time.Time, _ *core.View, ev core.Event) []core.Action {
	if ev.Kind == core.Tick {
		p.mu.Lock()
		p.ticks++
		p.mu.Unlock()
	}
	return nil
}

func TestAdapterTicks(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	p := &tickCounter{}
	a := core.NewAdapter(p, core.AdapterConfig{Clock: clk, Tick: 10 * time.Second})
	for range 3 {
		if err := clk.BlockUntil(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Second)
	}
	if err := clk.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ticks != 3 {
		t.Errorf("ticks after 30 s = %d, want 3", p.ticks)
	}
	if n := clk.Pending(); n != 0 {
		t.Errorf("%d timers left after Close", n)
	}
}

func TestAdapterCoolsDownAfterFailedSleep(t *testing.T) {
	life := newFakeLife()
	life.fail["sleep 1"] = true
	clk := clock.NewFake(time.Unix(0, 0))
	a := core.NewAdapter(baselines.NewFCFS(), core.AdapterConfig{Lifecycle: life, Clock: clk, DefaultTimeout: time.Hour})
	defer a.Close()
	l1 := <-acquire(t, a, "r1", 1)
	<-life.calls // wake 1
	l1.Release(scheduler.Outcome{})
	ch := acquire(t, a, "r2", 2)
	if got := <-life.calls; got != "sleep 1" {
		t.Fatalf("transition %q, want sleep 1", got)
	}
	select {
	case got := <-life.calls:
		t.Fatalf("transition %q during the cooldown after a failed sleep", got)
	case <-time.After(50 * time.Millisecond):
	}
	life.mu.Lock()
	life.fail["sleep 1"] = false
	life.mu.Unlock()
	clk.Advance(core.DefaultWakeCooldown)
	for _, want := range []string{"sleep 1", "wake 2"} {
		if got := <-life.calls; got != want {
			t.Fatalf("transition %q, want %q", got, want)
		}
	}
	(<-ch).Release(scheduler.Outcome{})
}
