package baselines

import (
	"time"

	"github.com/logos-llm/logos/scheduler/core"
)

// Static is the fixed-resident-set bound: it brings up the most requested
// model first and then every other requested model that fits beside it
// without evicting anything, and never sleeps or swaps. Requests for models
// left out wait until they time out. It shows what a scheduler gains by
// swapping at all.
type Static struct{ base }

// NewStatic returns the static bound.
func NewStatic() *Static { return &Static{base: newBase()} }

// Handle implements core.Policy.
func (s *Static) Handle(_ time.Time, view *core.View, ev core.Event) []core.Action {
	s.acts = s.acts[:0]
	s.index(view)
	switch ev.Kind {
	case core.Arrival:
		m := ev.Req.Candidates[0].Model
		s.queue(m).Push(ev.Req)
		s.where[ev.Req] = m
	case core.Timeout, core.Cancel:
		s.forget(ev.Req)
	}
	s.dispatchAll(view)
	best, n := "", 0
	for _, m := range s.models {
		if q := s.queues[m].Len(); q > n && !resident(view, s.laneOf[m]) {
			best, n = m, q
		}
	}
	if best != "" {
		for _, l := range s.laneOf[best] {
			if st := view.Lanes[l].State; (st == core.Sleeping || st == core.Cold) && view.Fits(l) {
				if st == core.Sleeping {
					s.acts = append(s.acts, core.WakeLane(l))
				} else {
					s.acts = append(s.acts, core.LoadLane(l))
				}
				break
			}
		}
	}
	s.undoProvisional(view)
	return s.acts
}
