package logos_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/store"
)

// The caller's trace: a request carrying this traceparent has its spans in
// trace callerTraceID, below the caller's span callerSpanID.
const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
	callerParent  = "00-" + callerTraceID + "-" + callerSpanID + "-01"
)

// tracedEnv is an env whose Router traces into an in-memory exporter.
func tracedEnv(t *testing.T) (*env, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	e := newEnv(t, func(c *logos.Config) { c.TracerProvider = tp })
	return e, exp
}

// parentSeen is an upstream's record of the traceparent headers it got.
type parentSeen struct {
	mu  sync.Mutex
	got []string
}

func (p *parentSeen) add(r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, r.Header.Get("Traceparent"))
}

func (p *parentSeen) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

// sseUpstream streams the shared Azure/OpenAI fixture (15 prompt and 10
// completion tokens in its last chunk) as model, and notes traceparents.
func sseUpstream(t *testing.T, model string, seen *parentSeen) *upstream {
	body := providertest.WithModel(providertest.SharedFixture(t, "azure_streaming.txt"), model)
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		seen.add(r)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(body)
	})
}

// rootSpan waits for the request's server span (it ends when the usage
// record is handed over, after the answer reached the client) and returns
// every span of its trace.
func rootSpan(e *env, exp *tracetest.InMemoryExporter) (tracetest.SpanStub, []tracetest.SpanStub) {
	e.t.Helper()
	var root tracetest.SpanStub
	e.waitFor("the request's server span", func() bool {
		for _, s := range exp.GetSpans() {
			if s.SpanKind == trace.SpanKindServer {
				root = s
				return true
			}
		}
		return false
	})
	var all []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID() == root.SpanContext.TraceID() {
			all = append(all, s)
		}
	}
	return root, all
}

// children returns the spans whose parent is p, in start order.
func children(spans []tracetest.SpanStub, p tracetest.SpanStub) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if s.Parent.SpanID() == p.SpanContext.SpanID() && s.SpanContext.SpanID() != p.SpanContext.SpanID() {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	return out
}

func names(spans []tracetest.SpanStub) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

func attr(s tracetest.SpanStub, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// wantAttrs checks s's attributes against want (values compared as
// strings, as String prints them).
func wantAttrs(t *testing.T, s tracetest.SpanStub, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := attr(s, k)
		if !ok {
			t.Errorf("span %s: no attribute %s (want %s)", s.Name, k, v)
			continue
		}
		if got.String() != v {
			t.Errorf("span %s: %s = %s, want %s", s.Name, k, got.String(), v)
		}
	}
}

// logTree logs the span tree below root with durations, status and
// attributes.
func logTree(t *testing.T, spans []tracetest.SpanStub, root tracetest.SpanStub) {
	t.Helper()
	var b strings.Builder
	var walk func(s tracetest.SpanStub, depth int)
	walk = func(s tracetest.SpanStub, depth int) {
		fmt.Fprintf(&b, "%s%s [%s] span=%s parent=%s %s", strings.Repeat("    ", depth), s.Name, s.SpanKind, s.SpanContext.SpanID(), s.Parent.SpanID(), s.EndTime.Sub(s.StartTime).Round(1000))
		if s.Status.Code != codes.Unset {
			fmt.Fprintf(&b, " status=%s %q", s.Status.Code, s.Status.Description)
		}
		b.WriteString("\n")
		for _, kv := range s.Attributes {
			fmt.Fprintf(&b, "%s    · %s=%s\n", strings.Repeat("    ", depth), kv.Key, kv.Value.String())
		}
		for _, c := range children(spans, s) {
			walk(c, depth+1)
		}
	}
	fmt.Fprintf(&b, "trace %s (caller's span %s)\n", root.SpanContext.TraceID(), root.Parent.SpanID())
	walk(root, 0)
	t.Logf("span tree:\n%s", b.String())
}

