package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/pipeline/budget"
	"github.com/logos-llm/logos/pipeline/ratelimit"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// admit runs every check that can refuse req before it is scheduled and
// returns the scheduling job and the usable deployments. When it reports
// false it has written the refusal.
func (x *exchange) admit(w http.ResponseWriter, r *http.Request, req *Request) (scheduler.Job, []*Deployment, bool) {
	ctx := r.Context()
	x.rec.Stream = req.Stream
	x.tr.request(req)
	x.setRequestBody(req.Body)
	known := req.Native || knownOperation(req.Operation)
	if !known && !x.caller.Catalog.anyProviderAllows(req.Operation) {
		x.fail(w, req, unknownOperation(req))
		return scheduler.Job{}, nil, false
	}
	if req.Model == "" && !resourceOperation(req) {
		x.fail(w, req, oaierr.New(http.StatusBadRequest, "'model' is required").WithParam("model"))
		return scheduler.Job{}, nil, false
	}
	rp, e := x.resolvePolicy(r, req)
	if e != nil {
		x.fail(w, req, e)
		return scheduler.Job{}, nil, false
	}
	var (
		deps      []*Deployment
		weights   map[int64]float64
		rateModel string
		budgeted  bool // admitted against the budgets already
	)
	if req.Model == "" || classify.IsModelString(req.Model) {
		// Resource mode: Logos chooses. A model string is never looked up
		// as a model name, even if a model were so named. Resource
		// operations are all known ones.
		if !resourceOperation(req) {
			x.fail(w, req, oaierr.New(http.StatusBadRequest, "Logos chooses models only for chat and text generation ("+req.Operation+" needs a model name)").WithParam("model").WithCode(codeInvalidModelString))
			return scheduler.Job{}, nil, false
		}
		// Classifying may cost an embeddings call: a caller over budget is
		// refused before it. Budgets are per process and user, so the model
		// Logos would choose does not matter. The reservation is released
		// by End (or discard) if a later check refuses the request.
		x.rec.PolicyID = rp.policy.ID
		if !x.checkOnly {
			if e := x.admitBudget(ctx); e != nil {
				x.fail(w, req, e)
				return scheduler.Job{}, nil, false
			}
			budgeted = true
		}
		var ok bool
		if deps, weights, rateModel, ok = x.classify(ctx, w, req, rp); !ok {
			return scheduler.Job{}, nil, false
		}
	} else {
		m, ok := x.caller.Model(req.Model)
		if !ok {
			x.fail(w, req, oaierr.New(http.StatusNotFound, fmt.Sprintf("The model '%s' does not exist or you do not have access to it", req.Model)).WithParam("model").WithCode(codeModel))
			return scheduler.Job{}, nil, false
		}
		x.rec.ModelID, x.rec.ModelName = m.ID, m.Name
		if e := x.guardrail(rp, m); e != nil {
			x.fail(w, req, e)
			return scheduler.Job{}, nil, false
		}
		deps = x.usableDeployments(m.ID, req.Native)
		if !known {
			deps = slices.DeleteFunc(deps, func(d *Deployment) bool { return !allowsOperation(d.Provider, req.Operation) })
			if len(deps) == 0 {
				x.fail(w, req, unknownOperation(req))
				return scheduler.Job{}, nil, false
			}
		}
		if len(deps) == 0 {
			msg := fmt.Sprintf("No deployment serves the model '%s'", m.Name)
			if req.Native {
				msg = fmt.Sprintf("The model '%s' is not served by an Ollama provider; use the OpenAI-compatible /v1 API", m.Name)
			}
			x.fail(w, req, oaierr.New(http.StatusServiceUnavailable, msg).WithParam("model").WithCode("model_not_deployed"))
			return scheduler.Job{}, nil, false
		}
		rateModel = m.Name
	}

	deps = x.withoutRateLimited(deps)
	deps, e = x.withoutOpenBreakers(deps) // retry hook (breaker.go)
	if e != nil {
		x.fail(w, req, e)
		return scheduler.Job{}, nil, false
	}
	job, e := x.job(r, req, deps)
	if e != nil {
		x.fail(w, req, e)
		return scheduler.Job{}, nil, false
	}
	weigh(&job, weights)
	if x.checkOnly {
		// Check: the request would be scheduled; nothing is held for it.
		return job, deps, true
	}
	if e := x.started(); e != nil {
		x.fail(w, req, e)
		return scheduler.Job{}, nil, false
	}
	if !budgeted {
		if e := x.admitBudget(ctx); e != nil {
			x.fail(w, req, e)
			return scheduler.Job{}, nil, false
		}
	}
	// After every check that can refuse the request, so a refused request
	// never uses up a rate-limit permit.
	if e := x.admitRate(ctx, w, rateModel); e != nil {
		x.fail(w, req, e)
		return scheduler.Job{}, nil, false
	}
	return job, deps, true
}

// unknownOperation is the 404 for an operation no provider of the request
// may serve.
func unknownOperation(req *Request) *oaierr.Error {
	return oaierr.New(http.StatusNotFound, "Unknown path /v1/"+req.Operation+": Logos forwards only the operations it knows, and those an admin enabled for a provider").WithCode("unknown_url")
}

