package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/clock"
)

// ErrIllegalAction means a policy asked for something the executor cannot do,
// such as dispatching to a lane without a free slot; the request it concerned
// fails with an error wrapping it.
var ErrIllegalAction = errors.New("scheduler: illegal scheduler action")

// DefaultTimeout is the queue timeout of a job that sets none, unless
// AdapterConfig.DefaultTimeout says otherwise.
const DefaultTimeout = 300 * time.Second

// AdapterConfig configures an Adapter. The zero value is usable.
type AdapterConfig struct {
	// Clock tells the time and runs timers; nil means clock.Real().
	Clock clock.Clock
	// DefaultTimeout bounds the queue wait of a job whose Timeout is 0 or
	// negative; 0 means DefaultTimeout.
	DefaultTimeout time.Duration
	// Logger receives debug records of illegal actions; nil means
	// slog.Default().
	Logger *slog.Logger
	// Lifecycle executes Wake, Sleep, Load and Unload (see SetLifecycle);
	// nil means none until SetLifecycle.
	Lifecycle scheduler.Lifecycle
	// WakeCooldown and LoadCooldown are how long a lane is not woken or
	// loaded again after such a transition failed; 0 means
	// DefaultWakeCooldown and DefaultLoadCooldown.
	WakeCooldown, LoadCooldown time.Duration
	// Tick, when positive, delivers a Tick event to the policy every Tick
	// (as the simulator does every 10 s), so that a policy can act on
	// waiting times when nothing else happens; 0 delivers none.
	Tick time.Duration
	// BestModelOnly keeps only a job's leading candidates that share the
	// first one's Weight (the deployments of the best model, or of models
	// that tie with it), as fcfs does without Config.AcrossModels: a
	// classified request then waits for its best model and the policy never
	// sees a second-best one. Jobs whose candidates all weigh the same
	// (requests naming a model) are not affected. false passes every
	// candidate to the policy.
	BestModelOnly bool
}

// Adapter runs a Policy as a scheduler.Scheduler in production. Every
// deployment named by a job's candidates becomes one lane whose model is the
// deployment id in decimal and whose Slots is the candidate's latest
// Capacity. Dispatch grants a lease, Reject fails Acquire and SetTimer arms a
// clock timer. With a scheduler.Lifecycle (see SetLifecycle), the lanes it
// describes get their node, memory and state from it and Wake, Sleep, Load
// and Unload are executed through it, in goroutines the Adapter owns, one
// TransitionDone event each; after a failed transition the lane starts no
// other for WakeCooldown (LoadCooldown after a failed load). Other lanes are always awake and
// those actions are ignored on them, as is SendCloud.
//
// An Adapter is safe for concurrent use; it runs the policy under its mutex,
// so the policy itself needs no locking.
type Adapter struct {
	policy         Policy
	clock          clock.Clock
	defaultTimeout time.Duration
	bestModelOnly  bool
	log            *slog.Logger
	wakeCooldown   time.Duration
	loadCooldown   time.Duration
	// lifeCtx ends on Close, cancelling transitions in progress.
	lifeCtx    context.Context
	lifeCancel context.CancelFunc

	mu    sync.Mutex
	view  View
	lanes map[int64]int // deployment id → lane
	rt    []laneRT      // beside view.Lanes
	life  scheduler.Lifecycle
	nodes map[int64]int // Lifecycle node → view.Nodes index
	// nodeGPU is each node's pooled GPU index in view.GPUs, -1 for none.
	nodeGPU []int
	seq     int
	closed  bool
	queued  map[*Request]*waiter
	// ptimers holds the policy's armed timers, stopped by Close.
	ptimers map[*policyTimer]struct{}

	timers sync.WaitGroup
}

type policyTimer struct{ t clock.Timer }

var (
	_ scheduler.Scheduler     = (*Adapter)(nil)
	_ scheduler.StateReporter = (*Adapter)(nil)
)

