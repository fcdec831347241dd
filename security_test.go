package logos_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers"

	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/store"
)

// TestUngrantedModelThroughCaseFoldedMember reproduces issue 25 item 1: an
// Ollama provider serves llama3:8b (granted) and llama3:70b-private (not
// granted). Ollama decodes bodies with Go's encoding/json, which matches
// "Model" to its model field and lets the last member win, so a body naming
// the granted model as "model" and the private one as "Model" used to run the
// private model while the record said llama3:8b. Such bodies are refused
// before anything reaches the provider, on every proxied path.
func TestUngrantedModelThroughCaseFoldedMember(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOllama(t, providertest.Options{})
	_, dep := e.deploy("llama3:8b", up.Target(), nil)
	ctx := context.Background()
	private, err := e.store.CreateModel(ctx, store.Model{Name: "llama3:70b-private", WeightPrivacy: store.PrivacyLocal, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateDeployment(ctx, store.Deployment{ModelID: private.ID, ProviderID: dep.ProviderID}); err != nil {
		t.Fatal(err)
	}
	e.reload()

	// The private model is refused when named plainly.
	if s, _, b := e.do("POST", "/api/chat", `{"model":"llama3:70b-private","stream":false,"messages":[]}`); s != 404 {
		t.Fatalf("plain request for the private model: %d %s", s, b)
	}
	before := len(up.Requests())
	for _, tc := range []struct{ path, body, param string }{
		{"/api/chat", `{"model":"llama3:8b","Model":"llama3:70b-private","stream":false,"messages":[{"role":"user","content":"hi"}]}`, "Model"},
		{"/api/generate", `{"model":"llama3:8b","MODEL":"llama3:70b-private","stream":false,"prompt":"hi"}`, "MODEL"},
		{"/api/chat", `{"model":"llama3:8b","model":"llama3:70b-private","stream":false,"messages":[]}`, "model"},
		{"/v1/chat/completions", `{"model":"llama3:8b","Model":"llama3:70b-private","messages":[{"role":"user","content":"hi"}]}`, "Model"},
		{"/openai/chat/completions", `{"model":"llama3:8b","Model":"llama3:70b-private","messages":[{"role":"user","content":"hi"}]}`, "Model"},
		{"/v1/responses", `{"model":"llama3:8b","Model":"llama3:70b-private","input":"hi"}`, "Model"},
		{"/v1/chat/completions", `{"model":"llama3:8b","stream":false,"Stream":true,"messages":[]}`, "Stream"},
	} {
		s, _, b := e.do("POST", tc.path, tc.body)
		if s != 400 || strings.Contains(string(b), "70b") && !strings.Contains(string(b), "Model") {
			t.Errorf("%s %s: %d %s, want 400", tc.path, tc.body, s, b)
			continue
		}
		if !strings.HasPrefix(tc.path, "/api/") {
			var env struct {
				Error struct{ Param, Type string } `json:"error"`
			}
			if json.Unmarshal(b, &env) != nil || env.Error.Param != tc.param || env.Error.Type != "invalid_request_error" {
				t.Errorf("%s %s: error %s, want param %q", tc.path, tc.body, b, tc.param)
			}
		}
		if r := e.lastUsage(); r.StatusCode != 400 || r.ModelName == "llama3:8b" {
			t.Errorf("%s: record status %d model %q", tc.path, r.StatusCode, r.ModelName)
		}
	}
	if got := len(up.Requests()); got != before {
		t.Fatalf("%d ambiguous requests reached the provider", got-before)
	}
}

// TestPriorityHeaderOnlyLowers reproduces issue 25 item 6: a key whose
// admin-set priority is low sent Logos-Priority: high and jumped the queue.
// The header may only lower the key's priority; asking for more is ignored.
func TestPriorityHeaderOnlyLowers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, err := e.store.GetProcess(ctx, e.processID)
	if err != nil {
		t.Fatal(err)
	}
	p.Priority = 1 // low
	if _, err := e.store.UpdateProcess(ctx, p); err != nil {
		t.Fatal(err)
	}
	up := providertest.NewOpenAI(t, providertest.Options{HeaderDelay: 300 * time.Millisecond})
	e.deploy("m", up.Target(), func(_ *store.Provider, d *store.Deployment) { d.ParallelCapacity = 1 })

	var wg sync.WaitGroup
	send := func(user, priority string) {
		defer wg.Done()
		if s, _, b := e.do("POST", "/v1/chat/completions", `{"model":"m","user":"`+user+`","messages":[]}`, "Logos-Priority", priority); s != 200 {
			t.Errorf("%s: %d %s", user, s, b)
		}
	}
	wg.Add(3)
	go send("first", "")
	e.waitFor("the first request upstream", func() bool { return len(up.Requests()) == 1 })
	go send("early", "low")
	e.waitFor("one queued request", func() bool { return e.sched.QueueDepth() == 1 })
	go send("pushy", "high")
	e.waitFor("two queued requests", func() bool { return e.sched.QueueDepth() == 2 })
	wg.Wait()
	var order []string
	for _, r := range up.Requests() {
		var body struct{ User string }
		_ = json.Unmarshal(r.Body, &body)
		order = append(order, body.User)
	}
	if got := strings.Join(order, ","); got != "first,early,pushy" {
		t.Fatalf("upstream order %s: a low-priority key raised itself with Logos-Priority: high", got)
	}
	for _, r := range e.usage() {
		if r.Priority != 1 {
			t.Fatalf("record priority %d, want 1 (low)", r.Priority)
		}
	}
}

// TestUpstreamRedirectNotFollowed reproduces issue 25 item 9: an upstream
// redirect was followed with the provider's Api-Key header to the new host.
// The 3xx now reaches the client as it came, and nothing reaches the target.
func TestUpstreamRedirectNotFollowed(t *testing.T) {
	e := newEnv(t)
	var leaked atomic.Int32
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Api-Key") != "" || r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		w.WriteHeader(200)
	}))
	defer thief.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, thief.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	az := providertest.NewAzure(t, providertest.Options{Credential: "azure-secret"})
	target := az.Target()
	target.BaseURL = redirector.URL
	e.deploy("gpt-4o", target, nil)

	// A client that does not follow redirects itself, to see what Logos sent.
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o","messages":[]}`))
	req.Header.Set("Authorization", "Bearer "+e.key)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s, hdr := resp.StatusCode, resp.Header
	if s != http.StatusTemporaryRedirect || !strings.HasPrefix(hdr.Get("Location"), thief.URL) {
		t.Errorf("client got %d Location %q %s, want the upstream's 307", s, hdr.Get("Location"), b)
	}
	if n := leaked.Load(); n != 0 {
		t.Fatalf("the redirect target received the provider's credential %d times", n)
	}
}

