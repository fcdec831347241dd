package core

import (
	"context"
	"errors"
	"time"

	"github.com/logos-llm/logos/scheduler"
)

// Cooldowns after a failed transition, during which the Adapter starts no
// transition on that lane (the original's WAKE_FAILURE_COOLDOWN and
// LOAD_FAILURE_COOLDOWN; a failed sleep or unload cools down like a wake).
const (
	DefaultWakeCooldown = 15 * time.Second
	DefaultLoadCooldown = 120 * time.Second
)

// laneRT is the Adapter's runtime data of one lane, beside View.Lanes.
type laneRT struct {
	dep     int64
	managed bool // described by the Lifecycle: its actions are executed
	cloud   bool
	// drainTo is the transition to start when a draining lane empties.
	drainTo    ActionKind
	drainLevel int
	// fromAwake says an unloading lane held its awake footprint.
	fromAwake bool
	// upAt is when the lane last became awake through a transition, upKind
	// which one (Wake or Load).
	upAt   time.Time
	upKind ActionKind
	// coolUntil blocks wakes and loads after a failure.
	coolUntil time.Time
}

// SetLifecycle makes the Adapter execute the policy's Wake, Sleep, Load and
// Unload actions through l: lanes of the deployments l describes get their
// node, memory, transition costs and current state from it. Lanes l does
// not describe stay always awake. nil turns execution off for lanes added
// later. Call it before the first Acquire.
func (a *Adapter) SetLifecycle(l scheduler.Lifecycle) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.life = l
	if l == nil {
		return
	}
	now := a.clock.Now()
	for _, dep := range l.Deployments() {
		if id, ok := a.lanes[dep]; ok {
			// Known before: described now if still idle.
			if !a.rt[id].managed && !a.rt[id].cloud && a.view.Lanes[id].Running == 0 {
				a.describeLocked(id, now)
			}
			continue
		}
		a.laneLocked(dep, now) // describes it
	}
	a.handleLocked(now, Event{Kind: Tick, Lane: -1})
}

var _ scheduler.LifecycleUser = (*Adapter)(nil)

// nodeLocked returns the View index of node key, adding it (with one pooled
// GPU of mb when mb > 0) if new.
func (a *Adapter) nodeLocked(key int64, mb int) int {
	if id, ok := a.nodes[key]; ok {
		if g := a.nodeGPU[id]; g >= 0 && mb > 0 {
			a.view.GPUs[g].TotalMB = mb
		}
		return id
	}
	id := len(a.view.Nodes)
	a.view.Nodes = append(a.view.Nodes, Node{ID: id, MaxTransitions: 1})
	a.nodes[key] = id
	g := -1
	if mb > 0 {
		g = len(a.view.GPUs)
		a.view.GPUs = append(a.view.GPUs, GPU{Node: id, TotalMB: mb})
	}
	a.nodeGPU = append(a.nodeGPU, g)
	return id
}

// describeLocked fills a new lane from the Lifecycle's description.
func (a *Adapter) describeLocked(id int, now time.Time) {
	if a.life == nil {
		return
	}
	rt := &a.rt[id]
	spec, ok := a.life.Lane(rt.dep)
	if !ok {
		return
	}
	l := &a.view.Lanes[id]
	rt.cloud = spec.Cloud
	if spec.Cloud {
		return
	}
	rt.managed = true
	l.Node = a.nodeLocked(spec.Node, spec.NodeMB)
	l.AwakeMB, l.SleepMB = spec.AwakeMB, spec.SleepMB
	l.WakeCost, l.SleepCost, l.LoadCost, l.UnloadCost = spec.WakeCost, spec.SleepCost, spec.LoadCost, spec.UnloadCost
	l.StepTime, l.StepPerSeq = spec.StepTime, spec.StepPerSeq
	switch spec.State {
	case scheduler.LaneSleeping:
		l.State = Sleeping
	case scheduler.LaneCold:
		l.State = Cold
	default:
		l.State = Awake
	}
	l.Since = now
	if g := a.nodeGPU[l.Node]; g >= 0 && l.AwakeMB > 0 {
		l.GPUs = []int{g}
		a.view.GPUs[g].UsedMB += a.heldLocked(id)
	}
}

// heldLocked is the memory lane id holds in its current state.
func (a *Adapter) heldLocked(id int) int {
	l := &a.view.Lanes[id]
	switch l.State {
	case Awake, Loading, Waking, GoingToSleep:
		return l.AwakeMB
	case Sleeping:
		return l.SleepMB
	case Unloading:
		if a.rt[id].fromAwake {
			return l.AwakeMB
		}
		return l.SleepMB
	}
	return 0
}

