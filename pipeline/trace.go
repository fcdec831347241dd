package pipeline

import (
	"context"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// This file holds the OpenTelemetry traces of requests (Config.Tracer). A
// request's spans are kept in a reqTrace, which is nil when tracing is off:
// every hook below is a method on a nil-checked pointer, so a pipeline
// without a tracer does no work and allocates nothing for traces.
//
// The span tree of a forwarded request:
//
//	chat <model>            server: the whole request, joined to the
//	│                       caller's trace by its W3C traceparent
//	├── logos.auth          the Logos key and profile
//	├── logos.classify      the classifier's choice (policy-routed requests)
//	├── logos.queue         the scheduler's wait, one per lease
//	├── logos.upstream      client: one per attempt, its traceparent sent
//	│                       upstream; a retried request has several
//	└── logos.usage         the usage record handed to the (batched) writer
//
// Attributes follow the OpenTelemetry GenAI semantic conventions
// (gen_ai.*); Logos's own are logos.*. Keys, credentials and payloads are
// never recorded.

// tracerName names the instrumentation scope of Logos's spans.
const tracerName = "github.com/logos-llm/logos/pipeline"

// Attribute keys: the GenAI semantic conventions (not yet in a semconv
// package of the SDK), HTTP ones and Logos's own.
const (
	attrOperation    = attribute.Key("gen_ai.operation.name")
	attrProvider     = attribute.Key("gen_ai.provider.name")
	attrSystem       = attribute.Key("gen_ai.system") // the older name of gen_ai.provider.name
	attrRequestModel = attribute.Key("gen_ai.request.model")
	attrResponseMdl  = attribute.Key("gen_ai.response.model")
	attrMaxTokens    = attribute.Key("gen_ai.request.max_tokens")
	attrInputTokens  = attribute.Key("gen_ai.usage.input_tokens")
	attrOutputTokens = attribute.Key("gen_ai.usage.output_tokens")
	attrHTTPStatus   = attribute.Key("http.response.status_code")
	attrErrorType    = attribute.Key("error.type")
	attrServerAddr   = attribute.Key("server.address")
	attrRequestID    = attribute.Key("logos.request_id")
	attrClientReqID  = attribute.Key("logos.client_request_id")
	attrProcessID    = attribute.Key("logos.process_id")
	attrProfileID    = attribute.Key("logos.profile_id")
	attrStream       = attribute.Key("logos.stream")
	attrModel        = attribute.Key("logos.model")
	attrDeploymentID = attribute.Key("logos.deployment_id")
	attrProviderName = attribute.Key("logos.provider")
	attrTier         = attribute.Key("logos.tier")
	attrColdStart    = attribute.Key("logos.cold_start")
	attrQueueWaitMs  = attribute.Key("logos.queue_wait_ms")
	attrAttempt      = attribute.Key("logos.attempt")
	attrRetried      = attribute.Key("logos.retried")
	attrOutcome      = attribute.Key("logos.outcome")
	attrPolicyID     = attribute.Key("logos.policy_id")
	attrCandidates   = attribute.Key("logos.candidates")
)

// traceContext is the W3C Trace Context propagator: traceparent and
// tracestate in, and out to the upstream.
var traceContext propagation.TraceContext

// reqTrace is the spans of one request. A nil *reqTrace is tracing off;
// its methods then return at once.
type reqTrace struct {
	tracer trace.Tracer
	ctx    context.Context // holds root
	root   trace.Span
	auth   trace.Span
	queue  trace.Span
	up     trace.Span // the current upstream attempt
	// upModel is the model name the current attempt sent upstream: the
	// gen_ai.response.model of its answer (the relay does not parse the
	// name the answer gives).
	upModel string
	ended   bool
}

// startTrace begins the root span of a request and its authentication
// span, joined to the caller's trace when r carries a traceparent. It
// returns nil when tracing is off.
func (p *Pipeline) startTrace(r *http.Request, rt *Route) *reqTrace {
	if p.tracer == nil {
		return nil
	}
	ctx := traceContext.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	op := operationName(rt.Operation)
	ctx, root := p.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attrOperation.String(op),
		attrRequestID.String(rt.RequestID),
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", r.URL.Path),
	))
	if rt.ClientRequestID != "" {
		root.SetAttributes(attrClientReqID.String(rt.ClientRequestID))
	}
	t := &reqTrace{tracer: p.tracer, ctx: ctx, root: root}
	_, t.auth = p.tracer.Start(ctx, "logos.auth")
	return t
}