// TestRequestAndResponseHeaderFiltering reproduces issue 25 item 10: client
// headers that choose the gateway account's billing (OpenAI-Organization,
// OpenAI-Project), spoof forwarding or method overrides, or were meant for
// this hop only reached the upstream, and the upstream's Set-Cookie reached
// the client. Request headers now pass through an allowlist.
func TestRequestAndResponseHeaderFiltering(t *testing.T) {
	e := newEnv(t)
	var got http.Header
	var mu sync.Mutex
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "session=provider-account; Path=/")
		w.Header().Set("Connection", "X-Hop-Secret")
		w.Header().Set("X-Hop-Secret", "for-logos-only")
		w.Header().Set("Openai-Processing-Ms", "12")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	defer up.Close()
	e.deploy("m", providers.Target{Kind: "openai", BaseURL: up.URL + "/v1", Credential: "provider-key"}, nil)

	s, hdr, b := e.do("POST", "/v1/chat/completions", `{"model":"m","messages":[]}`,
		"OpenAI-Organization", "org-victim", "OpenAI-Project", "proj-victim",
		"X-Forwarded-For", "10.0.0.1", "X-Forwarded-Host", "internal", "Forwarded", "for=10.0.0.1",
		"X-HTTP-Method-Override", "DELETE", "X-Api-Key", "client-secret", "Cookie", "a=b",
		"Connection", "X-Client-Hop", "X-Client-Hop", "1", "X-Custom", "anything",
		"OpenAI-Beta", "assistants=v2", "User-Agent", "OpenAI/Python 1.50.0", "X-Stainless-Lang", "python",
		"Accept", "application/json")
	if s != 200 {
		t.Fatalf("status %d %s", s, b)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, h := range []string{"OpenAI-Organization", "OpenAI-Project", "X-Forwarded-For", "X-Forwarded-Host", "Forwarded",
		"X-HTTP-Method-Override", "X-Api-Key", "Cookie", "X-Client-Hop", "X-Custom"} {
		if v := got.Get(h); v != "" {
			t.Errorf("%s: %q reached the upstream", h, v)
		}
	}
	for h, want := range map[string]string{"OpenAI-Beta": "assistants=v2", "User-Agent": "OpenAI/Python 1.50.0", "X-Stainless-Lang": "python",
		"Accept": "application/json", "Authorization": "Bearer provider-key"} {
		if v := got.Get(h); v != want {
			t.Errorf("%s upstream = %q, want %q", h, v, want)
		}
	}
	if v := hdr.Get("Set-Cookie"); v != "" {
		t.Errorf("the provider's Set-Cookie reached the client: %q", v)
	}
	if v := hdr.Get("X-Hop-Secret"); v != "" {
		t.Errorf("a header the upstream named in Connection reached the client: %q", v)
	}
	if hdr.Get("Openai-Processing-Ms") != "12" {
		t.Errorf("ordinary response header lost: %v", hdr)
	}
}

