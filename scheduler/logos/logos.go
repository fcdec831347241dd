// Package logos is Logos's own scheduling policy on the decision core: swap
// aware, priority aware and deadline aware.
//
// Decisions, on every event:
//
//   - Model choice. An explicit request waits for its model. A policy-routed
//     request takes its top candidate unless that model has no free lane and
//     a near-equal candidate (weight within NearEqual of the span below the
//     top) has one, or is awake, coming up or fits without evictions: a warm
//     near-equal model beats waiting for the best one. A lane with room and
//     no waiters of its own later takes such a waiter from another model's
//     queue (so in production, where every deployment is awake, a job runs
//     on whichever near-equal candidate frees first, as with FCFS).
//   - Batch limit under TPOT. A lane takes requests while the predicted
//     iteration time (StepTime + StepPerSeq·b), scaled by the number of busy
//     lanes sharing its GPUs, stays under TPOTTarget: the engine batches
//     almost for free, so draining a queue at once beats a fixed slot cap.
//     Without a step model (production today) only the deployment's
//     capacity limits a lane, as with FCFS.
//   - When to switch the resident set. A waiting model that fits beside the
//     resident ones is woken at once. One that needs room is brought up
//     when a waiter has waited longer than its priority's patience
//     (MaxWait, the deadline), or earlier when its queue's weighted waiting
//     (high 3, normal 1, low 0.5 per second, counted to the end of the
//     wake) outweighs Kappa times the waiting the switch imposes on the
//     victims' users: their arrival rate over the last minute times the
//     down time squared over two, plus their current waiters for the whole
//     down time. Victims are chosen to cost least: idle before busy,
//     fewest waiters, least recently used. A lane woken less than MinTenure
//     ago is not evicted while it has work.
//   - How long to drain. Before a victim drains, its own queue is dispatched
//     to it (within the batch limit): those requests ride along in the
//     drain instead of waiting a whole rotation. While it drains (a lane
//     with a step model is told to sleep only when its last request ends)
//     it keeps taking new requests of its model when what that saves them
//     (the time the model will be away) outweighs what it costs everyone
//     waiting for the room (their number, by priority, times how much the
//     request is expected to lengthen the drain: max_tokens at the lane's
//     step time, scaled by the share of that bound finished requests took).
package logos

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/core"
)

// Config tunes the policy. Zero fields take the defaults.
type Config struct {
	// TPOTTarget bounds the predicted per-token time of a lane's batch;
	// default 100 ms, the interactive TPOT objective.
	TPOTTarget time.Duration
	// MaxBatch caps a lane's batch whatever the prediction; default 256,
	// vLLM's max_num_seqs. A lane without a step model (StepPerSeq 0, as
	// in production today) has no batch limit of its own: its Slots, the
	// deployment's capacity, bound it, as with FCFS.
	MaxBatch int
	// MaxWait is the patience per priority before a switch is forced:
	// defaults high 15 s, normal 30 s, low 60 s.
	MaxWaitHigh, MaxWaitNormal, MaxWaitLow time.Duration
	// MinTenure protects a freshly woken lane with work; default 4 s.
	MinTenure time.Duration
	// Kappa scales the victims' expected cost a switch must outweigh;
	// default 1.
	Kappa float64
	// ServeEstimate is the expected time a switched-in model serves before
	// the set switches back; default 15 s.
	ServeEstimate time.Duration
	// NearEqual is the share of the weight span within which a warm
	// candidate replaces a cold top choice; default 0.5.
	NearEqual float64
	// RideAlong weighs, for a victim that is draining, the waiting a
	// newly dispatched request of its model adds to everyone waiting for
	// the room it frees against the waiting it saves that request (the
	// time its model is away). A victim with a step model is told to
	// sleep only when its last request ends and meanwhile takes the
	// waiters of its model for which saving ≥ RideAlong × cost, their run
	// time estimated as max_tokens at the lane's step time times the share
	// of that bound completed requests took. Default 1; negative sends
	// Sleep at once, so that a draining lane admits nothing new.
	RideAlong float64
	// MaxQueue bounds the requests waiting for one model; a request whose
	// model's queue is full is rejected at once with scheduler.ErrQueueFull
	// (logosd's --max-queue, as with FCFS). 0 means unlimited.
	MaxQueue int
}

