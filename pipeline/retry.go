package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// Retry defaults, used where a model's store.RetryPolicy leaves a field zero.
const (
	// DefaultMaxAttempts is the default most upstream attempts per request.
	DefaultMaxAttempts = 3
	// DefaultRetryDeadline is the default time after the first attempt
	// began during which another may start.
	DefaultRetryDeadline = 30 * time.Second
	// defaultRetryBackoff is the default base of the jittered backoff
	// between attempts (Config.RetryBackoff).
	defaultRetryBackoff = 50 * time.Millisecond
	// maxRetryBackoff caps one backoff.
	maxRetryBackoff = time.Second
)

// errHeaderTimeout cancels an attempt whose response headers did not arrive
// within its model's attempt timeout.
var errHeaderTimeout = errors.New("no response headers within the attempt timeout")

// retryState is what a request keeps between its upstream attempts. It lives
// in the Exchange, so a request that never retries allocates nothing for it.
//
// An attempt that fails before any byte reached the client (a connection
// error, no headers within the attempt timeout, a 5xx or a 429) does not
// write its error when another attempt may follow: it keeps it here
// (pendingErr or pendingResp) and sets again; Forward then releases the
// attempt's lease and calls nextAttempt, which writes the kept error if no
// other deployment can be tried.
type retryState struct {
	job      scheduler.Job // the candidates left to try, best first
	deps     []*Deployment
	policy   store.RetryPolicy // defaults applied
	deadline time.Time         // no attempt starts after it
	again    bool              // the attempt failed and another may follow
	reason   string            // why, for the metric and log
	status   int               // the failed attempt's status, for its lease

	pendingErr  *oaierr.Error
	pendingResp *http.Response // body buffered

	// actx and cancel are the context of an attempt with a header
	// timeout, which its timer cancels with errHeaderTimeout.
	actx   context.Context
	cancel context.CancelCauseFunc
}

// beginRetries notes the scheduled job and its first deployment (hook in
// schedule).
func (x *exchange) beginRetries(job scheduler.Job, deps []*Deployment, dep *Deployment) {
	rs := &x.retry
	rs.job, rs.deps = job, deps
	rs.policy = dep.Model.Retry
	if rs.policy.MaxAttempts <= 0 {
		rs.policy.MaxAttempts = DefaultMaxAttempts
	}
	if rs.policy.Deadline <= 0 {
		rs.policy.Deadline = DefaultRetryDeadline
	}
	rs.deadline = x.p.cfg.Now().Add(rs.policy.Deadline)
}

// withoutOpenBreakers drops the deployments whose circuit breaker is open
// (see Breakers). When every deployment is, the request is refused with 503
// at once rather than sent to a backend known to be failing. It returns
// deps itself when it drops none.
func (x *exchange) withoutOpenBreakers(deps []*Deployment) ([]*Deployment, *oaierr.Error) {
	b := x.p.cfg.Breakers
	if !b.tracking() {
		return deps, nil
	}
	out := keep(b, x.p.cfg.Now(), deps, func(d *Deployment) int64 { return d.ID })
	if len(out) == 0 {
		e := oaierr.New(http.StatusServiceUnavailable, "Every deployment of this model is failing; Logos keeps requests away from them for a while").WithCode("upstream_unavailable")
		e.RetryAfter = int(max(b.coolOff/time.Second, 1))
		return nil, e
	}
	return out, nil
}

