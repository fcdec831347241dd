package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/internal/jsonobj"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/pipeline/billing"
	"github.com/logos-llm/logos/pipeline/budget"
	"github.com/logos-llm/logos/pipeline/meter"
	"github.com/logos-llm/logos/pipeline/ratelimit"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// ModelStringPrefix starts a policy model string ("logos-v1__policy_...")
// that asks Logos to choose the model.
const ModelStringPrefix = classify.ModelStringPrefix

// Error codes Logos itself uses.
const (
	codeQueueTimeout = "queue_timeout"
	codeModel        = "model_not_found"
)

// Request is a parsed proxied request.
type Request struct {
	// Operation is the path below /v1 ("chat/completions") or, for the native
	// Ollama API, below / ("api/chat").
	Operation string
	// Native marks Ollama's own API: errors are {"error": "..."} and streams
	// are NDJSON.
	Native bool
	Method string
	// Body is the client's JSON object body (nil for body-less requests) and
	// Fields its top-level members, whose values are sub-slices of Body.
	Body   []byte
	Fields map[string]json.RawMessage
	// Model is the requested model name; Stream whether a stream was asked for.
	Model  string
	Stream bool
	Header http.Header
	Query  url.Values
}

// ParseBody checks that body is a JSON object and extracts the fields Logos
// reads: model (a string) and stream (a boolean). Native requests stream unless
// they say otherwise, as Ollama does. Bodies an upstream could read differently
// from Logos are refused with 400: a member that occurs twice, or one whose
// name equals a member Logos reads or strips (model, stream, stream_options,
// timeout_s, logos_…) when letter case is ignored but is not that member.
func ParseBody(body []byte, native bool) (Request, *oaierr.Error) {
	req := Request{Body: body, Stream: native}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, oaierr.New(http.StatusBadRequest, "Request body must be a JSON object").WithCode("invalid_json")
	}
	fields, dup, ok := jsonobj.Object(body)
	if !ok {
		return req, oaierr.New(http.StatusBadRequest, "Request body must be a JSON object").WithCode("invalid_json")
	}
	if e := checkMembers(fields, dup); e != nil {
		return req, e
	}
	req.Fields = fields
	if raw, ok := req.Fields["model"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &req.Model); err != nil {
			return req, oaierr.New(http.StatusBadRequest, "'model' must be a string").WithParam("model")
		}
	}
	if raw, ok := req.Fields["stream"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &req.Stream); err != nil {
			return req, oaierr.New(http.StatusBadRequest, "'stream' must be a boolean").WithParam("stream")
		}
	}
	return req, nil
}

// logosFields are body fields only Logos reads; they are never sent upstream.
var logosFields = map[string]bool{"timeout_s": true, "logos_key": true, "use_profile": true}

func isLogosField(name string) bool {
	return logosFields[name] || strings.HasPrefix(name, "logos_")
}

// Forward resolves, schedules and forwards req and relays the answer to w. It
// always writes a response (unless the client is gone) and fills the record.
//
// Forward, execute and relay stay on the stack of every open stream for its
// whole life, so they keep small frames: the checks before scheduling and the
// building of the upstream request live in functions that have returned by
// then (admit, upstreamRequest). At 5,000 open streams each KiB saved here
// keeps every stream's goroutine stack from doubling.
func (x *Exchange) Forward(w http.ResponseWriter, r *http.Request, req *Request) {
	lease, dep, ok := x.schedule(w, r, req)
	for ok {
		// retry hook: an attempt that failed before any byte reached the
		// client is followed by one on the next candidate (retry.go).
		if !x.attempt(w, r, req, lease, dep) {
			return
		}
		lease, dep, ok = x.nextAttempt(w, r, req)
	}
}

