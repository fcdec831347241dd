// Package fcfs is Logos's default scheduler: first come, first served per
// deployment, with three priority levels.
//
// A job is granted the first of its candidates, in the order given, that has
// a free slot (Candidate.Capacity bounds the leases held at once; 0 means
// unlimited). When all are full the job waits in the queue of every candidate
// deployment at once, and the first slot freed on any of them goes to it; it
// then leaves the other queues. Within a deployment's queue, high runs before
// normal before low, and jobs of one level run in the order they reached it.
//
// A waiting job gives up when its queue timeout passes (Job.Timeout, or
// Config.DefaultTimeout), when its context ends, or when the scheduler is
// closed; in every case it leaves all queues at once, and a slot granted at the
// same moment is handed to the next waiter rather than leaked.
//
// Config.MaxQueue bounds each deployment's queue: a job joins only the queues
// of its candidates that have room and is rejected at once with
// scheduler.ErrQueueFull when none has. Capacities come with every job's
// candidates and the latest seen applies: a lowered capacity stops grants until
// the active count drops below it, a raised one grants waiters at once.
// State counts a job waiting on several deployments once in QueueDepth and
// once in each of their queues.
//
// Starvation: by default priorities are strict, so a steady stream of high
// jobs can hold back low ones until their timeout. Config.AgeAfter opts into
// aging: a waiting job moves up one level for every AgeAfter it spends at its
// current level (low to normal to high). Aging is a function of the clock, not
// of releases: it is evaluated, for every promotion due, before each decision
// and snapshot, which gives the same result as a timer per promotion.
//
// The decisions live in Core, a synchronous state machine that takes the time
// as an argument; Scheduler adds the mutex, the waiter channels and the timers
// (from an injected clock.Clock). A simulator can replay traces through Core,
// or through Scheduler with a clock.Fake, and get the same decisions.
package fcfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/clock"
)

// DefaultTimeout is the queue timeout of a job that sets none, unless
// Config.DefaultTimeout says otherwise.
const DefaultTimeout = 300 * time.Second

// Config configures a Scheduler. The zero value is usable.
type Config struct {
	// Clock tells the time and runs the queue timeouts; nil means
	// clock.Real().
	Clock clock.Clock
	// DefaultTimeout bounds the queue wait of a job whose Timeout is 0 or
	// negative; 0 means DefaultTimeout (300s).
	DefaultTimeout time.Duration
	// MaxQueue bounds the number of jobs waiting for one deployment; 0 means
	// unlimited. A job waits only in the queues of its candidates that have
	// room; Acquire fails at once with scheduler.ErrQueueFull when none has.
	MaxQueue int
	// AgeAfter, when positive, promotes a waiting job one priority level per
	// AgeAfter spent at its current level; 0 disables aging.
	AgeAfter time.Duration
	// AcrossModels lets a job run on any of its candidates, so a request
	// that Logos classified may take a second-best model whose deployment is
	// free rather than wait for the best. By default a job considers only its
	// leading candidates that share the first one's Weight (the deployments
	// of the best model, or of models that tie with it): it waits for the
	// best model, as the original did. Jobs whose candidates all weigh the
	// same (requests naming a model) are not affected.
	AcrossModels bool
	// Logger receives debug records of timeouts and rejections; nil means
	// slog.Default().
	Logger *slog.Logger
}

func (c Config) validate() error {
	switch {
	case c.DefaultTimeout < 0:
		return fmt.Errorf("fcfs: Config.DefaultTimeout is negative (%v)", c.DefaultTimeout)
	case c.MaxQueue < 0:
		return fmt.Errorf("fcfs: Config.MaxQueue is negative (%d)", c.MaxQueue)
	case c.AgeAfter < 0:
		return fmt.Errorf("fcfs: Config.AgeAfter is negative (%v)", c.AgeAfter)
	}
	return nil
}

// Scheduler is the FCFS scheduler. It implements scheduler.Scheduler and
// scheduler.StateReporter, and is safe for concurrent use. It starts no
// goroutines of its own; the clock's timer callbacks are the only code it runs
// asynchronously, and Close waits for them.
type Scheduler struct {
	clock          clock.Clock
	defaultTimeout time.Duration
	acrossModels   bool
	log            *slog.Logger

	mu       sync.Mutex
	core     *Core
	closed   bool
	releases map[int64]func(scheduler.Outcome) // one release func per deployment

	timers sync.WaitGroup // armed timers whose callback may still run
}

var (
	_ scheduler.Scheduler     = (*Scheduler)(nil)
	_ scheduler.StateReporter = (*Scheduler)(nil)
)

// New returns a Scheduler configured by cfg, or an error naming the first
// invalid field.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.DefaultTimeout == 0 {
		cfg.DefaultTimeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Scheduler{
		clock:          cfg.Clock,
		defaultTimeout: cfg.DefaultTimeout,
		acrossModels:   cfg.AcrossModels,
		log:            cfg.Logger,
		core:           NewCore(CoreConfig{MaxQueue: cfg.MaxQueue, AgeAfter: cfg.AgeAfter}),
		releases:       make(map[int64]func(scheduler.Outcome)),
	}, nil
}

// waiter is the blocking side of a queued Entry (its Value).
type waiter struct {
	done  chan waitResult // buffered; receives exactly one result
	timer clock.Timer
}

// waitResult ends a wait: a grant (with the release func of its deployment)
// or an error.
type waitResult struct {
	grant   Grant
	release func(scheduler.Outcome)
	err     error
}

