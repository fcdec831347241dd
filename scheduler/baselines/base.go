// Package baselines holds the reference schedulers the simulator measures
// ours against, all written on the decision core (core.Policy):
//
//   - FCFS ("fcfs"): one strict-priority FIFO per model; dispatch to an awake
//     lane with a free slot (LaneSlots, the original's 4 × 3); whenever a
//     queued request's model is not resident, make room at once (sleep
//     least-recently-used idle lanes, else drain busy ones) and wake or load
//     it. The thrashing strawman. Policy-routed rows take the top candidate.
//   - Round robin ("round-robin"): as FCFS, but a policy-routed request
//     takes its candidates in turn (a counter over all requests).
//     Identical to FCFS on explicit-model traces.
//   - Least loaded ("least-loaded"): as FCFS, but a request goes to the
//     candidate model with the fewest outstanding requests (queued +
//     running), ignoring residency and switch cost.
//   - Static ("static"): the best fixed resident set, chosen once from the
//     trace's first minute of demand; never swaps (a bound, not a
//     competitor); requests for other models wait until they time out.
//   - Ollama ("ollama"): bare Ollama's own scheduling, with Ollama physics;
//     see Ollama.
//   - ETTFT ("ettft"): a port of the original's ETTFT estimator, its
//     correcting scheduler and a lite capacity planner; see ETTFT.
//
// The no-swap bound is FCFS run with infinite VRAM (sim.Config.InfiniteVRAM).
package baselines

import (
	"slices"
	"time"

	"github.com/logos-llm/logos/scheduler/core"
)

// base holds what the FCFS-family policies share: per-model queues and the
// make-room logic.
type base struct {
	queues map[string]*core.Queue
	models []string // in first-seen order, for deterministic iteration
	laneOf map[string][]int
	acts   []core.Action
	// pick chooses the model a request waits for.
	pick func(view *core.View, r *core.Request) string
	// where remembers each queued request's model.
	where map[*core.Request]string
}

func newBase() base {
	return base{queues: map[string]*core.Queue{}, laneOf: map[string][]int{}, where: map[*core.Request]string{}}
}

func (b *base) index(view *core.View) {
	if len(b.laneOf) > 0 {
		return
	}
	for i := range view.Lanes {
		m := view.Lanes[i].Model
		b.laneOf[m] = append(b.laneOf[m], i)
	}
}

func (b *base) queue(m string) *core.Queue {
	q := b.queues[m]
	if q == nil {
		q = &core.Queue{}
		b.queues[m] = q
		b.models = append(b.models, m)
	}
	return q
}

// forget drops a request that timed out or was cancelled.
func (b *base) forget(r *core.Request) {
	if m, ok := b.where[r]; ok {
		b.queues[m].Remove(r)
		delete(b.where, r)
	}
}

// dispatchAll sends queued requests to free awake lanes of their model.
func (b *base) dispatchAll(view *core.View) {
	for _, m := range b.models {
		q := b.queues[m]
		for q.Len() > 0 {
			l := b.freeLane(view, m)
			if l < 0 {
				break
			}
			r := q.Pop()
			delete(b.where, r)
			view.Lanes[l].Running++ // provisional, so the next pick sees it
			b.acts = append(b.acts, core.DispatchTo(r, l))
		}
	}
}

// undoProvisional reverts the provisional Running counts of dispatchAll:
// the executor applies them.
func (b *base) undoProvisional(view *core.View) {
	for _, a := range b.acts {
		if a.Kind == core.Dispatch {
			view.Lanes[a.Lane].Running--
		}
	}
}

// LaneSlots is the baselines' concurrency cap per lane: the original's
// parallel 4 × oversubscription 3.
const LaneSlots = 12

func slotFree(l *core.Lane) bool { return l.Free() && l.Running < LaneSlots }

func (b *base) freeLane(view *core.View, m string) int {
	best := -1
	for _, l := range b.laneOf[m] {
		if slotFree(&view.Lanes[l]) && (best < 0 || view.Lanes[l].Running < view.Lanes[best].Running) {
			best = l
		}
	}
	return best
}

// resident reports whether some lane of m is awake (not draining), waking or
// loading.
func resident(view *core.View, lanes []int) bool {
	for _, l := range lanes {
		ln := &view.Lanes[l]
		if (ln.State == core.Awake && !ln.Draining) || ln.State == core.Waking || ln.State == core.Loading {
			return true
		}
	}
	return false
}

// bringUp wakes or loads a lane of model m, making room first: idle lanes
// sharing its GPUs are put to sleep least recently used first, then busy
// ones drain. It returns true when a wake or load was issued or is already
// in progress, false while room is still being made. protect lists models
// not to evict.
func (b *base) bringUp(view *core.View, lanes []int, protect func(string) bool, evictBusy bool) bool {
	if resident(view, lanes) {
		return true
	}
	// Prefer a sleeping lane (cheap wake) to a cold one.
	target := -1
	for _, l := range lanes {
		st := view.Lanes[l].State
		if st == core.Sleeping && (target < 0 || view.Lanes[target].State != core.Sleeping) {
			target = l
		} else if st == core.Cold && target < 0 {
			target = l
		}
	}
	if target < 0 {
		return false // going down; try again when it has
	}
	if view.Nodes[view.Lanes[target].Node].Transitions >= view.Nodes[view.Lanes[target].Node].MaxTransitions*4 {
		return false
	}
	if view.Fits(target) {
		if view.Lanes[target].State == core.Sleeping {
			b.acts = append(b.acts, core.WakeLane(target))
		} else {
			b.acts = append(b.acts, core.LoadLane(target))
		}
		return true
	}
	b.evictFor(view, target, protect, evictBusy)
	return false
}