// attempt runs one upstream attempt on dep and releases its lease. It
// reports whether the attempt failed before anything reached the client and
// another may follow (retry.go).
func (x *Exchange) attempt(w http.ResponseWriter, r *http.Request, req *Request, lease *scheduler.Lease, dep *Deployment) bool {
	// Deferred, so that a panic below (recovered by net/http) still frees
	// the deployment's slot.
	var outcome scheduler.Outcome
	defer func() {
		x.endAttempt()
		lease.Release(outcome)
	}()
	started := x.p.cfg.Now()
	x.execute(w, r, req, dep)
	if x.retry.again {
		outcome = x.attemptOutcome(x.p.cfg.Now().Sub(started))
		return true
	}
	outcome = scheduler.Outcome{StatusCode: x.rec.StatusCode, Latency: x.p.cfg.Now().Sub(started), Tokens: x.totalTokens()}
	if x.rec.Outcome != store.OutcomeSuccess {
		outcome.Err = errors.New(x.rec.ErrorMessage)
	}
	return false
}

// schedule admits req and waits for the scheduler's lease on one of its
// deployments. When it reports false it has written the refusal and no lease
// is held.
func (x *Exchange) schedule(w http.ResponseWriter, r *http.Request, req *Request) (*scheduler.Lease, *Deployment, bool) {
	job, deps, ok := x.admit(w, r, req)
	if !ok {
		return nil, nil, false
	}
	lease, err := x.p.cfg.Scheduler.Acquire(r.Context(), job)
	if err != nil {
		x.fail(w, req, x.scheduleError(r.Context(), err, job.Timeout))
		return nil, nil, false
	}
	x.rec.QueueWait = lease.QueueWait()
	x.rec.ColdStart = lease.ColdStart()
	var dep *Deployment
	for _, d := range deps {
		if d.ID == lease.Candidate().DeploymentID {
			dep = d
		}
	}
	if dep == nil {
		// A scheduler granted a deployment that was not a candidate.
		x.fail(w, req, oaierr.New(http.StatusInternalServerError, "Internal server error"))
		lease.Release(scheduler.Outcome{Err: errors.New("lease for an unknown deployment")})
		return nil, nil, false
	}
	x.rec.DeploymentID, x.rec.ProviderID, x.rec.ProviderName = dep.ID, dep.Provider.ID, dep.Provider.Name
	x.chosen(w, dep)
	x.beginRetries(job, deps, dep) // retry hook
	return lease, dep, true
}

