package fcfs

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/clock"
)

var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	low    = scheduler.PriorityLow
	normal = scheduler.PriorityNormal
	high   = scheduler.PriorityHigh
)

// cand is a candidate on deployment dep with the given capacity.
func cand(dep int64, capacity int) scheduler.Candidate {
	return scheduler.Candidate{DeploymentID: dep, ModelID: dep * 10, ProviderID: dep * 100, Capacity: capacity}
}

func job(id string, p scheduler.Priority, cands ...scheduler.Candidate) *scheduler.Job {
	return &scheduler.Job{RequestID: id, Priority: p, Candidates: cands}
}

// step is one operation on a Core in a scripted scenario.
type step struct {
	at time.Duration // when, from epoch; steps must not go back in time

	admit   *scheduler.Job
	release int64  // deployment to release
	cancel  string // request id of the entry to cancel
	state   bool   // check only the snapshot

	// want is, for admit: "granted@D", "queued" or "err:<text in the
	// error>"; for release: "ID@D" of the grant or "" for none; for cancel:
	// "true" or "false".
	want string
	// woken is, for admit, the grants of raised capacities: "ID@D,...".
	woken string
	// wantWait, if set, is the wait of the grant of a release.
	wantWait time.Duration
	// deps, if set, is the expected snapshot after the step: per deployment
	// "active/capacity" followed by ":" and the waiting request ids.
	deps map[int64]string
	// queued, if set, is the per-level count "low/normal/high" per deployment.
	queued map[int64]string
}

type scenario struct {
	name  string
	cfg   CoreConfig
	steps []step
}

func grantString(g Grant) string {
	return fmt.Sprintf("%s@%d", g.Entry.RequestID(), g.Candidate.DeploymentID)
}

func runScenario(t *testing.T, sc scenario) {
	t.Helper()
	c := NewCore(sc.cfg)
	fc := clock.NewFake(epoch)
	entries := map[string]*Entry{}
	for i, st := range sc.steps {
		fc.AdvanceTo(epoch.Add(st.at))
		now := fc.Now()
		where := fmt.Sprintf("step %d (t=%v)", i, st.at)
		switch {
		case st.admit != nil:
			a, err := c.Admit(*st.admit, now)
			var got string
			switch {
			case err != nil:
				got = "err:" + err.Error()
				if !strings.HasPrefix(st.want, "err:") || !strings.Contains(got, strings.TrimPrefix(st.want, "err:")) {
					t.Fatalf("%s: Admit(%s) = %q, want %q", where, st.admit.RequestID, got, st.want)
				}
			case a.Granted:
				got = fmt.Sprintf("granted@%d", a.Candidate.DeploymentID)
				if a.Entry != nil {
					t.Fatalf("%s: Admit(%s) granted and queued", where, st.admit.RequestID)
				}
			default:
				got = "queued"
				if a.Entry == nil {
					t.Fatalf("%s: Admit(%s) neither granted nor queued", where, st.admit.RequestID)
				}
				entries[st.admit.RequestID] = a.Entry
				if !a.Entry.Waiting() || a.Entry.RequestID() != st.admit.RequestID || !a.Entry.Enqueued().Equal(now) {
					t.Fatalf("%s: queued entry = %+v", where, a.Entry)
				}
			}
			if err == nil && got != st.want {
				t.Fatalf("%s: Admit(%s) = %q, want %q", where, st.admit.RequestID, got, st.want)
			}
			var woken []string
			for _, g := range a.Woken {
				woken = append(woken, grantString(g))
				if g.Entry.Waiting() {
					t.Fatalf("%s: woken entry %s still waiting", where, g.Entry.RequestID())
				}
			}
			if w := strings.Join(woken, ","); w != st.woken {
				t.Fatalf("%s: Admit(%s) woke %q, want %q", where, st.admit.RequestID, w, st.woken)
			}
		case st.release != 0:
			g, ok := c.Release(st.release, now)
			got := ""
			if ok {
				got = grantString(g)
				if g.Entry.Waiting() {
					t.Fatalf("%s: granted entry still waiting", where)
				}
				if st.wantWait != 0 && g.Wait != st.wantWait {
					t.Fatalf("%s: grant wait = %v, want %v", where, g.Wait, st.wantWait)
				}
				if want := now.Sub(g.Entry.Enqueued()); g.Wait != want {
					t.Fatalf("%s: grant wait = %v, want now-enqueued = %v", where, g.Wait, want)
				}
			}
			if got != st.want {
				t.Fatalf("%s: Release(%d) granted %q, want %q", where, st.release, got, st.want)
			}
		case st.cancel != "":
			e := entries[st.cancel]
			if e == nil {
				t.Fatalf("%s: no entry %s", where, st.cancel)
			}
			if got := fmt.Sprint(c.Cancel(e)); got != st.want {
				t.Fatalf("%s: Cancel(%s) = %s, want %s", where, st.cancel, got, st.want)
			}
			if e.Waiting() {
				t.Fatalf("%s: cancelled entry still waiting", where)
			}
		case st.state:
		default:
			t.Fatalf("%s: empty step", where)
		}
		checkInvariants(t, c)
		if st.deps != nil || st.queued != nil {
			checkSnapshot(t, where, c.State(now), st.deps, st.queued)
			checkInvariants(t, c)
		}
	}
}

