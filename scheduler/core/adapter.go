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
}

// Adapter runs a Policy as a scheduler.Scheduler in production. Every
// deployment named by a job's candidates becomes one lane, always awake, whose
// model is the deployment id in decimal and whose Slots is the candidate's
// latest Capacity. Dispatch grants a lease, Reject fails Acquire, SetTimer arms
// a clock timer, and Wake, Sleep, Load, Unload and SendCloud are not executed
// yet (lanes stay awake): executing them against real backends is a later
// step.
//
// An Adapter is safe for concurrent use; it runs the policy under its mutex,
// so the policy itself needs no locking.
type Adapter struct {
	policy         Policy
	clock          clock.Clock
	defaultTimeout time.Duration
	log            *slog.Logger

	mu     sync.Mutex
	view   View
	lanes  map[int64]int // deployment id → lane
	seq    int
	closed bool
	queued map[*Request]*waiter
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
	return &Adapter{
		policy:         p,
		clock:          cfg.Clock,
		defaultTimeout: cfg.DefaultTimeout,
		log:            cfg.Logger,
		lanes:          make(map[int64]int),
		queued:         make(map[*Request]*waiter),
		ptimers:        make(map[*policyTimer]struct{}),
	}
}

type waiter struct {
	job     scheduler.Job
	done    chan grant // buffered, receives one value
	timer   clock.Timer
	started time.Time
}

type grant struct {
	lane int
	wait time.Duration
	err  error
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
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil, scheduler.ErrClosed
	}
	now := a.clock.Now()
	raised := false
	cands := make([]Candidate, len(j.Candidates))
	for i, c := range j.Candidates {
		id := a.laneLocked(c.DeploymentID, now)
		l := &a.view.Lanes[id]
		capacity := max(c.Capacity, 0)
		if capacity != l.Slots {
			raised = raised || capacity == 0 || capacity > l.Slots
			l.Slots = capacity
		}
		cands[i] = Candidate{Model: l.Model, Weight: c.Weight, Capacity: capacity}
	}
	if raised {
		a.handleLocked(now, Event{Kind: Tick, Lane: -1})
	}
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = a.defaultTimeout
	}
	w := &waiter{job: j, done: make(chan grant, 1), started: now}
	r := &Request{
		ID: j.RequestID, Index: a.seq, Arrival: now, Priority: j.Priority.Normalize(),
		Interactive: true, Candidates: cands, MaxTokens: j.EstimatedTokens,
		Timeout: timeout, Value: w,
	}
	a.seq++
	a.queued[r] = w
	a.handleLocked(now, Event{Kind: Arrival, Req: r})
	select {
	case g := <-w.done:
		a.mu.Unlock()
		return a.finish(ctx, r, w, g)
	default:
	}
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
		w.done <- grant{err: fmt.Errorf("request %s waited %v: %w", r.ID, wait, scheduler.ErrQueueTimeout)}
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
	a.mu.Lock()
	dep := a.view.Lanes[g.lane].Model
	a.mu.Unlock()
	var cand scheduler.Candidate
	for _, c := range w.job.Candidates {
		if strconv.FormatInt(c.DeploymentID, 10) == dep {
			cand = c
			break
		}
	}
	return scheduler.NewLease(cand, g.wait, false, release), nil
}

func (a *Adapter) release(r *Request, lane int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock.Now()
	l := &a.view.Lanes[lane]
	l.Running--
	l.LastUsed = now
	a.handleLocked(now, Event{Kind: Complete, Req: r, Lane: lane})
}

// laneLocked returns the lane of a deployment, adding it if new.
func (a *Adapter) laneLocked(dep int64, now time.Time) int {
	if id, ok := a.lanes[dep]; ok {
		return id
	}
	id := len(a.view.Lanes)
	a.view.Lanes = append(a.view.Lanes, Lane{
		ID: id, Model: strconv.FormatInt(dep, 10), State: Awake, Since: now, LastUsed: now,
	})
	a.lanes[dep] = id
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
				w.done <- grant{err: fmt.Errorf("request %s on lane %d: %w", act.Req.ID, act.Lane, ErrIllegalAction)}
				continue
			}
			l := &a.view.Lanes[act.Lane]
			l.Running++
			l.LastUsed = now
			w.done <- grant{lane: act.Lane, wait: now.Sub(w.started)}
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
			w.done <- grant{err: fmt.Errorf("request %s: %w", act.Req.ID, err)}
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
		default:
			// Enqueue needs nothing; Wake, Sleep, Load, Unload and SendCloud
			// are not executed against real backends yet.
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
		st.Deployments = append(st.Deployments, scheduler.DeploymentState{
			DeploymentID: dep, Active: l.Running, Capacity: l.Slots, Waiting: []string{},
		})
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
		for r, w := range a.queued {
			delete(a.queued, r)
			a.stopTimer(w)
			w.done <- grant{err: scheduler.ErrClosed}
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
