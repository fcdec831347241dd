// Package core is the scheduling decision core: a Policy decides, as a pure
// and deterministic function of the time, a read-only view of the cluster and
// one event, which actions to take (dispatch, enqueue, reject, wake, sleep,
// load, unload, send to cloud, set a timer).
//
// A Policy runs no goroutines, reads no clock and never sleeps: the time is
// passed in. The same Policy value therefore runs inside the discrete-event
// simulator (scheduler/sim), which executes the actions against modelled
// backends in virtual time, and inside logosd through Adapter, which turns it
// into a scheduler.Scheduler (Acquire/Lease), the face the Router sees.
//
// The core lives in its own package rather than in package scheduler so that
// package scheduler stays the small contract that routers and custom
// schedulers are written against; core depends on scheduler, never the other
// way round.
//
// Identities: a lane is one model on one node (its GPUs); Action.Lane and
// Event.Lane index View.Lanes. Loading a model on a node is Load on the cold
// lane of that (node, model) pair, so every possible placement is a lane from
// the start. Candidates name models; a request may run on any lane whose Model
// equals one of its candidates.
package core

import (
	"time"

	"github.com/logos-llm/logos/scheduler"
)

// Policy is a scheduling decision core. Handle is called once per event with
// the current time and a view of the cluster that reflects every action
// already executed; it returns the actions to execute, in order. The view is
// read-only for the policy and valid only during the call.
//
// A Policy may keep state (its queues) but must be deterministic: the same
// sequence of calls yields the same actions.
type Policy interface {
	Handle(now time.Time, view *View, ev Event) []Action
}

// Request is one request as a scheduler sees it: no hidden output length.
type Request struct {
	// ID is the request id.
	ID string
	// Index is a dense number given by the caller (the trace row, or a
	// sequence in production); policies may use it to index slices.
	Index int
	// Arrival is when the request reached the gateway.
	Arrival time.Time
	// Priority is the request's level (scheduler.PriorityLow/Normal/High).
	Priority scheduler.Priority
	// Interactive is false for batch requests.
	Interactive bool
	// Candidates lists the models that may serve the request, best first.
	Candidates []Candidate
	// PromptTokens and MaxTokens are the request's size as the gateway can
	// estimate it.
	PromptTokens, MaxTokens int
	// Timeout is how long the request may wait for dispatch.
	Timeout time.Duration
	// Value is for the executor's use; policies never read it.
	Value any
}

// Candidate is one model that may serve a request.
type Candidate struct {
	Model string
	// Weight is the classifier's weight; higher is better. Explicit-model
	// requests have one candidate of weight 1.
	Weight float64
	// Capacity is the production deployment's concurrency cap (0 unlimited);
	// the simulator leaves it 0.
	Capacity int
}

// LaneState is the lifecycle state of a lane:
// cold → loading → awake ⇄ (going to sleep → sleeping → waking) → unloading → cold.
type LaneState uint8

// Lane states.
const (
	Cold LaneState = iota
	Loading
	Awake
	GoingToSleep
	Sleeping
	Waking
	Unloading
)

var laneStateNames = [...]string{"cold", "loading", "awake", "going_to_sleep", "sleeping", "waking", "unloading"}

// String returns the state's snake_case name.
func (s LaneState) String() string {
	if int(s) < len(laneStateNames) {
		return laneStateNames[s]
	}
	return "unknown"
}

// Lane is one model on one node.
type Lane struct {
	ID    int
	Node  int
	Model string
	// GPUs indexes View.GPUs; the footprint is split evenly over them.
	GPUs []int
	// State is the lane's lifecycle state. Draining is set on an awake lane
	// asked to sleep or unload while busy: it admits nothing new and
	// transitions when Running reaches 0.
	State    LaneState
	Draining bool
	// AwakeMB and SleepMB are the whole footprint awake and asleep.
	AwakeMB, SleepMB int
	// Slots bounds Running as the gateway sees it; 0 means unlimited.
	Slots int
	// Running counts requests dispatched to the lane and not yet finished;
	// BackendWaiting is the part of them the engine has not admitted yet.
	Running, BackendWaiting int
	// Since is when the lane entered State; LastUsed is the last dispatch or
	// completion on it.
	Since, LastUsed time.Time
	// Expected transition costs, from the profile or from telemetry.
	WakeCost, SleepCost, LoadCost, UnloadCost time.Duration
	// StepTime and StepPerSeq model one engine iteration alone on its GPUs:
	// StepTime + StepPerSeq·b for b running sequences (0 when unknown).
	StepTime, StepPerSeq time.Duration
}

// Free reports whether the lane can take one more dispatch now.
func (l *Lane) Free() bool {
	return l.State == Awake && !l.Draining && (l.Slots == 0 || l.Running < l.Slots)
}

// Resident reports whether the lane holds its awake footprint or is about to
// (awake, loading or waking).
func (l *Lane) Resident() bool {
	return l.State == Awake || l.State == Loading || l.State == Waking
}

// GPU is one accelerator's memory accounting.
type GPU struct {
	Node    int
	TotalMB int
	// UsedMB counts reserved memory: awake and transitioning lanes at their
	// awake footprint, sleeping lanes at their residual.
	UsedMB int
}

