package fcfs

import (
	"slices"
	"time"

	"github.com/logos-llm/logos/scheduler"
)

// Levels index the per-priority queues.
const (
	levelLow = iota
	levelNormal
	levelHigh
	numLevels
)

func levelOf(p scheduler.Priority) int {
	switch p.Normalize() {
	case scheduler.PriorityLow:
		return levelLow
	case scheduler.PriorityHigh:
		return levelHigh
	default:
		return levelNormal
	}
}

var levelPriority = [numLevels]scheduler.Priority{
	levelLow:    scheduler.PriorityLow,
	levelNormal: scheduler.PriorityNormal,
	levelHigh:   scheduler.PriorityHigh,
}

// CoreConfig configures a Core.
type CoreConfig struct {
	// MaxQueue bounds the number of jobs waiting for one deployment; 0 means
	// unlimited. A job joins only the queues of its candidates that have
	// room, and Admit fails with scheduler.ErrQueueFull when none has.
	MaxQueue int
	// AgeAfter, when positive, promotes a waiting job one priority level
	// (low to normal to high) for every AgeAfter it has spent at its current
	// level. 0 disables aging: strict priority, FIFO within a level.
	AgeAfter time.Duration
}

// Core holds the FCFS scheduler's decisions as a synchronous state machine:
// which deployment a job is granted, who waits where, and who gets a slot when
// one frees. It has no goroutines, locks or timers; every method that depends
// on time takes it as an argument, and the times passed must never decrease.
// Scheduler wraps a Core with a mutex, channels and timers; a discrete-event
// simulator can drive one directly in virtual time.
//
// A Core is not safe for concurrent use.
type Core struct {
	cfg     CoreConfig
	deps    map[int64]*deployment
	waiting int // distinct entries waiting
	// byLevel lists the waiting entries of each level in the order they
	// reached it; aging promotes from the front.
	byLevel [numLevels]entryList
}

// NewCore returns an empty Core. Negative values in cfg are treated as 0.
func NewCore(cfg CoreConfig) *Core {
	cfg.MaxQueue = max(cfg.MaxQueue, 0)
	cfg.AgeAfter = max(cfg.AgeAfter, 0)
	return &Core{cfg: cfg, deps: make(map[int64]*deployment)}
}

// Entry is a job waiting in the queues of one or more deployments.
type Entry struct {
	// Value is for the caller's use (Scheduler keeps its waiter here); the
	// Core never reads it.
	Value any

	requestID string
	initial   scheduler.Priority
	enqueued  time.Time
	level     int
	since     time.Time // when the entry reached its current level
	state     entryState
	links     []link // one per distinct queued candidate, in candidate order
	inline    [1]link
	prev      *Entry // in Core.byLevel[level]
	next      *Entry
}

type entryState uint8

const (
	stateWaiting entryState = iota
	stateGranted
	stateCancelled
)

// RequestID returns the job's request id.
func (e *Entry) RequestID() string { return e.requestID }

// Enqueued returns the time the job was queued.
func (e *Entry) Enqueued() time.Time { return e.enqueued }

// InitialPriority returns the level the job was queued at.
func (e *Entry) InitialPriority() scheduler.Priority { return e.initial }

// Priority returns the job's current level, which aging may have raised; once
// the entry has left the queue it is the level it left at.
func (e *Entry) Priority() scheduler.Priority { return levelPriority[e.level] }

// Waiting reports whether the entry is still queued.
func (e *Entry) Waiting() bool { return e.state == stateWaiting }

// Grant is the decision that a queued job may run on a deployment.
type Grant struct {
	Entry     *Entry
	Candidate scheduler.Candidate // the job's candidate for the deployment
	Wait      time.Duration       // time from Admit to the grant
}

// Admission is the result of Admit.
type Admission struct {
	// Granted reports that the job may run at once on Candidate.
	Granted   bool
	Candidate scheduler.Candidate
	// Entry is the job's queue entry when it was queued instead.
	Entry *Entry
	// Woken lists queued jobs granted because the job raised a candidate's
	// capacity. They must be delivered whatever Admit returned.
	Woken []Grant
}

// deployment is one deployment's slots and queues.
type deployment struct {
	id       int64
	capacity int // 0 means unlimited
	active   int
	queued   int // links in all levels
	levels   [numLevels]linkList
}

func (d *deployment) free() bool { return d.capacity == 0 || d.active < d.capacity }

// head returns the next link to grant: the oldest of the highest level.
func (d *deployment) head() *link {
	for lv := numLevels - 1; lv >= 0; lv-- {
		if l := d.levels[lv].head; l != nil {
			return l
		}
	}
	return nil
}

