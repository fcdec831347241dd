package logos_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/pipeline"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/store"
)

// TestClientsKilledMidStream kills half the clients of concurrent streams
// after their first event: their upstream requests are cancelled, no
// goroutine is left behind, and every request leaves exactly one record.
func TestClientsKilledMidStream(t *testing.T) {
	transport := pipeline.NewTransport()
	e := newEnv(t, func(c *logos.Config) { c.HTTPClient = &http.Client{Transport: transport} })
	var upstreamCancelled atomic.Int64
	up := providertest.NewOpenAI(t, providertest.Options{
		EventDelay: 100 * time.Millisecond,
		OnCancel:   func(*http.Request) { upstreamCancelled.Add(1) },
	})
	e.deploy("m", up.Target(), nil)
	// Warm the connection pools so their goroutines count in the baseline.
	e.do("POST", "/v1/chat/completions", chatBody)
	baseline := runtime.NumGoroutine()

	const n = 40
	var wg sync.WaitGroup
	var killed, completed atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/v1/chat/completions", strings.NewReader(streamBody))
			req.Header.Set("Authorization", "Bearer "+e.key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			if _, err := br.ReadString('\n'); err != nil {
				t.Error(err)
				return
			}
			if i%2 == 0 {
				cancel() // the client dies mid-stream
				killed.Add(1)
				return
			}
			b, err := io.ReadAll(br)
			if err != nil || !bytes.Contains(b, []byte("data: [DONE]")) {
				t.Errorf("complete stream ended early: %v %q", err, b)
				return
			}
			completed.Add(1)
		}()
	}
	wg.Wait()

	recs := e.usage()
	if got := len(recs); got != n+1 {
		t.Fatalf("%d usage records for %d requests", got, n+1)
	}
	var cancelled, success int64
	for _, r := range recs {
		switch r.Outcome {
		case store.OutcomeCancelled:
			cancelled++
		case store.OutcomeSuccess:
			success++
		}
	}
	if cancelled != killed.Load() || success != completed.Load()+1 {
		t.Fatalf("records: %d cancelled, %d success; clients: %d killed, %d completed", cancelled, success, killed.Load(), completed.Load())
	}
	deadline := time.Now().Add(5 * time.Second)
	for upstreamCancelled.Load() < killed.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := upstreamCancelled.Load(); got != killed.Load() {
		t.Fatalf("upstream saw %d cancellations for %d killed clients", got, killed.Load())
	}
	// Idle keep-alive connections hold reader and writer goroutines on both
	// ends; closing them leaves only goroutines that leaked.
	http.DefaultClient.CloseIdleConnections()
	transport.CloseIdleConnections()
	e.srv.CloseClientConnections()
	up.CloseClientConnections()
	for time.Now().Before(deadline) && runtime.NumGoroutine() > baseline {
		time.Sleep(20 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > baseline {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after the test, %d before:\n%s", got, baseline, buf[:runtime.Stack(buf, true)])
	}
}

// TestOllamaNativeAPI serves Ollama's own API for Ollama deployments: NDJSON
// streams pass through byte for byte and are metered.
func TestOllamaNativeAPI(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOllama(t, providertest.Options{})
	e.deploy("llama3.2:3b", up.Target(), nil)
	oa := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("gpt-4o", oa.Target(), nil)

	s, hdr, b := e.do("POST", "/api/chat", `{"model":"llama3.2:3b","messages":[{"role":"user","content":"Hi"}]}`)
	if s != 200 || !strings.Contains(hdr.Get("Content-Type"), "ndjson") {
		t.Fatalf("/api/chat: %d %q", s, hdr.Get("Content-Type"))
	}
	want := providertest.WithModel(providertest.Testdata(t, "ollama_chat_stream.ndjson"), "llama3.2:3b")
	if !bytes.Equal(b, want) {
		t.Fatalf("NDJSON changed in transit:\n got %q\nwant %q", b, want)
	}
	r := e.lastUsage()
	if r.Operation != "api/chat" || tokens(r)["prompt_tokens"] == 0 || tokens(r)["completion_tokens"] == 0 {
		t.Fatalf("native record %+v tokens %v", r, tokens(r))
	}
	if got, _ := up.LastRequest(); got.Path != "/api/chat" {
		t.Fatalf("upstream path %q", got.Path)
	}

	if s, _, b := e.do("POST", "/api/generate", `{"model":"llama3.2:3b","prompt":"Hi","stream":false}`); s != 200 || !json.Valid(b) {
		t.Fatalf("/api/generate: %d %s", s, b)
	}
	if s, _, b := e.do("POST", "/api/embed", `{"model":"llama3.2:3b","input":"Hi"}`); s != 200 {
		t.Fatalf("/api/embed: %d %s", s, b)
	}

	s, _, b = e.do("GET", "/api/tags", "")
	var tags struct {
		Models []struct{ Name string } `json:"models"`
	}
	if s != 200 || json.Unmarshal(b, &tags) != nil || len(tags.Models) != 1 || tags.Models[0].Name != "llama3.2:3b" {
		t.Fatalf("/api/tags: %d %s", s, b)
	}

	// Errors in Ollama's own format; a non-Ollama model is refused clearly.
	s, _, b = e.do("POST", "/api/chat", `{"model":"gpt-4o","messages":[]}`)
	var oe struct {
		Error string `json:"error"`
	}
	if s != 503 || json.Unmarshal(b, &oe) != nil || !strings.Contains(oe.Error, "/v1") {
		t.Fatalf("non-Ollama model on /api/chat: %d %s", s, b)
	}
	if s, _, b := e.do("POST", "/api/chat", `{"model":"llama3.2:3b"}`, "Authorization", "Bearer wrong"); s != 401 || !strings.Contains(string(b), `"error":"`) {
		t.Fatalf("bad key on /api/chat: %d %s", s, b)
	}
}

// TestRequestHygiene: ids, size limits, malformed bodies and auth failures get
// clear errors, and authenticated ones still leave their record.
func TestRequestHygiene(t *testing.T) {
	e := newEnv(t, func(c *logos.Config) { c.MaxBodyBytes = 1 << 10 })
	up := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("m", up.Target(), nil)

	s, hdr, _ := e.do("POST", "/v1/chat/completions", chatBody, "X-Request-ID", "client-trace-42")
	if s != 200 || hdr.Get("X-Request-ID") != "client-trace-42" || hdr.Get("X-Upstream-Request-Id") == "" {
		t.Fatalf("status %d ids %q / %q", s, hdr.Get("X-Request-ID"), hdr.Get("X-Upstream-Request-Id"))
	}
	if ms, err := strconv.ParseFloat(hdr.Get("X-Logos-Overhead-Ms"), 64); err != nil || ms < 0 || ms > 1000 {
		t.Fatalf("X-Logos-Overhead-Ms = %q", hdr.Get("X-Logos-Overhead-Ms"))
	}
	if r := e.lastUsage(); r.RequestID != hdr.Get("X-Logos-Request-ID") || r.RequestID == "client-trace-42" || r.ClientRequestID != "client-trace-42" {
		t.Fatalf("record id %q, client id %q; X-Logos-Request-ID %q", r.RequestID, r.ClientRequestID, hdr.Get("X-Logos-Request-ID"))
	}
	if _, hdr, _ := e.do("GET", "/healthz", ""); len(hdr.Get("X-Request-ID")) != 32 || hdr.Get("X-Request-ID") != hdr.Get("X-Logos-Request-ID") {
		t.Fatalf("generated id %q, X-Logos-Request-ID %q", hdr.Get("X-Request-ID"), hdr.Get("X-Logos-Request-ID"))
	}
	if _, hdr, _ := e.do("GET", "/healthz", "", "X-Request-ID", "bad id with spaces"); hdr.Get("X-Request-ID") == "bad id with spaces" {
		t.Fatal("unsafe client request id echoed")
	}

	before := len(e.usage())
	cases := []struct {
		name, body string
		hdr        []string
		status     int
		recorded   bool
	}{
		{"no key", chatBody, []string{"Authorization", ""}, 401, false},
		{"bad key", chatBody, []string{"Authorization", "Bearer lg-nope"}, 401, false},
		{"too large", `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 2048) + `"}]}`, nil, 413, true},
		{"not json", `{"model":`, nil, 400, true},
		{"raw NUL", "{\"model\":\"m\x00\"}", nil, 400, true},
		{"array body", `[1,2]`, nil, 400, true},
		{"model not a string", `{"model":5}`, nil, 400, true},
		{"no model, bad policy header", `{"messages":[]}`, []string{"policy", "abc"}, 400, true},
		{"bad model string", `{"model":"logos-v1__policy_cost=x","messages":[]}`, nil, 400, true},
		{"unknown model", `{"model":"nope"}`, nil, 404, true},
		{"bad queue timeout", chatBody, []string{"Logos-Queue-Timeout", "soon"}, 400, true},
		{"wrong content type", chatBody, []string{"Content-Type", "multipart/form-data; boundary=x"}, 415, true},
		{"bad profile", chatBody, []string{"use-profile", "abc"}, 400, true},
	}
	want := before
	for _, tc := range cases {
		s, _, b := e.do("POST", "/v1/chat/completions", tc.body, tc.hdr...)
		if s != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, s, tc.status, b)
			continue
		}
		errorBody(t, b)
		if tc.recorded {
			want++
		}
	}
	recs := e.usage()
	if len(recs) != want {
		t.Fatalf("%d records after the refusals, want %d", len(recs), want)
	}
	for _, r := range recs[:want-before] {
		if r.Outcome != store.OutcomeRejected || r.StatusCode < 400 || r.ErrorMessage == "" {
			t.Fatalf("refusal record %+v", r)
		}
	}
	if len(up.Requests()) != 1 {
		t.Fatalf("refused requests reached the upstream: %d requests", len(up.Requests()))
	}
}

