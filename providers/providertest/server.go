// Package providertest provides httptest upstreams that speak the real wire
// formats of the providers Logos talks to: OpenAI (and OpenAI-compatible
// servers such as vLLM and OpenWebUI), Azure OpenAI and Ollama (native and
// OpenAI-compatible APIs). They check what they receive (method, path,
// credential header, api-version), record every request, and answer from
// recorded fixtures: JSON bodies, SSE streams written event by event with a
// flush after each, and Ollama's NDJSON streams. Options inject failures:
// error statuses with the provider's real error bodies and headers, delays
// before the headers and between events, a connection abort mid-stream, and
// a hook observing the request's cancellation.
//
// Fixtures come from two places: this package's own testdata (embedded,
// see Testdata) and the shared recordings in ../shared/fixtures next to the
// module root (see SharedFixture); a server that needs an absent shared
// fixture skips the test.
package providertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/providers"
)

// Options configure a test upstream. The zero value serves the default
// fixtures without checking credentials.
type Options struct {
	// Model replaces the {{MODEL}} placeholder in responses. Empty means the
	// request body's "model", or a per-provider default when there is none.
	Model string
	// Credential, when set, must be presented in the provider's credential
	// header (OpenAI and Ollama: "Authorization: Bearer <c>"; Azure:
	// "api-key: <c>" or a bearer token); otherwise the server answers 401
	// with the provider's real error body.
	Credential string
	// Deployment (Azure) is the only deployment that exists; other names get
	// 404 DeploymentNotFound. Empty accepts any deployment.
	Deployment string
	// APIVersion (Azure) is the api-version the server requires for
	// deployment-scoped operations; empty accepts any non-empty api-version.
	// A missing api-version is always rejected with 404.
	APIVersion string
	// PathPrefix (OpenAI) is where the API is mounted. Defaults to "/v1";
	// OpenWebUI serves its OpenAI-compatible API under "/api".
	PathPrefix string
	// ChatJSON and ChatStream replace the chat-completion fixtures (the
	// non-streaming body and the SSE stream, {{MODEL}} placeholders
	// allowed), e.g. with SharedFixture(t, "openwebui_streaming.txt").
	ChatJSON, ChatStream []byte
	// Status, when non-zero, makes every routed request fail with this status
	// and the provider's real error body and headers for it (Azure 429 with
	// Retry-After and x-ratelimit-* headers, Azure 400 content_filter, ...).
	Status int
	// HeaderDelay delays the response headers.
	HeaderDelay time.Duration
	// EventDelay is the pause before every SSE event or NDJSON line but the
	// first.
	EventDelay time.Duration
	// AbortAfter, when positive, makes the server close the connection
	// abruptly after writing that many events (or NDJSON lines) of a stream,
	// without ending the response: the client sees an unexpected EOF.
	AbortAfter int
	// OnCancel is called once per request whose client went away while the
	// handler still ran: its context was cancelled, or writing a stream
	// event to it failed.
	OnCancel func(*http.Request)
}

// Request is one request an upstream received.
type Request struct {
	Method   string
	Path     string // URL path, unescaped
	RawPath  string // URL path as sent (escaped)
	RawQuery string
	Query    url.Values
	Header   http.Header
	Body     []byte
}

// Server is a test upstream. It embeds the running *httptest.Server; the
// test's cleanup closes it.
type Server struct {
	*httptest.Server
	kind string
	opts Options

	mu       sync.Mutex
	requests []Request

	canceled   chan struct{}
	cancelOnce sync.Once
}

func newServer(tb testing.TB, kind string, opts Options, route func(s *Server, w http.ResponseWriter, r *http.Request, body []byte)) *Server {
	tb.Helper()
	s := &Server{kind: kind, opts: opts, canceled: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.record(r, body)
		// The client's departure shows either as a cancelled context or as
		// a failed write, whichever the server notices first; count it once.
		r = r.WithContext(context.WithValue(r.Context(), cancelOnceKey{}, new(sync.Once)))
		stop := context.AfterFunc(r.Context(), func() { s.observeCancel(r) })
		defer stop()
		route(s, w, r, body)
		// A cancelled context closes its Done channel before it starts the
		// AfterFunc above, so a handler that returned on seeing Done can get
		// to stop() first and keep the AfterFunc from ever running (the
		// flaky TestCancellationIsObserved under -race). Observe it here.
		if r.Context().Err() != nil {
			s.observeCancel(r)
		}
	}))
	tb.Cleanup(func() {
		s.CloseClientConnections()
		s.Close()
	})
	return s
}