// Acquire grants j a lease on one of its candidates, waiting in their queues
// when all are full. Its errors are, for errors.Is:
// scheduler.ErrNoCandidates when j names no deployment,
// scheduler.ErrQueueFull when every candidate's queue is full,
// scheduler.ErrQueueTimeout when the queue timeout passes (the error names
// the request and the wait), ctx.Err() when ctx ends first, and
// scheduler.ErrClosed after Close. A grant that coincides with the end of ctx
// is passed to the next waiter, never leaked.
//
// The lease must be released; Lease.QueueWait is the clock time from Acquire
// to the grant (0 when granted at once) and Lease.ColdStart is always false
// (FCFS has no load data).
func (s *Scheduler) Acquire(ctx context.Context, j scheduler.Job) (*scheduler.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, scheduler.ErrClosed
	}
	if !s.acrossModels {
		j.Candidates = scheduler.BestModel(j.Candidates)
	}
	now := s.clock.Now()
	a, err := s.core.Admit(j, now)
	for _, g := range a.Woken {
		s.deliverLocked(g)
	}
	if err != nil {
		s.mu.Unlock()
		if errors.Is(err, scheduler.ErrQueueFull) {
			s.log.Debug("scheduler: queue full", "request_id", j.RequestID)
		}
		return nil, fmt.Errorf("request %s: %w", j.RequestID, err)
	}
	if a.Granted {
		release := s.releaseFuncLocked(a.Candidate.DeploymentID)
		s.mu.Unlock()
		return scheduler.NewLease(a.Candidate, 0, false, release), nil
	}

	timeout := j.Timeout
	if timeout <= 0 {
		timeout = s.defaultTimeout
	}
	e := a.Entry
	w := &waiter{done: make(chan waitResult, 1)}
	e.Value = w
	s.timers.Add(1)
	w.timer = s.clock.AfterFunc(timeout, func() {
		defer s.timers.Done()
		s.expire(e)
	})
	s.mu.Unlock()

	select {
	case o := <-w.done:
		return s.finish(ctx, w, o)
	case <-ctx.Done():
	}
	s.mu.Lock()
	cancelled := s.core.Cancel(e)
	s.mu.Unlock()
	if cancelled {
		s.stopTimer(w)
		return nil, ctx.Err()
	}
	// The wait ended concurrently with ctx: take the outcome, which finish
	// hands on if it is a grant.
	return s.finish(ctx, w, <-w.done)
}

// finish turns a wait's outcome into Acquire's result. A grant that arrives
// after ctx ended is handed to the next waiter.
func (s *Scheduler) finish(ctx context.Context, w *waiter, o waitResult) (*scheduler.Lease, error) {
	s.stopTimer(w)
	if o.err != nil {
		return nil, o.err
	}
	if err := ctx.Err(); err != nil {
		s.release(o.grant.Candidate.DeploymentID)
		return nil, err
	}
	return scheduler.NewLease(o.grant.Candidate, o.grant.Wait, false, o.release), nil
}

// expire ends a wait whose queue timeout passed, unless it already ended.
func (s *Scheduler) expire(e *Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.core.Cancel(e) {
		return
	}
	wait := s.clock.Now().Sub(e.Enqueued())
	s.log.Debug("scheduler: queue timeout", "request_id", e.RequestID(), "wait", wait)
	e.Value.(*waiter).done <- waitResult{err: fmt.Errorf("request %s waited %v: %w", e.RequestID(), wait, scheduler.ErrQueueTimeout)}
}

// stopTimer stops w's timer, accounting for a callback that will not run.
func (s *Scheduler) stopTimer(w *waiter) {
	if w.timer.Stop() {
		s.timers.Done()
	}
}

// release frees a slot on the deployment and hands it to the next waiter.
func (s *Scheduler) release(deploymentID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.core.Release(deploymentID, s.clock.Now()); ok {
		s.deliverLocked(g)
	}
}

// releaseFuncLocked returns the lease release func for a deployment, made
// once so that granting a lease allocates nothing but the lease.
func (s *Scheduler) releaseFuncLocked(deploymentID int64) func(scheduler.Outcome) {
	f := s.releases[deploymentID]
	if f == nil {
		f = func(scheduler.Outcome) { s.release(deploymentID) }
		s.releases[deploymentID] = f
	}
	return f
}

// deliverLocked wakes the waiter of a grant. Each entry is granted once and
// its channel is buffered, so the send never blocks.
func (s *Scheduler) deliverLocked(g Grant) {
	g.Entry.Value.(*waiter).done <- waitResult{grant: g, release: s.releaseFuncLocked(g.Candidate.DeploymentID)}
}

// State returns a snapshot of the deployments and queues.
func (s *Scheduler) State() scheduler.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.core.State(s.clock.Now())
}

// QueueDepth returns the number of distinct jobs waiting.
func (s *Scheduler) QueueDepth() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.core.QueueDepth()
}

// Close ends every wait with scheduler.ErrClosed, makes later Acquire calls
// fail with it and waits for timer callbacks in progress. Leases already
// granted stay valid and may still be released. Close is idempotent and
// always returns nil.
func (s *Scheduler) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for _, e := range s.core.CancelAll() {
			w := e.Value.(*waiter)
			s.stopTimer(w)
			w.done <- waitResult{err: scheduler.ErrClosed}
		}
	}
	s.mu.Unlock()
	s.timers.Wait()
	return nil
}
