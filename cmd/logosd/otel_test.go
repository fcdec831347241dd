package main

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestTracesURL: the flag wins over OpenTelemetry's variables; a base URL
// gets /v1/traces, a traces endpoint is kept; nothing set is tracing off.
func TestTracesURL(t *testing.T) {
	cases := []struct {
		flag string
		env  map[string]string
		want string
	}{
		{"", nil, ""},
		{"http://collector:4318", nil, "http://collector:4318/v1/traces"},
		{"http://collector:4318/", nil, "http://collector:4318/v1/traces"},
		{"https://collector/otlp/v1/traces", nil, "https://collector/otlp/v1/traces"},
		{"", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "http://c:4318/v1/traces"},
		{"", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318"}, "http://c:4318/custom"},
		{"http://flag:4318", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom"}, "http://flag:4318/v1/traces"},
	}
	for _, c := range cases {
		got, err := tracesURL(otelOptions{endpoint: c.flag}, func(k string) string { return c.env[k] })
		if err != nil || got != c.want {
			t.Errorf("tracesURL(%q, %v) = %q, %v; want %q", c.flag, c.env, got, err, c.want)
		}
	}
	for _, bad := range []string{"collector:4318", "grpc://c:4317", "http://"} {
		if _, err := tracesURL(otelOptions{endpoint: bad}, func(string) string { return "" }); err == nil {
			t.Errorf("endpoint %q accepted", bad)
		}
	}
	for _, args := range [][]string{{"--otel-sample-ratio", "1.5"}, {"--otel-sample-ratio", "half"}, {"--otel-endpoint", "localhost:4318"}} {
		if _, err := parseOptions(args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("parseOptions(%v) succeeded", args)
		}
	}
}

// TestOTLPExport: with --otel-endpoint, logosd sends its requests' spans
// to the endpoint over OTLP/HTTP (protobuf), under service name logosd,
// and flushes them when it stops.
func TestOTLPExport(t *testing.T) {
	var (
		mu   sync.Mutex
		reqs []*coltrace.ExportTraceServiceRequest
	)
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("collector got %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		b, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			t.Errorf("collector: %v", err)
		}
		mu.Lock()
		reqs = append(reqs, &req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer col.Close()

	d := start(t, []string{"--sqlite-path", filepath.Join(t.TempDir(), "logos.db"), "--usage-log", "off", "--otel-endpoint", col.URL}, nil)
	if status, _ := call(t, http.MethodPost, d.url+"/v1/chat/completions", "lg-not-a-key", `{"model":"m","messages":[]}`); status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", status)
	}
	d.stop(t) // flushes the batch

	mu.Lock()
	defer mu.Unlock()
	var spans []string
	for _, req := range reqs {
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, kv := range rs.Resource.GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			if service != "logosd" {
				t.Errorf("service.name %q, want logosd", service)
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					spans = append(spans, s.Name)
				}
			}
		}
	}
	slices.Sort(spans)
	if want := []string{"chat", "logos.auth"}; !slices.Equal(spans, want) {
		t.Errorf("collector got spans %v, want %v", spans, want)
	}
}

// TestParentSampling: by default (follow) a request whose caller sent a
// sampled traceparent is traced even at ratio 0; with ratio, logosd's own
// draw decides for it, so a client can neither force tracing with the
// sampled flag nor with a trace id chosen to pass a ratio test on its bits.
// Either way the span joins the caller's trace.
func TestParentSampling(t *testing.T) {
	// The low 64 bits are 1: TraceIDRatioBased samples this id at any
	// ratio above 0.
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da60000000000000001")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	parent := func(flags trace.TraceFlags) context.Context {
		return trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: traceID, SpanID: spanID, TraceFlags: flags, Remote: true,
		}))
	}
	sampled := func(o otelOptions, flags trace.TraceFlags, n int) int {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(o.sampler()))
		defer func() { _ = tp.Shutdown(context.Background()) }()
		k := 0
		for range n {
			_, span := tp.Tracer("test").Start(parent(flags), "chat m")
			sc := span.SpanContext()
			span.End()
			if sc.TraceID() != traceID {
				t.Fatalf("trace id %s, want the caller's %s", sc.TraceID(), traceID)
			}
			if sc.IsSampled() {
				k++
			}
		}
		return k
	}
	follow, err := parseParentSampling("follow")
	if err != nil || follow {
		t.Fatalf(`parseParentSampling("follow") = %v, %v`, follow, err)
	}
	if k := sampled(otelOptions{sampleRatio: 0}, trace.FlagsSampled, 10); k != 10 {
		t.Errorf("follow, ratio 0, sampled caller: %d of 10 traced, want 10", k)
	}
	ignore, err := parseParentSampling("ratio")
	if err != nil || !ignore {
		t.Fatalf(`parseParentSampling("ratio") = %v, %v`, ignore, err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	o := otelOptions{sampleRatio: 0.25, ignoreParent: true, draw: rng.Float64}
	for _, flags := range []trace.TraceFlags{trace.FlagsSampled, 0} {
		if k := sampled(o, flags, 2000); k < 400 || k > 600 {
			t.Errorf("ratio 0.25, caller flags %v, crafted trace id: %d of 2000 traced, want about 500", flags, k)
		}
	}
	if k := sampled(otelOptions{sampleRatio: 0, ignoreParent: true}, trace.FlagsSampled, 10); k != 0 {
		t.Errorf("ratio 0, sampled caller: %d of 10 traced, want 0", k)
	}
	// A local parent is followed: a kept root keeps its children.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(otelOptions{sampleRatio: 1, ignoreParent: true}.sampler()))
	ctx, root := tp.Tracer("test").Start(context.Background(), "root")
	_, child := tp.Tracer("test").Start(ctx, "child")
	if !root.SpanContext().IsSampled() || !child.SpanContext().IsSampled() {
		t.Error("ratio 1: a root span or its child was not sampled")
	}
	child.End()
	root.End()
	_ = tp.Shutdown(context.Background())
	if _, err := parseParentSampling("always"); err == nil {
		t.Error(`--otel-parent-sampling "always" accepted`)
	}
}
