package scheduler

import (
	"errors"
	"time"
)

// ErrQueueFull means every queue the job could wait in already holds the
// scheduler's maximum number of waiting jobs; Acquire fails at once instead of
// queueing.
var ErrQueueFull = errors.New("scheduler: queue full")

// StateReporter is implemented by schedulers that can describe their queues,
// for example for an admin endpoint. Callers find it by type assertion.
type StateReporter interface {
	State() State
}

// State is a point-in-time snapshot of a scheduler's deployments and queues.
type State struct {
	// QueueDepth is the number of distinct jobs waiting. A job waiting on
	// several deployments is counted once here and once in each deployment's
	// Queued.
	QueueDepth int `json:"queue_depth"`
	// Deployments lists every deployment the scheduler knows, ordered by
	// DeploymentID.
	Deployments []DeploymentState `json:"deployments"`
}

// DeploymentState describes one deployment in a State.
type DeploymentState struct {
	DeploymentID int64 `json:"deployment_id"`
	// Active is the number of leases held on the deployment.
	Active int `json:"active"`
	// Capacity is the latest capacity seen; 0 means unlimited.
	Capacity int `json:"capacity"`
	// Queued counts the jobs waiting for the deployment by current priority.
	Queued QueueCounts `json:"queued"`
	// Waiting lists the request ids of the waiting jobs in the order they
	// would be granted a slot on this deployment.
	Waiting []string `json:"waiting"`
	// Lane is the scheduler's lifecycle state of the deployment's lane
	// (awake, sleeping, cold, waking, ...) and LaneSince when it entered
	// it, for schedulers that manage lifecycles; "" otherwise.
	Lane      string    `json:"lane,omitempty"`
	LaneSince time.Time `json:"lane_since,omitzero"`
}

// QueueCounts counts waiting jobs per priority level.
type QueueCounts struct {
	Low    int `json:"low"`
	Normal int `json:"normal"`
	High   int `json:"high"`
}

// Total returns the number of jobs counted at all levels.
func (c QueueCounts) Total() int { return c.Low + c.Normal + c.High }