// TestJSONAnswerKeepsLength: a non-streaming answer of known length reaches
// the client with that Content-Length, as one response rather than chunks.
func TestJSONAnswerKeepsLength(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("m", up.Target(), nil)
	s, hdr, b := e.do("POST", "/v1/chat/completions", chatBody)
	if s != 200 {
		t.Fatalf("status %d: %s", s, b)
	}
	if got := hdr.Get("Content-Length"); got != strconv.Itoa(len(b)) {
		t.Errorf("Content-Length = %q, want %d (the body's length)", got, len(b))
	}
}

// TestClientHangsUpAfterDone: a client that stops reading at "data: [DONE]"
// and closes the connection while the upstream keeps its stream open (as
// OpenAI's SDKs do, and as upstreams that close late allow) got the whole
// answer. Its record says success with the tokens; a client that hangs up
// before [DONE] is still recorded as cancelled.
func TestClientHangsUpAfterDone(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}`+"\n\n")
		if !strings.Contains(r.URL.RawQuery, "cut") {
			io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`+"\n\n")
			io.WriteString(w, "data: [DONE]\n\n")
		}
		w.(http.Flusher).Flush()
		select { // hold the stream open until the client has gone
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer up.Close()
	e := newEnv(t)
	e.deploy("m", providers.Target{Kind: "openai", BaseURL: up.URL + "/v1"}, nil)

	for _, c := range []struct {
		query   string
		until   string
		outcome store.Outcome
		status  int
	}{
		{"", "data: [DONE]", store.OutcomeSuccess, http.StatusOK},
		{"?cut", `"hi"`, store.OutcomeCancelled, 499},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/v1/chat/completions"+c.query, strings.NewReader(streamBody))
		req.Header.Set("Authorization", "Bearer "+e.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("%q: stream ended before %s: %v", c.query, c.until, err)
			}
			if strings.Contains(line, c.until) {
				break
			}
		}
		cancel() // hang up with the upstream stream still open
		resp.Body.Close()
		rec := e.lastUsage()
		if rec.Outcome != c.outcome || rec.StatusCode != c.status {
			t.Errorf("%q: record outcome %s, status %d, error %q; want %s, %d", c.query, rec.Outcome, rec.StatusCode, rec.ErrorMessage, c.outcome, c.status)
		}
		if c.outcome == store.OutcomeSuccess && (rec.ErrorMessage != "" || tokens(rec)["total_tokens"] != 4) {
			t.Errorf("record error %q, tokens %v; want none and 4 total", rec.ErrorMessage, tokens(rec))
		}
	}
}

