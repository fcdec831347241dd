package baselines

import (
	"math"
	"slices"
	"time"

	"github.com/logos-llm/logos/scheduler/core"
)

// Constants of the original's ETTFT estimator, node provider and capacity
// planner (docs/scheduling.md lists them with their sources).
const (
	normalizationHorizonS = 60.0
	correctionStrength    = 1.5
	overheadSleepingS     = 2.5
	overheadColdS         = 45.0
	reclaimIdleEvictS     = 3.0
	reclaimBusyDrainS     = 30.0
	minSpanFraction       = 0.2
	minSpanFloor          = 1.0
	defaultGenerationS    = 3.0
	backendQueuePressure  = 8
	plannerCycle          = 10 * time.Second
	idleSleepL1           = 120 * time.Second
	demandWakeFloor       = 0.5
	wakeCompetitiveRatio  = 1.5
	drainCompetitiveRatio = 3.0
	queueWeight           = 0.5
	decayFactor           = 0.7
	burstRequests         = 5
	burstFactor           = 1.5
	latentDemand          = 0.5
	laneMinTenure         = 5 * time.Second
	coldWaiterTenure      = 15 * time.Second
)

// ETTFT is a port of the original's ETTFT estimator
// (ettft_estimator.py), its classification-correcting scheduler
// (correcting_scheduler.py) and a lite capacity planner.
//
// Scheduling: every candidate model of a request is scored
// weight − min(ETTFT/60 s, 1)·span·1.5, with span = max(spread,
// 0.2·max|w|, 1) and ETTFT = state overhead (warm 0, sleeping 2.5 s, cold
// 45 s) + reclaim (3 s if an idle or sleeping lane could make room, 30 s if
// busy lanes must drain; only when the model does not fit now) + queue wait
// (queued / 12 slots × observed e2e p50, 3 s until observed). The request
// runs at once on the best-scored candidate with an awake lane, a free slot
// and a backend queue below 8; otherwise it queues (strict priority, FIFO)
// on the best candidate and never moves.
//
// Capacity planner (lite): a demand tracker per model (decay 0.7 per 10 s
// cycle, ×1.5 on a burst of 5 arrivals in a cycle, latent 0.5 for models
// with waiters, queue weight 0.5); request-time reclaim when a request
// queues for a non-resident model whose demand passes the wake floor; a
// 10 s cycle that wakes the most demanded non-resident models, sleeps idle
// lanes after 120 s, and makes room by sleeping idle lanes whose demand ×
// 1.5 (wake ratio) is below the target's, or draining busy ones whose
// demand × 3 (drain ratio) is; a lane younger than its tenure (5 s; 15 s
// while a cold waiter exists) is never a victim.
//
// Simplifications, against the original: one node and its lanes only (no
// multi-provider expansion, no cloud); the planner's VRAM estimate is the
// profile's footprint (no TP rank-0 fraction, safety margins or
// estimation slack); cold loads and level-2 sleep are never chosen (the
// benchmark node starts with all models asleep, so no cold loads happen);
// drains never time out (the simulator never kills requests); the demand
// tracker counts arrivals per candidate model with the classification
// weight share ignored; wake and load failures are not modelled.
type ETTFT struct {
	base
	demand  map[string]float64
	arrived map[string]int
	e2e     map[string][]float64 // recent e2e seconds per model
	started map[*core.Request]time.Time
	next    time.Time
}

// NewETTFT returns the ETTFT port.
func NewETTFT() *ETTFT {
	e := &ETTFT{base: newBase(), demand: map[string]float64{}, arrived: map[string]int{},
		e2e: map[string][]float64{}, started: map[*core.Request]time.Time{}}
	return e
}

func weightSpan(cs []core.Candidate) float64 {
	hi, lo := math.Inf(-1), math.Inf(1)
	for _, c := range cs {
		hi, lo = max(hi, c.Weight), min(lo, c.Weight)
	}
	return max(hi-lo, max(math.Abs(hi), math.Abs(lo))*minSpanFraction, minSpanFloor)
}