// authenticated ends the authentication span: the caller's process and
// profile when the key was valid, the refusal otherwise. A request refused
// before it has a usage record (no valid key) ends here.
func (t *reqTrace) authenticated(c Caller, e *oaierr.Error) {
	if t == nil {
		return
	}
	if c.Process != nil {
		t.root.SetAttributes(attrProcessID.Int64(c.Process.ID))
		t.auth.SetAttributes(attrProcessID.Int64(c.Process.ID))
	}
	if c.Profile != nil {
		t.root.SetAttributes(attrProfileID.Int64(c.Profile.ID))
	}
	if e != nil {
		setError(t.auth, e.Status, e.Code, e.Message)
	}
	t.auth.End()
	if e != nil && c.Process == nil {
		setError(t.root, e.Status, e.Code, e.Message)
		t.root.SetAttributes(attrHTTPStatus.Int(e.Status))
		t.root.End()
		t.ended = true
	}
}

// request names the root span after the operation and the model asked
// for, as the GenAI conventions do ("chat gpt-4o"), and records what the
// request asked.
func (t *reqTrace) request(req *Request) {
	if t == nil {
		return
	}
	op := operationName(req.Operation)
	if req.Model != "" {
		t.root.SetName(op + " " + req.Model)
		t.root.SetAttributes(attrRequestModel.String(req.Model))
	}
	t.root.SetAttributes(attrStream.Bool(req.Stream))
	if n := maxTokens(req); n > 0 {
		t.root.SetAttributes(attrMaxTokens.Int64(n))
	}
}

// startClassify begins the classification span and returns ctx carrying
// it, so that calls the classifier makes (the in-process embeddings request)
// join the trace below it. Untraced, ctx is returned as it is.
func (t *reqTrace) startClassify(ctx context.Context) (context.Context, trace.Span) {
	if t == nil {
		return ctx, nil
	}
	_, s := t.tracer.Start(t.ctx, "logos.classify")
	return trace.ContextWithSpan(ctx, s), s
}

// classified ends the classification span s: the policy, how many models
// passed, and the best one's id, or the error.
func (t *reqTrace) classified(s trace.Span, policyID int64, cands []classify.Candidate, err error) {
	if t == nil {
		return
	}
	s.SetAttributes(attrPolicyID.Int64(policyID), attrCandidates.Int(len(cands)))
	if len(cands) > 0 {
		s.SetAttributes(attribute.Int64("logos.model_id", cands[0].ModelID))
	}
	if err != nil {
		s.RecordError(err)
		s.SetStatus(codes.Error, "classification failed")
	}
	s.End()
}

// startQueue begins the span of a wait for the scheduler's lease.
func (t *reqTrace) startQueue(candidates int) {
	if t == nil {
		return
	}
	_, t.queue = t.tracer.Start(t.ctx, "logos.queue", trace.WithAttributes(attrCandidates.Int(candidates)))
}

// queued ends the queue span: the lease's deployment, tier and cold start,
// or the scheduler's refusal.
func (t *reqTrace) queued(lease *scheduler.Lease, dep *Deployment, err error) {
	if t == nil || t.queue == nil {
		return
	}
	q := t.queue
	t.queue = nil
	if lease != nil {
		if info := lease.Info(); info.Tier != "" {
			q.SetAttributes(attrTier.String(info.Tier))
		}
		q.SetAttributes(
			attrColdStart.Bool(lease.ColdStart()),
			attrQueueWaitMs.Float64(float64(lease.QueueWait().Microseconds())/1000),
		)
	}
	if dep != nil {
		q.SetAttributes(attrDeploymentID.Int64(dep.ID), attrProviderName.String(dep.Provider.Name))
		t.root.SetAttributes(
			attrModel.String(dep.Model.Name),
			attrProvider.String(providerName(dep.Provider.Kind)),
			attrSystem.String(providerName(dep.Provider.Kind)),
		)
	}
	if err != nil {
		q.RecordError(err)
		q.SetStatus(codes.Error, "no lease")
	}
	q.End()
}

// startUpstream begins the client span of one upstream attempt and puts
// its traceparent on the upstream request.
func (t *reqTrace) startUpstream(upReq *http.Request, req *Request, dep *Deployment, attempt int) {
	if t == nil {
		return
	}
	op := operationName(req.Operation)
	model := dep.UpstreamModel
	if model == "" {
		model = dep.Model.Name
	}
	ctx, s := t.tracer.Start(t.ctx, "logos.upstream", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attrOperation.String(op),
		attrProvider.String(providerName(dep.Provider.Kind)),
		attrSystem.String(providerName(dep.Provider.Kind)),
		attrRequestModel.String(model),
		attrStream.Bool(req.Stream),
		attrAttempt.Int(attempt),
		attrDeploymentID.Int64(dep.ID),
		attrProviderName.String(dep.Provider.Name),
		attrServerAddr.String(upReq.URL.Hostname()),
	))
	t.up, t.upModel = s, model
	traceContext.Inject(ctx, propagation.HeaderCarrier(upReq.Header))
}

