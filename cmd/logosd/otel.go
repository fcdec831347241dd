package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Tracing is off unless an OTLP endpoint is given: --otel-endpoint
// (LOGOS_OTEL_ENDPOINT), or OpenTelemetry's own
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT.
// Spans go to the endpoint over OTLP/HTTP (protobuf) in batches; the
// exporter also reads OpenTelemetry's other OTEL_EXPORTER_OTLP_* variables
// (headers, timeout, certificates).

// otelOptions are the tracing settings.
type otelOptions struct {
	endpoint    string  // --otel-endpoint; "" leaves it to the OTEL_* variables
	sampleRatio float64 // of the traces logosd starts, and of all with ignoreParent
	// ignoreParent applies sampleRatio to requests with a traceparent too
	// (--otel-parent-sampling ratio), instead of following the caller's
	// sampled flag: clients that are not trusted cannot then decide how
	// much is traced. Their spans still join the caller's trace.
	ignoreParent bool
	// draw replaces the random draw of ignoreParent's sampler (tests).
	draw func() float64
}

// parseParentSampling reads --otel-parent-sampling: follow (the caller's
// sampled flag decides, OpenTelemetry's default) or ratio (sampleRatio
// decides for every request). It returns whether the parent is ignored.
func parseParentSampling(s string) (bool, error) {
	switch strings.TrimSpace(s) {
	case "follow":
		return false, nil
	case "ratio":
		return true, nil
	}
	return false, fmt.Errorf("invalid OpenTelemetry parent sampling %q: want follow or ratio", s)
}

// sampler returns the sampler for o. Spans whose parent is local follow
// it, so a trace is kept or dropped whole. With ignoreParent, a request
// that brings a traceparent is sampled by a draw of logosd's own: the
// trace id then comes from the client, and a ratio sampler over it
// (TraceIDRatioBased) would let the client pick ids that are always kept.
func (o otelOptions) sampler() sdktrace.Sampler {
	ratio := sdktrace.TraceIDRatioBased(o.sampleRatio)
	if !o.ignoreParent {
		return sdktrace.ParentBased(ratio)
	}
	draw := drawSampler{ratio: o.sampleRatio, draw: o.draw}
	return sdktrace.ParentBased(ratio,
		sdktrace.WithRemoteParentSampled(draw),
		sdktrace.WithRemoteParentNotSampled(draw))
}

// drawSampler samples a span with probability ratio, by a random draw
// independent of its trace id.
type drawSampler struct {
	ratio float64
	draw  func() float64 // in [0, 1); nil is math/rand/v2's Float64
}

// ShouldSample implements sdktrace.Sampler.
func (d drawSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	draw := rand.Float64
	if d.draw != nil {
		draw = d.draw
	}
	decision := sdktrace.Drop
	if d.ratio > 0 && draw() < d.ratio {
		decision = sdktrace.RecordAndSample
	}
	return sdktrace.SamplingResult{Decision: decision, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
}

// Description implements sdktrace.Sampler.
func (d drawSampler) Description() string {
	return fmt.Sprintf("RandomDraw{%g}", d.ratio)
}

// tracesURL returns the OTLP/HTTP URL traces are sent to, or "" when
// tracing is off. The flag wins; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is
// used as it is; a base URL (the flag or OTEL_EXPORTER_OTLP_ENDPOINT)
// without a path gets /v1/traces, as OpenTelemetry specifies.
func tracesURL(o otelOptions, getenv func(string) string) (string, error) {
	base := o.endpoint
	if base == "" {
		if v := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
			_, err := parseEndpoint(v)
			return v, err
		}
		base = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if base == "" {
		return "", nil
	}
	u, err := parseEndpoint(base)
	if err != nil {
		return "", err
	}
	if strings.Trim(u.Path, "/") == "" {
		return strings.TrimRight(base, "/") + "/v1/traces", nil
	}
	return base, nil
}

// parseEndpoint parses an OTLP/HTTP URL.
func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid OpenTelemetry endpoint %q: want an http:// or https:// URL such as http://localhost:4318", s)
	}
	return u, nil
}

// parseSampleRatio reads --otel-sample-ratio: a fraction from 0 to 1.
func parseSampleRatio(s string) (float64, error) {
	r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(r >= 0 && r <= 1) {
		return 0, fmt.Errorf("invalid OpenTelemetry sample ratio %q: want a number from 0 to 1", s)
	}
	return r, nil
}

// newTracing returns the tracer provider of logosd's requests and the
// function that flushes and stops it, or a nil provider when tracing is
// off. Export errors are logged.
func newTracing(ctx context.Context, o otelOptions, getenv func(string) string, log *slog.Logger) (trace.TracerProvider, func(context.Context) error, error) {
	endpoint, err := tracesURL(o, getenv)
	if err != nil || endpoint == "" {
		return nil, func(context.Context) error { return nil }, err
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, nil, fmt.Errorf("OpenTelemetry exporter: %w", err)
	}
	name := getenv("OTEL_SERVICE_NAME")
	if name == "" {
		name = "logosd"
	}
	version := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(name), semconv.ServiceVersion(version))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(o.sampler()),
	)
	// The SDK reports export failures to OpenTelemetry's handler, which is
	// process-wide: logosd owns the process.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("OpenTelemetry", "err", err)
	}))
	log.Info("tracing requests with OpenTelemetry", "endpoint", redactURL(endpoint), "sample_ratio", o.sampleRatio, "parent_sampling_ignored", o.ignoreParent, "service", name)
	return tp, tp.Shutdown, nil
}

// redactURL drops a URL's user information, which may hold a password.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String()
}
