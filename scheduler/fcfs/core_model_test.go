package fcfs

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler"
)

// model is a deliberately naive reference of the FCFS decisions: it scans
// every waiting job on each decision. The randomized test checks that Core
// makes the same decisions.
type model struct {
	maxQueue int
	ageAfter time.Duration
	deps     map[int64]*modelDep
	waiting  []*modelEntry
	order    int // stamps the order in which entries reach a level
}

type modelDep struct{ capacity, active int }

type modelEntry struct {
	id       string
	level    int
	since    time.Time
	order    int
	enqueued time.Time
	cands    []scheduler.Candidate // distinct deployments it waits on
}

func (m *model) dep(id int64) *modelDep {
	d := m.deps[id]
	if d == nil {
		d = &modelDep{}
		m.deps[id] = d
	}
	return d
}

func (d *modelDep) free() bool { return d.capacity == 0 || d.active < d.capacity }

func (m *model) age(now time.Time) {
	if m.ageAfter <= 0 {
		return
	}
	for {
		var best *modelEntry
		var bestDue time.Time
		for _, e := range m.waiting {
			if e.level == levelHigh {
				continue
			}
			due := e.since.Add(m.ageAfter)
			if due.After(now) {
				continue
			}
			if best == nil || due.Before(bestDue) ||
				(due.Equal(bestDue) && (e.level > best.level || (e.level == best.level && e.order < best.order))) {
				best, bestDue = e, due
			}
		}
		if best == nil {
			return
		}
		best.level++
		best.since = bestDue
		best.order = m.order
		m.order++
	}
}

// next returns the entry to grant on deployment id, or nil.
func (m *model) next(id int64) (*modelEntry, scheduler.Candidate) {
	var best *modelEntry
	var bestCand scheduler.Candidate
	for _, e := range m.waiting {
		for _, c := range e.cands {
			if c.DeploymentID != id {
				continue
			}
			if best == nil || e.level > best.level || (e.level == best.level && e.order < best.order) {
				best, bestCand = e, c
			}
		}
	}
	return best, bestCand
}

func (m *model) grant(id int64, now time.Time) string {
	e, c := m.next(id)
	m.waiting = slices.DeleteFunc(m.waiting, func(o *modelEntry) bool { return o == e })
	m.deps[id].active++
	return fmt.Sprintf("%s@%d+%v", e.id, c.DeploymentID, now.Sub(e.enqueued))
}

func (m *model) queuedOn(id int64) int {
	n := 0
	for _, e := range m.waiting {
		for _, c := range e.cands {
			if c.DeploymentID == id {
				n++
			}
		}
	}
	return n
}

func (m *model) admit(j scheduler.Job, now time.Time) (result string, woken []string) {
	if len(j.Candidates) == 0 {
		return "err:" + scheduler.ErrNoCandidates.Error(), nil
	}
	m.age(now)
	for _, c := range j.Candidates {
		d := m.dep(c.DeploymentID)
		d.capacity = max(c.Capacity, 0)
		for d.free() && m.queuedOn(c.DeploymentID) > 0 {
			woken = append(woken, m.grant(c.DeploymentID, now))
		}
	}
	for _, c := range j.Candidates {
		if d := m.deps[c.DeploymentID]; d.free() {
			d.active++
			return fmt.Sprintf("granted@%d", c.DeploymentID), woken
		}
	}
	e := &modelEntry{id: j.RequestID, level: levelOf(j.Priority), since: now, enqueued: now, order: m.order}
	m.order++
	for _, c := range j.Candidates {
		if slices.ContainsFunc(e.cands, func(o scheduler.Candidate) bool { return o.DeploymentID == c.DeploymentID }) {
			continue
		}
		if m.maxQueue > 0 && m.queuedOn(c.DeploymentID) >= m.maxQueue {
			continue
		}
		e.cands = append(e.cands, c)
	}
	if len(e.cands) == 0 {
		return "err:" + scheduler.ErrQueueFull.Error(), woken
	}
	m.waiting = append(m.waiting, e)
	return "queued", woken
}

func (m *model) release(id int64, now time.Time) string {
	d := m.deps[id]
	if d == nil || d.active == 0 {
		return ""
	}
	m.age(now)
	d.active--
	if d.free() && m.queuedOn(id) > 0 {
		return m.grant(id, now)
	}
	return ""
}

func (m *model) cancel(id string) bool {
	n := len(m.waiting)
	m.waiting = slices.DeleteFunc(m.waiting, func(e *modelEntry) bool { return e.id == id })
	return len(m.waiting) < n
}