// NewAdapter returns an Adapter running p.
func NewAdapter(p Policy, cfg AdapterConfig) *Adapter {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WakeCooldown <= 0 {
		cfg.WakeCooldown = DefaultWakeCooldown
	}
	if cfg.LoadCooldown <= 0 {
		cfg.LoadCooldown = DefaultLoadCooldown
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Adapter{
		policy:         p,
		clock:          cfg.Clock,
		defaultTimeout: cfg.DefaultTimeout,
		bestModelOnly:  cfg.BestModelOnly,
		log:            cfg.Logger,
		wakeCooldown:   cfg.WakeCooldown,
		loadCooldown:   cfg.LoadCooldown,
		lifeCtx:        ctx,
		lifeCancel:     cancel,
		lanes:          make(map[int64]int),
		nodes:          make(map[int64]int),
		queued:         make(map[*Request]*waiter),
		ptimers:        make(map[*policyTimer]struct{}),
	}
	// The lanes without a lifecycle share one node, so that every lane
	// has one.
	a.nodeLocked(unmanagedNode, 0)
	if cfg.Lifecycle != nil {
		a.SetLifecycle(cfg.Lifecycle)
	}
	if cfg.Tick > 0 {
		a.mu.Lock()
		a.tickEveryLocked(cfg.Tick)
		a.mu.Unlock()
	}
	return a
}

// unmanagedNode is the node key of lanes without a lifecycle.
const unmanagedNode = -1 << 63

// waiter is one Acquire: its job, the Request the policy sees and the
// candidate buffers, in one allocation.
type waiter struct {
	job scheduler.Job
	req Request
	// done is made only when Acquire has to wait; a grant delivered before
	// (during the Arrival event, under the adapter's mutex) is kept in
	// early. Both are written under the mutex.
	done    chan grant // buffered, receives one value
	early   grant
	granted bool
	timer   clock.Timer
	started time.Time
	// ettft is the estimate at arrival, when ettftKnown.
	ettft      time.Duration
	ettftKnown bool
	// cands and ids back the Request's Candidates and the lane ids of jobs
	// with few candidates.
	cands [2]Candidate
	ids   [2]int
}

// deliver ends w's wait with g; the caller holds the adapter's mutex.
func (w *waiter) deliver(g grant) {
	if w.done == nil {
		w.early, w.granted = g, true
		return
	}
	w.done <- g
}

type grant struct {
	lane int
	dep  int64
	wait time.Duration
	err  error
	tier string
	cold bool
}

// Acquire asks the policy to place j and waits until it dispatches or rejects
// it, the queue timeout passes (scheduler.ErrQueueTimeout), ctx ends
// (ctx.Err()) or the adapter is closed (scheduler.ErrClosed).
func (a *Adapter) Acquire(ctx context.Context, j scheduler.Job) (*scheduler.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(j.Candidates) == 0 {
		return nil, fmt.Errorf("request %s: %w", j.RequestID, scheduler.ErrNoCandidates)
	}
	if a.bestModelOnly {
		j.Candidates = scheduler.BestModel(j.Candidates)
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil, scheduler.ErrClosed
	}
	now := a.clock.Now()
	raised := false
	w := &waiter{job: j, started: now}
	cands, ids := w.cands[:0], w.ids[:0]
	for _, c := range j.Candidates {
		if _, ok := a.lanes[c.DeploymentID]; !ok && a.life != nil {
			// A deployment new to the Adapter: its node's other lanes
			// may be new too.
			for _, dep := range a.life.Deployments() {
				a.laneLocked(dep, now)
			}
		}
		id := a.laneLocked(c.DeploymentID, now)
		ids = append(ids, id)
		l := &a.view.Lanes[id]
		capacity := max(c.Capacity, 0)
		if capacity != l.Slots {
			raised = raised || capacity == 0 || capacity > l.Slots
			l.Slots = capacity
		}
		cands = append(cands, Candidate{Model: l.Model, Weight: c.Weight, Capacity: capacity})
	}
	if raised {
		a.handleLocked(now, Event{Kind: Tick, Lane: -1})
	}
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = a.defaultTimeout
	}
	w.ettft, w.ettftKnown = a.estimateLocked(now, ids)
	r := &w.req
	*r = Request{
		ID: j.RequestID, Index: a.seq, Arrival: now, Priority: j.Priority.Normalize(),
		Interactive: true, Candidates: cands, MaxTokens: j.EstimatedTokens,
		Timeout: timeout, Value: w,
	}
	a.seq++
	a.queued[r] = w
	a.handleLocked(now, Event{Kind: Arrival, Req: r})
	if w.granted {
		a.mu.Unlock()
		return a.finish(ctx, r, w, w.early)
	}
	w.done = make(chan grant, 1)
	a.timers.Add(1)
	w.timer = a.clock.AfterFunc(timeout, func() {
		defer a.timers.Done()
		a.mu.Lock()
		defer a.mu.Unlock()
		if _, ok := a.queued[r]; !ok {
			return
		}
		delete(a.queued, r)
		now := a.clock.Now()
		a.handleLocked(now, Event{Kind: Timeout, Req: r})
		wait := now.Sub(w.started)
		w.deliver(grant{err: fmt.Errorf("request %s waited %v: %w", r.ID, wait, scheduler.ErrQueueTimeout)})
	})
	a.mu.Unlock()

	select {
	case g := <-w.done:
		return a.finish(ctx, r, w, g)
	case <-ctx.Done():
	}
	a.mu.Lock()
	if _, ok := a.queued[r]; ok {
		delete(a.queued, r)
		a.handleLocked(a.clock.Now(), Event{Kind: Cancel, Req: r})
		a.mu.Unlock()
		a.stopTimer(w)
		return nil, ctx.Err()
	}
	a.mu.Unlock()
	return a.finish(ctx, r, w, <-w.done)
}

