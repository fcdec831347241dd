package logos_test

// One test per proxy pitfall of the original (spec §12). Each would fail on the
// original's behaviour.

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/store"
)

const chatBody = `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`
const streamBody = `{"model":"m","stream":true,"messages":[{"role":"user","content":"Hi"}]}`

// errorBody decodes an OpenAI-format error envelope, failing if it is not one.
func errorBody(t *testing.T, b []byte) (message, typ string, code any) {
	t.Helper()
	var env struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Param   any    `json:"param"`
			Code    any    `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &env); err != nil || env.Error.Message == "" || env.Error.Type == "" {
		t.Fatalf("not an OpenAI error envelope: %s (%v)", b, err)
	}
	return env.Error.Message, env.Error.Type, env.Error.Code
}

// §12.4: a slot reserved before the request could be built is released.
func TestPitfall04CapacityReleasedWhenRequestCannotBeBuilt(t *testing.T) {
	e := newEnv(t)
	e.deploy("m", providers.Target{Kind: "openai", BaseURL: "http://[::1]:namedport"}, func(p *store.Provider, d *store.Deployment) {
		d.ParallelCapacity = 1
	})
	for i := range 3 {
		status, _, body := e.do("POST", "/v1/chat/completions", chatBody, "Logos-Queue-Timeout", "1")
		if status != http.StatusBadGateway {
			t.Fatalf("request %d: status %d (%s), want 502; a leaked slot would give 503 after the queue timeout", i, status, body)
		}
	}
}

// §12.5: an upstream error on a streaming request reaches the client with its
// status as JSON, not as a 200 "stream".
func TestPitfall05StreamErrorKeepsStatus(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOpenAI(t, providertest.Options{Status: http.StatusInternalServerError})
	e.deploy("m", up.Target(), nil)
	status, hdr, body := e.do("POST", "/v1/chat/completions", streamBody)
	if status != http.StatusInternalServerError || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d content-type %q, want 500 JSON", status, hdr.Get("Content-Type"))
	}
	errorBody(t, body)
	if r := e.lastUsage(); r.Outcome != store.OutcomeError || r.StatusCode != 500 {
		t.Fatalf("record %+v", r)
	}
}

// §12.5: SSE frames (blank-line separators included) pass byte for byte.
func TestPitfall05SSEFramesPreserved(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewAzure(t, providertest.Options{Deployment: "dep1"})
	e.deploy("m", up.Target(), nil)
	status, hdr, body := e.do("POST", "/v1/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}`)
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d %q", status, hdr.Get("Content-Type"))
	}
	want := providertest.WithModel(providertest.SharedFixture(t, "azure_streaming.txt"), "dep1")
	if string(body) != string(want) {
		t.Fatalf("stream changed in transit:\n got %q\nwant %q", body, want)
	}
	if got := tokens(e.lastUsage()); got["prompt_tokens"] != 15 || got["completion_tokens"] != 10 || got["total_tokens"] != 25 {
		t.Fatalf("tokens %v, want 15/10/25", got)
	}
}

// §12.6: upstream 4xx keep their status; non-JSON error bodies are wrapped.
func TestPitfall06UpstreamStatusPropagates(t *testing.T) {
	t.Run("azure 429 with rate-limit headers", func(t *testing.T) {
		e := newEnv(t)
		up := providertest.NewAzure(t, providertest.Options{Status: http.StatusTooManyRequests})
		e.deploy("m", up.Target(), nil)
		status, hdr, body := e.do("POST", "/v1/chat/completions", chatBody)
		if status != 429 || hdr.Get("Retry-After") == "" || hdr.Get("X-Ratelimit-Remaining-Requests") == "" {
			t.Fatalf("status %d headers %v", status, hdr)
		}
		msg, _, _ := errorBody(t, body)
		mustContain(t, []byte(msg), "rate limit")
	})
	t.Run("openai 400 stays 400", func(t *testing.T) {
		e := newEnv(t)
		up := providertest.NewOpenAI(t, providertest.Options{Status: http.StatusBadRequest})
		e.deploy("m", up.Target(), nil)
		status, _, body := e.do("POST", "/v1/chat/completions", chatBody)
		if status != 400 {
			t.Fatalf("status %d, want 400 (the original collapsed it to 500)", status)
		}
		errorBody(t, body)
	})
	t.Run("non-JSON error body is wrapped", func(t *testing.T) {
		e := newEnv(t)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>Bad gateway from nginx</html>"))
		}))
		t.Cleanup(up.Close)
		e.deploy("m", providers.Target{Kind: "openai_compatible", BaseURL: up.URL + "/v1"}, nil)
		status, _, body := e.do("POST", "/v1/chat/completions", chatBody)
		if status != 502 {
			t.Fatalf("status %d", status)
		}
		msg, typ, _ := errorBody(t, body)
		if !strings.Contains(msg, "Bad gateway from nginx") || typ != "api_error" {
			t.Fatalf("message %q type %q", msg, typ)
		}
	})
	t.Run("context overflow reported as 500 becomes 400", func(t *testing.T) {
		e := newEnv(t)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`{"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","code":500}`))
		}))
		t.Cleanup(up.Close)
		e.deploy("m", providers.Target{Kind: "openai_compatible", BaseURL: up.URL + "/v1"}, nil)
		status, _, body := e.do("POST", "/v1/chat/completions", chatBody)
		_, _, code := errorBody(t, body)
		if status != 400 || code != "context_length_exceeded" {
			t.Fatalf("status %d code %v, want 400 context_length_exceeded", status, code)
		}
	})
}