// send makes one upstream attempt (hook in execute): it counts it, tells
// the breakers, and bounds the wait for headers by the attempt timeout.
func (x *exchange) send(upReq *http.Request, dep *Deployment) (*http.Response, error) {
	x.rec.Attempts++
	x.retry.again, x.retry.pendingErr, x.retry.pendingResp = false, nil, nil
	if b := x.p.cfg.Breakers; b.tracking() {
		b.Begin(dep.ID, x.p.cfg.Now())
	}
	timeout := x.retry.policy.AttemptTimeout
	if timeout <= 0 {
		return x.p.cfg.Client.Do(upReq)
	}
	ctx, cancel := context.WithCancelCause(upReq.Context())
	x.retry.actx, x.retry.cancel = ctx, cancel
	timer := time.AfterFunc(timeout, func() { cancel(errHeaderTimeout) })
	resp, err := x.p.cfg.Client.Do(upReq.WithContext(ctx))
	if !timer.Stop() && err == nil {
		// The timer fired as the headers arrived: the body is cut off.
		resp.Body.Close()
		return nil, errHeaderTimeout
	}
	return resp, err
}

// endAttempt frees what send set up for the attempt's body.
func (x *exchange) endAttempt() {
	x.tr.endUpstream(&x.rec, x.retry.again)
	if x.retry.cancel != nil {
		x.retry.cancel(nil)
		x.retry.actx, x.retry.cancel = nil, nil
	}
}

// attemptFailed handles an attempt that got no response (hook in execute):
// it keeps the error for a later attempt, or writes it.
func (x *exchange) attemptFailed(w http.ResponseWriter, r *http.Request, req *Request, err error, dep *Deployment) {
	ctx := r.Context()
	if ctx.Err() != nil {
		x.p.cfg.Breakers.Abandoned(dep.ID)
		x.fail(w, req, x.transportError(ctx, err, dep))
		return
	}
	x.p.cfg.Breakers.Failed(dep.ID, x.p.cfg.Now())
	var e *oaierr.Error
	reason := "connect"
	var ne net.Error
	switch {
	case errors.Is(err, errHeaderTimeout) || (x.retry.actx != nil && errors.Is(context.Cause(x.retry.actx), errHeaderTimeout)):
		reason = "timeout"
		x.p.log.Warn("upstream sent no headers within the attempt timeout", "request_id", x.rec.RequestID, "provider", dep.Provider.Name, "timeout", x.retry.policy.AttemptTimeout)
		e = oaierr.New(http.StatusGatewayTimeout, "The provider did not answer in time").WithCode("upstream_timeout")
	default:
		if errors.As(err, &ne) && ne.Timeout() {
			reason = "timeout"
		}
		e = x.transportError(ctx, err, dep)
	}
	if x.mayRetry(dep) {
		x.retry.again, x.retry.reason, x.retry.status, x.retry.pendingErr = true, reason, e.Status, e
		return
	}
	x.fail(w, req, e)
}

// retryAnswer looks at an upstream response before anything of it reaches
// the client (hook in execute). A 5xx or 429 that another deployment may
// answer better is kept for later and reported true; anything else is left
// for the caller to relay.
func (x *exchange) retryAnswer(resp *http.Response, dep *Deployment) bool {
	b := x.p.cfg.Breakers
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		b.Abandoned(dep.ID)
	case resp.StatusCode >= 500:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if status, _, _ := upstreamError(resp.StatusCode, body); status < 500 {
			// A client mistake reported as a 5xx (vLLM's context
			// overflow): no deployment would answer it better.
			b.Succeeded(dep.ID)
			return false
		}
		b.Failed(dep.ID, x.p.cfg.Now())
	default:
		b.Succeeded(dep.ID)
		return false
	}
	if !x.mayRetry(dep) {
		return false
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	x.retry.again, x.retry.status, x.retry.pendingResp = true, resp.StatusCode, resp
	x.retry.reason = "status_5xx"
	if resp.StatusCode == http.StatusTooManyRequests {
		x.retry.reason = "status_429"
	}
	return true
}