func (a *Adapter) stopTimer(w *waiter) {
	if w.timer != nil && w.timer.Stop() {
		a.timers.Done()
	}
}

// finish turns a wait's outcome into Acquire's result; a grant that arrives
// after ctx ended is released at once.
func (a *Adapter) finish(ctx context.Context, r *Request, w *waiter, g grant) (*scheduler.Lease, error) {
	a.stopTimer(w)
	if g.err != nil {
		return nil, g.err
	}
	release := func(scheduler.Outcome) { a.release(r, g.lane) }
	if err := ctx.Err(); err != nil {
		release(scheduler.Outcome{})
		return nil, err
	}
	var cand scheduler.Candidate
	for _, c := range w.job.Candidates {
		if c.DeploymentID == g.dep {
			cand = c
			break
		}
	}
	return scheduler.NewLeaseInfo(cand, scheduler.LeaseInfo{
		QueueWait: g.wait, ColdStart: g.cold, Tier: g.tier, ETTFT: w.ettft, ETTFTKnown: w.ettftKnown,
	}, release), nil
}

func (a *Adapter) release(r *Request, lane int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock.Now()
	l := &a.view.Lanes[lane]
	l.Running--
	l.LastUsed = now
	a.handleLocked(now, Event{Kind: Complete, Req: r, Lane: lane})
	a.drainedLocked(now, lane)
}

// laneLocked returns the lane of a deployment, adding it if new.
func (a *Adapter) laneLocked(dep int64, now time.Time) int {
	if id, ok := a.lanes[dep]; ok {
		return id
	}
	id := len(a.view.Lanes)
	a.view.Lanes = append(a.view.Lanes, Lane{
		ID: id, Node: a.nodes[unmanagedNode], Model: strconv.FormatInt(dep, 10), State: Awake, Since: now, LastUsed: now,
	})
	a.rt = append(a.rt, laneRT{dep: dep})
	a.lanes[dep] = id
	a.describeLocked(id, now)
	return id
}