// TestLargeHeadersAndBodiesThroughSmallBuffers: the upstream connection's
// small read and write buffers still carry header lines and bodies many
// times their size, streamed and not, unchanged.
func TestLargeHeadersAndBodiesThroughSmallBuffers(t *testing.T) {
	long := strings.Repeat("v", 3000)
	content := strings.Repeat("0123456789", 20000) // 200 kB
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Long", long)
		if bytes.Contains(body, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\ndata: [DONE]\n\n", content)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"echo":%d,"choices":[{"index":0,"message":{"role":"assistant","content":%q}}]}`, len(body), content)
	}))
	defer up.Close()
	e := newEnv(t)
	e.deploy("m", providers.Target{Kind: "openai", BaseURL: up.URL + "/v1"}, nil)
	big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 100000) + `"}]}`
	for _, stream := range []bool{false, true} {
		body := big
		if stream {
			body = strings.Replace(big, `{"model":"m",`, `{"model":"m","stream":true,`, 1)
		}
		code, hdr, got := e.do("POST", "/v1/chat/completions", body)
		if code != 200 || hdr.Get("X-Long") != long || !strings.Contains(string(got), content) {
			t.Fatalf("stream %v: status %d, X-Long %d bytes, body %d bytes", stream, code, len(hdr.Get("X-Long")), len(got))
		}
		if !stream && !strings.Contains(string(got), fmt.Sprintf(`"echo":%d`, len(body))) {
			t.Errorf("upstream did not get the whole %d-byte request: %.80s", len(body), got)
		}
	}
}