func (m *model) state(now time.Time) string {
	m.age(now)
	ids := make([]int64, 0, len(m.deps))
	for id := range m.deps {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	s := fmt.Sprintf("depth=%d", len(m.waiting))
	for _, id := range ids {
		d := m.deps[id]
		var counts [numLevels]int
		var queue []*modelEntry
		for _, e := range m.waiting {
			if slices.ContainsFunc(e.cands, func(c scheduler.Candidate) bool { return c.DeploymentID == id }) {
				counts[e.level]++
				queue = append(queue, e)
			}
		}
		slices.SortFunc(queue, func(a, b *modelEntry) int {
			if a.level != b.level {
				return b.level - a.level
			}
			return a.order - b.order
		})
		var waiting []string
		for _, e := range queue {
			waiting = append(waiting, e.id)
		}
		s += fmt.Sprintf(" %d:%d/%d %v %v", id, d.active, d.capacity, counts, waiting)
	}
	return s
}

func coreState(c *Core, now time.Time) string {
	st := c.State(now)
	s := fmt.Sprintf("depth=%d", st.QueueDepth)
	for _, d := range st.Deployments {
		counts := [numLevels]int{d.Queued.Low, d.Queued.Normal, d.Queued.High}
		var waiting []string
		if len(d.Waiting) > 0 {
			waiting = d.Waiting
		}
		s += fmt.Sprintf(" %d:%d/%d %v %v", d.DeploymentID, d.Active, d.Capacity, counts, waiting)
	}
	return s
}

// TestCoreMatchesModel drives Core and the naive model with the same random
// operations and compares every decision and snapshot.
func TestCoreMatchesModel(t *testing.T) {
	configs := []CoreConfig{
		{},
		{AgeAfter: 5 * time.Second},
		{MaxQueue: 3},
		{MaxQueue: 2, AgeAfter: 3 * time.Second},
	}
	for ci, cfg := range configs {
		for seed := range uint64(40) {
			t.Run(fmt.Sprintf("cfg%d/seed%d", ci, seed), func(t *testing.T) {
				compareWithModel(t, cfg, rand.New(rand.NewPCG(seed, uint64(ci))))
			})
		}
	}
}

func compareWithModel(t *testing.T, cfg CoreConfig, rng *rand.Rand) {
	c := NewCore(cfg)
	m := &model{maxQueue: cfg.MaxQueue, ageAfter: cfg.AgeAfter, deps: map[int64]*modelDep{}}
	entries := map[string]*Entry{}
	now := epoch
	priorities := []scheduler.Priority{0, low, normal, high, 2, 7, 9}
	var log []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\nafter:\n%v", fmt.Sprintf(format, args...), log)
	}
	for i := range 400 {
		now = now.Add(time.Duration(rng.IntN(4000)) * time.Millisecond)
		switch op := rng.IntN(10); {
		case op < 5: // admit
			j := scheduler.Job{RequestID: fmt.Sprintf("j%d", i), Priority: priorities[rng.IntN(len(priorities))]}
			for range rng.IntN(4) {
				capacity := 1 + rng.IntN(2)
				if rng.IntN(8) == 0 {
					capacity = rng.IntN(4) // sometimes 0 (unlimited) or a bigger change
				}
				j.Candidates = append(j.Candidates, cand(int64(1+rng.IntN(4)), capacity))
			}
			a, err := c.Admit(j, now)
			var got string
			switch {
			case err != nil:
				got = "err:" + err.Error()
			case a.Granted:
				got = fmt.Sprintf("granted@%d", a.Candidate.DeploymentID)
			default:
				got = "queued"
				entries[j.RequestID] = a.Entry
			}
			var gotWoken []string
			for _, g := range a.Woken {
				gotWoken = append(gotWoken, fmt.Sprintf("%s+%v", grantString(g), g.Wait))
			}
			want, wantWoken := m.admit(j, now)
			log = append(log, fmt.Sprintf("admit %s %v %+v -> %s %v", j.RequestID, j.Priority, j.Candidates, want, wantWoken))
			if got != want || !slices.Equal(gotWoken, wantWoken) {
				fail("admit %s: core %s %v, model %s %v", j.RequestID, got, gotWoken, want, wantWoken)
			}
		case op < 8: // release
			id := int64(1 + rng.IntN(4))
			got := ""
			if g, ok := c.Release(id, now); ok {
				got = fmt.Sprintf("%s+%v", grantString(g), g.Wait)
			}
			want := m.release(id, now)
			log = append(log, fmt.Sprintf("release %d -> %s", id, want))
			if got != want {
				fail("release %d: core %q, model %q", id, got, want)
			}
		case op < 9: // cancel a queued entry, which may have been granted since
			if len(entries) == 0 {
				continue
			}
			ids := make([]string, 0, len(entries))
			for id := range entries {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			id := ids[rng.IntN(len(ids))]
			got := c.Cancel(entries[id])
			want := m.cancel(id)
			log = append(log, fmt.Sprintf("cancel %s -> %v", id, want))
			if got != want {
				fail("cancel %s: core %v, model %v", id, got, want)
			}
		default: // snapshot
			got, want := coreState(c, now), m.state(now)
			if got != want {
				fail("state:\ncore  %s\nmodel %s", got, want)
			}
		}
		checkInvariants(t, c)
	}
	if got, want := coreState(c, now), m.state(now); got != want {
		fail("final state:\ncore  %s\nmodel %s", got, want)
	}
}