// noSecrets fails when a span attribute holds the Logos key or a provider
// credential.
func noSecrets(t *testing.T, spans []tracetest.SpanStub, secrets ...string) {
	t.Helper()
	for _, s := range spans {
		for _, kv := range s.Attributes {
			for _, sec := range secrets {
				if strings.Contains(kv.Value.String(), sec) {
					t.Errorf("span %s attribute %s holds a secret", s.Name, kv.Key)
				}
			}
		}
	}
}

// TestTraceStreamedRequest: one streamed chat request through the Router
// leaves a server span in the caller's trace with the children auth, queue,
// upstream (a client span) and usage; the GenAI attributes carry the
// stream's token counts; the upstream gets the traceparent of the upstream
// span, in the caller's trace.
func TestTraceStreamedRequest(t *testing.T) {
	e, exp := tracedEnv(t)
	var seen parentSeen
	up := sseUpstream(t, "gpt-up", &seen)
	tg := up.target
	tg.UpstreamModel, tg.Credential = "gpt-up", "sk-provider-secret"
	e.deploy("m", tg, nil)

	status, h, body := e.do(http.MethodPost, "/v1/chat/completions",
		`{"model":"m","stream":true,"max_tokens":50,"messages":[{"role":"user","content":"Hello"}]}`,
		"Traceparent", callerParent)
	if status != http.StatusOK || !strings.Contains(string(body), "data: [DONE]") {
		t.Fatalf("status %d body %s", status, body)
	}
	root, spans := rootSpan(e, exp)
	logTree(t, spans, root)
	rec := e.lastUsage()

	// The root joins the caller's trace.
	if got := root.SpanContext.TraceID().String(); got != callerTraceID {
		t.Errorf("trace id %s, want the caller's %s", got, callerTraceID)
	}
	if got := root.Parent.SpanID().String(); got != callerSpanID || !root.Parent.IsRemote() {
		t.Errorf("root's parent %s (remote %v), want the caller's span %s", got, root.Parent.IsRemote(), callerSpanID)
	}
	if root.Name != "chat m" {
		t.Errorf("root span %q, want %q", root.Name, "chat m")
	}
	kids := children(spans, root)
	if got, want := names(kids), []string{"logos.auth", "logos.queue", "logos.upstream", "logos.usage"}; !slices.Equal(got, want) {
		t.Fatalf("root's children %v, want %v", got, want)
	}
	if len(spans) != 5 {
		t.Errorf("%d spans in the trace, want 5: %v", len(spans), names(spans))
	}
	for _, s := range spans {
		if s.Status.Code == codes.Error {
			t.Errorf("span %s has error status %q", s.Name, s.Status.Description)
		}
		if s.EndTime.Before(s.StartTime) || (s.Name != root.Name && (s.StartTime.Before(root.StartTime) || s.EndTime.After(root.EndTime))) {
			t.Errorf("span %s [%s, %s] not within the root [%s, %s]", s.Name, s.StartTime, s.EndTime, root.StartTime, root.EndTime)
		}
	}
	wantAttrs(t, root, map[string]string{
		"gen_ai.operation.name":      "chat",
		"gen_ai.provider.name":       "openai",
		"gen_ai.request.model":       "m",
		"gen_ai.response.model":      "gpt-up",
		"gen_ai.request.max_tokens":  "50",
		"gen_ai.usage.input_tokens":  "15",
		"gen_ai.usage.output_tokens": "10",
		"http.response.status_code":  "200",
		"logos.stream":               "true",
		"logos.request_id":           rec.RequestID,
		"logos.process_id":           fmt.Sprint(e.processID),
		"logos.outcome":              "success",
	})
	if got := h.Get("X-Request-Id"); got != "" && got != rec.RequestID {
		t.Errorf("X-Request-ID %s, record %s", got, rec.RequestID)
	}
	upSpan := kids[2]
	if upSpan.SpanKind != trace.SpanKindClient {
		t.Errorf("upstream span kind %s, want client", upSpan.SpanKind)
	}
	wantAttrs(t, upSpan, map[string]string{
		"gen_ai.request.model":       "gpt-up",
		"gen_ai.response.model":      "gpt-up",
		"gen_ai.usage.input_tokens":  "15",
		"gen_ai.usage.output_tokens": "10",
		"http.response.status_code":  "200",
		"logos.attempt":              "1",
		"logos.retried":              "false",
	})
	wantAttrs(t, kids[1], map[string]string{"logos.cold_start": "false"})
	wantAttrs(t, kids[3], map[string]string{"logos.request_id": rec.RequestID, "logos.outcome": "success"})

	// The upstream saw the upstream span's traceparent, in the caller's trace.
	want := fmt.Sprintf("00-%s-%s-01", callerTraceID, upSpan.SpanContext.SpanID())
	if got := seen.all(); !slices.Equal(got, []string{want}) {
		t.Errorf("upstream got traceparent %q, want %q", got, want)
	}
	noSecrets(t, spans, e.key, "sk-provider-secret")
}

