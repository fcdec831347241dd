package fcfs

import (
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/core"
)

// Policy is FCFS expressed on the decision core: a core.Policy whose
// decisions are Core's. Each lane is one deployment (the lane index is the
// Core's deployment id) and its Slots is the deployment's capacity. Run
// through core.NewAdapter it behaves as Scheduler does; Scheduler itself keeps
// its own channels and timers so that its behaviour and tests stay exactly as
// they were.
//
// Policy never wakes, sleeps, loads or unloads: it only dispatches to lanes
// that are awake. A Policy is not safe for concurrent use (the adapter or the
// simulator serialize calls).
type Policy struct {
	core    *Core
	entries map[*core.Request]*Entry
	byModel map[string]int
	acts    []core.Action
}

var _ core.Policy = (*Policy)(nil)

// NewPolicy returns an FCFS policy configured by cfg.
func NewPolicy(cfg CoreConfig) *Policy {
	return &Policy{core: NewCore(cfg), entries: make(map[*core.Request]*Entry), byModel: make(map[string]int)}
}

// Handle implements core.Policy.
func (p *Policy) Handle(now time.Time, view *core.View, ev core.Event) []core.Action {
	p.acts = p.acts[:0]
	switch ev.Kind {
	case core.Arrival:
		p.arrive(now, view, ev.Req)
	case core.Complete:
		if ev.Lane >= 0 {
			if g, ok := p.core.Release(int64(ev.Lane), now); ok {
				p.grant(g)
			}
		}
	case core.Timeout, core.Cancel:
		if e := p.entries[ev.Req]; e != nil {
			p.core.Cancel(e)
			delete(p.entries, ev.Req)
		}
	}
	return p.acts
}

func (p *Policy) lane(view *core.View, model string) int {
	if id, ok := p.byModel[model]; ok && id < len(view.Lanes) && view.Lanes[id].Model == model {
		return id
	}
	for i := range view.Lanes {
		if view.Lanes[i].Model == model {
			p.byModel[model] = i
			return i
		}
	}
	return -1
}

func (p *Policy) arrive(now time.Time, view *core.View, r *core.Request) {
	j := scheduler.Job{RequestID: r.ID, Priority: r.Priority, Candidates: make([]scheduler.Candidate, 0, len(r.Candidates))}
	for _, c := range r.Candidates {
		if id := p.lane(view, c.Model); id >= 0 {
			j.Candidates = append(j.Candidates, scheduler.Candidate{
				DeploymentID: int64(id), Weight: c.Weight, Capacity: view.Lanes[id].Slots,
			})
		}
	}
	a, err := p.core.Admit(j, now)
	for _, g := range a.Woken {
		p.grant(g)
	}
	switch {
	case err != nil:
		p.acts = append(p.acts, core.RejectReq(r, err))
	case a.Granted:
		p.acts = append(p.acts, core.DispatchTo(r, int(a.Candidate.DeploymentID)))
	default:
		a.Entry.Value = r
		p.entries[r] = a.Entry
		p.acts = append(p.acts, core.EnqueueReq(r))
	}
}

func (p *Policy) grant(g Grant) {
	r := g.Entry.Value.(*core.Request)
	delete(p.entries, r)
	p.acts = append(p.acts, core.DispatchTo(r, int(g.Candidate.DeploymentID)))
}