func checkSnapshot(t *testing.T, where string, s scheduler.State, deps, queued map[int64]string) {
	t.Helper()
	for id, want := range deps {
		ds, ok := findDep(s, id)
		if !ok {
			t.Fatalf("%s: deployment %d missing from %+v", where, id, s)
		}
		got := fmt.Sprintf("%d/%d:%s", ds.Active, ds.Capacity, strings.Join(ds.Waiting, ","))
		if got != want {
			t.Fatalf("%s: deployment %d = %q, want %q", where, id, got, want)
		}
	}
	for id, want := range queued {
		ds, _ := findDep(s, id)
		if got := fmt.Sprintf("%d/%d/%d", ds.Queued.Low, ds.Queued.Normal, ds.Queued.High); got != want {
			t.Fatalf("%s: deployment %d queued = %s, want %s", where, id, got, want)
		}
	}
}

func findDep(s scheduler.State, id int64) (scheduler.DeploymentState, bool) {
	for _, ds := range s.Deployments {
		if ds.DeploymentID == id {
			return ds, true
		}
	}
	return scheduler.DeploymentState{}, false
}

// checkInvariants verifies the Core's internal consistency after a public
// operation: list links, counts, levels and that no deployment with room has
// anyone waiting for it.
func checkInvariants(t *testing.T, c *Core) {
	t.Helper()
	inQueues := map[*Entry]int{}
	for id, d := range c.deps {
		if d.id != id {
			t.Fatalf("deployment keyed %d has id %d", id, d.id)
		}
		if d.active < 0 || d.capacity < 0 {
			t.Fatalf("deployment %d: active %d capacity %d", id, d.active, d.capacity)
		}
		total := 0
		for lv := range numLevels {
			n := 0
			var prev *link
			var since time.Time
			for l := d.levels[lv].head; l != nil; l = l.next {
				if l.prev != prev || l.dep != d || l.entry.level != lv || l.entry.state != stateWaiting {
					t.Fatalf("deployment %d level %d: bad link %+v", id, lv, l)
				}
				if l.entry.since.Before(since) {
					t.Fatalf("deployment %d level %d: %s reached the level before the entry ahead of it", id, lv, l.entry.requestID)
				}
				since = l.entry.since
				inQueues[l.entry]++
				prev = l
				n++
			}
			if d.levels[lv].tail != prev || d.levels[lv].n != n {
				t.Fatalf("deployment %d level %d: tail/count mismatch (n=%d, counted %d)", id, lv, d.levels[lv].n, n)
			}
			total += n
		}
		if total != d.queued {
			t.Fatalf("deployment %d: queued %d, lists hold %d", id, d.queued, total)
		}
		if d.queued > 0 && d.free() {
			t.Fatalf("deployment %d has room (%d/%d) and %d waiting", id, d.active, d.capacity, d.queued)
		}
	}
	n := 0
	for lv := range numLevels {
		var prev *Entry
		for e := c.byLevel[lv].head; e != nil; e = e.next {
			if e.prev != prev || e.level != lv || e.state != stateWaiting {
				t.Fatalf("level %d: bad entry %s", lv, e.requestID)
			}
			if inQueues[e] != len(e.links) || len(e.links) == 0 {
				t.Fatalf("entry %s is in %d queues, has %d links", e.requestID, inQueues[e], len(e.links))
			}
			prev = e
			n++
		}
		if c.byLevel[lv].tail != prev {
			t.Fatalf("level %d: bad tail", lv)
		}
	}
	if n != c.waiting || n != len(inQueues) || c.QueueDepth() != n {
		t.Fatalf("waiting %d, QueueDepth %d, listed %d, queued %d", c.waiting, c.QueueDepth(), n, len(inQueues))
	}
}