// link is an entry's place in one deployment's queue.
type link struct {
	entry      *Entry
	dep        *deployment
	candidate  scheduler.Candidate
	prev, next *link
}

type linkList struct {
	head, tail *link
	n          int
}

func (q *linkList) pushBack(l *link) {
	l.prev, l.next = q.tail, nil
	if q.tail != nil {
		q.tail.next = l
	} else {
		q.head = l
	}
	q.tail = l
	q.n++
}

func (q *linkList) remove(l *link) {
	if l.prev != nil {
		l.prev.next = l.next
	} else {
		q.head = l.next
	}
	if l.next != nil {
		l.next.prev = l.prev
	} else {
		q.tail = l.prev
	}
	l.prev, l.next = nil, nil
	q.n--
}

type entryList struct {
	head, tail *Entry
}

func (q *entryList) pushBack(e *Entry) {
	e.prev, e.next = q.tail, nil
	if q.tail != nil {
		q.tail.next = e
	} else {
		q.head = e
	}
	q.tail = e
}

func (q *entryList) remove(e *Entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		q.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		q.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// dep returns the deployment with the given id, creating it if needed.
func (c *Core) dep(id int64) *deployment {
	d := c.deps[id]
	if d == nil {
		d = &deployment{id: id}
		c.deps[id] = d
	}
	return d
}

// Admit decides at time now what happens to job j. The job's candidates first
// update their deployments' capacities (the latest value seen is used; values
// below 0 count as 0, unlimited); a raised capacity grants queued jobs at once
// (Admission.Woken), before j is considered. Then j is granted the first
// candidate, in order, with a free slot; if none has one, j is queued at its
// priority (see scheduler.Priority.Normalize) in the queue of every distinct
// candidate deployment with room.
//
// Admit fails with scheduler.ErrNoCandidates when j names no deployment and
// with scheduler.ErrQueueFull when j would have to wait but every candidate's
// queue holds MaxQueue jobs.
func (c *Core) Admit(j scheduler.Job, now time.Time) (Admission, error) {
	var a Admission
	if len(j.Candidates) == 0 {
		return a, scheduler.ErrNoCandidates
	}
	c.age(now)
	for i := range j.Candidates {
		cand := &j.Candidates[i]
		d := c.dep(cand.DeploymentID)
		capacity := max(cand.Capacity, 0)
		if capacity == d.capacity {
			continue
		}
		raised := capacity == 0 || (d.capacity != 0 && capacity > d.capacity)
		d.capacity = capacity
		if raised {
			a.Woken = c.dispatch(d, now, a.Woken)
		}
	}
	for i := range j.Candidates {
		cand := &j.Candidates[i]
		if d := c.deps[cand.DeploymentID]; d.free() {
			d.active++
			a.Granted, a.Candidate = true, *cand
			return a, nil
		}
	}

	e := &Entry{
		requestID: j.RequestID,
		level:     levelOf(j.Priority),
		enqueued:  now,
		since:     now,
	}
	e.initial = levelPriority[e.level]
	if len(j.Candidates) == 1 {
		e.links = e.inline[:0]
	} else {
		e.links = make([]link, 0, len(j.Candidates))
	}
	for i := range j.Candidates {
		cand := &j.Candidates[i]
		if slices.ContainsFunc(j.Candidates[:i], func(o scheduler.Candidate) bool {
			return o.DeploymentID == cand.DeploymentID
		}) {
			continue // a duplicate; its first occurrence is queued
		}
		d := c.deps[cand.DeploymentID]
		if c.cfg.MaxQueue > 0 && d.queued >= c.cfg.MaxQueue {
			continue
		}
		e.links = append(e.links, link{entry: e, dep: d, candidate: *cand})
	}
	if len(e.links) == 0 {
		return a, scheduler.ErrQueueFull
	}
	for i := range e.links {
		l := &e.links[i]
		l.dep.levels[e.level].pushBack(l)
		l.dep.queued++
	}
	c.byLevel[e.level].pushBack(e)
	c.waiting++
	a.Entry = e
	return a, nil
}

// Release frees at time now one slot of the deployment and, if the
// deployment then has room under its capacity, grants it to the first job in
// its queue (highest level, oldest first). It reports false when no job was
// granted. Releasing a deployment with no active slot does nothing.
func (c *Core) Release(deploymentID int64, now time.Time) (Grant, bool) {
	d := c.deps[deploymentID]
	if d == nil || d.active == 0 {
		return Grant{}, false
	}
	c.age(now)
	d.active--
	if d.queued == 0 || !d.free() {
		return Grant{}, false
	}
	return c.grant(d.head(), now), true
}

// Cancel removes a waiting entry from every queue, for a job that gave up
// (timeout, cancellation, shutdown). It reports false, and does nothing, when
// the entry is no longer waiting: it was granted or already cancelled.
func (c *Core) Cancel(e *Entry) bool {
	if e.state != stateWaiting {
		return false
	}
	c.unqueue(e)
	e.state = stateCancelled
	return true
}

// CancelAll cancels every waiting entry and returns them, oldest first within
// each level, highest level first.
func (c *Core) CancelAll() []*Entry {
	out := make([]*Entry, 0, c.waiting)
	for lv := numLevels - 1; lv >= 0; lv-- {
		for e := c.byLevel[lv].head; e != nil; e = c.byLevel[lv].head {
			c.Cancel(e)
			out = append(out, e)
		}
	}
	return out
}

// QueueDepth returns the number of distinct jobs waiting.
func (c *Core) QueueDepth() int { return c.waiting }

// State returns a snapshot of every known deployment at time now.
func (c *Core) State(now time.Time) scheduler.State {
	c.age(now)
	st := scheduler.State{
		QueueDepth:  c.waiting,
		Deployments: make([]scheduler.DeploymentState, 0, len(c.deps)),
	}
	for _, d := range c.deps {
		ds := scheduler.DeploymentState{
			DeploymentID: d.id,
			Active:       d.active,
			Capacity:     d.capacity,
			Queued: scheduler.QueueCounts{
				Low:    d.levels[levelLow].n,
				Normal: d.levels[levelNormal].n,
				High:   d.levels[levelHigh].n,
			},
			Waiting: make([]string, 0, d.queued),
		}
		for lv := numLevels - 1; lv >= 0; lv-- {
			for l := d.levels[lv].head; l != nil; l = l.next {
				ds.Waiting = append(ds.Waiting, l.entry.requestID)
			}
		}
		st.Deployments = append(st.Deployments, ds)
	}
	slices.SortFunc(st.Deployments, func(a, b scheduler.DeploymentState) int {
		switch {
		case a.DeploymentID < b.DeploymentID:
			return -1
		case a.DeploymentID > b.DeploymentID:
			return 1
		}
		return 0
	})
	return st
}

// dispatch grants queued jobs on d while it has room and appends the grants
// to dst.
func (c *Core) dispatch(d *deployment, now time.Time, dst []Grant) []Grant {
	for d.queued > 0 && d.free() {
		dst = append(dst, c.grant(d.head(), now))
	}
	return dst
}

// grant takes l's entry out of every queue and gives it a slot on l's
// deployment.
func (c *Core) grant(l *link, now time.Time) Grant {
	e := l.entry
	c.unqueue(e)
	e.state = stateGranted
	l.dep.active++
	return Grant{Entry: e, Candidate: l.candidate, Wait: now.Sub(e.enqueued)}
}

// unqueue removes a waiting entry from all its queues.
func (c *Core) unqueue(e *Entry) {
	for i := range e.links {
		l := &e.links[i]
		l.dep.levels[e.level].remove(l)
		l.dep.queued--
	}
	c.byLevel[e.level].remove(e)
	c.waiting--
}

// age applies every promotion due at or before now, in the order they fell
// due, so the outcome does not depend on when age runs: calling it before
// every decision is equivalent to a timer firing at each due time. A promoted
// entry joins the back of its new level at the time it was promoted.
func (c *Core) age(now time.Time) {
	if c.cfg.AgeAfter <= 0 || c.waiting == 0 {
		return
	}
	for {
		// Only low and normal entries age; within a level the front entry is
		// the first due. Ties go to the higher level, which has waited longer.
		var e *Entry
		var due time.Time
		for lv := levelNormal; lv >= levelLow; lv-- {
			if h := c.byLevel[lv].head; h != nil {
				if hd := h.since.Add(c.cfg.AgeAfter); !hd.After(now) && (e == nil || hd.Before(due)) {
					e, due = h, hd
				}
			}
		}
		if e == nil {
			return
		}
		c.promote(e, due)
	}
}

// promote moves a waiting entry up one level at time at.
func (c *Core) promote(e *Entry, at time.Time) {
	for i := range e.links {
		l := &e.links[i]
		l.dep.levels[e.level].remove(l)
		l.dep.levels[e.level+1].pushBack(l)
	}
	c.byLevel[e.level].remove(e)
	e.level++
	e.since = at
	c.byLevel[e.level].pushBack(e)
}