// TestClientIPTrustsOnlyConfiguredProxies reproduces issue 25 item 11:
// client_ip came from X-Forwarded-For whoever sent it.
func TestClientIPTrustsOnlyConfiguredProxies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		want    string
	}{
		{"untrusted peer", nil, "127.0.0.1"},
		{"trusted peer", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "203.0.113.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *logos.Config) { c.TrustedProxies = tc.trusted })
			up := providertest.NewOpenAI(t, providertest.Options{})
			e.deploy("m", up.Target(), nil)
			e.do("POST", "/v1/chat/completions", chatBody, "X-Forwarded-For", "198.51.100.7, 203.0.113.9")
			if got := e.lastUsage().ClientIP; got != tc.want {
				t.Fatalf("client_ip %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTransportErrorHidesUpstreamAddress: a provider that cannot be reached
// used to be named to the tenant with its host:port.
func TestTransportErrorHidesUpstreamAddress(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e.deploy("m", providers.Target{Kind: "openai", BaseURL: "http://" + addr + "/v1"}, nil)
	s, _, b := e.do("POST", "/v1/chat/completions", chatBody)
	_, port, _ := net.SplitHostPort(addr)
	if s != 502 || strings.Contains(string(b), port) {
		t.Fatalf("%d %s: the upstream's address reached the tenant", s, b)
	}
	if r := e.lastUsage(); strings.Contains(r.ErrorMessage, port) {
		t.Fatalf("record error %q names the upstream's address", r.ErrorMessage)
	}
}

// TestQueueTimeoutIsCapped: Logos-Queue-Timeout accepted a day; a request
// now waits at most MaxQueueTimeout.
func TestQueueTimeoutIsCapped(t *testing.T) {
	e := newEnv(t, func(c *logos.Config) { c.MaxQueueTimeout = 200 * time.Millisecond })
	up := providertest.NewOpenAI(t, providertest.Options{HeaderDelay: 3 * time.Second})
	e.deploy("m", up.Target(), func(_ *store.Provider, d *store.Deployment) { d.ParallelCapacity = 1 })
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.do("POST", "/v1/chat/completions", chatBody)
	}()
	e.waitFor("the first request upstream", func() bool { return len(up.Requests()) == 1 })
	start := time.Now()
	s, _, b := e.do("POST", "/v1/chat/completions", chatBody, "Logos-Queue-Timeout", "86400")
	_, _, code := errorBody(t, b)
	if s != 503 || code != "queue_timeout" || time.Since(start) > 2500*time.Millisecond {
		t.Fatalf("a day-long queue timeout: %d %v after %s, want 503 queue_timeout after the 200ms cap", s, code, time.Since(start))
	}
	<-done
}

// TestSlowBodyIsCutOff reproduces issue 25 item 8 (first half): a body sent
// one byte every few seconds held its connection open without bound. It now
// gets 408 once BodyReadTimeout has passed.
func TestSlowBodyIsCutOff(t *testing.T) {
	e := newEnv(t, func(c *logos.Config) { c.BodyReadTimeout = 300 * time.Millisecond })
	up := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("m", up.Target(), nil)
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: logos\r\nAuthorization: Bearer "+e.key+
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	if err != nil {
		t.Fatal(err)
	}
	// Trickle a byte every 200ms: each arrives well within any per-read
	// timeout, but the body as a whole does not.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
				if _, err := io.WriteString(conn, " "); err != nil {
					return
				}
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a trickled body within 5s: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("trickled body: %d, want 408", resp.StatusCode)
	}
}

// TestStalledStreamReaderFreesSlot reproduces issue 25 item 8 (second half):
// a streaming client that never reads held a capacity-1 deployment's only
// slot while another tenant timed out in the queue. The relay's write
// deadline now cuts the stalled client off and the slot goes to the next.
func TestStalledStreamReaderFreesSlot(t *testing.T) {
	e := newEnv(t, func(c *logos.Config) { c.WriteTimeout = 300 * time.Millisecond })
	var hogging atomic.Bool
	chunk := "data: {\"choices\":[{\"delta\":{\"content\":\"" + strings.Repeat("x", 32<<10) + "\"}}]}\n\n"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"hog"`) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
			return
		}
		hogging.Store(true)
		w.Header().Set("Content-Type", "text/event-stream")
		for r.Context().Err() == nil {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	defer func() {
		up.CloseClientConnections()
		up.Close()
	}()
	e.deploy("m", providers.Target{Kind: "openai", BaseURL: up.URL + "/v1"}, func(_ *store.Provider, d *store.Deployment) { d.ParallelCapacity = 1 })

	hog, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	_ = hog.(*net.TCPConn).SetReadBuffer(4 << 10)
	body := `{"model":"m","user":"hog","stream":true,"messages":[]}`
	if _, err := io.WriteString(hog, "POST /v1/chat/completions HTTP/1.1\r\nHost: logos\r\nAuthorization: Bearer "+e.key+
		"\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	// The hog never reads. Another tenant's request must still be served.
	e.waitFor("the stalled stream to hold the slot", hogging.Load)
	s, _, b := e.do("POST", "/v1/chat/completions", chatBody, "Logos-Queue-Timeout", "5")
	if s != 200 {
		t.Fatalf("second tenant behind a stalled stream: %d %s", s, b)
	}
}

// TestOnlyKnownOperationsForwarded reproduces issue 25 item 7: every POST
// /v1/... path was forwarded with the provider's key, so a key granted one
// model reached the provider account's fine-tuning, batch and file
// endpoints. Unknown operations now get 404 unknown_url unless an admin lists
// them in the provider's extra_operations.
func TestOnlyKnownOperationsForwarded(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOpenAI(t, providertest.Options{})
	_, dep := e.deploy("m", up.Target(), nil)
	for _, path := range []string{"/v1/fine_tuning/jobs", "/v1/batches", "/v1/files", "/openai/batches", "/v1/chat/completions/x"} {
		s, _, b := e.do("POST", path, `{"model":"m","input_file_id":"file-1"}`)
		_, _, code := errorBody(t, b)
		if s != 404 || code != "unknown_url" {
			t.Errorf("%s: %d %s, want 404 unknown_url", path, s, b)
		}
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("%d requests for unknown operations reached the provider", n)
	}
	// Known operations pass.
	if s, _, b := e.do("POST", "/v1/embeddings", `{"model":"m","input":"x"}`); s != 200 {
		t.Fatalf("embeddings: %d %s", s, b)
	}

	// An admin enables batches for this provider.
	body := fmt.Sprintf(`{"provider_id":%d,"extra_operations":["batches","files/*/content"]}`, dep.ProviderID)
	if s, _, b := e.do("POST", "/logosdb/update_provider", body); s != 200 {
		t.Fatalf("update_provider: %d %s", s, b)
	}
	if s, _, b := e.do("POST", "/logosdb/update_provider", fmt.Sprintf(`{"provider_id":%d,"extra_operations":["../x"]}`, dep.ProviderID)); s != 400 || !strings.Contains(string(b), "extra_operations") {
		t.Fatalf("invalid pattern: %d %s", s, b)
	}
	if s, _, b := e.do("POST", "/logosdb/get_providers", `{}`); s != 200 || !strings.Contains(string(b), `"extra_operations":["batches","files/*/content"]`) {
		t.Fatalf("get_providers: %d %s", s, b)
	}
	before := len(up.Requests())
	e.do("POST", "/v1/batches", `{"model":"m","input_file_id":"file-1"}`)
	e.do("POST", "/v1/files/file-1/content", `{"model":"m"}`)
	if got := len(up.Requests()) - before; got != 2 {
		t.Fatalf("%d of 2 enabled operations reached the provider", got)
	}
	if s, _, _ := e.do("POST", "/v1/fine_tuning/jobs", `{"model":"m"}`); s != 404 {
		t.Fatalf("fine_tuning/jobs after enabling batches: %d", s)
	}
}
