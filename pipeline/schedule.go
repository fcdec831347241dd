package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/scheduler"
)

// schedule admits req and waits for the scheduler's lease on one of its
// deployments. When it reports false it has written the refusal and no lease
// is held.
func (x *exchange) schedule(w http.ResponseWriter, r *http.Request, req *Request) (*scheduler.Lease, *Deployment, bool) {
	job, deps, ok := x.admit(w, r, req)
	if !ok {
		return nil, nil, false
	}
	lease, err := x.acquire(r.Context(), job)
	if err != nil {
		x.fail(w, req, x.scheduleError(r.Context(), err, job.Timeout))
		return nil, nil, false
	}
	dep := x.leased(w, lease, deps)
	if dep == nil {
		// A scheduler granted a deployment that was not a candidate.
		x.fail(w, req, oaierr.New(http.StatusInternalServerError, "Internal server error"))
		return nil, nil, false
	}
	x.beginRetries(job, deps, dep) // retry hook
	return lease, dep, true
}

// acquire asks the scheduler for a lease for job, tracing the wait.
func (x *exchange) acquire(ctx context.Context, job scheduler.Job) (*scheduler.Lease, error) {
	x.tr.startQueue(len(job.Candidates))
	lease, err := x.p.cfg.Scheduler.Acquire(ctx, job)
	if err != nil {
		x.tr.queued(nil, nil, err)
	}
	return lease, err
}

// leased records the deployment of lease among deps in the usage record and
// the response headers, adding the lease's queue wait and cold start to the
// request's (a retried request waits for each of its leases). It returns
// nil, and releases the lease, when the scheduler granted a deployment that
// was not a candidate.
func (x *exchange) leased(w http.ResponseWriter, lease *scheduler.Lease, deps []*Deployment) *Deployment {
	var dep *Deployment
	for _, d := range deps {
		if d.ID == lease.Candidate().DeploymentID {
			dep = d
			break
		}
	}
	if dep == nil {
		x.tr.queued(lease, nil, nil)
		lease.Release(scheduler.Outcome{Err: errors.New("lease for an unknown deployment")})
		return nil
	}
	x.rec.QueueWait += lease.QueueWait()
	x.rec.ColdStart = x.rec.ColdStart || lease.ColdStart()
	x.rec.DeploymentID, x.rec.ProviderID, x.rec.ProviderName = dep.ID, dep.Provider.ID, dep.Provider.Name
	x.chosen(w, dep)
	leaseHeaders(w, lease) // lifecycle.go
	x.tr.queued(lease, dep, nil)
	return dep
}

// job builds the scheduling request: candidates, priority and queue timeout.
func (x *exchange) job(r *http.Request, req *Request, deps []*Deployment) (scheduler.Job, *oaierr.Error) {
	j := scheduler.Job{RequestID: x.rec.RequestID, Timeout: x.p.cfg.QueueTimeout, EstimatedTokens: int(maxTokens(req))}
	j.Priority = scheduler.PriorityFromInt(x.caller.Process.Priority)
	// The header may only lower the key's priority, which an admin sets; a
	// request asking for more keeps the key's.
	if v := header(r.Header, "Logos-Priority", "logos_priority"); v != "" {
		j.Priority = min(j.Priority, scheduler.ParsePriority(v))
	}
	x.rec.Priority = int(j.Priority)
	timeout := header(r.Header, "Logos-Queue-Timeout", "logos_queue_timeout")
	if timeout == "" {
		if raw, ok := req.Fields["timeout_s"]; ok {
			timeout = string(raw)
		}
	}
	if timeout != "" {
		secs, err := strconv.ParseFloat(strings.Trim(timeout, `" `), 64)
		if err != nil || !(secs >= 0) {
			return j, oaierr.New(http.StatusBadRequest, "The queue timeout must be a number of seconds, 0 or more").WithParam("timeout_s")
		}
		// Longer waits than the gateway allows are clamped to its maximum.
		maxWait := x.p.cfg.MaxQueueTimeout
		if maxWait <= 0 {
			maxWait = 1 << 62 // no cap: as long as a Duration holds
		}
		secs = min(secs, maxWait.Seconds())
		j.Timeout = time.Duration(secs * float64(time.Second))
		if j.Timeout <= 0 {
			// 0 means "do not wait"; a scheduler reads a zero Timeout as its default.
			j.Timeout = time.Nanosecond
		}
	}
	for _, d := range deps {
		j.Candidates = append(j.Candidates, scheduler.Candidate{
			DeploymentID: d.ID, ModelID: d.ModelID, ProviderID: d.ProviderID, Capacity: d.Capacity(),
		})
	}
	return j, nil
}

func (x *exchange) scheduleError(ctx context.Context, err error, timeout time.Duration) *oaierr.Error {
	switch {
	case ctx.Err() != nil:
		return oaierr.New(statusClientClosed, "Client closed the request while it was queued")
	case errors.Is(err, scheduler.ErrQueueFull):
		e := oaierr.New(http.StatusServiceUnavailable, "No capacity: the queue for this model is full").WithCode("queue_full")
		e.RetryAfter = 1
		return e
	case errors.Is(err, scheduler.ErrQueueTimeout):
		e := oaierr.New(http.StatusServiceUnavailable, fmt.Sprintf("No capacity: queue wait timeout after %s", timeout)).WithCode(codeQueueTimeout)
		e.RetryAfter = 1
		return e
	default:
		x.p.log.Warn("scheduling failed", "request_id", x.rec.RequestID, "err", err)
		e := oaierr.New(http.StatusServiceUnavailable, "No capacity to serve this request").WithCode("no_capacity")
		e.RetryAfter = 1
		return e
	}
}

// maxTokens returns the request's output limit (max_tokens,
// max_completion_tokens or max_output_tokens, the first that holds a
// non-negative integer; null or anything else is skipped), capped at
// MaxInt32, or 0 when it states none. Schedulers read it as the job's
// expected length.
func maxTokens(req *Request) int64 {
	for _, f := range [...]string{"max_tokens", "max_completion_tokens", "max_output_tokens"} {
		raw, ok := req.Fields[f]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil && errors.Is(err, strconv.ErrRange) && len(raw) > 0 && raw[0] != '-' {
			n, err = math.MaxInt32, nil
		}
		if err != nil || n < 0 {
			continue
		}
		return min(n, math.MaxInt32)
	}
	return 0
}
