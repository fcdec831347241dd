package pipeline_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/pipeline"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/store"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// watchedWriter is a ResponseWriter whose body can be read while the
// handler still runs.
type watchedWriter struct {
	mu     sync.Mutex
	header http.Header
	status int
	body   []byte
}

func (w *watchedWriter) Header() http.Header { return w.header }
func (w *watchedWriter) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.status = code
}
func (w *watchedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, p...)
	return len(p), nil
}
func (w *watchedWriter) received() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.body)
}

// rootEnd is a span processor that calls a function when a root span ends.
type rootEnd func()

func (rootEnd) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (f rootEnd) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.Parent().IsValid() {
		f()
	}
}
func (rootEnd) Shutdown(context.Context) error   { return nil }
func (rootEnd) ForceFlush(context.Context) error { return nil }

// sinkFunc is a UsageSink calling a function.
type sinkFunc func(store.UsageRecord)

func (f sinkFunc) Write(_ context.Context, rec store.UsageRecord) error {
	f(rec)
	return nil
}

// TestWholeAnswerWaitsForItsRecord: a non-streaming answer's last byte
// reaches the client only once the usage record has been handed to the
// sink (with a usage log, once it is on its way to disk), so a client that
// holds the whole answer never lacks its record; and it goes out then, not
// after the rest of the request's bookkeeping (the trace's root span ends
// after it).
func TestWholeAnswerWaitsForItsRecord(t *testing.T) {
	const answer = `{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(answer))
	}))
	defer upstream.Close()

	w := &watchedWriter{header: http.Header{}}
	var atRecord, atRootEnd string
	records := 0
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rootEnd(func() { atRootEnd = w.received() })))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	sched, err := fcfs.New(fcfs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sched.Close()
	p, err := pipeline.New(pipeline.Config{
		Providers: builtin.Registry(),
		Scheduler: sched,
		Tracer:    tp,
		Usage: sinkFunc(func(store.UsageRecord) {
			records++
			atRecord = w.received()
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	key := apikey.Generate("held")
	p.SetCatalog(pipeline.NewCatalog(store.Catalog{
		Processes:   []store.Process{{ID: 1, Name: "p", KeyHash: apikey.Hash(key)}},
		Profiles:    []store.Profile{{ID: 1, Name: "default", ProcessID: 1}},
		Providers:   []store.Provider{{ID: 1, Name: "a", Kind: store.KindOpenAI, BaseURL: upstream.URL + "/v1"}},
		Models:      []store.Model{{ID: 1, Name: "m"}},
		Deployments: []store.Deployment{{ID: 1, ModelID: 1, ProviderID: 1}},
		Permissions: []store.Permission{{ProfileID: 1, ModelID: 1}},
	}, time.Now()))

	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	r.Header.Set("Content-Type", "application/json")
	p.Serve(w, r, pipeline.Route{Operation: "chat/completions", Key: key, RequestID: "held-1"})

	if w.status != http.StatusOK || w.received() != answer {
		t.Fatalf("status %d, body %q; want 200 and the upstream's answer", w.status, w.received())
	}
	if records != 1 {
		t.Fatalf("%d usage records, want 1", records)
	}
	if want := answer[:len(answer)-1]; atRecord != want {
		t.Fatalf("when the record was handed over the client had %q, want all but the last byte %q", atRecord, want)
	}
	if atRootEnd != answer {
		t.Fatalf("when the trace's root span ended the client had %q, want the whole answer: the held byte waits for the bookkeeping after the record", atRootEnd)
	}
}