// §12.7: null detail objects and non-integer usage fields do not break metering.
func TestPitfall07UsageParsingIsRobust(t *testing.T) {
	e := newEnv(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],` +
			`"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":null,` +
			`"completion_tokens_details":{"reasoning_tokens":2,"accepted_prediction_tokens":null},"latency_checkpoint":{"t":1.5},"queue_time":0.25}}`))
	}))
	t.Cleanup(up.Close)
	e.deploy("m", providers.Target{Kind: "openai_compatible", BaseURL: up.URL + "/v1"}, nil)
	if status, _, body := e.do("POST", "/v1/chat/completions", chatBody); status != 200 {
		t.Fatalf("status %d %s", status, body)
	}
	got := tokens(e.lastUsage())
	want := map[string]int64{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "completion_reasoning_tokens": 2}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("tokens %v, want %v", got, want)
		}
	}
	if _, ok := got["latency_checkpoint"]; ok {
		t.Fatalf("non-integer field counted: %v", got)
	}
}

// §12.8: NUL bytes in a FULL-logged request neither block forwarding nor the record.
func TestPitfall08NULBytesAreForwardedAndLogged(t *testing.T) {
	e := newEnv(t)
	setFull(t, e)
	up := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("m", up.Target(), nil)
	body := `{"model":"m","messages":[{"role":"user","content":"a\u0000b"}],"user":"x\u0000"}`
	if status, _, b := e.do("POST", "/v1/chat/completions", body); status != 200 {
		t.Fatalf("status %d %s", status, b)
	}
	got, _ := up.LastRequest()
	mustContain(t, got.Body, `a\u0000b`) // forwarded unchanged
	r := e.lastUsage()
	if r.Outcome != store.OutcomeSuccess || len(r.RequestPayload) == 0 || strings.Contains(string(r.RequestPayload), `\u0000`) {
		t.Fatalf("record payload %q outcome %s", r.RequestPayload, r.Outcome)
	}
	mustContain(t, r.RequestPayload, `"ab"`)
}

// §12.9: a client that disconnects cancels the upstream request.
func TestPitfall09ClientDisconnectCancelsUpstream(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOpenAI(t, providertest.Options{EventDelay: 300 * time.Millisecond})
	e.deploy("m", up.Target(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/v1/chat/completions", strings.NewReader(streamBody))
	req.Header.Set("Authorization", "Bearer "+e.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-up.Canceled():
	case <-time.After(5 * time.Second):
		t.Fatal("upstream request was not cancelled after the client left")
	}
	if r := e.lastUsage(); r.Outcome != store.OutcomeCancelled || r.StatusCode != 499 {
		t.Fatalf("record outcome %s status %d, want cancelled 499", r.Outcome, r.StatusCode)
	}
}

// §12.10: no hard total timeout: a slow upstream (long time to first byte)
// is waited for.
func TestPitfall10NoHardUpstreamTimeout(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOllama(t, providertest.Options{HeaderDelay: 2 * time.Second})
	e.deploy("m", up.Target(), nil)
	if status, _, b := e.do("POST", "/v1/chat/completions", chatBody); status != 200 {
		t.Fatalf("status %d %s", status, b)
	}
}

// §12.11: Logos-only fields never reach the upstream; stream_options is added
// only to chat/completions-style streams.
func TestPitfall11LogosFieldsStripped(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("m", up.Target(), nil)
	e.do("POST", "/v1/chat/completions", `{"model":"m","stream":true,"timeout_s":30,"logos_priority":"high","messages":[],"x_vendor":{"keep":true}}`)
	got, _ := up.LastRequest()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(got.Body, &fields); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"timeout_s", "logos_priority"} {
		if _, ok := fields[f]; ok {
			t.Fatalf("Logos field %s forwarded: %s", f, got.Body)
		}
	}
	if string(fields["x_vendor"]) != `{"keep":true}` || string(fields["stream_options"]) != `{"include_usage":true}` {
		t.Fatalf("upstream body %s", got.Body)
	}
	e.do("POST", "/v1/embeddings", `{"model":"m","input":"x"}`)
	got, _ = up.LastRequest()
	if strings.Contains(string(got.Body), "stream_options") {
		t.Fatalf("stream_options added to embeddings: %s", got.Body)
	}
	e.do("POST", "/v1/responses", `{"model":"m","input":"x","stream":true}`)
	got, _ = up.LastRequest()
	if strings.Contains(string(got.Body), "stream_options") {
		t.Fatalf("stream_options added to responses: %s", got.Body)
	}
	if got := tokens(e.lastUsage()); got["prompt_tokens"] == 0 {
		t.Fatalf("responses stream not metered: %v", got)
	}
}

// §12.12: the inbound path selects the operation upstream.
func TestPitfall12InboundPathSelectsOperation(t *testing.T) {
	e := newEnv(t)
	oa := providertest.NewOpenAI(t, providertest.Options{})
	az := providertest.NewAzure(t, providertest.Options{Deployment: "emb-dep"})
	e.deploy("oa", oa.Target(), nil)
	e.deploy("az", az.Target(), nil)
	for _, path := range []string{"/v1/embeddings", "/openai/embeddings"} {
		if s, _, b := e.do("POST", path, `{"model":"oa","input":"x"}`); s != 200 {
			t.Fatalf("%s: %d %s", path, s, b)
		}
		if r, _ := oa.LastRequest(); r.Path != "/v1/embeddings" {
			t.Fatalf("openai upstream path %q", r.Path)
		}
	}
	if s, _, b := e.do("POST", "/v1/embeddings", `{"model":"az","input":"x"}`); s != 200 {
		t.Fatalf("azure: %d %s", s, b)
	}
	r, _ := az.LastRequest()
	if r.Path != "/openai/deployments/emb-dep/embeddings" || r.Query.Get("api-version") == "" {
		t.Fatalf("azure upstream %s?%s", r.Path, r.RawQuery)
	}
}

// §12.13: behaviour follows the provider kind, never its display name.
func TestPitfall13KindNotName(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("m", up.Target(), func(p *store.Provider, d *store.Deployment) {
		p.Name = "my-ollama-openwebui-box"
		d.UpstreamModel = "gpt-4o-mini-2024"
	})
	if s, _, b := e.do("POST", "/v1/chat/completions", chatBody); s != 200 {
		t.Fatalf("%d %s", s, b)
	}
	r, _ := up.LastRequest()
	if r.Path != "/v1/chat/completions" {
		t.Fatalf("path %q: chosen by name instead of kind", r.Path)
	}
	mustContain(t, r.Body, `"model":"gpt-4o-mini-2024"`)
}

// §12.14: one documented credential source: the deployment's credential,
// else the provider's (which the original's add_provider dropped).
func TestPitfall14CredentialPrecedence(t *testing.T) {
	e := newEnv(t)
	provOnly := providertest.NewOpenAI(t, providertest.Options{Credential: "provider-key"})
	e.deploy("p", provOnly.Target(), nil)
	override := providertest.NewOpenAI(t, providertest.Options{Credential: "deployment-key"})
	e.deploy("d", override.Target(), func(p *store.Provider, d *store.Deployment) {
		p.Credential = "provider-key"
		d.Credential = "deployment-key"
	})
	for _, m := range []string{"p", "d"} {
		if s, _, b := e.do("POST", "/v1/chat/completions", `{"model":"`+m+`","messages":[]}`); s != 200 {
			t.Fatalf("model %s: %d %s", m, s, b)
		}
	}
}

// §12.18: a logos-v model string is a policy, never looked up as a model name.
func TestPitfall18ModelStringDetectedFirst(t *testing.T) {
	e := newEnv(t)
	named := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("logos-v1__policy_privacy=LOCAL", named.Target(), func(p *store.Provider, _ *store.Deployment) {
		p.Privacy = store.PrivacyCloudNotInEUByUSProvider // fails the policy below
	})
	m, err := e.store.GetModelByName(context.Background(), "logos-v1__policy_privacy=LOCAL")
	if err != nil {
		t.Fatal(err)
	}
	m.WeightPrivacy = store.PrivacyCloudNotInEUByUSProvider
	if _, err := e.store.UpdateModel(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	local := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("local", local.Target(), nil)
	s, h, b := e.do("POST", "/v1/chat/completions", `{"model":"logos-v1__policy_privacy=LOCAL","messages":[]}`)
	if s != 200 || h.Get("X-Logos-Model") != "local" {
		t.Fatalf("status %d model %q: %s", s, h.Get("X-Logos-Model"), b)
	}
	if len(named.Requests()) != 0 {
		t.Fatal("a policy string was routed as a model name")
	}
	// Privacy levels other than LOCAL parse too (the original split them apart).
	s, _, b = e.do("POST", "/v1/chat/completions", `{"model":"logos-v1__policy_privacy=CLOUD_IN_EU_BY_US_PROVIDER","messages":[]}`)
	if s != 200 {
		t.Fatalf("status %d: %s", s, b)
	}
}

// §12.26: FULL logging redacts credentials from stored headers.
func TestPitfall26SecretsRedacted(t *testing.T) {
	e := newEnv(t)
	setFull(t, e)
	up := providertest.NewOpenAI(t, providertest.Options{Credential: "sk-upstream"})
	e.deploy("m", up.Target(), nil)
	e.do("POST", "/v1/chat/completions", chatBody, "Cookie", "session=abc", "X-Api-Secret", "s3cr3t", "X-Trace", "visible")
	r := e.lastUsage()
	all := string(r.RequestHeaders) + string(r.ResponseHeaders) + string(r.RequestPayload) + string(r.ResponsePayload)
	for _, secret := range []string{e.key, "session=abc", "s3cr3t", "sk-upstream"} {
		if strings.Contains(all, secret) {
			t.Fatalf("secret %q stored in the usage record", secret)
		}
	}
	mustContain(t, r.RequestHeaders, `"x-trace":"visible"`)
	mustContain(t, r.RequestHeaders, `"authorization":"[REDACTED]"`)
}

// §12.32: hyphenated aliases of underscore headers work.
func TestPitfall32HeaderAliases(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("m", up.Target(), nil)
	for _, hdr := range [][]string{
		{"Authorization", "", "logos-key", e.key, "use-profile", "1"},
		{"Authorization", "", "logos_key", e.key, "use_profile", "1"},
		{"Authorization", e.key}, // without "Bearer "
	} {
		if s, _, b := e.do("POST", "/v1/chat/completions", chatBody, hdr...); s != 200 {
			t.Fatalf("headers %v: %d %s", hdr, s, b)
		}
	}
	if s, _, _ := e.do("POST", "/v1/chat/completions", chatBody, "use-profile", "999"); s != 404 {
		t.Fatalf("unknown profile: %d, want 404", s)
	}
}

// §12.34: a body-less GET on a forwarding route is 405 with Allow, not 400.
func TestPitfall34MethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	for path, allow := range map[string]string{"/v1/chat/completions": "POST", "/openai/embeddings": "POST"} {
		s, hdr, b := e.do("GET", path, "")
		if s != 405 || hdr.Get("Allow") != allow {
			t.Fatalf("GET %s: %d Allow %q", path, s, hdr.Get("Allow"))
		}
		errorBody(t, b)
	}
	if s, hdr, _ := e.do("POST", "/v1/models", "{}"); s != 405 || !strings.Contains(hdr.Get("Allow"), "GET") {
		t.Fatalf("POST /v1/models: %d Allow %q", s, hdr.Get("Allow"))
	}
}

// §12.40: an upstream that sends a 200 and breaks off before any byte gives
// the client a real error, not a 200 with an empty body.
func TestPitfall40NoEmptySuccess(t *testing.T) {
	e := newEnv(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(up.Close)
	e.deploy("m", providers.Target{Kind: "openai", BaseURL: up.URL + "/v1"}, nil)
	s, _, b := e.do("POST", "/v1/chat/completions", streamBody)
	if s != http.StatusBadGateway {
		t.Fatalf("status %d body %q, want 502", s, b)
	}
	errorBody(t, b)
}

func setFull(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	p, err := e.store.GetProcess(ctx, e.processID)
	if err != nil {
		t.Fatal(err)
	}
	p.LogLevel = store.LogFull
	if _, err := e.store.UpdateProcess(ctx, p); err != nil {
		t.Fatal(err)
	}
	e.reload()
}