func (a *Adapter) addMBLocked(id, mb int) {
	for _, g := range a.view.Lanes[id].GPUs {
		a.view.GPUs[g].UsedMB += mb
	}
}

// upLocked executes Wake or Load.
func (a *Adapter) upLocked(now time.Time, act Action) {
	if !a.validManaged(act) {
		return
	}
	l, rt := &a.view.Lanes[act.Lane], &a.rt[act.Lane]
	if act.Kind == Wake && l.State == Awake && l.Draining {
		l.Draining = false // cancel a pending drain
		return
	}
	want, to := Sleeping, Waking
	if act.Kind == Load {
		want, to = Cold, Loading
	}
	if l.State != want || !a.view.Fits(act.Lane) || now.Before(rt.coolUntil) {
		a.log.Debug("scheduler: lifecycle action not executed", "action", act.Kind.String(), "lane", act.Lane,
			"state", l.State.String(), "cooling_down", now.Before(rt.coolUntil))
		return
	}
	a.addMBLocked(act.Lane, a.view.NeedMB(act.Lane))
	a.startLocked(now, act.Lane, to, act.Kind, 0)
}

// downLocked executes Sleep or Unload; a busy lane drains first.
func (a *Adapter) downLocked(now time.Time, act Action) {
	if !a.validManaged(act) {
		return
	}
	l, rt := &a.view.Lanes[act.Lane], &a.rt[act.Lane]
	ok := (act.Kind == Sleep && l.State == Awake && !l.Draining) ||
		(act.Kind == Unload && (l.State == Awake && !l.Draining || l.State == Sleeping))
	if !ok || now.Before(rt.coolUntil) {
		a.log.Debug("scheduler: lifecycle action not executed", "action", act.Kind.String(), "lane", act.Lane,
			"state", l.State.String(), "cooling_down", now.Before(rt.coolUntil))
		return
	}
	if l.State == Awake && l.Running > 0 {
		l.Draining, rt.drainTo, rt.drainLevel = true, act.Kind, act.Level
		return
	}
	a.beginDownLocked(now, act.Lane, act.Kind, act.Level)
}

func (a *Adapter) beginDownLocked(now time.Time, id int, k ActionKind, level int) {
	if k == Sleep {
		a.startLocked(now, id, GoingToSleep, Sleep, level)
		return
	}
	a.rt[id].fromAwake = a.view.Lanes[id].State == Awake
	a.startLocked(now, id, Unloading, Unload, 0)
}

func (a *Adapter) validManaged(act Action) bool {
	if act.Lane < 0 || act.Lane >= len(a.view.Lanes) || !a.rt[act.Lane].managed || a.life == nil || a.closed {
		a.log.Debug("scheduler: lifecycle action on a lane without a lifecycle", "action", act.Kind.String(), "lane", act.Lane)
		return false
	}
	return true
}

var transitions = map[ActionKind]scheduler.Transition{
	Wake: scheduler.TransitionWake, Sleep: scheduler.TransitionSleep,
	Load: scheduler.TransitionLoad, Unload: scheduler.TransitionUnload,
}

// startLocked puts lane id into state and runs the transition in a
// goroutine owned by the Adapter; its end is handled by transitionDone.
func (a *Adapter) startLocked(now time.Time, id int, state LaneState, k ActionKind, level int) {
	l := &a.view.Lanes[id]
	prev := l.State
	l.State, l.Since, l.Draining = state, now, false
	a.view.Nodes[l.Node].Transitions++
	dep, life, ctx := a.rt[id].dep, a.life, a.lifeCtx
	a.timers.Add(1)
	go func() {
		defer a.timers.Done()
		err := life.Transition(ctx, dep, transitions[k], level)
		a.transitionDone(id, k, prev, err)
	}()
}

// transitionDone records the end of a transition and tells the policy.
func (a *Adapter) transitionDone(id int, k ActionKind, prev LaneState, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock.Now()
	l, rt := &a.view.Lanes[id], &a.rt[id]
	a.view.Nodes[l.Node].Transitions--
	switch {
	case err == nil && (k == Wake || k == Load):
		l.State, rt.upAt, rt.upKind = Awake, now, k
	case err == nil && k == Sleep:
		a.addMBLocked(id, -(l.AwakeMB - l.SleepMB))
		l.State = Sleeping
	case err == nil: // Unload
		a.addMBLocked(id, -a.heldLocked(id))
		l.State = Cold
	case k == Wake || k == Load:
		a.addMBLocked(id, -a.view.NeedMBFrom(id, prev))
		l.State = prev
		cool := a.wakeCooldown
		if k == Load {
			cool = a.loadCooldown
		}
		rt.coolUntil = now.Add(cool)
		a.armTickLocked(now, cool)
	default: // a failed sleep or unload leaves the lane as it was
		l.State = prev
		rt.coolUntil = now.Add(a.wakeCooldown)
		a.armTickLocked(now, a.wakeCooldown)
	}
	l.Since = now
	if err != nil && !errors.Is(err, context.Canceled) {
		a.log.Warn("scheduler: lifecycle transition failed", "action", k.String(), "deployment", rt.dep, "err", err)
	}
	if a.closed {
		return
	}
	a.handleLocked(now, Event{Kind: TransitionDone, Lane: id})
}