func (s *Server) record(r *http.Request, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawPath:  r.URL.EscapedPath(),
		RawQuery: r.URL.RawQuery,
		Query:    r.URL.Query(),
		Header:   r.Header.Clone(),
		Body:     body,
	})
}

type cancelOnceKey struct{}

func (s *Server) observeCancel(r *http.Request) {
	once, _ := r.Context().Value(cancelOnceKey{}).(*sync.Once)
	if once == nil {
		once = new(sync.Once)
	}
	once.Do(func() {
		s.cancelOnce.Do(func() { close(s.canceled) })
		if s.opts.OnCancel != nil {
			s.opts.OnCancel(r)
		}
	})
}

// Requests returns a copy of every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// LastRequest returns the most recent request, and false if there was none.
func (s *Server) LastRequest() (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return Request{}, false
	}
	return s.requests[len(s.requests)-1], true
}

// Canceled returns a channel closed the first time the server observes a
// client going away while its handler was running: a cancelled request
// context or a failed write of a stream.
func (s *Server) Canceled() <-chan struct{} { return s.canceled }

// Target returns a providers.Target pointing at this server, with the
// options' credential, deployment and api-version: BaseURL is the server's
// URL (plus PathPrefix for OpenAI), UpstreamModel the deployment (Azure,
// default "gpt-4o") or the model.
func (s *Server) Target() providers.Target {
	t := providers.Target{Kind: s.kind, BaseURL: s.URL, Credential: s.opts.Credential, UpstreamModel: s.opts.Model}
	switch s.kind {
	case providers.KindOpenAI:
		t.BaseURL += s.prefix()
	case providers.KindAzure:
		t.UpstreamModel = s.opts.Deployment
		if t.UpstreamModel == "" {
			t.UpstreamModel = "gpt-4o"
		}
		t.APIVersion = s.opts.APIVersion
	}
	return t
}

func (s *Server) prefix() string {
	if s.opts.PathPrefix == "" {
		return "/v1"
	}
	return s.opts.PathPrefix
}

// requestBody is what the servers read from a request body.
type requestBody struct {
	Model         string `json:"model"`
	Stream        *bool  `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// parseBody decodes body; ok is false for a body that is not a JSON object.
func parseBody(body []byte) (requestBody, bool) {
	var rb requestBody
	if len(bytes.TrimSpace(body)) == 0 {
		return rb, true
	}
	if err := json.Unmarshal(body, &rb); err != nil {
		return rb, false
	}
	return rb, true
}

func (b requestBody) streaming(def bool) bool {
	if b.Stream == nil {
		return def
	}
	return *b.Stream
}

func (b requestBody) includeUsage() bool {
	return b.StreamOptions != nil && b.StreamOptions.IncludeUsage
}

// model returns the model name for the {{MODEL}} placeholder.
func (s *Server) model(b requestBody, def string) string {
	switch {
	case s.opts.Model != "":
		return s.opts.Model
	case b.Model != "":
		return b.Model
	}
	return def
}

// sleep waits d or until the request is cancelled; it reports whether the
// full delay passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// writeJSON answers status with body after HeaderDelay.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, contentType string, body []byte) {
	if !sleep(r.Context(), s.opts.HeaderDelay) {
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeStream answers 200 with events written one by one, each flushed,
// honouring EventDelay and AbortAfter.
func (s *Server) writeStream(w http.ResponseWriter, r *http.Request, contentType string, events [][]byte) {
	ctx := r.Context()
	if !sleep(ctx, s.opts.HeaderDelay) {
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	for i, ev := range events {
		if i > 0 && !sleep(ctx, s.opts.EventDelay) {
			return
		}
		if _, err := w.Write(ev); err != nil {
			s.observeCancel(r)
			return
		}
		if err := rc.Flush(); err != nil {
			s.observeCancel(r)
			return
		}
		if s.opts.AbortAfter > 0 && i+1 == s.opts.AbortAfter {
			// Close the connection without ending the chunked body.
			panic(http.ErrAbortHandler)
		}
	}
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil { // cannot happen for a string
		return `""`
	}
	return string(b)
}