func TestCoreScenarios(t *testing.T) {
	s := time.Second
	tests := []scenario{
		{
			name: "unlimited capacity grants at once",
			steps: []step{
				{admit: job("a", normal, cand(1, 0)), want: "granted@1"},
				{admit: job("b", normal, cand(1, 0)), want: "granted@1"},
				{admit: job("c", low, cand(1, 0)), want: "granted@1", deps: map[int64]string{1: "3/0:"}},
				{release: 1, want: ""},
				{release: 1, want: "", deps: map[int64]string{1: "1/0:"}},
			},
		},
		{
			name: "no candidates",
			steps: []step{
				{admit: job("a", normal), want: "err:no candidates"},
			},
		},
		{
			name: "full deployment queues and hands over on release",
			steps: []step{
				{admit: job("a", normal, cand(1, 1)), want: "granted@1"},
				{at: 1 * s, admit: job("b", normal, cand(1, 1)), want: "queued", deps: map[int64]string{1: "1/1:b"}},
				{at: 4 * s, release: 1, want: "b@1", wantWait: 3 * s, deps: map[int64]string{1: "1/1:"}},
				{at: 5 * s, release: 1, want: "", deps: map[int64]string{1: "0/1:"}},
				{at: 5 * s, release: 1, want: "", deps: map[int64]string{1: "0/1:"}}, // nothing active: ignored
				{release: 99, want: ""}, // unknown deployment: ignored
			},
		},
		{
			name: "high before normal before low, FIFO within a level",
			steps: []step{
				{admit: job("a", normal, cand(1, 1)), want: "granted@1"},
				{at: 1 * s, admit: job("l1", low, cand(1, 1)), want: "queued"},
				{at: 2 * s, admit: job("n1", normal, cand(1, 1)), want: "queued"},
				{at: 3 * s, admit: job("h1", high, cand(1, 1)), want: "queued"},
				{at: 4 * s, admit: job("l2", low, cand(1, 1)), want: "queued"},
				{at: 5 * s, admit: job("n2", 0, cand(1, 1)), want: "queued"}, // unset is normal
				{at: 6 * s, admit: job("h2", 9, cand(1, 1)), want: "queued", // 9 clamps to high
					deps:   map[int64]string{1: "1/1:h1,h2,n1,n2,l1,l2"},
					queued: map[int64]string{1: "2/2/2"}},
				{at: 7 * s, release: 1, want: "h1@1", wantWait: 4 * s},
				{at: 7 * s, release: 1, want: "h2@1", wantWait: 1 * s},
				{at: 7 * s, release: 1, want: "n1@1"},
				{at: 7 * s, release: 1, want: "n2@1"},
				{at: 7 * s, release: 1, want: "l1@1"},
				{at: 7 * s, release: 1, want: "l2@1"},
				{at: 7 * s, release: 1, want: "", deps: map[int64]string{1: "0/1:"}},
			},
		},
		{
			name: "candidates are tried in order",
			steps: []step{
				{admit: job("a", normal, cand(2, 1), cand(1, 1)), want: "granted@2"},
				{admit: job("b", normal, cand(2, 1), cand(1, 1)), want: "granted@1"},
				{admit: job("c", normal, cand(2, 1), cand(1, 1), cand(3, 0)), want: "granted@3"},
			},
		},
		{
			name: "a job waits on every candidate and takes the first slot freed",
			steps: []step{
				{admit: job("a", normal, cand(1, 1)), want: "granted@1"},
				{admit: job("b", normal, cand(2, 1)), want: "granted@2"},
				{at: 1 * s, admit: job("c", normal, cand(1, 1), cand(2, 1)), want: "queued"},
				{at: 2 * s, admit: job("d", normal, cand(2, 1)), want: "queued"},
				{at: 3 * s, admit: job("e", low, cand(1, 1)), want: "queued",
					deps: map[int64]string{1: "1/1:c,e", 2: "1/1:c,d"}},
				{at: 4 * s, release: 2, want: "c@2", wantWait: 3 * s,
					deps: map[int64]string{1: "1/1:e", 2: "1/1:d"}},
				{at: 5 * s, release: 1, want: "e@1"},
				{at: 6 * s, release: 2, want: "d@2"},
				{at: 7 * s, release: 1, want: "", deps: map[int64]string{1: "0/1:", 2: "1/1:"}},
			},
		},
		{
			name: "priority decides across a multi-candidate queue",
			steps: []step{
				{admit: job("a", normal, cand(1, 1)), want: "granted@1"},
				{admit: job("b", normal, cand(2, 1)), want: "granted@2"},
				{at: 1 * s, admit: job("lo", low, cand(1, 1), cand(2, 1)), want: "queued"},
				{at: 2 * s, admit: job("hi", high, cand(2, 1)), want: "queued"},
				{at: 3 * s, release: 2, want: "hi@2"},
				{at: 4 * s, release: 2, want: "lo@2", deps: map[int64]string{1: "1/1:", 2: "1/1:"}},
			},
		},
		{
			name: "duplicate candidates queue once",
			steps: []step{
				{admit: job("a", normal, cand(1, 1)), want: "granted@1"},
				{admit: job("b", normal, cand(1, 1), cand(1, 1)), want: "queued",
					deps: map[int64]string{1: "1/1:b"}, queued: map[int64]string{1: "0/1/0"}},
				{release: 1, want: "b@1", deps: map[int64]string{1: "1/1:"}},
			},
		},
		{
			name: "lowered capacity stops grants until active drops below it",
			steps: []step{
				{admit: job("a", normal, cand(1, 2)), want: "granted@1"},
				{admit: job("b", normal, cand(1, 2)), want: "granted@1"},
				{admit: job("c", normal, cand(1, 1)), want: "queued", deps: map[int64]string{1: "2/1:c"}},
				{release: 1, want: "", deps: map[int64]string{1: "1/1:c"}},
				{release: 1, want: "c@1", deps: map[int64]string{1: "1/1:"}},
				{admit: job("d", normal, cand(1, 0)), want: "granted@1", deps: map[int64]string{1: "2/0:"}},
				{admit: job("e", normal, cand(1, 1)), want: "queued", deps: map[int64]string{1: "2/1:e"}},
			},
		},
		{
			name: "raised capacity grants waiters at once, before the newcomer",
			steps: []step{
				{admit: job("a", normal, cand(1, 1)), want: "granted@1"},
				{at: 1 * s, admit: job("b", low, cand(1, 1)), want: "queued"},
				{at: 2 * s, admit: job("c", high, cand(1, 1), cand(2, 1)), want: "granted@2"},
				{at: 3 * s, admit: job("d", high, cand(1, 1), cand(2, 1)), want: "queued"},
				{at: 4 * s, admit: job("e", normal, cand(1, 3)), want: "queued", woken: "d@1,b@1",
					deps: map[int64]string{1: "3/3:e", 2: "1/1:"}},
				{at: 5 * s, admit: job("f", normal, cand(2, 0), cand(1, -1)), want: "granted@2", woken: "e@1",
					deps: map[int64]string{1: "4/0:", 2: "2/0:"}},
			},
		},
		{
			name: "a capacity raised but still below active wakes nobody",
			steps: []step{
				{admit: job("a", normal, cand(1, 3)), want: "granted@1"},
				{admit: job("b", normal, cand(1, 3)), want: "granted@1"},
				{admit: job("c", normal, cand(1, 3)), want: "granted@1"},
				{admit: job("d", normal, cand(1, 1)), want: "queued"},
				{admit: job("e", normal, cand(1, 2)), want: "queued", woken: "", deps: map[int64]string{1: "3/2:d,e"}},
				{release: 1, want: ""},
				{release: 1, want: "d@1", deps: map[int64]string{1: "2/2:e"}},
			},
		},
		{
			name: "cancel leaves every queue",
			steps: []step{
				{admit: job("a", normal, cand(1, 1)), want: "granted@1"},
				{admit: job("x", normal, cand(2, 1)), want: "granted@2"},
				{admit: job("b", high, cand(1, 1), cand(2, 1)), want: "queued"},
				{admit: job("c", normal, cand(1, 1)), want: "queued"},
				{cancel: "b", want: "true", deps: map[int64]string{1: "1/1:c", 2: "1/1:"}},
				{cancel: "b", want: "false"},
				{release: 2, want: ""},
				{release: 1, want: "c@1"},
				{cancel: "c", want: "false", deps: map[int64]string{1: "1/1:", 2: "0/1:"}}, // granted
			},
		},
		{
			name: "max queue per deployment",
			cfg:  CoreConfig{MaxQueue: 1},
			steps: []step{
				{admit: job("a", normal, cand(1, 1)), want: "granted@1"},
				{admit: job("b", normal, cand(1, 1)), want: "queued"},
				{admit: job("c", high, cand(1, 1)), want: "err:queue full"},
				{admit: job("d", normal, cand(2, 1)), want: "granted@2"},
				{admit: job("e", normal, cand(1, 1), cand(2, 1)), want: "queued", // only 2 has room
					deps: map[int64]string{1: "1/1:b", 2: "1/1:e"}},
				{admit: job("f", normal, cand(2, 1), cand(1, 1)), want: "err:queue full"},
				{release: 1, want: "b@1"},
				{admit: job("g", normal, cand(1, 1)), want: "queued", deps: map[int64]string{1: "1/1:g", 2: "1/1:e"}},
			},
		},
		{
			name: "no aging by default",
			steps: []step{
				{admit: job("a", normal, cand(1, 1)), want: "granted@1"},
				{admit: job("l", low, cand(1, 1)), want: "queued"},
				{at: time.Hour, admit: job("h", high, cand(1, 1)), want: "queued",
					queued: map[int64]string{1: "1/0/1"}},
				{at: 2 * time.Hour, release: 1, want: "h@1"},
			},
		},
		{
			name: "aging promotes one level per interval, driven by the clock",
			cfg:  CoreConfig{AgeAfter: 10 * s},
			steps: []step{
				{admit: job("a", normal, cand(1, 1)), want: "granted@1"},
				{admit: job("l", low, cand(1, 1)), want: "queued"},
				{at: 1 * s, admit: job("n", normal, cand(1, 1)), want: "queued"},
				{at: 9 * s, state: true, queued: map[int64]string{1: "1/1/0"}, deps: map[int64]string{1: "1/1:n,l"}},
				// l reached normal at 10s, behind n (normal since 1s).
				{at: 10 * s, state: true, queued: map[int64]string{1: "0/2/0"}, deps: map[int64]string{1: "1/1:n,l"}},
				{at: 11 * s, state: true, queued: map[int64]string{1: "0/1/1"}, deps: map[int64]string{1: "1/1:n,l"}},
				{at: 15 * s, admit: job("h", high, cand(1, 1)), want: "queued", deps: map[int64]string{1: "1/1:n,h,l"}},
				// l reaches high at 20s, behind h.
				{at: 19 * s, state: true, queued: map[int64]string{1: "0/1/2"}},
				{at: 20 * s, state: true, queued: map[int64]string{1: "0/0/3"}},
				{at: 25 * s, state: true, queued: map[int64]string{1: "0/0/3"}, deps: map[int64]string{1: "1/1:n,h,l"}},
				{at: 25 * s, release: 1, want: "n@1"},
				{at: 25 * s, release: 1, want: "h@1"},
				{at: 25 * s, release: 1, want: "l@1", wantWait: 25 * s},
			},
		},
		{
			name: "promotions due while nobody looked apply in due order",
			cfg:  CoreConfig{AgeAfter: 10 * s},
			steps: []step{
				{admit: job("a", normal, cand(1, 1)), want: "granted@1"},
				{admit: job("x", normal, cand(2, 1)), want: "granted@2"},
				{admit: job("l", low, cand(1, 1), cand(2, 1)), want: "queued"},    // normal at 10, high at 20
				{at: 5 * s, admit: job("n", normal, cand(2, 1)), want: "queued"},  // high at 15
				{at: 12 * s, admit: job("m", normal, cand(1, 1)), want: "queued"}, // high at 22
				// Nothing happens between 12s and 30s; then all promotions apply.
				{at: 30 * s, state: true, queued: map[int64]string{1: "0/0/2", 2: "0/0/2"},
					deps: map[int64]string{1: "1/1:l,m", 2: "1/1:n,l"}},
				{at: 30 * s, release: 2, want: "n@2"},
				{at: 30 * s, release: 2, want: "l@2", deps: map[int64]string{1: "1/1:m", 2: "1/1:"}},
			},
		},
		{
			name: "high jobs do not age",
			cfg:  CoreConfig{AgeAfter: s},
			steps: []step{
				{admit: job("a", normal, cand(1, 1)), want: "granted@1"},
				{admit: job("h", high, cand(1, 1)), want: "queued"},
				{at: 10 * s, admit: job("n", normal, cand(1, 1)), want: "queued"},
				{at: time.Hour, state: true, queued: map[int64]string{1: "0/0/2"}, deps: map[int64]string{1: "1/1:h,n"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runScenario(t, tt) })
	}
}

func TestCoreEntryAccessors(t *testing.T) {
	c := NewCore(CoreConfig{AgeAfter: time.Second})
	if _, err := c.Admit(*job("a", normal, cand(1, 1)), epoch); err != nil {
		t.Fatal(err)
	}
	a, err := c.Admit(*job("b", low, cand(1, 1)), epoch)
	if err != nil {
		t.Fatal(err)
	}
	e := a.Entry
	if e.RequestID() != "b" || !e.Enqueued().Equal(epoch) || e.InitialPriority() != low || e.Priority() != low || !e.Waiting() {
		t.Fatalf("entry = %q %v %v %v %v", e.RequestID(), e.Enqueued(), e.InitialPriority(), e.Priority(), e.Waiting())
	}
	e.Value = 42
	g, ok := c.Release(1, epoch.Add(1500*time.Millisecond))
	if !ok || g.Entry != e || g.Wait != 1500*time.Millisecond || g.Candidate != cand(1, 1) {
		t.Fatalf("Release = %+v, %v", g, ok)
	}
	if e.Priority() != normal || e.InitialPriority() != low || e.Waiting() || e.Value != 42 {
		t.Fatalf("granted entry: priority %v initial %v waiting %v value %v", e.Priority(), e.InitialPriority(), e.Waiting(), e.Value)
	}
}

func TestCoreCancelAll(t *testing.T) {
	c := NewCore(CoreConfig{})
	mustAdmit := func(j *scheduler.Job) Admission {
		t.Helper()
		a, err := c.Admit(*j, epoch)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	mustAdmit(job("a", normal, cand(1, 1)))
	mustAdmit(job("b", normal, cand(2, 1)))
	mustAdmit(job("l", low, cand(1, 1), cand(2, 1)))
	mustAdmit(job("n", normal, cand(2, 1)))
	mustAdmit(job("h", high, cand(1, 1)))
	var ids []string
	for _, e := range c.CancelAll() {
		if e.Waiting() {
			t.Fatalf("%s still waiting", e.RequestID())
		}
		ids = append(ids, e.RequestID())
	}
	if want := []string{"h", "n", "l"}; !slices.Equal(ids, want) {
		t.Fatalf("CancelAll() = %v, want %v", ids, want)
	}
	checkInvariants(t, c)
	if c.QueueDepth() != 0 {
		t.Fatalf("QueueDepth() = %d after CancelAll", c.QueueDepth())
	}
	if got := c.CancelAll(); len(got) != 0 {
		t.Fatalf("second CancelAll() = %v", got)
	}
	// The slots are untouched.
	if g, ok := c.Release(1, epoch); ok {
		t.Fatalf("Release after CancelAll granted %+v", g)
	}
	st := c.State(epoch)
	if ds, _ := findDep(st, 2); ds.Active != 1 {
		t.Fatalf("deployment 2 active = %d, want 1", ds.Active)
	}
}

func TestCoreState(t *testing.T) {
	c := NewCore(CoreConfig{})
	if st := c.State(epoch); st.QueueDepth != 0 || len(st.Deployments) != 0 {
		t.Fatalf("empty State() = %+v", st)
	}
	for _, j := range []*scheduler.Job{
		job("a", normal, cand(3, 1)),
		job("b", normal, cand(1, 2)),
		job("c", normal, cand(3, 1), cand(1, 2)),
		job("d", low, cand(1, 2), cand(3, 1)),
		job("e", high, cand(3, 1)),
	} {
		if _, err := c.Admit(*j, epoch); err != nil {
			t.Fatal(err)
		}
	}
	want := scheduler.State{
		QueueDepth: 2,
		Deployments: []scheduler.DeploymentState{
			{DeploymentID: 1, Active: 2, Capacity: 2, Queued: scheduler.QueueCounts{Low: 1}, Waiting: []string{"d"}},
			{DeploymentID: 3, Active: 1, Capacity: 1, Queued: scheduler.QueueCounts{Low: 1, High: 1}, Waiting: []string{"e", "d"}},
		},
	}
	got := c.State(epoch)
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("State() =\n%+v\nwant\n%+v", got, want)
	}
	// The snapshot is a copy.
	got.Deployments[0].Waiting[0] = "changed"
	if again := c.State(epoch); again.Deployments[0].Waiting[0] != "d" {
		t.Fatal("State() shares memory with the Core")
	}
}

func TestNewCoreClampsConfig(t *testing.T) {
	c := NewCore(CoreConfig{MaxQueue: -1, AgeAfter: -time.Second})
	if c.cfg.MaxQueue != 0 || c.cfg.AgeAfter != 0 {
		t.Fatalf("cfg = %+v", c.cfg)
	}
	if _, err := c.Admit(*job("a", normal, cand(1, 1)), epoch); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Admit(*job("b", normal, cand(1, 1)), epoch); err != nil {
		t.Fatalf("Admit with MaxQueue -1 = %v, want queued", err)
	}
}

func TestCoreAdmitErrors(t *testing.T) {
	c := NewCore(CoreConfig{MaxQueue: 1})
	if _, err := c.Admit(scheduler.Job{RequestID: "x"}, epoch); !errors.Is(err, scheduler.ErrNoCandidates) {
		t.Fatalf("no candidates: %v", err)
	}
	c.Admit(*job("a", normal, cand(1, 1)), epoch)
	c.Admit(*job("b", normal, cand(1, 1)), epoch)
	if _, err := c.Admit(*job("c", normal, cand(1, 1)), epoch); !errors.Is(err, scheduler.ErrQueueFull) {
		t.Fatalf("full queue: %v", err)
	}
	checkInvariants(t, c)
}