// TestTraceRetry: a request whose first deployment answers 503 has two
// upstream spans (and two queue spans), the first failed and marked
// retried, each with its own traceparent sent upstream.
func TestTraceRetry(t *testing.T) {
	e, exp := tracedEnv(t)
	var seen parentSeen
	bad := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		seen.add(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"message":"overloaded","type":"server_error","code":null}}`))
	})
	good := sseUpstream(t, "m", &seen)
	e.deployAll("m", store.RetryPolicy{}, bad.target, good.target)

	status, _, body := e.do(http.MethodPost, "/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if status != http.StatusOK {
		t.Fatalf("status %d body %s", status, body)
	}
	root, spans := rootSpan(e, exp)
	logTree(t, spans, root)
	kids := children(spans, root)
	if got, want := names(kids), []string{"logos.auth", "logos.queue", "logos.upstream", "logos.queue", "logos.upstream", "logos.usage"}; !slices.Equal(got, want) {
		t.Fatalf("root's children %v, want %v", got, want)
	}
	first, second := kids[2], kids[4]
	wantAttrs(t, first, map[string]string{"logos.attempt": "1", "logos.retried": "true", "http.response.status_code": "503"})
	if first.Status.Code != codes.Error {
		t.Errorf("first attempt's status %v, want error", first.Status)
	}
	wantAttrs(t, second, map[string]string{"logos.attempt": "2", "logos.retried": "false", "http.response.status_code": "200", "gen_ai.usage.output_tokens": "10"})
	if second.Status.Code == codes.Error {
		t.Errorf("second attempt's status %v, want ok", second.Status)
	}
	wantAttrs(t, root, map[string]string{"logos.attempts": "2", "http.response.status_code": "200"})
	if root.Status.Code == codes.Error {
		t.Errorf("root status %v after a successful retry", root.Status)
	}
	tid := root.SpanContext.TraceID()
	want := []string{
		fmt.Sprintf("00-%s-%s-01", tid, first.SpanContext.SpanID()),
		fmt.Sprintf("00-%s-%s-01", tid, second.SpanContext.SpanID()),
	}
	if got := seen.all(); !slices.Equal(got, want) {
		t.Errorf("upstreams got traceparents %q, want %q", got, want)
	}
}

// TestTraceAuthFailure: a request with an invalid key leaves a server span
// with an error status and a failed logos.auth child, and nothing else.
func TestTraceAuthFailure(t *testing.T) {
	e, exp := tracedEnv(t)
	status, _, _ := e.do(http.MethodPost, "/v1/chat/completions", retryChat, "Authorization", "Bearer lg-not-a-key")
	if status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", status)
	}
	root, spans := rootSpan(e, exp)
	logTree(t, spans, root)
	if root.Status.Code != codes.Error {
		t.Errorf("root status %v, want error", root.Status)
	}
	wantAttrs(t, root, map[string]string{"http.response.status_code": "401", "error.type": "invalid_api_key"})
	kids := children(spans, root)
	if got := names(kids); !slices.Equal(got, []string{"logos.auth"}) {
		t.Fatalf("root's children %v, want [logos.auth]", got)
	}
	if kids[0].Status.Code != codes.Error {
		t.Errorf("auth span status %v, want error", kids[0].Status)
	}
	noSecrets(t, spans, "lg-not-a-key")
}

// TestTraceClassified: a request that names no model has a logos.classify
// span between authentication and queueing.
func TestTraceClassified(t *testing.T) {
	e, exp := tracedEnv(t)
	var seen parentSeen
	up := sseUpstream(t, "m", &seen)
	e.deploy("m", up.target, nil)
	status, _, body := e.do(http.MethodPost, "/v1/chat/completions", `{"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if status != http.StatusOK {
		t.Fatalf("status %d body %s", status, body)
	}
	root, spans := rootSpan(e, exp)
	logTree(t, spans, root)
	kids := children(spans, root)
	if got, want := names(kids), []string{"logos.auth", "logos.classify", "logos.queue", "logos.upstream", "logos.usage"}; !slices.Equal(got, want) {
		t.Fatalf("root's children %v, want %v", got, want)
	}
	wantAttrs(t, kids[1], map[string]string{"logos.candidates": "1"})
	wantAttrs(t, root, map[string]string{"logos.model": "m"})
}

