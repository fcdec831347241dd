package logos_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/store/sqlite"
)

// Config.TracerProvider turns OpenTelemetry traces of requests on: here an
// SDK provider exporting to memory; cmd/logosd exports over OTLP/HTTP.
// Every request, even one refused, has a server span with children.
func ExampleConfig_tracerProvider() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "logos-example")
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, _ := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "logos.db"), Logger: quiet})
	defer st.Close()
	sched, _ := fcfs.New(fcfs.Config{})
	defer sched.Close()

	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(ctx)
	router, _ := logos.New(logos.Config{Store: st, Providers: builtin.Registry(), Scheduler: sched, Logger: quiet, TracerProvider: tp})
	defer router.Close(ctx)

	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	req.Header.Set("Authorization", "Bearer lg-no-such-key")
	router.ServeHTTP(httptest.NewRecorder(), req)
	for _, s := range spans.GetSpans() {
		fmt.Println(s.Name, s.SpanKind, s.Status.Code, s.Status.Description)
	}
	// Output:
	// logos.auth internal Error Invalid Logos key
	// chat server Error Invalid Logos key
}
