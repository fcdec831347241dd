package pipeline

import (
	"context"
	"fmt"
	"net/http"

	"github.com/logos-llm/logos/internal/oaierr"
)

// beforeForwardKey keys the hook WithBeforeForward installs.
type beforeForwardKey struct{}

// WithBeforeForward returns ctx with a hook that Serve calls just before it
// sends the request upstream, with the request's id. When the hook returns
// an error the request is not sent and the client gets a 503. Asynchronous
// jobs use it to record durably that a job reached the upstream, so a job is
// never sent twice.
func WithBeforeForward(ctx context.Context, hook func(ctx context.Context, requestID string) error) context.Context {
	return context.WithValue(ctx, beforeForwardKey{}, hook)
}

// beforeForward runs the hook of ctx, if any.
func (x *exchange) beforeForward(ctx context.Context) *oaierr.Error {
	hook, _ := ctx.Value(beforeForwardKey{}).(func(context.Context, string) error)
	if hook == nil {
		return nil
	}
	if err := hook(ctx, x.rec.RequestID); err != nil {
		if ctx.Err() != nil {
			return oaierr.New(statusClientClosed, "Client closed the request")
		}
		x.p.log.Warn("request not forwarded: its hook failed", "request_id", x.rec.RequestID, "err", err)
		return oaierr.New(http.StatusServiceUnavailable, "The job could not be recorded as sent; it was not forwarded").WithCode("job_state_unavailable")
	}
	return nil
}

// callerByID returns the Caller of a process and profile known by id (the
// identity an asynchronous job was submitted with), checked like a key: the
// process must exist with an unrevoked key and the profile must be its own.
func (p *Pipeline) callerByID(processID, profileID int64) (Caller, *oaierr.Error) {
	cat := p.catalog.Load()
	proc, ok := cat.Process(processID)
	if !ok {
		return Caller{}, oaierr.New(http.StatusUnauthorized, "The key this job was submitted with no longer exists").WithCode("invalid_api_key")
	}
	if !proc.RevokedAt.IsZero() {
		return Caller{}, oaierr.New(http.StatusUnauthorized, "The key this job was submitted with has been revoked").WithCode("invalid_api_key")
	}
	c := Caller{Process: proc, Catalog: cat}
	prof, ok := cat.Profile(profileID)
	if !ok || prof.ProcessID != proc.ID {
		return c, oaierr.New(http.StatusForbidden, fmt.Sprintf("Profile %d of this job no longer exists", profileID)).WithParam("use-profile")
	}
	c.Profile = prof
	return c, nil
}

// discard ends the exchange without a usage record: for a request that
// leaves its record later, elsewhere (an accepted job submission, whose
// execution records the job's usage). Only the first call of End or discard
// has an effect.
func (x *exchange) discard() {
	x.once.Do(func() {
		x.tr.discard()
		x.spend.Complete(0)
		x.p.cfg.Metrics.RequestDiscarded()
		x.p.inFlight.Add(-1)
	})
}

// check runs every check of admission that holds nothing: the operation,
// the model (named, permitted and deployed) and the scheduling options
// (priority, queue timeout), exactly as forward would, but not budgets and
// rate limits, which apply when the request runs. A job submission passes it
// before the job is stored, so it gets the same 4xx a synchronous request
// would. When it reports false it has recorded and written the refusal.
func (x *exchange) check(w http.ResponseWriter, r *http.Request, req *Request) bool {
	x.checkOnly = true
	defer func() { x.checkOnly = false }()
	_, _, ok := x.admit(w, r, req)
	return ok
}