// TestTraceOff: without a TracerProvider no traceparent goes upstream, as
// before tracing existed: the client's own is not forwarded either (it is
// not on the allowlist of forwarded headers).
func TestTraceOff(t *testing.T) {
	e := newEnv(t)
	var seen parentSeen
	up := sseUpstream(t, "m", &seen)
	e.deploy("m", up.target, nil)
	for _, hdr := range [][]string{nil, {"Traceparent", callerParent}} {
		status, _, body := e.do(http.MethodPost, "/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, hdr...)
		if status != http.StatusOK {
			t.Fatalf("status %d body %s", status, body)
		}
	}
	if got := seen.all(); !slices.Equal(got, []string{"", ""}) {
		t.Errorf("upstream got traceparents %q without tracing, want none", got)
	}
}

// BenchmarkRouterChatTraced is BenchmarkRouterChat with every request
// traced (batched to an exporter that drops the spans): the cost of
// tracing on. BenchmarkRouterChat itself is the cost with tracing off.
//
//	go test -run '^$' -bench 'RouterChat' -benchmem .
func BenchmarkRouterChatTraced(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`))
	}))
	defer up.Close()
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	e := newEnv(b, func(c *logos.Config) { c.TracerProvider = tp })
	e.deploy("m", providers.Target{Kind: "openai", BaseURL: up.URL + "/v1"}, nil)
	body := `{"model":"m","messages":[{"role":"user","content":"Hello there"}]}`
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.router.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d %s", rec.Code, rec.Body)
		}
	}
}

// TestTraceKeepsUpstreamURLOut: an attempt that got no answer records its
// error on the upstream span without the *url.Error's URL, whose base or
// query can hold a credential (as the logs and client messages do).
func TestTraceKeepsUpstreamURLOut(t *testing.T) {
	e, exp := tracedEnv(t)
	const secret = "sk-in-the-url-0123456789"
	dead := refusedTarget(t)
	dead.BaseURL += "/" + secret + "/v1"
	var seen parentSeen
	good := sseUpstream(t, "m", &seen)
	e.deployAll("m", store.RetryPolicy{}, dead, good.target)

	status, _, body := e.do(http.MethodPost, "/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if status != http.StatusOK {
		t.Fatalf("status %d body %s", status, body)
	}
	root, spans := rootSpan(e, exp)
	failed := 0
	for _, s := range spans {
		if s.Name == "logos.upstream" && s.Status.Code == codes.Error {
			failed++
			if len(s.Events) == 0 {
				t.Errorf("failed attempt's span has no error event")
			}
		}
		for _, ev := range s.Events {
			for _, kv := range ev.Attributes {
				if strings.Contains(kv.Value.String(), secret) {
					t.Errorf("span %s event %s attribute %s holds the upstream URL: %s", s.Name, ev.Name, kv.Key, kv.Value.String())
				}
			}
		}
		if strings.Contains(s.Status.Description, secret) {
			t.Errorf("span %s status holds the upstream URL", s.Name)
		}
	}
	if failed != 1 {
		logTree(t, spans, root)
		t.Fatalf("%d failed upstream spans, want 1", failed)
	}
	noSecrets(t, spans, secret)
}