func (c *Config) defaults() {
	if c.TPOTTarget <= 0 {
		c.TPOTTarget = 100 * time.Millisecond
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	if c.MaxWaitHigh <= 0 {
		c.MaxWaitHigh = 15 * time.Second
	}
	if c.MaxWaitNormal <= 0 {
		c.MaxWaitNormal = 30 * time.Second
	}
	if c.MaxWaitLow <= 0 {
		c.MaxWaitLow = 60 * time.Second
	}
	if c.MinTenure <= 0 {
		c.MinTenure = 4 * time.Second
	}
	if c.Kappa <= 0 {
		c.Kappa = 1
	}
	if c.ServeEstimate <= 0 {
		c.ServeEstimate = 15 * time.Second
	}
	if c.NearEqual <= 0 {
		c.NearEqual = 0.5
	}
	if c.RideAlong == 0 {
		c.RideAlong = 1
	}
}

// Policy is the logos scheduler. It implements core.Policy; it is not safe
// for concurrent use (the adapter and the simulator serialize calls).
type Policy struct {
	cfg    Config
	queues map[string]*core.Queue
	models []string
	laneOf map[string][]int
	where  map[*core.Request]string
	acts   []core.Action
	// target is the model a switch is making room for.
	target string
	// recent holds each model's arrival times within RateWindow.
	recent map[string]*arrivals
	// soft holds the victims that drain without having been told to sleep
	// yet (SoftDrain): while their running requests finish they still take
	// waiters that will be done before the longest of them.
	soft map[int]bool
	// ends is each running request's lane, start and run-time bound.
	ends map[*core.Request]runEnd
	// runSum and runN learn how much of its bound a request takes.
	runSum float64
	runN   int
}

// runShare is the mean share of its bound a completed request took (1
// before any completed).
func (p *Policy) runShare() float64 {
	if p.runN == 0 {
		return 1
	}
	return p.runSum / float64(p.runN)
}

type runEnd struct {
	lane  int
	start time.Time
	bound time.Duration
}

// arrivals is one model's arrival times, oldest first, from head on; the
// ones before head have left the window and are dropped in bulk.
type arrivals struct {
	ts   []time.Time
	head int
}

// RateWindow is the span over which arrival rates are estimated.
const RateWindow = 60 * time.Second

func (p *Policy) noteArrival(now time.Time, r *core.Request) {
	m := r.Candidates[0].Model
	w := p.recent[m]
	if w == nil {
		w = &arrivals{}
		p.recent[m] = w
	}
	for w.head < len(w.ts) && now.Sub(w.ts[w.head]) > RateWindow {
		w.head++
	}
	// Compact once half the slice has left the window: amortized O(1) per
	// arrival, and the array is kept, so steady traffic appends without
	// allocating.
	if w.head > 0 && w.head >= len(w.ts)/2 {
		n := copy(w.ts, w.ts[w.head:])
		w.ts, w.head = w.ts[:n], 0
	}
	w.ts = append(w.ts, now)
}

// rate is model m's arrivals per second over the last RateWindow.
func (p *Policy) rate(now time.Time, m string) float64 {
	w := p.recent[m]
	if w == nil {
		return 0
	}
	live := w.ts[w.head:]
	// arrivals are in time order: the ones within the window are a suffix
	i := sort.Search(len(live), func(i int) bool { return now.Sub(live[i]) <= RateWindow })
	return float64(len(live)-i) / RateWindow.Seconds()
}

func prioWeight(pr scheduler.Priority) float64 {
	switch pr.Normalize() {
	case scheduler.PriorityHigh:
		return 3
	case scheduler.PriorityLow:
		return 0.5
	}
	return 1
}

// pressure is the weighted waiting time m's queue will have accumulated
// by the time a switch to lane l completes.
func (p *Policy) pressure(now time.Time, view *core.View, m string, l int) float64 {
	sw := view.Lanes[l].WakeCost.Seconds()
	total := 0.0
	p.queues[m].Each(func(r *core.Request) {
		total += prioWeight(r.Priority) * (now.Sub(r.Arrival).Seconds() + sw)
	})
	return total
}

// victimCost estimates the weighted waiting a switch imposes on the
// victims' users: their expected arrivals while they are down, each
// waiting half the down time, plus their current waiters for all of it.
func (p *Policy) victimCost(now time.Time, view *core.View, victims []int, l int) float64 {
	down := view.Lanes[l].WakeCost.Seconds() + view.Lanes[l].SleepCost.Seconds() + p.cfg.ServeEstimate.Seconds()
	for _, v := range victims {
		down += view.Lanes[v].SleepCost.Seconds() + view.Lanes[v].WakeCost.Seconds()
	}
	cost := 0.0
	for _, v := range victims {
		vm := view.Lanes[v].Model
		cost += p.rate(now, vm) * down * down / 2
		if q := p.queues[vm]; q != nil {
			q.Each(func(r *core.Request) { cost += prioWeight(r.Priority) * down })
		}
	}
	return cost
}

var _ core.Policy = (*Policy)(nil)

// New returns a logos policy.
func New(cfg Config) *Policy {
	cfg.defaults()
	return &Policy{cfg: cfg, queues: map[string]*core.Queue{}, laneOf: map[string][]int{}, where: map[*core.Request]string{},
		recent: map[string]*arrivals{}, soft: map[int]bool{}, ends: map[*core.Request]runEnd{}}
}

func (p *Policy) queue(m string) *core.Queue {
	q := p.queues[m]
	if q == nil {
		q = &core.Queue{}
		p.queues[m] = q
		p.models = append(p.models, m)
	}
	return q
}

func (p *Policy) index(view *core.View) {
	if len(p.laneOf) == len(view.Lanes) && len(view.Lanes) > 0 {
		return
	}
	clear(p.laneOf)
	for i := range view.Lanes {
		p.laneOf[view.Lanes[i].Model] = append(p.laneOf[view.Lanes[i].Model], i)
	}
}

// Handle implements core.Policy.
func (p *Policy) Handle(now time.Time, view *core.View, ev core.Event) []core.Action {
	p.acts = p.acts[:0]
	p.index(view)
	// Soft-draining lanes look draining to every rule below.
	for l := range p.soft {
		view.Lanes[l].Draining = true
	}
	switch ev.Kind {
	case core.Complete:
		if e, ok := p.ends[ev.Req]; ok {
			p.runSum += min(now.Sub(e.start).Seconds()/e.bound.Seconds(), 1)
			p.runN++
			delete(p.ends, ev.Req)
		}
	case core.Arrival:
		p.noteArrival(now, ev.Req)
		m := p.choose(view, ev.Req)
		if p.full(m) {
			m = p.overflow(ev.Req, m)
		}
		if q := p.queue(m); p.full(m) {
			p.acts = append(p.acts, core.RejectReq(ev.Req, fmt.Errorf("model %s has %d waiting: %w", m, q.Len(), scheduler.ErrQueueFull)))
		} else {
			q.Push(ev.Req)
			p.where[ev.Req] = m
		}
	case core.Timeout, core.Cancel:
		if m, ok := p.where[ev.Req]; ok {
			p.queues[m].Remove(ev.Req)
			delete(p.where, ev.Req)
		}
	}
	p.dispatch(now, view)
	p.softDispatch(now, view)
	p.plan(now, view)
	for i := range view.Lanes {
		if !p.soft[i] {
			continue
		}
		view.Lanes[i].Draining = false
		if view.Lanes[i].Running == 0 {
			delete(p.soft, i)
			p.acts = append(p.acts, core.SleepLane(i))
		}
	}
	for _, a := range p.acts {
		if a.Kind == core.Dispatch {
			view.Lanes[a.Lane].Running-- // undo the provisional counts
		}
	}
	return p.acts
}

// full reports whether m's queue holds MaxQueue requests.
func (p *Policy) full(m string) bool {
	q := p.queues[m]
	return p.cfg.MaxQueue > 0 && q != nil && q.Len() >= p.cfg.MaxQueue
}

// overflow returns the first other candidate of r whose queue has room and
// which r may wait for instead of m (its weight ties with the top one's or
// is near-equal to it), else m: as with FCFS, a request is refused only when
// every queue it could wait in is full.
func (p *Policy) overflow(r *core.Request, m string) string {
	for _, c := range r.Candidates {
		if c.Model != m && !p.full(c.Model) && (c.Weight == r.Candidates[0].Weight || p.nearEqual(r, c.Model)) {
			return c.Model
		}
	}
	return m
}

func awake(l *core.Lane) bool { return l.State == core.Awake && !l.Draining }

func residentModel(view *core.View, lanes []int) bool {
	for _, l := range lanes {
		ln := &view.Lanes[l]
		if awake(ln) || ln.State == core.Waking || ln.State == core.Loading {
			return true
		}
	}
	return false
}

func (p *Policy) choose(view *core.View, r *core.Request) string {
	top := r.Candidates[0]
	if len(r.Candidates) == 1 || p.freeLane(view, top.Model) >= 0 {
		return top.Model
	}
	if residentModel(view, p.laneOf[top.Model]) {
		// Top is up but full: a near-equal candidate with room now wins.
		for _, c := range r.Candidates[1:] {
			if p.nearEqual(r, c.Model) && p.freeLane(view, c.Model) >= 0 {
				return c.Model
			}
		}
		return top.Model
	}
	hi, lo := math.Inf(-1), math.Inf(1)
	for _, c := range r.Candidates {
		hi, lo = max(hi, c.Weight), min(lo, c.Weight)
	}
	span := max(hi-lo, 0.2*max(math.Abs(hi), math.Abs(lo)), 1)
	// Among the near-equal candidates prefer awake, then coming up, then
	// one that fits without evicting anything; else the top.
	best, rank := top.Model, 3
	for _, c := range r.Candidates {
		if (top.Weight-c.Weight)/span > p.cfg.NearEqual {
			continue
		}
		for _, l := range p.laneOf[c.Model] {
			ln := &view.Lanes[l]
			k := 3
			switch {
			case awake(ln):
				k = 0
			case ln.State == core.Waking || ln.State == core.Loading:
				k = 1
			case (ln.State == core.Sleeping || ln.State == core.Cold) && view.Fits(l):
				k = 2
			}
			if k < rank {
				best, rank = c.Model, k
			}
		}
	}
	return best
}

// batchLimit is how many requests lane l may run under the TPOT target.
func (p *Policy) batchLimit(view *core.View, l int) int {
	ln := &view.Lanes[l]
	if ln.StepPerSeq <= 0 {
		return math.MaxInt
	}
	k := 1
	for i := range view.Lanes {
		if i != l && view.Lanes[i].Running > 0 && view.Shares(i, l) {
			k++
		}
	}
	budget := float64(p.cfg.TPOTTarget)/float64(k) - float64(ln.StepTime)
	if budget <= 0 {
		return 1
	}
	return max(1, min(p.cfg.MaxBatch, int(budget/float64(ln.StepPerSeq))))
}

func (p *Policy) freeLane(view *core.View, m string) int {
	best := -1
	for _, l := range p.laneOf[m] {
		ln := &view.Lanes[l]
		if ln.Free() && ln.Running < p.batchLimit(view, l) && (best < 0 || ln.Running < view.Lanes[best].Running) {
			best = l
		}
	}
	return best
}

// send dispatches r to lane l, counting it provisionally.
func (p *Policy) send(now time.Time, view *core.View, r *core.Request, l int) {
	ln := &view.Lanes[l]
	ln.Running++
	// Run ends are read only by ride-along (softDispatch).
	if b, ok := bound(r, ln); ok && p.cfg.RideAlong > 0 {
		p.ends[r] = runEnd{lane: l, start: now, bound: b}
	}
	p.acts = append(p.acts, core.DispatchTo(r, l))
}

// bound is an upper bound on r's run time on ln (every token of MaxTokens
// at the lane's current batch), false when unknown.
func bound(r *core.Request, ln *core.Lane) (time.Duration, bool) {
	if r.MaxTokens <= 0 || ln.StepTime <= 0 {
		return 0, false
	}
	return time.Duration(r.MaxTokens) * (ln.StepTime + time.Duration(ln.Running)*ln.StepPerSeq), true
}

// softDispatch gives each soft-draining lane the waiters of its model that
// are worth riding along (see Config.RideAlong) rather than waiting until
// the model is back.
func (p *Policy) softDispatch(now time.Time, view *core.View) {
	for l := range view.Lanes {
		if !p.soft[l] {
			continue
		}
		ln := &view.Lanes[l]
		q := p.queues[ln.Model]
		if q == nil || q.Len() == 0 {
			continue
		}
		share := p.runShare()
		var longest time.Time
		for _, e := range p.ends {
			if at := e.start.Add(time.Duration(share * float64(e.bound))); e.lane == l && at.After(longest) {
				longest = at
			}
		}
		if !longest.After(now) {
			continue
		}
		// What riding along saves a request: the time its model is away
		// (its sleep, the target's turn, its wake). What it costs: the
		// target's waiters wait for whatever it adds to the drain.
		away := ln.SleepCost + ln.WakeCost + p.cfg.ServeEstimate
		if t := p.upLane(view, p.target); p.target != "" && t >= 0 {
			away += view.Lanes[t].WakeCost + view.Lanes[t].SleepCost
		}
		// Everyone waiting for a model that is not up waits for the room
		// this drain frees.
		waiting := 0.0
		for _, m := range p.models {
			if m != ln.Model && !residentModel(view, p.laneOf[m]) {
				for _, pr := range [...]scheduler.Priority{scheduler.PriorityHigh, scheduler.PriorityNormal, scheduler.PriorityLow} {
					waiting += prioWeight(pr) * float64(p.queues[m].Count(pr))
				}
			}
		}
		var take []*core.Request
		q.Each(func(r *core.Request) {
			if (ln.Slots > 0 && ln.Running+len(take) >= ln.Slots) || ln.Running+len(take) >= p.batchLimit(view, l) {
				return
			}
			b, ok := bound(r, ln)
			if !ok {
				return
			}
			end := now.Add(time.Duration(share * float64(b)))
			added := max(end.Sub(longest), 0)
			if prioWeight(r.Priority)*away.Seconds() >= p.cfg.RideAlong*waiting*added.Seconds() {
				take = append(take, r)
				if end.After(longest) {
					longest = end
				}
			}
		})
		for _, r := range take {
			q.Remove(r)
			delete(p.where, r)
			p.send(now, view, r, l)
		}
	}
}

func (p *Policy) dispatch(now time.Time, view *core.View) {
	for _, m := range p.models {
		q := p.queues[m]
		for q.Len() > 0 {
			best := p.freeLane(view, m)
			if best < 0 {
				break
			}
			r := q.Pop()
			delete(p.where, r)
			p.send(now, view, r, best)
		}
	}
	// A free lane with nothing of its own takes a waiter of another model
	// that lists it as a near-equal candidate: the request runs now rather
	// than waiting for its first choice.
	for _, m := range p.models {
		if p.queues[m].Len() > 0 {
			continue
		}
		for {
			l := p.freeLane(view, m)
			if l < 0 {
				break
			}
			r := p.steal(m)
			if r == nil {
				break
			}
			p.send(now, view, r, l)
		}
	}
}

// steal removes and returns the best waiter of another model's queue for
// which m is a near-equal candidate: highest priority, then oldest.
func (p *Policy) steal(m string) *core.Request {
	var best *core.Request
	for _, om := range p.models {
		if om == m {
			continue
		}
		var found *core.Request
		p.queues[om].Each(func(r *core.Request) {
			if found == nil && p.nearEqual(r, m) {
				found = r
			}
		})
		if found != nil && (best == nil || found.Priority.Normalize() > best.Priority.Normalize() ||
			found.Priority.Normalize() == best.Priority.Normalize() && found.Arrival.Before(best.Arrival)) {
			best = found
		}
	}
	if best != nil {
		p.queues[p.where[best]].Remove(best)
		delete(p.where, best)
	}
	return best
}

// nearEqual reports whether m is one of r's candidates within NearEqual of
// the span below its top weight.
func (p *Policy) nearEqual(r *core.Request, m string) bool {
	if len(r.Candidates) < 2 {
		return false
	}
	hi, lo := math.Inf(-1), math.Inf(1)
	for _, c := range r.Candidates {
		hi, lo = max(hi, c.Weight), min(lo, c.Weight)
	}
	span := max(hi-lo, 0.2*max(math.Abs(hi), math.Abs(lo)), 1)
	for _, c := range r.Candidates {
		if c.Model == m {
			return (r.Candidates[0].Weight-c.Weight)/span <= p.cfg.NearEqual
		}
	}
	return false
}

func (p *Policy) patience(pr scheduler.Priority) time.Duration {
	switch pr.Normalize() {
	case scheduler.PriorityHigh:
		return p.cfg.MaxWaitHigh
	case scheduler.PriorityLow:
		return p.cfg.MaxWaitLow
	}
	return p.cfg.MaxWaitNormal
}

// overdue is how far the most overdue waiter of q is past its patience
// (negative when none is overdue).
func (p *Policy) overdue(now time.Time, q *core.Queue) time.Duration {
	best := time.Duration(math.MinInt64)
	for _, pr := range []scheduler.Priority{scheduler.PriorityHigh, scheduler.PriorityNormal, scheduler.PriorityLow} {
		if q.Count(pr) == 0 {
			continue
		}
		// the oldest of a level is its head
		var head *core.Request
		for _, r := range []*core.Request{q.Peek()} {
			if r != nil && r.Priority.Normalize() == pr {
				head = r
			}
		}
		if head == nil {
			head = q.Oldest()
		}
		best = max(best, now.Sub(head.Arrival)-p.patience(head.Priority))
	}
	return best
}

// plan decides wakes and evictions.
func (p *Policy) plan(now time.Time, view *core.View) {
	// Finish a switch in progress: wake the target once it fits.
	if p.target != "" {
		if residentModel(view, p.laneOf[p.target]) {
			p.target = ""
		} else {
			if l := p.upLane(view, p.target); l >= 0 && view.Fits(l) {
				p.up(view, l)
				p.target = ""
			}
			return
		}
	}
	// Waiting models without a resident lane, most overdue first.
	var want []string
	for _, m := range p.models {
		if p.queues[m].Len() > 0 && !residentModel(view, p.laneOf[m]) && p.upLane(view, m) >= 0 {
			want = append(want, m)
		}
	}
	if len(want) == 0 {
		return
	}
	slices.SortStableFunc(want, func(a, b string) int {
		return -cmpDur(p.overdue(now, p.queues[a]), p.overdue(now, p.queues[b]))
	})
	for _, m := range want {
		l := p.upLane(view, m)
		if view.Fits(l) {
			p.up(view, l)
			return // one wake per event: the view is stale after it
		}
	}
	m := want[0]
	l := p.upLane(view, m)
	victims, ok := p.victims(now, view, l)
	if !ok {
		return
	}
	if p.overdue(now, p.queues[m]) < 0 && p.pressure(now, view, m, l) < p.cfg.Kappa*p.victimCost(now, view, victims, l) {
		return
	}
	// Let the victims' own waiters ride along in the drain.
	for _, v := range victims {
		vm := view.Lanes[v].Model
		q := p.queues[vm]
		for q != nil && q.Len() > 0 && view.Lanes[v].Free() && view.Lanes[v].Running < p.batchLimit(view, v) {
			r := q.Pop()
			delete(p.where, r)
			p.send(now, view, r, v)
		}
	}
	for _, v := range victims {
		if p.cfg.RideAlong > 0 && view.Lanes[v].StepTime > 0 && view.Lanes[v].Running > 0 {
			p.soft[v] = true
			view.Lanes[v].Draining = true
			continue
		}
		p.acts = append(p.acts, core.SleepLane(v))
	}
	p.target = m
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// upLane returns a lane of m that can be woken or loaded, sleeping first.
func (p *Policy) upLane(view *core.View, m string) int {
	best := -1
	for _, l := range p.laneOf[m] {
		switch view.Lanes[l].State {
		case core.Sleeping:
			return l
		case core.Cold:
			best = l
		}
	}
	return best
}

func (p *Policy) up(view *core.View, l int) {
	if view.Lanes[l].State == core.Sleeping {
		p.acts = append(p.acts, core.WakeLane(l))
	} else {
		p.acts = append(p.acts, core.LoadLane(l))
	}
}

// victims picks the cheapest set of awake lanes whose sleep makes room for
// lane t, counting memory already being freed. ok is false when no such set
// exists now (protected lanes).
func (p *Policy) victims(now time.Time, view *core.View, t int) ([]int, bool) {
	need := view.NeedMB(t)
	deficit := 0
	for _, g := range view.Lanes[t].GPUs {
		deficit = max(deficit, view.GPUs[g].UsedMB+need-view.GPUs[g].TotalMB)
	}
	var cands []int
	for i := range view.Lanes {
		ln := &view.Lanes[i]
		if i == t || !view.Shares(i, t) {
			continue
		}
		switch {
		case ln.State == core.GoingToSleep || ln.State == core.Unloading || (ln.State == core.Awake && ln.Draining):
			deficit -= (ln.AwakeMB - ln.SleepMB) / len(ln.GPUs)
		case awake(ln):
			if now.Sub(ln.Since) < p.cfg.MinTenure && ln.Running > 0 {
				continue
			}
			cands = append(cands, i)
		}
	}
	if deficit <= 0 {
		return nil, true
	}
	qlen := func(l int) int {
		if q := p.queues[view.Lanes[l].Model]; q != nil {
			return q.Len()
		}
		return 0
	}
	slices.SortStableFunc(cands, func(a, b int) int {
		x, y := &view.Lanes[a], &view.Lanes[b]
		if (x.Running == 0) != (y.Running == 0) {
			if x.Running == 0 {
				return -1
			}
			return 1
		}
		if qa, qb := qlen(a), qlen(b); qa != qb {
			return qa - qb
		}
		return x.LastUsed.Compare(y.LastUsed)
	})
	var out []int
	for _, v := range cands {
		if deficit <= 0 {
			break
		}
		out = append(out, v)
		deficit -= (view.Lanes[v].AwakeMB - view.Lanes[v].SleepMB) / len(view.Lanes[v].GPUs)
	}
	return out, deficit <= 0
}