// started tells the usage sink, if it keeps a log, that the request is about
// to be forwarded. It refuses the request when the sink cannot take note.
func (x *exchange) started() *oaierr.Error {
	s, ok := x.p.cfg.Usage.(UsageStarter)
	if !ok {
		return nil
	}
	if err := s.Started(&x.rec); err != nil {
		x.p.log.Warn("request refused: its usage cannot be recorded", "request_id", x.rec.RequestID, "err", err)
		e := oaierr.New(http.StatusServiceUnavailable, "Logos cannot record usage right now (its usage log is full while the database is unavailable); try again later").WithCode("usage_log_full")
		e.RetryAfter = 5
		return e
	}
	return nil
}

// usableDeployments returns a model's deployments whose provider kind is
// registered (and, for native requests, that speak Ollama).
func (x *exchange) usableDeployments(modelID int64, native bool) []*Deployment {
	var out []*Deployment
	for _, d := range x.caller.Catalog.Deployments(modelID) {
		if _, ok := x.p.cfg.Providers.Lookup(string(d.Provider.Kind)); !ok {
			continue
		}
		if native && d.Provider.Kind != store.KindOllama {
			continue
		}
		out = append(out, d)
	}
	return out
}

// withoutRateLimited drops the deployments whose upstream is rate limited
// (see Config.RateLimits), unless all are: then the scheduler chooses among
// all of them, as it would without the information. It returns deps itself
// when it drops none.
func (x *exchange) withoutRateLimited(deps []*Deployment) []*Deployment {
	rl := x.p.cfg.RateLimits
	if rl == nil || len(deps) < 2 {
		return deps
	}
	now := x.p.cfg.Now()
	first := -1
	for i, d := range deps {
		if rl.RateLimited(d.ID, now) {
			first = i
			break
		}
	}
	if first < 0 {
		return deps
	}
	// Judged once per deployment, so a state changing meanwhile cannot
	// leave the request without candidates.
	out := make([]*Deployment, 0, len(deps)-1)
	out = append(out, deps[:first]...)
	for _, d := range deps[first+1:] {
		if !rl.RateLimited(d.ID, now) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return deps
	}
	return out
}

// admitRate applies the caller's rate limits (per model, then per process),
// sets the x-ratelimit-* headers and returns a 429 when a limit is reached.
func (x *exchange) admitRate(ctx context.Context, w http.ResponseWriter, model string) *oaierr.Error {
	lim := x.p.cfg.Limiter
	pl, ok := x.caller.Catalog.limits[x.caller.Process.ID]
	if lim == nil || !ok {
		return nil
	}
	var d ratelimit.Decision
	admitted := false
	for _, scope := range [...]struct {
		model  string
		limits ratelimit.Limits
	}{{model, pl.models[model]}, {"", pl.process}} {
		if scope.limits.IsZero() {
			continue
		}
		k := ratedKey{ratelimit.Key(x.caller.Process.ID, scope.model), scope.limits}
		kd, err := lim.Admit(ctx, k.key, k.limits)
		if ctx.Err() != nil {
			return oaierr.New(statusClientClosed, "Client closed the request")
		}
		if err != nil && kd.Allowed {
			// Failing open: the limiter logged the store error.
			x.p.log.Debug("rate limit store unavailable; request admitted", "request_id", x.rec.RequestID)
		}
		if admitted {
			d = d.Merge(kd)
		} else {
			d, admitted = kd, true
		}
		if !kd.Allowed {
			break
		}
		x.rated = append(x.rated, k)
	}
	if !admitted {
		return nil
	}
	d.SetHeaders(w.Header())
	if d.Allowed {
		return nil
	}
	x.p.cfg.Metrics.RateLimited()
	e := oaierr.New(http.StatusTooManyRequests, "Rate limit reached for this key; retry after the time in Retry-After").WithCode("rate_limit_exceeded")
	e.RetryAfter = int(max((d.RetryAfter+time.Second-1)/time.Second, 1))
	return e
}

// admitBudget holds the request's estimated cost against the budgets of its
// process and user; a request that would run over gets 402. Requests in flight
// count, so a burst overshoots by at most what its requests cost beyond their
// estimates. A store failure admits the request (and is logged).
func (x *exchange) admitBudget(ctx context.Context) *oaierr.Error {
	t := x.p.cfg.Budgets
	if t == nil {
		return nil
	}
	p := x.caller.Process
	res, err := t.Admit(ctx, p.ID, p.UserID, t.EstimateFor(p.ID))
	switch {
	case errors.Is(err, budget.ErrOverBudget):
		x.p.cfg.Metrics.BudgetRefused()
		return oaierr.New(http.StatusPaymentRequired, "Budget exhausted: "+err.Error()).WithCode("budget_exceeded")
	case err != nil:
		x.p.log.Warn("budget check failed; request admitted", "request_id", x.rec.RequestID, "err", err)
	}
	x.spend = res
	return nil
}