// tickEveryLocked delivers a Tick event every d until Close.
func (a *Adapter) tickEveryLocked(d time.Duration) {
	if a.closed {
		return
	}
	pt := &policyTimer{}
	a.ptimers[pt] = struct{}{}
	a.timers.Add(1)
	pt.t = a.clock.AfterFunc(d, func() {
		defer a.timers.Done()
		a.mu.Lock()
		defer a.mu.Unlock()
		delete(a.ptimers, pt)
		if !a.closed {
			a.handleLocked(a.clock.Now(), Event{Kind: Tick, Lane: -1})
			a.tickEveryLocked(d)
		}
	})
}

// armTickLocked asks for a Tick event after d (the end of a cooldown), so
// that the policy reconsiders.
func (a *Adapter) armTickLocked(now time.Time, d time.Duration) {
	if a.closed {
		return
	}
	pt := &policyTimer{}
	a.ptimers[pt] = struct{}{}
	a.timers.Add(1)
	pt.t = a.clock.AfterFunc(d, func() {
		defer a.timers.Done()
		a.mu.Lock()
		defer a.mu.Unlock()
		delete(a.ptimers, pt)
		if !a.closed {
			a.handleLocked(a.clock.Now(), Event{Kind: Tick, Lane: -1})
		}
	})
}

// NeedMBFrom is NeedMB for lane id as if it were in state st.
func (v *View) NeedMBFrom(id int, st LaneState) int {
	l := &v.Lanes[id]
	if len(l.GPUs) == 0 {
		return 0
	}
	need := l.AwakeMB
	if st == Sleeping {
		need -= l.SleepMB
	}
	return need / len(l.GPUs)
}

// drainedLocked starts the pending transition of a draining lane that has
// emptied.
func (a *Adapter) drainedLocked(now time.Time, id int) {
	l := &a.view.Lanes[id]
	if l.Draining && l.Running == 0 && l.State == Awake && a.rt[id].managed && a.life != nil && !a.closed {
		a.beginDownLocked(now, id, a.rt[id].drainTo, a.rt[id].drainLevel)
	}
}

// leaseInfoLocked describes a grant on lane id to a job that arrived at
// arrival.
func (a *Adapter) leaseInfoLocked(id int, arrival time.Time) (tier string, cold bool) {
	rt := &a.rt[id]
	switch {
	case rt.cloud:
		return scheduler.TierCloud, false
	case !rt.managed:
		return "", false
	case rt.upAt.After(arrival):
		if rt.upKind == Load {
			return scheduler.TierCold, true
		}
		return scheduler.TierSleeping, true
	}
	return scheduler.TierWarm, false
}

// estimateLocked is the estimated time to first token of a job whose
// candidates are on lanes ids, at now: the least over managed lanes of the
// time until the lane is awake (0 warm, the rest of a transition in
// progress, or a wake or load). It is false when no lane is managed.
func (a *Adapter) estimateLocked(now time.Time, ids []int) (time.Duration, bool) {
	best, known := time.Duration(0), false
	for _, id := range ids {
		if !a.rt[id].managed {
			continue
		}
		l := &a.view.Lanes[id]
		var d time.Duration
		switch l.State {
		case Awake:
			d = 0
			if l.Draining {
				d = l.SleepCost + l.WakeCost
			}
		case Waking:
			d = max(0, l.WakeCost-now.Sub(l.Since))
		case Loading:
			d = max(0, l.LoadCost-now.Sub(l.Since))
		case Sleeping:
			d = l.WakeCost
		case GoingToSleep:
			d = max(0, l.SleepCost-now.Sub(l.Since)) + l.WakeCost
		case Cold:
			d = l.LoadCost
		case Unloading:
			d = max(0, l.UnloadCost-now.Sub(l.Since)) + l.LoadCost
		}
		if !known || d < best {
			best, known = d, true
		}
	}
	return best, known
}