// mayRetry reports whether another attempt may follow the one on dep: the
// model's attempt limit and deadline allow it and another candidate is left
// whose breaker is not open.
func (x *exchange) mayRetry(dep *Deployment) bool {
	rs := &x.retry
	now := x.p.cfg.Now()
	if x.checkOnly || x.rec.Attempts >= rs.policy.MaxAttempts || !now.Before(rs.deadline) {
		return false
	}
	for _, c := range keep(x.p.cfg.Breakers, now, rs.job.Candidates, candidateID) {
		if c.DeploymentID != dep.ID {
			return true
		}
	}
	return false
}

// candidateID is a candidate's deployment id.
func candidateID(c scheduler.Candidate) int64 { return c.DeploymentID }

// attemptOutcome is the scheduler outcome of a failed attempt that another
// follows.
func (x *exchange) attemptOutcome(latency time.Duration) scheduler.Outcome {
	return scheduler.Outcome{StatusCode: x.retry.status, Latency: latency, Err: errors.New("upstream attempt failed: " + x.retry.reason)}
}

// nextAttempt waits a jittered backoff and the scheduler's lease on the best
// candidate not yet tried, and returns it. When it reports false it has
// written the response: the last attempt's failure, or 499 when the client
// left.
func (x *exchange) nextAttempt(w http.ResponseWriter, r *http.Request, req *Request) (*scheduler.Lease, *Deployment, bool) {
	rs := &x.retry
	ctx := r.Context()
	failed := x.rec.DeploymentID
	now := x.p.cfg.Now()
	cands := make([]scheduler.Candidate, 0, len(rs.job.Candidates))
	for _, c := range keep(x.p.cfg.Breakers, now, rs.job.Candidates, candidateID) {
		if c.DeploymentID != failed {
			cands = append(cands, c)
		}
	}
	rs.job.Candidates = cands
	left := rs.deadline.Sub(now)
	if len(cands) == 0 || left <= 0 {
		x.writePending(w, req)
		return nil, nil, false
	}
	x.p.cfg.Metrics.Retried(rs.reason)
	x.p.log.Info("retrying the request on another deployment", "request_id", x.rec.RequestID, "failed_deployment", failed, "provider", x.rec.ProviderName, "reason", rs.reason, "attempt", x.rec.Attempts+1)
	if !sleepCtx(ctx, min(x.backoff(x.rec.Attempts), left)) {
		x.fail(w, req, oaierr.New(statusClientClosed, "Client closed the request"))
		return nil, nil, false
	}
	job := rs.job
	job.Timeout = max(min(job.Timeout, rs.deadline.Sub(x.p.cfg.Now())), time.Nanosecond)
	lease, err := x.acquire(ctx, job)
	if err != nil {
		if ctx.Err() != nil {
			x.fail(w, req, oaierr.New(statusClientClosed, "Client closed the request while it was queued"))
			return nil, nil, false
		}
		x.writePending(w, req)
		return nil, nil, false
	}
	dep := x.leased(w, lease, rs.deps)
	if dep == nil {
		x.writePending(w, req)
		return nil, nil, false
	}
	return lease, dep, true
}

// writePending writes the failure of the last attempt.
func (x *exchange) writePending(w http.ResponseWriter, req *Request) {
	rs := &x.retry
	switch {
	case rs.pendingResp != nil:
		x.setOverhead(w)
		x.relayError(w, req, rs.pendingResp)
	case rs.pendingErr != nil:
		x.fail(w, req, rs.pendingErr)
	default:
		x.fail(w, req, oaierr.New(http.StatusBadGateway, "The provider failed").WithCode("upstream_error"))
	}
	rs.pendingErr, rs.pendingResp = nil, nil
}

// backoff returns the jittered wait before the attempt after the n-th: half
// of base·2ⁿ⁻¹ (at most maxRetryBackoff) plus a random part up to as much.
func (x *exchange) backoff(n int) time.Duration {
	base := x.p.cfg.RetryBackoff
	if base < 0 {
		return 0
	}
	d := min(base<<min(max(n-1, 0), 10), maxRetryBackoff)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// sleepCtx waits d or until ctx ends, and reports whether ctx is still
// live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