// upstreamAnswered records the upstream's status, or the error of an
// attempt that got none.
func (t *reqTrace) upstreamAnswered(resp *http.Response, err error) {
	if t == nil || t.up == nil {
		return
	}
	if err != nil {
		t.up.RecordError(withoutURL(err))
		t.up.SetStatus(codes.Error, "no response from the provider")
		return
	}
	t.up.SetAttributes(attrHTTPStatus.Int(resp.StatusCode))
	if resp.StatusCode >= 400 {
		t.up.SetAttributes(attrErrorType.String(strconv.Itoa(resp.StatusCode)))
		t.up.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
}

// endUpstream ends the span of the attempt that just ended: whether
// another attempt follows, and the tokens its answer carried.
func (t *reqTrace) endUpstream(rec *store.UsageRecord, retried bool) {
	if t == nil || t.up == nil {
		return
	}
	s := t.up
	t.up = nil
	s.SetAttributes(attrRetried.Bool(retried))
	if !retried {
		if rec.Outcome == store.OutcomeSuccess {
			s.SetAttributes(attrResponseMdl.String(t.upModel))
			t.root.SetAttributes(attrResponseMdl.String(t.upModel))
		}
		setTokens(s, rec.Tokens)
		if rec.Outcome != store.OutcomeSuccess && rec.ErrorMessage != "" {
			s.SetStatus(codes.Error, rec.ErrorMessage)
		}
	}
	s.End()
}

// usage begins the span of the usage record's hand-off to the writer.
func (t *reqTrace) usage() trace.Span {
	if t == nil || t.ended {
		return nil
	}
	_, s := t.tracer.Start(t.ctx, "logos.usage")
	return s
}

// finish ends the usage span s and the root span with the request's
// outcome, as its usage record has it.
func (t *reqTrace) finish(s trace.Span, rec *store.UsageRecord, err error) {
	if t == nil || t.ended {
		return
	}
	t.ended = true
	// A whole (non-streaming) answer hands its record over before its
	// attempt ends: the attempt's span ends first, inside the root.
	t.endUpstream(rec, false)
	s.SetAttributes(attrRequestID.String(rec.RequestID), attrOutcome.String(string(rec.Outcome)))
	if err != nil {
		s.RecordError(err)
		s.SetStatus(codes.Error, "usage record not written")
	}
	s.End()
	r := t.root
	r.SetAttributes(attrHTTPStatus.Int(rec.StatusCode), attrOutcome.String(string(rec.Outcome)))
	if rec.Attempts > 0 {
		r.SetAttributes(attribute.Int("logos.attempts", rec.Attempts))
	}
	setTokens(r, rec.Tokens)
	if rec.Outcome != store.OutcomeSuccess {
		code := strconv.Itoa(rec.StatusCode)
		r.SetAttributes(attrErrorType.String(code))
		r.SetStatus(codes.Error, rec.ErrorMessage)
	}
	r.End()
}

// discard ends the root span of a request that leaves no usage record (a
// job submission accepted: its run is traced on its own).
func (t *reqTrace) discard() {
	if t == nil || t.ended {
		return
	}
	t.ended = true
	t.root.SetAttributes(attrOutcome.String("submitted"))
	t.root.End()
}

// setTokens records the input and output tokens of counts.
func setTokens(s trace.Span, counts []store.TokenCount) {
	for _, c := range counts {
		switch c.Type {
		case "prompt_tokens":
			s.SetAttributes(attrInputTokens.Int64(c.Count))
		case "completion_tokens":
			s.SetAttributes(attrOutputTokens.Int64(c.Count))
		}
	}
}

// setError marks s failed with an HTTP status and Logos's error code.
func setError(s trace.Span, status int, code, msg string) {
	et := code
	if et == "" {
		et = strconv.Itoa(status)
	}
	s.SetAttributes(attrHTTPStatus.Int(status), attrErrorType.String(et))
	s.SetStatus(codes.Error, msg)
}

// operationName is the GenAI operation name of a Logos operation: chat,
// text_completion, embeddings; other operations keep their path.
func operationName(op string) string {
	switch op {
	case "chat/completions", "api/chat":
		return "chat"
	case "completions", "api/generate":
		return "text_completion"
	case "embeddings", "api/embed", "api/embeddings":
		return "embeddings"
	case "responses":
		return "chat"
	case "":
		return "logos"
	}
	return op
}

// providerName is the GenAI provider name of a provider kind.
func providerName(k store.ProviderKind) string {
	switch k {
	case store.KindOpenAI:
		return "openai"
	case store.KindAzure:
		return "azure.ai.openai"
	}
	return string(k)
}