// Node is one machine; transitions on it are serialized up to
// MaxTransitions at a time, further ones queue.
type Node struct {
	ID             int
	Transitions    int // started or queued
	MaxTransitions int
}

// Cloud is one cloud endpoint with request and token limits.
type Cloud struct {
	Name     string
	Models   []string
	RPMLeft  int
	TPMLeft  int
	InFlight int
}

// View is the cluster as a policy sees it.
type View struct {
	Lanes  []Lane
	GPUs   []GPU
	Nodes  []Node
	Clouds []Cloud
}

// NeedMB returns the extra memory per GPU that waking or loading lane id
// reserves: its awake share, less the sleeping residual it already holds.
func (v *View) NeedMB(id int) int {
	l := &v.Lanes[id]
	if len(l.GPUs) == 0 {
		return 0
	}
	need := l.AwakeMB
	if l.State == Sleeping {
		need -= l.SleepMB
	}
	return need / len(l.GPUs)
}

// Fits reports whether waking or loading lane id fits in the free memory of
// every GPU of the lane now.
func (v *View) Fits(id int) bool {
	need := v.NeedMB(id)
	for _, g := range v.Lanes[id].GPUs {
		if v.GPUs[g].UsedMB+need > v.GPUs[g].TotalMB {
			return false
		}
	}
	return true
}

// Shares reports whether lanes a and b use a GPU in common.
func (v *View) Shares(a, b int) bool {
	for _, g := range v.Lanes[a].GPUs {
		for _, h := range v.Lanes[b].GPUs {
			if g == h {
				return true
			}
		}
	}
	return false
}

// EventKind says what happened.
type EventKind uint8

// Event kinds.
const (
	// Arrival: Req reached the gateway.
	Arrival EventKind = iota
	// FirstToken: Req, running on Lane, produced its first token.
	FirstToken
	// Complete: Req finished on Lane (or on cloud Endpoint when Lane < 0);
	// its slot is free.
	Complete
	// TransitionDone: Lane reached a stable state (awake, sleeping or cold).
	TransitionDone
	// Timer: a SetTimer with Tag fell due.
	Timer
	// Timeout: Req waited longer than its timeout and failed; the policy
	// must forget it.
	Timeout
	// Cancel: the client of Req gave up while it waited; forget it.
	Cancel
	// CloudRejected: Endpoint answered Req with 429; the policy decides.
	CloudRejected
	// Tick: a periodic planner tick.
	Tick
)

var eventNames = [...]string{"arrival", "first_token", "complete", "transition_done", "timer", "timeout", "cancel", "cloud_rejected", "tick"}

// String returns the kind's snake_case name.
func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one input to Handle.
type Event struct {
	Kind     EventKind
	Req      *Request
	Lane     int
	Endpoint int
	Tag      int64
}

// ActionKind says what to do.
type ActionKind uint8

// Action kinds.
const (
	// Dispatch Req to Lane, which must be awake, not draining, with a slot.
	Dispatch ActionKind = iota
	// Enqueue Req: it waits in the policy's queue (informational).
	Enqueue
	// Reject Req with Err.
	Reject
	// Wake sleeping Lane.
	Wake
	// Sleep Lane at Level (1 or 2); a busy lane drains first.
	Sleep
	// Load cold Lane.
	Load
	// Unload Lane (awake or sleeping); a busy lane drains first.
	Unload
	// SendCloud sends Req to cloud Endpoint.
	SendCloud
	// SetTimer asks for a Timer event with Tag at At.
	SetTimer
)

var actionNames = [...]string{"dispatch", "enqueue", "reject", "wake", "sleep", "load", "unload", "send_cloud", "set_timer"}

// String returns the kind's snake_case name.
func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return "unknown"
}

// Action is one decision. Only the fields of its Kind are meaningful.
type Action struct {
	Kind     ActionKind
	Req      *Request
	Lane     int
	Level    int
	Endpoint int
	At       time.Time
	Tag      int64
	Err      error
}

// DispatchTo returns a Dispatch action.
func DispatchTo(r *Request, lane int) Action { return Action{Kind: Dispatch, Req: r, Lane: lane} }

// EnqueueReq returns an Enqueue action.
func EnqueueReq(r *Request) Action { return Action{Kind: Enqueue, Req: r} }

// RejectReq returns a Reject action.
func RejectReq(r *Request, err error) Action { return Action{Kind: Reject, Req: r, Err: err} }

// WakeLane returns a Wake action.
func WakeLane(lane int) Action { return Action{Kind: Wake, Lane: lane} }

// SleepLane returns a Sleep action at level 1.
func SleepLane(lane int) Action { return Action{Kind: Sleep, Lane: lane, Level: 1} }

// LoadLane returns a Load action.
func LoadLane(lane int) Action { return Action{Kind: Load, Lane: lane} }

// UnloadLane returns an Unload action.
func UnloadLane(lane int) Action { return Action{Kind: Unload, Lane: lane} }

// SendToCloud returns a SendCloud action.
func SendToCloud(r *Request, endpoint int) Action {
	return Action{Kind: SendCloud, Req: r, Endpoint: endpoint}
}

// TimerAt returns a SetTimer action.
func TimerAt(at time.Time, tag int64) Action { return Action{Kind: SetTimer, At: at, Tag: tag} }