// handleLocked runs the policy on one event and executes its actions.
func (a *Adapter) handleLocked(now time.Time, ev Event) {
	for _, act := range a.policy.Handle(now, &a.view, ev) {
		switch act.Kind {
		case Dispatch:
			w, ok := a.queued[act.Req]
			if !ok {
				a.log.Debug("scheduler: dispatch of an unknown request", "request_id", act.Req.ID)
				continue
			}
			delete(a.queued, act.Req)
			if act.Lane < 0 || act.Lane >= len(a.view.Lanes) || !a.view.Lanes[act.Lane].Free() {
				a.log.Debug("scheduler: illegal dispatch", "request_id", act.Req.ID, "lane", act.Lane)
				w.deliver(grant{err: fmt.Errorf("request %s on lane %d: %w", act.Req.ID, act.Lane, ErrIllegalAction)})
				continue
			}
			l := &a.view.Lanes[act.Lane]
			l.Running++
			l.LastUsed = now
			tier, cold := a.leaseInfoLocked(act.Lane, w.started)
			w.deliver(grant{lane: act.Lane, dep: a.rt[act.Lane].dep, wait: now.Sub(w.started), tier: tier, cold: cold})
		case Reject:
			w, ok := a.queued[act.Req]
			if !ok {
				continue
			}
			delete(a.queued, act.Req)
			err := act.Err
			if err == nil {
				err = ErrIllegalAction
			}
			w.deliver(grant{err: fmt.Errorf("request %s: %w", act.Req.ID, err)})
		case SetTimer:
			if a.closed {
				continue
			}
			tag := act.Tag
			pt := &policyTimer{}
			a.ptimers[pt] = struct{}{}
			a.timers.Add(1)
			// The callback takes a.mu, which is held here, so pt.t is set
			// before it can run.
			pt.t = a.clock.AfterFunc(act.At.Sub(now), func() {
				defer a.timers.Done()
				a.mu.Lock()
				defer a.mu.Unlock()
				delete(a.ptimers, pt)
				if !a.closed {
					a.handleLocked(a.clock.Now(), Event{Kind: Timer, Tag: tag})
				}
			})
		case Wake, Load:
			a.upLocked(now, act)
		case Sleep, Unload:
			a.downLocked(now, act)
		default:
			// Enqueue needs nothing; SendCloud is not executed (cloud
			// deployments are lanes of their own).
		}
	}
}

// State returns the number of waiting jobs and each deployment's active
// leases and capacity. Per-deployment queues are the policy's and are not
// reported (Queued and Waiting are empty).
func (a *Adapter) State() scheduler.State {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := scheduler.State{QueueDepth: len(a.queued)}
	for dep, id := range a.lanes {
		l := &a.view.Lanes[id]
		ds := scheduler.DeploymentState{
			DeploymentID: dep, Active: l.Running, Capacity: l.Slots, Waiting: []string{},
		}
		if a.rt[id].managed {
			ds.Lane, ds.LaneSince = l.State.String(), l.Since
			if l.Draining {
				ds.Lane = "draining"
			}
		}
		st.Deployments = append(st.Deployments, ds)
	}
	slices.SortFunc(st.Deployments, func(x, y scheduler.DeploymentState) int {
		return cmp.Compare(x.DeploymentID, y.DeploymentID)
	})
	return st
}

// Close fails every waiting Acquire with scheduler.ErrClosed, makes later
// calls fail with it and waits for timer callbacks in progress. Granted
// leases stay valid. Close is idempotent and returns nil.
func (a *Adapter) Close() error {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		a.lifeCancel()
		for r, w := range a.queued {
			delete(a.queued, r)
			a.stopTimer(w)
			w.deliver(grant{err: scheduler.ErrClosed})
		}
		for pt := range a.ptimers {
			delete(a.ptimers, pt)
			if pt.t.Stop() {
				a.timers.Done()
			}
		}
	}
	a.mu.Unlock()
	a.timers.Wait()
	return nil
}