// evictFor sleeps enough lanes sharing target's GPUs that target will fit
// once they are down. Memory already being freed counts.
func (b *base) evictFor(view *core.View, target int, protect func(string) bool, evictBusy bool) {
	need := view.NeedMB(target)
	deficit := 0
	for _, g := range view.Lanes[target].GPUs {
		deficit = max(deficit, view.GPUs[g].UsedMB+need-view.GPUs[g].TotalMB)
	}
	var victims []int
	for i := range view.Lanes {
		ln := &view.Lanes[i]
		if i == target || !view.Shares(i, target) {
			continue
		}
		switch {
		case ln.State == core.GoingToSleep || (ln.State == core.Awake && ln.Draining) || ln.State == core.Unloading:
			deficit -= (ln.AwakeMB - ln.SleepMB) / len(ln.GPUs)
		case ln.State == core.Awake && !protect(ln.Model):
			victims = append(victims, i)
		}
	}
	if deficit <= 0 {
		return
	}
	slices.SortStableFunc(victims, func(x, y int) int {
		a, c := &view.Lanes[x], &view.Lanes[y]
		if (a.Running == 0) != (c.Running == 0) {
			if a.Running == 0 {
				return -1
			}
			return 1
		}
		return a.LastUsed.Compare(c.LastUsed)
	})
	for _, v := range victims {
		if deficit <= 0 {
			break
		}
		if view.Lanes[v].Running > 0 && !evictBusy {
			break
		}
		b.acts = append(b.acts, core.SleepLane(v))
		deficit -= (view.Lanes[v].AwakeMB - view.Lanes[v].SleepMB) / len(view.Lanes[v].GPUs)
	}
}

// FCFS is the eager-swap FCFS-per-model baseline; see the package doc.
type FCFS struct {
	base
	rr int
	// Mode is "fcfs", "round-robin" or "least-loaded".
	mode string
}

// NewFCFS returns the FCFS baseline.
func NewFCFS() *FCFS { return newFamily("fcfs") }

// NewRoundRobin returns the round-robin baseline.
func NewRoundRobin() *FCFS { return newFamily("round-robin") }

// NewLeastLoaded returns the least-loaded baseline.
func NewLeastLoaded() *FCFS { return newFamily("least-loaded") }

func newFamily(mode string) *FCFS {
	f := &FCFS{base: newBase(), mode: mode}
	f.pick = f.choose
	return f
}

func (f *FCFS) choose(view *core.View, r *core.Request) string {
	switch {
	case len(r.Candidates) == 1 || f.mode == "fcfs":
		return r.Candidates[0].Model
	case f.mode == "round-robin":
		f.rr++
		return r.Candidates[(f.rr-1)%len(r.Candidates)].Model
	}
	best, load := r.Candidates[0].Model, -1
	for _, c := range r.Candidates {
		n := 0
		if q := f.queues[c.Model]; q != nil {
			n = q.Len()
		}
		for _, l := range f.laneOf[c.Model] {
			n += view.Lanes[l].Running
		}
		if load < 0 || n < load {
			best, load = c.Model, n
		}
	}
	return best
}

// Handle implements core.Policy.
func (f *FCFS) Handle(now time.Time, view *core.View, ev core.Event) []core.Action {
	f.acts = f.acts[:0]
	f.index(view)
	switch ev.Kind {
	case core.Arrival:
		m := f.pick(view, ev.Req)
		f.queue(m).Push(ev.Req)
		f.where[ev.Req] = m
	case core.Timeout, core.Cancel:
		f.forget(ev.Req)
	}
	f.dispatchAll(view)
	// Eager swap: the oldest head whose model is not resident gets room.
	order := slices.Clone(f.models)
	slices.SortStableFunc(order, func(a, b string) int {
		qa, qb := f.queues[a].Peek(), f.queues[b].Peek()
		switch {
		case qa == nil && qb == nil:
			return 0
		case qa == nil:
			return 1
		case qb == nil:
			return -1
		}
		return qa.Arrival.Compare(qb.Arrival)
	})
	for _, m := range order {
		if f.queues[m].Len() == 0 {
			break
		}
		n := len(f.acts)
		if !f.bringUp(view, f.laneOf[m], func(x string) bool { return x == m }, true) || issuedUp(f.acts[n:]) {
			break // one make-room at a time; the view is stale after a wake
		}
	}
	f.undoProvisional(view)
	return f.acts
}

// issuedUp reports whether acts wake or load a lane.
func issuedUp(acts []core.Action) bool {
	for _, a := range acts {
		if a.Kind == core.Wake || a.Kind == core.Load {
			return true
		}
	}
	return false
}