// admit runs every check that can refuse req before it is scheduled and
// returns the scheduling job and the usable deployments. When it reports
// false it has written the refusal.
func (x *Exchange) admit(w http.ResponseWriter, r *http.Request, req *Request) (scheduler.Job, []*Deployment, bool) {
	ctx := r.Context()
	x.rec.Stream = req.Stream
	x.SetRequestBody(req.Body)
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
	)
	if req.Model == "" || classify.IsModelString(req.Model) {
		// Resource mode: Logos chooses. A model string is never looked up
		// as a model name, even if a model were so named. Resource
		// operations are all known ones.
		if !resourceOperation(req) {
			x.fail(w, req, oaierr.New(http.StatusBadRequest, "Logos chooses models only for chat and text generation ("+req.Operation+" needs a model name)").WithParam("model").WithCode(codeInvalidModelString))
			return scheduler.Job{}, nil, false
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
	if e := x.admitBudget(ctx); e != nil {
		x.fail(w, req, e)
		return scheduler.Job{}, nil, false
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
func (x *Exchange) started() *oaierr.Error {
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
func (x *Exchange) usableDeployments(modelID int64, native bool) []*Deployment {
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
func (x *Exchange) withoutRateLimited(deps []*Deployment) []*Deployment {
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

// job builds the scheduling request: candidates, priority and queue timeout.
func (x *Exchange) job(r *http.Request, req *Request, deps []*Deployment) (scheduler.Job, *oaierr.Error) {
	j := scheduler.Job{RequestID: x.rec.RequestID, Timeout: x.p.cfg.QueueTimeout}
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
		secs = min(secs, x.p.cfg.MaxQueueTimeout.Seconds())
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

func (x *Exchange) scheduleError(ctx context.Context, err error, timeout time.Duration) *oaierr.Error {
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

// execute sends the request upstream and relays the answer.
func (x *Exchange) execute(w http.ResponseWriter, r *http.Request, req *Request, dep *Deployment) {
	upReq, inject, ok := x.upstreamRequest(w, r, req, dep)
	if !ok {
		return
	}
	if e := x.beforeForward(r.Context()); e != nil {
		x.fail(w, req, e)
		return
	}
	x.rec.ForwardedAt = x.p.cfg.Now()
	resp, err := x.send(upReq, dep) // retry hook: Client.Do with the attempt timeout
	if err != nil {
		x.attemptFailed(w, r, req, err, dep) // retry hook
		return
	}
	defer resp.Body.Close()
	if obs := x.p.cfg.Upstream; obs != nil {
		prov, _ := x.p.cfg.Providers.Lookup(string(dep.Provider.Kind))
		obs.ObserveResponse(dep.ID, dep.Provider.ID, dep.Provider.Name, prov, resp.StatusCode, resp.Header)
	}
	if x.retryAnswer(resp, dep) { // retry hook: a 5xx or 429 another deployment may answer
		return
	}
	x.setOverhead(w)

	if resp.StatusCode >= 400 {
		x.relayError(w, req, resp)
		return
	}
	x.relay(w, r, req, resp, inject)
}

// upstreamRequest builds the provider's request for req and reports whether
// stream usage was asked for on the client's behalf. When it reports false it
// has written the error.
func (x *Exchange) upstreamRequest(w http.ResponseWriter, r *http.Request, req *Request, dep *Deployment) (*http.Request, bool, bool) {
	prov, _ := x.p.cfg.Providers.Lookup(string(dep.Provider.Kind))
	upstreamModel := dep.UpstreamModel
	if upstreamModel == "" {
		upstreamModel = dep.Model.Name
	}
	inject := req.Stream && !req.Native && (req.Operation == "chat/completions" || req.Operation == "completions") && !clientAskedUsage(req.Fields)
	body, err := rewriteBody(req, upstreamModel, inject)
	if err != nil {
		x.fail(w, req, oaierr.New(http.StatusBadRequest, "Request body could not be rewritten").WithCode("invalid_json"))
		return nil, false, false
	}
	target := providers.Target{
		Kind:          string(dep.Provider.Kind),
		BaseURL:       dep.Provider.BaseURL,
		Endpoint:      dep.Endpoint,
		UpstreamModel: upstreamModel,
		APIVersion:    first(dep.APIVersion, dep.Provider.APIVersion),
		AuthHeader:    dep.Provider.AuthHeader,
		AuthFormat:    dep.Provider.AuthFormat,
		Credential:    first(dep.Credential, dep.Provider.Credential),
	}
	upReq, err := prov.NewRequest(r.Context(), target, providers.Call{
		Operation: req.Operation,
		Method:    req.Method,
		Body:      body,
		Header:    forwardHeaders(r.Header),
		Query:     req.Query,
	})
	if err != nil {
		x.p.log.Error("building upstream request failed", "request_id", x.rec.RequestID, "provider", dep.Provider.Name, "err", err)
		x.fail(w, req, oaierr.New(http.StatusBadGateway, "The provider cannot serve this operation").WithCode("upstream_error"))
		return nil, false, false
	}
	return upReq, inject, true
}

func (x *Exchange) transportError(ctx context.Context, err error, dep *Deployment) *oaierr.Error {
	if ctx.Err() != nil {
		return oaierr.New(statusClientClosed, "Client closed the request")
	}
	// url.Error carries the upstream URL; keep it out of client messages.
	detail := err
	var ue *url.Error
	if errors.As(err, &ue) {
		detail = ue.Err
	}
	x.p.log.Warn("upstream request failed", "request_id", x.rec.RequestID, "provider", dep.Provider.Name, "err", detail)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return oaierr.New(http.StatusGatewayTimeout, "The provider did not answer in time").WithCode("upstream_timeout")
	}
	// The detail names the upstream's address; it stays in the log.
	return oaierr.New(http.StatusBadGateway, "Could not reach the provider").WithCode("upstream_unreachable")
}

// relayError passes an upstream error on with its status, as an OpenAI-format
// error (keeping the provider's own OpenAI-shaped body), with its rate-limit
// headers.
func (x *Exchange) relayError(w http.ResponseWriter, req *Request, resp *http.Response) {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	status, verbatim, e := upstreamError(resp.StatusCode, body)
	for k, vs := range resp.Header {
		lk := strings.ToLower(k)
		switch {
		case lk == "retry-after" || lk == "retry-after-ms":
			w.Header()[k] = vs
		case strings.HasPrefix(lk, "x-ratelimit-") && len(w.Header().Values(k)) == 0:
			// Logos's own limits, when the key has some, win.
			w.Header()[k] = vs
		}
	}
	x.rec.StatusCode = status
	x.rec.ErrorMessage = e.Message
	x.rec.Outcome = store.OutcomeError
	x.rec.CompletedAt = x.p.cfg.Now()
	if x.full() {
		x.rec.ResponsePayload = body
		x.rec.ResponseHeaders = redactHeaders(resp.Header)
	}
	if verbatim && !req.Native {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	e.Status = status
	WriteError(w, e, req.Native)
}

// upstreamError maps an upstream error response to the status and error the
// client gets. An OpenAI-shaped body ({"error":{"message":...}}) is kept
// verbatim unless its status had to be corrected.
func upstreamError(status int, body []byte) (int, bool, *oaierr.Error) {
	var env struct {
		Error json.RawMessage `json:"error"`
		Msg   string          `json:"message"`
	}
	msg := ""
	verbatim := false
	upstreamCode := ""
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 {
		var obj struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		}
		var str string
		switch {
		case json.Unmarshal(env.Error, &obj) == nil && obj.Message != "":
			// Complete OpenAI errors pass verbatim; others (Azure's lack a
			// type) are normalised, keeping their message and code.
			msg, verbatim = obj.Message, obj.Type != ""
			if c, ok := obj.Code.(string); ok {
				upstreamCode = c
			}
		case json.Unmarshal(env.Error, &str) == nil:
			msg = str
		}
	} else if env.Msg != "" {
		msg = env.Msg
	}
	if msg == "" {
		msg = strings.TrimSpace(string(body))
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
	}
	e := oaierr.New(status, msg).WithCode(first(upstreamCode, "upstream_error"))
	if status >= 500 && contextLengthMessage(msg) {
		// vLLM and others answer 500 for context overflow; SDKs would retry it.
		status = http.StatusBadRequest
		e.Status = status
		e.Code = "context_length_exceeded"
		verbatim = false
	}
	return status, verbatim, e
}

func contextLengthMessage(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{"maximum context length", "context length", "context_length_exceeded", "context window", "too many tokens"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// relay streams a successful upstream answer to the client. Its frame is on
// the stack during the first flush, net/http's deepest point (see Forward),
// so the options are built and the outcome recorded in other functions.
func (x *Exchange) relay(w http.ResponseWriter, r *http.Request, req *Request, resp *http.Response, injected bool) {
	if responseFormat(resp, req) == meter.FormatJSON {
		x.relayWhole(w, r, req, resp, injected)
		return
	}
	dw := &deferredWriter{w: w, status: resp.StatusCode, timeout: x.p.cfg.WriteTimeout}
	res, err := meter.Relay(dw, resp.Body, x.relayOptions(w, r, req, resp, injected))
	x.relayed(w, r, req, resp, dw, &res, err)
	dw.clearDeadline()
}

// relayWhole relays a non-streaming answer: it reads the body completely
// (up to MaxResponseBytes) before the status is sent, so that an upstream
// breaking off mid-body becomes a 502 the client can retry, and the usage
// is parsed from the complete body.
func (x *Exchange) relayWhole(w http.ResponseWriter, r *http.Request, req *Request, resp *http.Response, injected bool) {
	body, first, err := readWhole(resp, x.p.cfg.MaxResponseBytes, x.p.cfg.Now)
	if err != nil {
		x.rec.CompletedAt = x.p.cfg.Now()
		x.rec.FirstTokenAt = first
		if r.Context().Err() != nil {
			x.fail(w, req, oaierr.New(statusClientClosed, "Client closed the request"))
			return
		}
		x.p.log.Warn("upstream answer broke off", "request_id", x.rec.RequestID, "provider", x.rec.ProviderName, "err", err)
		x.fail(w, req, oaierr.New(http.StatusBadGateway, "The provider's response broke off before it was complete: "+err.Error()).WithCode("upstream_error"))
		return
	}
	dw := &deferredWriter{w: w, status: resp.StatusCode, timeout: x.p.cfg.WriteTimeout}
	defer dw.clearDeadline()
	// The answer's last byte is held back (and nothing flushed) until the
	// usage record is handed over: with a usage log, a client that has the
	// whole answer has its record on disk, even if Logos dies right after.
	hw := &holdLastByte{w: dw}
	res, err := meter.Relay(hw, body, x.relayOptions(w, r, req, resp, injected))
	if !first.IsZero() {
		res.FirstByteAt = first
	}
	x.relayed(w, r, req, resp, dw, &res, err)
	x.End()
	_ = hw.release()
}

// holdLastByte passes writes on but for the last byte written, which
// release writes. It does not flush.
type holdLastByte struct {
	w    io.Writer
	b    [1]byte
	held bool
}

func (h *holdLastByte) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := h.release(); err != nil {
		return 0, err
	}
	if n, err := h.w.Write(p[:len(p)-1]); err != nil {
		return n, err
	}
	h.b[0], h.held = p[len(p)-1], true
	return len(p), nil
}

// release writes the held byte, if any.
func (h *holdLastByte) release() error {
	if !h.held {
		return nil
	}
	h.held = false
	_, err := h.w.Write(h.b[:])
	return err
}

// readWhole reads resp's body to its end and returns it as a reader, with
// the time its first byte arrived. The buffer is sized from Content-Length
// when there is one, and grows in steps otherwise. A body longer than limit
// is not held: the reader then returns what was read followed by the rest
// of the body as it arrives.
func readWhole(resp *http.Response, limit int64, now func() time.Time) (io.Reader, time.Time, error) {
	size := int64(4 << 10)
	if resp.ContentLength >= 0 {
		size = resp.ContentLength + 1 // room to see io.EOF without growing
	}
	buf := make([]byte, 0, min(size, limit))
	var first time.Time
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= limit {
				return io.MultiReader(bytes.NewReader(buf), resp.Body), first, nil
			}
			buf = append(buf, 0)[:len(buf)]
			buf = buf[:len(buf):min(cap(buf), int(limit))]
		}
		n, err := resp.Body.Read(buf[len(buf):cap(buf)])
		if n > 0 && first.IsZero() {
			first = now()
		}
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return bytes.NewReader(buf), first, nil
		}
		if err != nil {
			return nil, first, err
		}
	}
}

// relayOptions returns the metering options for resp and sets the client's
// response headers from it.
func (x *Exchange) relayOptions(w http.ResponseWriter, r *http.Request, req *Request, resp *http.Response, injected bool) meter.Options {
	format := responseFormat(resp, req)
	opts := meter.Options{Format: format, DropInjectedUsage: injected, Now: x.p.cfg.Now}
	if wantsCost(r.Header) {
		opts.AddToUsage = x.costMembers
	}
	// A body that gets cost members is longer than the upstream said.
	copyResponseHeaders(w.Header(), resp.Header, format == meter.FormatJSON && opts.AddToUsage == nil)
	if x.full() {
		opts.CaptureLimit = x.p.cfg.CaptureLimit
	}
	return opts
}

// relayed records the outcome of a relay and, when the upstream broke off
// before any byte reached the client, writes the error.
func (x *Exchange) relayed(w http.ResponseWriter, r *http.Request, req *Request, resp *http.Response, dw *deferredWriter, res *meter.Result, err error) {
	x.rec.CompletedAt = x.p.cfg.Now()
	x.rec.FirstTokenAt = res.FirstByteAt
	x.rec.Tokens = tokenCounts(res.Usage)
	if x.full() {
		x.rec.ResponsePayload = res.Captured
		x.rec.ResponseHeaders = redactHeaders(resp.Header)
	}
	switch {
	// A client that hung up after the end of the answer reached it, before
	// the upstream closed the stream (OpenAI's clients stop reading at
	// "data: [DONE]"), lost nothing: the request succeeded.
	case err == nil, res.SawDone && r.Context().Err() != nil && !errors.Is(err, meter.ErrClient):
		if !dw.started {
			dw.start()
		}
		x.rec.StatusCode = resp.StatusCode
		x.rec.Outcome = store.OutcomeSuccess
	case r.Context().Err() != nil || errors.Is(err, meter.ErrClient):
		x.rec.StatusCode = statusClientClosed
		x.rec.Outcome = store.OutcomeCancelled
		x.rec.ErrorMessage = "client closed the connection during the response"
	default:
		x.rec.Outcome = store.OutcomeError
		x.rec.ErrorMessage = err.Error()
		if !dw.started {
			// Nothing was sent yet: the client gets a real error status
			// rather than a 200 with an empty body.
			x.rec.StatusCode = http.StatusBadGateway
			WriteError(w, oaierr.New(http.StatusBadGateway, "The provider's response broke off before any data").WithCode("upstream_error"), req.Native)
			return
		}
		x.rec.StatusCode = resp.StatusCode
	}
}

// fail records e and writes it unless the client is gone.
func (x *Exchange) fail(w http.ResponseWriter, req *Request, e *oaierr.Error) {
	x.Fail(e)
	if e.Status == statusClientClosed {
		return
	}
	WriteError(w, e, req.Native)
}

// WriteError writes e in the OpenAI format, or in Ollama's {"error": "..."}
// format for the native API.
func WriteError(w http.ResponseWriter, e *oaierr.Error, native bool) {
	if !native {
		oaierr.Write(w, e)
		return
	}
	b, _ := json.Marshal(map[string]string{"error": e.Message})
	w.Header().Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(b, '\n'))
}

func (x *Exchange) totalTokens() int64 {
	var n int64
	for _, t := range x.rec.Tokens {
		if t.Type == "prompt_tokens" || t.Type == "completion_tokens" {
			n += t.Count
		}
	}
	return n
}

func tokenCounts(u meter.Tokens) []store.TokenCount {
	if len(u) == 0 {
		return nil
	}
	out := make([]store.TokenCount, 0, len(u))
	for k, v := range u {
		out = append(out, store.TokenCount{Type: k, Count: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

func responseFormat(resp *http.Response, req *Request) meter.Format {
	f := meter.FormatForContentType(resp.Header.Get("Content-Type"))
	if f == meter.FormatJSON && req.Native && req.Stream {
		// Ollama streams NDJSON whatever its Content-Type says.
		return meter.FormatNDJSON
	}
	return f
}

// clientAskedUsage reports whether the body already asks for stream usage.
func clientAskedUsage(fields map[string]json.RawMessage) bool {
	raw, ok := fields["stream_options"]
	if !ok {
		return false
	}
	var so struct {
		IncludeUsage bool `json:"include_usage"`
	}
	return json.Unmarshal(raw, &so) == nil && so.IncludeUsage
}

// rewriteBody returns the body to send upstream: the model renamed to the
// upstream's name, Logos-only fields removed and, when inject is set,
// stream_options.include_usage turned on. Every other field passes through
// with its exact value; an unchanged body is sent byte for byte.
func rewriteBody(req *Request, upstreamModel string, inject bool) ([]byte, error) {
	if req.Fields == nil {
		return req.Body, nil
	}
	changed := false
	fields := make(map[string]json.RawMessage, len(req.Fields)+1)
	for k, v := range req.Fields {
		if isLogosField(k) {
			changed = true
			continue
		}
		fields[k] = v
	}
	if upstreamModel != req.Model {
		b, err := json.Marshal(upstreamModel)
		if err != nil {
			return nil, err
		}
		fields["model"] = b
		changed = true
	}
	if inject {
		so := map[string]json.RawMessage{}
		if raw, ok := fields["stream_options"]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &so); err != nil {
				so = map[string]json.RawMessage{}
			}
		}
		so["include_usage"] = json.RawMessage("true")
		b, err := marshalNoEscape(so)
		if err != nil {
			return nil, err
		}
		fields["stream_options"] = b
		changed = true
	}
	if !changed {
		return req.Body, nil
	}
	return marshalNoEscape(fields)
}

func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// hopHeaders are connection-level headers never forwarded in either direction.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Proxy-Connection": true,
}

// forwardedRequestHeaders are the client request headers sent upstream, by
// canonical name, and forwardedHeaderPrefixes add the OpenAI SDKs' telemetry
// headers. Every other header is dropped: credentials (the provider's own are
// set by the provider), billing selectors such as OpenAI-Organization and
// OpenAI-Project (the gateway's account decides those), X-Forwarded-*,
// Forwarded, method overrides, cookies, Logos's own headers and any header
// the client names in Connection. Content-Type and Content-Length are set by
// Logos. README.md lists them; keep the two in step.
var forwardedRequestHeaders = map[string]bool{
	"Accept": true, "Accept-Language": true, "User-Agent": true, "Openai-Beta": true, "Idempotency-Key": true,
}

var forwardedHeaderPrefixes = []string{"X-Stainless-"}

// forwardHeaders returns the client headers sent upstream: those on the
// allowlist (forwardedRequestHeaders, forwardedHeaderPrefixes) that the
// Connection header does not name.
func forwardHeaders(h http.Header) http.Header {
	out := make(http.Header, 4)
	for k, vs := range h {
		ck := http.CanonicalHeaderKey(k)
		if !forwardedRequestHeaders[ck] && !hasAnyPrefix(ck, forwardedHeaderPrefixes) {
			continue
		}
		if connectionNames(h, ck) {
			continue
		}
		out[ck] = vs
	}
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// connectionNames reports whether the Connection header of h names the
// header name (canonical): such headers are for this hop only.
func connectionNames(h http.Header, name string) bool {
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				return true
			}
		}
	}
	return false
}

// copyResponseHeaders copies upstream response headers to the client, except
// connection headers (and those Connection names), Set-Cookie, and headers Logos has set itself (its request id and its
// own rate-limit headers win over the provider account's). The upstream's
// request id is kept as X-Upstream-Request-Id.
func copyResponseHeaders(dst, src http.Header, keepLength bool) {
	for k, vs := range src {
		switch {
		case hopHeaders[k], k == "Set-Cookie", k == "Set-Cookie2", connectionNames(src, k):
			// Cookies are the provider account's session, not the client's.
		case len(dst.Values(k)) > 0 && !strings.EqualFold(k, "X-Request-Id"):
		case k == "Content-Length" && !keepLength:
		case strings.EqualFold(k, "X-Request-Id"):
			dst["X-Upstream-Request-Id"] = vs
		default:
			dst[k] = vs
		}
	}
}

func header(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// deferredWriter delays the response status until the first byte of the body,
// so an upstream that fails before sending anything still gets a real error
// status instead of a 200 with an empty body. With a timeout it renews the
// connection's write deadline before every write, so a client that stops
// reading is cut off after timeout instead of holding its deployment slot.
type deferredWriter struct {
	w        http.ResponseWriter
	status   int
	started  bool
	timeout  time.Duration
	rc       *http.ResponseController
	deadline bool // a write deadline was set
}

func (d *deferredWriter) start() {
	d.started = true
	d.w.WriteHeader(d.status)
}

// renew moves the write deadline timeout ahead of now.
func (d *deferredWriter) renew() {
	if d.timeout <= 0 {
		return
	}
	if d.rc == nil {
		d.rc = http.NewResponseController(d.w)
	}
	if d.rc.SetWriteDeadline(time.Now().Add(d.timeout)) == nil {
		d.deadline = true
	}
}

// clearDeadline removes the write deadline, so the next request on a
// keep-alive connection does not inherit it.
func (d *deferredWriter) clearDeadline() {
	if d.deadline {
		_ = d.rc.SetWriteDeadline(time.Time{})
	}
}

func (d *deferredWriter) Write(p []byte) (int, error) {
	if !d.started {
		d.start()
	}
	d.renew()
	return d.w.Write(p)
}

// Flush implements http.Flusher.
func (d *deferredWriter) Flush() {
	if !d.started {
		return
	}
	if f, ok := d.w.(http.Flusher); ok {
		f.Flush()
	} else {
		_ = http.NewResponseController(d.w).Flush()
	}
}

// setOverhead sets X-Logos-Overhead-Ms: the time Logos spent on the request
// before forwarding it (authentication, body checks, routing, scheduling
// decisions; not the queue wait nor the upstream's time), in milliseconds. It
// is set when the upstream answers, before the response starts.
func (x *Exchange) setOverhead(w http.ResponseWriter) {
	d := max(x.rec.ForwardedAt.Sub(x.rec.ReceivedAt)-x.rec.QueueWait, 0)
	x.p.cfg.Metrics.ObserveOverhead(d)
	w.Header().Set("X-Logos-Overhead-Ms", strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64))
}

// admitRate applies the caller's rate limits (per model, then per process),
// sets the x-ratelimit-* headers and returns a 429 when a limit is reached.
func (x *Exchange) admitRate(ctx context.Context, w http.ResponseWriter, model string) *oaierr.Error {
	lim := x.p.cfg.Limiter
	pl, ok := x.caller.Catalog.limits[x.caller.Process.ID]
	if lim == nil || !ok {
		return nil
	}
	var d ratelimit.Decision
	admitted := false
	for _, k := range []ratedKey{
		{ratelimit.Key(x.caller.Process.ID, model), pl.models[model]},
		{ratelimit.Key(x.caller.Process.ID, ""), pl.process},
	} {
		if k.limits.IsZero() {
			continue
		}
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

// wantsCost reports whether the client asked for usage.cost in the response
// (header Logos-Include-Cost: true).
func wantsCost(h http.Header) bool {
	v := strings.ToLower(strings.TrimSpace(header(h, "Logos-Include-Cost", "logos_include_cost")))
	return v == "true" || v == "1" || v == "yes"
}

// costMembers prices usage the relay found and returns the JSON members
// "cost" (in currency units) and "cost_currency" to add to it, or nil when
// nothing is priced.
func (x *Exchange) costMembers(u meter.Tokens) []byte {
	_, total, currency, err := x.caller.Catalog.Prices().Cost(x.rec.ReceivedAt, x.rec.ModelID, x.rec.ProviderID, tokenCounts(u))
	if err != nil || currency == "" {
		return nil
	}
	cur, _ := json.Marshal(currency)
	return fmt.Appendf(nil, `"cost":%s,"cost_currency":%s`, billing.FormatMicros(total), cur)
}

// admitBudget holds the request's estimated cost against the budgets of its
// process and user; a request that would run over gets 402. Requests in flight
// count, so a burst overshoots by at most what its requests cost beyond their
// estimates. A store failure admits the request (and is logged).
func (x *Exchange) admitBudget(ctx context.Context) *oaierr.Error {
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