func (e *ETTFT) serviceTime(m string) float64 {
	xs := e.e2e[m]
	if len(xs) == 0 {
		return defaultGenerationS
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// estimate is the ETTFT of model m in seconds.
func (e *ETTFT) estimate(view *core.View, m string) float64 {
	lanes := e.laneOf[m]
	if len(lanes) == 0 {
		return math.Inf(1)
	}
	best := lanes[0]
	rank := func(s core.LaneState) int {
		switch s {
		case core.Awake:
			return 0
		case core.Waking, core.Loading:
			return 1
		case core.Sleeping:
			return 2
		}
		return 3
	}
	for _, l := range lanes {
		if rank(view.Lanes[l].State) < rank(view.Lanes[best].State) {
			best = l
		}
	}
	q := 0
	if qq := e.queues[m]; qq != nil {
		q = qq.Len()
	}
	slots := LaneSlots
	wait := float64(q) / float64(slots) * e.serviceTime(m)
	switch view.Lanes[best].State {
	case core.Awake, core.Waking, core.Loading:
		if view.Lanes[best].Draining {
			wait += overheadSleepingS
		}
		return wait
	case core.Sleeping:
		wait += overheadSleepingS
	default:
		wait += overheadColdS
	}
	if !view.Fits(best) {
		wait += e.reclaim(view, best)
	}
	return wait
}

func (e *ETTFT) reclaim(view *core.View, target int) float64 {
	for i := range view.Lanes {
		ln := &view.Lanes[i]
		if i == target || ln.Model == view.Lanes[target].Model || ln.Node != view.Lanes[target].Node {
			continue
		}
		if ln.State == core.Sleeping || (ln.State == core.Awake && ln.Running == 0) {
			return reclaimIdleEvictS
		}
	}
	return reclaimBusyDrainS
}

// Handle implements core.Policy.
func (e *ETTFT) Handle(now time.Time, view *core.View, ev core.Event) []core.Action {
	e.acts = e.acts[:0]
	e.index(view)
	if e.next.IsZero() {
		e.next = now.Add(plannerCycle)
	}
	switch ev.Kind {
	case core.Arrival:
		e.arrive(now, view, ev.Req)
	case core.Timeout, core.Cancel:
		e.forget(ev.Req)
	case core.Complete:
		if ev.Lane >= 0 {
			m := view.Lanes[ev.Lane].Model
			xs := append(e.e2e[m], now.Sub(ev.Req.Arrival).Seconds())
			if len(xs) > 50 {
				xs = xs[1:]
			}
			e.e2e[m] = xs
		}
	}
	e.dispatchAll(view)
	if !now.Before(e.next) {
		e.cycle(now, view)
		e.next = now.Add(plannerCycle)
	}
	e.reclaimForWaiters(now, view)
	e.undoProvisional(view)
	return e.acts
}

func (e *ETTFT) arrive(now time.Time, view *core.View, r *core.Request) {
	span := weightSpan(r.Candidates)
	type scored struct {
		m     string
		score float64
	}
	var ss []scored
	for _, c := range r.Candidates {
		e.arrived[c.Model]++
		w := e.estimate(view, c.Model)
		pen := span * correctionStrength
		if !math.IsInf(w, 1) {
			pen = min(w/normalizationHorizonS, 1) * span * correctionStrength
		}
		ss = append(ss, scored{c.Model, c.Weight - pen})
	}
	slices.SortStableFunc(ss, func(a, b scored) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	for _, s := range ss {
		for _, l := range e.laneOf[s.m] {
			ln := &view.Lanes[l]
			if slotFree(ln) && ln.BackendWaiting < backendQueuePressure && e.queue(s.m).Len() == 0 {
				ln.Running++
				e.acts = append(e.acts, core.DispatchTo(r, l))
				return
			}
		}
	}
	m := ss[0].m
	e.queue(m).Push(r)
	e.where[r] = m
	e.started[r] = now
}

// demandOf is the tracked demand plus queue weight.
func (e *ETTFT) demandOf(m string) float64 {
	d := e.demand[m]
	if q := e.queues[m]; q != nil && q.Len() > 0 {
		d += queueWeight*float64(q.Len()) + latentDemand
	}
	return d
}

// cycle is the planner's 10 s cycle.
func (e *ETTFT) cycle(now time.Time, view *core.View) {
	for _, m := range e.models {
		n := e.arrived[m]
		add := float64(n)
		if n >= burstRequests {
			add *= burstFactor
		}
		e.demand[m] = e.demand[m]*decayFactor + add
		e.arrived[m] = 0
	}
	for m := range e.arrived {
		if _, ok := e.demand[m]; !ok {
			e.demand[m] = float64(e.arrived[m])
			e.arrived[m] = 0
		}
	}
	// Idle sleep.
	for i := range view.Lanes {
		ln := &view.Lanes[i]
		if ln.State == core.Awake && !ln.Draining && ln.Running == 0 && now.Sub(ln.LastUsed) >= idleSleepL1 &&
			(e.queues[ln.Model] == nil || e.queues[ln.Model].Len() == 0) {
			e.acts = append(e.acts, core.SleepLane(i))
		}
	}
}

// reclaimForWaiters brings up the most demanded model that has waiters and
// no resident lane, within the competitive ratios.
func (e *ETTFT) reclaimForWaiters(now time.Time, view *core.View) {
	var want []string
	for _, m := range e.models {
		if e.queues[m].Len() > 0 && !resident(view, e.laneOf[m]) && e.demandOf(m) >= demandWakeFloor {
			want = append(want, m)
		}
	}
	slices.SortStableFunc(want, func(a, b string) int {
		da, db := e.demandOf(a), e.demandOf(b)
		switch {
		case da > db:
			return -1
		case da < db:
			return 1
		}
		return 0
	})
	for _, m := range want {
		for _, l := range e.laneOf[m] {
			if view.Nodes[view.Lanes[l].Node].Transitions > 0 {
				return // transitions are serialized per node
			}
		}
		if e.bringUpRatio(now, view, m) {
			return
		}
	}
}

// bringUpRatio wakes m's sleeping lane, sleeping victims allowed by the
// competitive ratios and tenure; it reports whether it issued anything.
func (e *ETTFT) bringUpRatio(now time.Time, view *core.View, m string) bool {
	target := -1
	for _, l := range e.laneOf[m] {
		if view.Lanes[l].State == core.Sleeping {
			target = l
		}
	}
	if target < 0 {
		return false
	}
	if view.Fits(target) {
		e.acts = append(e.acts, core.WakeLane(target))
		return true
	}
	dm := e.demandOf(m)
	tenure := laneMinTenure
	oldest := e.queues[m].Oldest()
	if oldest != nil && now.Sub(e.started[oldest]) > 0 {
		tenure = coldWaiterTenure
	}
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
		if ln.State == core.GoingToSleep || ln.State == core.Unloading || (ln.State == core.Awake && ln.Draining) {
			deficit -= (ln.AwakeMB - ln.SleepMB) / len(ln.GPUs)
			continue
		}
		if ln.State != core.Awake || now.Sub(ln.Since) < tenure {
			continue
		}
		dv := e.demandOf(ln.Model)
		ratio := wakeCompetitiveRatio
		if ln.Running > 0 {
			ratio = drainCompetitiveRatio
		}
		if dm >= ratio*dv || (ln.Running == 0 && e.queues[ln.Model] != nil && e.queues[ln.Model].Len() == 0 && dv < demandWakeFloor) {
			victims = append(victims, i)
		}
	}
	if deficit <= 0 {
		return true
	}
	slices.SortStableFunc(victims, func(x, y int) int {
		return cmpFloat(e.demandOf(view.Lanes[x].Model), e.demandOf(view.Lanes[y].Model))
	})
	freed := 0
	for _, v := range victims {
		freed += (view.Lanes[v].AwakeMB - view.Lanes[v].SleepMB) / len(view.Lanes[v].GPUs)
	}
	if freed < deficit {
		return false // not allowed to make enough room yet
	}
	for _, v := range victims {
		if deficit <= 0 {
			break
		}
		e.acts = append(e.acts, core.SleepLane(v))
		deficit -= (view.Lanes[v].AwakeMB - view.Lanes[v].SleepMB) / len(view.Lanes[v].GPUs)
	}
	return true
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
