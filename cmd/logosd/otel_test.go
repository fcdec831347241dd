package main

import (
	"context"
	"io"
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
// sampled traceparent is traced even at ratio 0; with ratio, the ratio
// decides for it too, so a client cannot choose to be traced. Either way
// the span joins the caller's trace.
func TestParentSampling(t *testing.T) {
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	parent := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled, Remote: true,
	}))
	for _, c := range []struct {
		flag        string
		wantSampled bool
	}{{"follow", true}, {"ratio", false}} {
		ignore, err := parseParentSampling(c.flag)
		if err != nil {
			t.Fatal(err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(otelOptions{sampleRatio: 0, ignoreParent: ignore}.sampler()))
		_, span := tp.Tracer("test").Start(parent, "chat m")
		sc := span.SpanContext()
		span.End()
		if sc.IsSampled() != c.wantSampled {
			t.Errorf("--otel-parent-sampling %s, ratio 0, sampled caller: span sampled %v, want %v", c.flag, sc.IsSampled(), c.wantSampled)
		}
		if sc.TraceID() != traceID {
			t.Errorf("--otel-parent-sampling %s: trace id %s, want the caller's %s", c.flag, sc.TraceID(), traceID)
		}
		_ = tp.Shutdown(context.Background())
	}
	if _, err := parseParentSampling("always"); err == nil {
		t.Error(`--otel-parent-sampling "always" accepted`)
	}
}
