package scheduler

import (
	"context"
	"time"
)

// Transition is a model lifecycle action on one deployment's lane.
type Transition uint8

// Transitions.
const (
	TransitionWake Transition = iota + 1
	TransitionSleep
	TransitionLoad
	TransitionUnload
)

// String returns "wake", "sleep", "load" or "unload".
func (t Transition) String() string {
	switch t {
	case TransitionWake:
		return "wake"
	case TransitionSleep:
		return "sleep"
	case TransitionLoad:
		return "load"
	case TransitionUnload:
		return "unload"
	}
	return "unknown"
}

// Lane states a Lifecycle reports.
const (
	LaneAwake    = "awake"
	LaneSleeping = "sleeping"
	LaneCold     = "cold"
)

// LaneSpec describes one deployment's lane: where it runs, what memory it
// takes and what its transitions cost.
type LaneSpec struct {
	// Node identifies the machine (the provider); lanes of one node share
	// its memory and their transitions run one at a time.
	Node int64
	// NodeMB is the node's accelerator memory; 0 means unknown (no memory
	// accounting).
	NodeMB int
	// AwakeMB and SleepMB are the lane's footprint awake and asleep.
	AwakeMB, SleepMB int
	// State is LaneAwake, LaneSleeping or LaneCold, as telemetry says now.
	State string
	// Expected transition times; 0 when unknown.
	WakeCost, SleepCost, LoadCost, UnloadCost time.Duration
	// StepTime and StepPerSeq model one decode iteration (0 when unknown).
	StepTime, StepPerSeq time.Duration
	// Cloud marks a deployment on a cloud provider (no lifecycle).
	Cloud bool
}

// Lifecycle executes model lifecycle transitions against real backends
// (monitor/lifecycle is the standard one). A scheduler that manages
// lifecycles implements LifecycleUser and is handed one by the Router.
type Lifecycle interface {
	// Deployments lists the deployments it knows.
	Deployments() []int64
	// Lane describes a deployment's lane; false when the deployment is
	// unknown or has no lifecycle (an always-awake lane).
	Lane(deployment int64) (LaneSpec, bool)
	// Transition performs t (level for sleeps) on a deployment's lane and
	// returns when it is done or has failed. Transitions of one node run
	// one at a time.
	Transition(ctx context.Context, deployment int64, t Transition, level int) error
}

// LifecycleUser is implemented by schedulers that execute lifecycle
// actions: SetLifecycle hands them the executor (nil: none, every lane
// stays awake).
type LifecycleUser interface {
	SetLifecycle(Lifecycle)
}

// Tiers of a lease: what the granted lane was when the request arrived.
const (
	TierWarm     = "warm"
	TierSleeping = "sleeping"
	TierCold     = "cold"
	TierCloud    = "cloud"
)

// LeaseInfo is what a scheduler tells about a grant.
type LeaseInfo struct {
	// QueueWait is how long the job waited before it was admitted.
	QueueWait time.Duration
	// ColdStart says the job waited for a load or wake of its lane.
	ColdStart bool
	// Tier is TierWarm, TierSleeping, TierCold or TierCloud; "" unknown.
	Tier string
	// ETTFT is the estimated time to first token at arrival, when
	// ETTFTKnown.
	ETTFT      time.Duration
	ETTFTKnown bool
}

// UpstreamLimit is an upstream's rate-limit state after a response.
type UpstreamLimit struct {
	// Known says the upstream reported rate-limit data.
	Known bool
	// RemainingRequests and RemainingTokens are -1 when not reported.
	RemainingRequests, RemainingTokens int64
	// Limited says the upstream asked not to be called before RetryAt.
	Limited bool
	RetryAt time.Time
}
