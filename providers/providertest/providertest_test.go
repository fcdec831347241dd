package providertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/logos-llm/logos/pipeline/meter"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/azure"
	"github.com/logos-llm/logos/providers/ollama"
	"github.com/logos-llm/logos/providers/openaicompat"
	"github.com/logos-llm/logos/providers/providertest"
)

// exchange sends call through p to target and relays the answer like the
// gateway does, returning the status, headers, relayed body and result.
type exchange struct {
	status int
	header http.Header
	body   []byte
	res    meter.Result
	err    error
}

func send(t *testing.T, ctx context.Context, p providers.Provider, target providers.Target, call providers.Call, drop bool) exchange {
	t.Helper()
	req, err := p.NewRequest(ctx, target, call)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	res, err := meter.Relay(&out, resp.Body, meter.Options{
		Format:            meter.FormatForContentType(resp.Header.Get("Content-Type")),
		DropInjectedUsage: drop,
		CaptureLimit:      1 << 20,
	})
	return exchange{status: resp.StatusCode, header: resp.Header, body: out.Bytes(), res: res, err: err}
}

func chatBody(model string, stream, includeUsage bool) []byte {
	m := map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": "Hi"}}}
	if stream {
		m["stream"] = true
	}
	if includeUsage {
		m["stream_options"] = map[string]bool{"include_usage": true}
	}
	b, _ := json.Marshal(m)
	return b
}

func tokens(p, c, total int64) meter.Tokens {
	return meter.Tokens{"prompt_tokens": p, "completion_tokens": c, "total_tokens": total}
}

func checkUsage(t *testing.T, got, want meter.Tokens) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
}

func TestOpenAI(t *testing.T) {
	srv := providertest.NewOpenAI(t, providertest.Options{Credential: "sk-test"})
	p := openaicompat.New()
	ctx := context.Background()

	t.Run("sync chat", func(t *testing.T) {
		x := send(t, ctx, p, srv.Target(), providers.Call{Operation: "chat/completions", Body: chatBody("gpt-4o-mini", false, false)}, false)
		if x.status != 200 || x.err != nil {
			t.Fatalf("status %d, err %v: %s", x.status, x.err, x.body)
		}
		want := providertest.WithModel(providertest.Testdata(t, "openai_sync.json"), "gpt-4o-mini")
		if !bytes.Equal(x.body, want) {
			t.Errorf("body differs from the fixture:\n%s", x.body)
		}
		checkUsage(t, x.res.Usage, meter.Tokens{"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29, "prompt_cached_tokens": 3, "completion_reasoning_tokens": 5})
		r, _ := srv.LastRequest()
		if r.Method != "POST" || r.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-test" ||
			r.Header.Get("Content-Type") != "application/json" || !bytes.Equal(r.Body, chatBody("gpt-4o-mini", false, false)) {
			t.Errorf("upstream received %+v", r)
		}
	})
	t.Run("stream with injected usage dropped", func(t *testing.T) {
		x := send(t, ctx, p, srv.Target(), providers.Call{Operation: "chat/completions", Body: chatBody("gpt-4o-mini", true, true)}, true)
		if x.err != nil || !strings.HasPrefix(x.header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("err %v, content type %q", x.err, x.header.Get("Content-Type"))
		}
		full := providertest.WithModel(providertest.Testdata(t, "openai_streaming_include_usage.txt"), "gpt-4o-mini")
		if bytes.Contains(x.body, []byte(`"choices":[]`)) || len(x.body) >= len(full) || !bytes.HasSuffix(x.body, []byte("data: [DONE]\n\n")) {
			t.Errorf("usage-only chunk not dropped or stream truncated:\n%s", x.body)
		}
		checkUsage(t, x.res.Usage, meter.Tokens{"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29, "prompt_cached_tokens": 3, "completion_reasoning_tokens": 5})
	})
	t.Run("stream without include_usage carries no usage", func(t *testing.T) {
		x := send(t, ctx, p, srv.Target(), providers.Call{Operation: "chat/completions", Body: chatBody("gpt-4o-mini", true, false)}, false)
		want := providertest.WithModel(providertest.Testdata(t, "openai_streaming.txt"), "gpt-4o-mini")
		if x.err != nil || !bytes.Equal(x.body, want) || x.res.Usage != nil || !x.res.SawDone {
			t.Errorf("err %v, usage %v, SawDone %v, identical %v", x.err, x.res.Usage, x.res.SawDone, bytes.Equal(x.body, want))
		}
	})
	t.Run("responses stream", func(t *testing.T) {
		x := send(t, ctx, p, srv.Target(), providers.Call{Operation: "responses", Body: []byte(`{"model":"gpt-4o","input":"Hi","stream":true}`)}, false)
		if x.err != nil || !x.res.SawDone || x.res.Events != 11 {
			t.Fatalf("err %v, SawDone %v, Events %d", x.err, x.res.SawDone, x.res.Events)
		}
		checkUsage(t, x.res.Usage, tokens(37, 11, 48))
	})
	t.Run("embeddings", func(t *testing.T) {
		x := send(t, ctx, p, srv.Target(), providers.Call{Operation: "embeddings", Body: []byte(`{"model":"text-embedding-3-small","input":"Hi"}`)}, false)
		checkUsage(t, x.res.Usage, meter.Tokens{"prompt_tokens": 8, "total_tokens": 8})
	})
	t.Run("models", func(t *testing.T) {
		x := send(t, ctx, p, srv.Target(), providers.Call{Operation: "models"}, false)
		r, _ := srv.LastRequest()
		if x.status != 200 || r.Method != "GET" || !bytes.Contains(x.body, []byte(`"gpt-4o-mini"`)) {
			t.Errorf("status %d, method %s, body %s", x.status, r.Method, x.body)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		target := srv.Target()
		target.Credential = "sk-wrong"
		x := send(t, ctx, p, target, providers.Call{Operation: "chat/completions", Body: chatBody("m", false, false)}, false)
		if x.status != 401 || !bytes.Contains(x.body, []byte(`"code":"invalid_api_key"`)) {
			t.Errorf("status %d body %s", x.status, x.body)
		}
	})
	t.Run("unknown path and wrong method", func(t *testing.T) {
		x := send(t, ctx, p, srv.Target(), providers.Call{Operation: "nope", Body: []byte(`{}`)}, false)
		if x.status != 404 || !bytes.Contains(x.body, []byte("Invalid URL (POST /v1/nope)")) {
			t.Errorf("status %d body %s", x.status, x.body)
		}
		x = send(t, ctx, p, srv.Target(), providers.Call{Operation: "models", Method: "POST", Body: []byte(`{}`)}, false)
		if x.status != 405 || x.header.Get("Allow") != "GET" {
			t.Errorf("status %d Allow %q", x.status, x.header.Get("Allow"))
		}
	})
	if n := len(srv.Requests()); n != 9 {
		t.Errorf("recorded %d requests, want 9", n)
	}
}

func TestOpenAIErrors(t *testing.T) {
	tests := []struct {
		status int
		code   string
		header string
	}{
		{400, `"code":"context_length_exceeded"`, ""},
		{404, `"code":"model_not_found"`, ""},
		{429, `"code":"rate_limit_exceeded"`, "Retry-After"},
		{500, `"type":"server_error"`, ""},
	}
	for _, tc := range tests {
		srv := providertest.NewOpenAI(t, providertest.Options{Status: tc.status})
		x := send(t, context.Background(), openaicompat.New(), srv.Target(), providers.Call{Operation: "chat/completions", Body: chatBody("m", true, false)}, false)
		if x.status != tc.status || !bytes.Contains(x.body, []byte(tc.code)) || (tc.header != "" && x.header.Get(tc.header) == "") {
			t.Errorf("status %d: got %d %s %v", tc.status, x.status, x.body, x.header)
		}
		var env struct {
			Error struct{ Message, Type string } `json:"error"`
		}
		if err := json.Unmarshal(x.body, &env); err != nil || env.Error.Message == "" {
			t.Errorf("status %d: body is not an OpenAI error: %s", tc.status, x.body)
		}
	}
}

func TestOpenWebUI(t *testing.T) {
	srv := providertest.NewOpenAI(t, providertest.Options{
		PathPrefix: "/api",
		Credential: "owui",
		ChatJSON:   providertest.SharedFixture(t, "openwebui_sync.json"),
		ChatStream: providertest.SharedFixture(t, "openwebui_streaming.txt"),
	})
	target := providers.Target{Kind: providers.KindOpenAICompatible, BaseURL: srv.URL + "/api", Credential: "owui"}
	x := send(t, context.Background(), openaicompat.New(), target, providers.Call{Operation: "chat/completions", Body: chatBody("llama3", true, true)}, false)
	want := providertest.WithModel(providertest.SharedFixture(t, "openwebui_streaming.txt"), "llama3")
	if x.err != nil || !bytes.Equal(x.body, want) {
		t.Fatalf("err %v; body differs:\n%s", x.err, x.body)
	}
	checkUsage(t, x.res.Usage, tokens(12, 8, 20))
	x = send(t, context.Background(), openaicompat.New(), target, providers.Call{Operation: "chat/completions", Body: chatBody("llama3", false, false)}, false)
	checkUsage(t, x.res.Usage, tokens(12, 10, 22))
	if r, _ := srv.LastRequest(); r.Path != "/api/chat/completions" {
		t.Errorf("path %s", r.Path)
	}
}

func TestAzure(t *testing.T) {
	srv := providertest.NewAzure(t, providertest.Options{Credential: "azkey", Deployment: "gpt4o-prod", APIVersion: "2024-10-21"})
	p := azure.New()
	ctx := context.Background()
	target := srv.Target()

	t.Run("sync chat", func(t *testing.T) {
		x := send(t, ctx, p, target, providers.Call{Operation: "chat/completions", Body: []byte(`{"messages":[]}`)}, false)
		want := providertest.WithModel(providertest.SharedFixture(t, "azure_sync.json"), "gpt-4o")
		if x.status != 200 || !bytes.Equal(x.body, want) {
			t.Fatalf("status %d body %s", x.status, x.body)
		}
		checkUsage(t, x.res.Usage, tokens(15, 10, 25))
		r, _ := srv.LastRequest()
		if r.Path != "/openai/deployments/gpt4o-prod/chat/completions" || r.Query.Get("api-version") != "2024-10-21" || r.Header.Get("Api-Key") != "azkey" {
			t.Errorf("upstream received %s?%s api-key %q", r.Path, r.RawQuery, r.Header.Get("Api-Key"))
		}
		if x.header.Get("X-Ratelimit-Remaining-Requests") == "" || x.header.Get("Apim-Request-Id") == "" {
			t.Errorf("missing Azure headers: %v", x.header)
		}
	})
	t.Run("stream", func(t *testing.T) {
		x := send(t, ctx, p, target, providers.Call{Operation: "chat/completions", Body: []byte(`{"messages":[],"stream":true}`)}, false)
		want := providertest.WithModel(providertest.SharedFixture(t, "azure_streaming.txt"), "gpt-4o")
		if x.err != nil || !bytes.Equal(x.body, want) || !x.res.SawDone || x.res.Events != 12 {
			t.Fatalf("err %v, SawDone %v, Events %d, identical %v", x.err, x.res.SawDone, x.res.Events, bytes.Equal(x.body, want))
		}
		checkUsage(t, x.res.Usage, tokens(15, 10, 25))
	})
	t.Run("embeddings", func(t *testing.T) {
		x := send(t, ctx, p, target, providers.Call{Operation: "embeddings", Body: []byte(`{"input":"Hi"}`)}, false)
		checkUsage(t, x.res.Usage, meter.Tokens{"prompt_tokens": 8, "total_tokens": 8})
	})
	t.Run("responses uses the preview version and the deployment as model", func(t *testing.T) {
		x := send(t, ctx, p, target, providers.Call{Operation: "responses", Body: []byte(`{"model":"gpt4o-prod","input":"Hi","stream":true}`)}, false)
		if x.status != 200 || x.err != nil {
			t.Fatalf("status %d err %v body %s", x.status, x.err, x.body)
		}
		checkUsage(t, x.res.Usage, tokens(37, 11, 48))
		r, _ := srv.LastRequest()
		if r.Path != "/openai/responses" || r.Query.Get("api-version") != azure.DefaultResponsesAPIVersion {
			t.Errorf("upstream received %s?%s", r.Path, r.RawQuery)
		}
	})
	t.Run("models", func(t *testing.T) {
		x := send(t, ctx, p, target, providers.Call{Operation: "models"}, false)
		if x.status != 200 || !bytes.Contains(x.body, []byte(`"gpt-4o-2024-08-06"`)) {
			t.Errorf("status %d body %s", x.status, x.body)
		}
	})
	t.Run("unknown deployment", func(t *testing.T) {
		other := target
		other.UpstreamModel = "gpt-35"
		x := send(t, ctx, p, other, providers.Call{Operation: "chat/completions", Body: []byte(`{}`)}, false)
		if x.status != 404 || !bytes.Contains(x.body, []byte("DeploymentNotFound")) {
			t.Errorf("status %d body %s", x.status, x.body)
		}
	})
	t.Run("wrong api-version", func(t *testing.T) {
		other := target
		other.APIVersion = "2023-05-15"
		x := send(t, ctx, p, other, providers.Call{Operation: "chat/completions", Body: []byte(`{}`)}, false)
		if x.status != 404 || !bytes.Contains(x.body, []byte("Resource not found")) {
			t.Errorf("status %d body %s", x.status, x.body)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		other := target
		other.Credential = "nope"
		x := send(t, ctx, p, other, providers.Call{Operation: "chat/completions", Body: []byte(`{}`)}, false)
		if x.status != 401 || !bytes.Contains(x.body, []byte("Access denied")) {
			t.Errorf("status %d body %s", x.status, x.body)
		}
	})
}

func TestAzureErrors(t *testing.T) {
	t.Run("429", func(t *testing.T) {
		srv := providertest.NewAzure(t, providertest.Options{Status: 429})
		x := send(t, context.Background(), azure.New(), srv.Target(), providers.Call{Operation: "chat/completions", Body: []byte(`{}`)}, false)
		if x.status != 429 || x.header.Get("Retry-After") != "6" || x.header.Get("Retry-After-Ms") != "6000" ||
			x.header.Get("X-Ratelimit-Remaining-Requests") != "0" || x.header.Get("X-Ratelimit-Remaining-Tokens") != "0" {
			t.Errorf("status %d headers %v", x.status, x.header)
		}
		var env struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(x.body, &env); err != nil || env.Error.Code != "429" ||
			!strings.HasPrefix(env.Error.Message, "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded call rate limit") {
			t.Errorf("body %s", x.body)
		}
	})
	t.Run("content filter", func(t *testing.T) {
		srv := providertest.NewAzure(t, providertest.Options{Status: 400})
		x := send(t, context.Background(), azure.New(), srv.Target(), providers.Call{Operation: "chat/completions", Body: []byte(`{}`)}, false)
		var env struct {
			Error struct {
				Code       string `json:"code"`
				InnerError struct {
					Code string `json:"code"`
				} `json:"innererror"`
			} `json:"error"`
		}
		if err := json.Unmarshal(x.body, &env); x.status != 400 || err != nil || env.Error.Code != "content_filter" || env.Error.InnerError.Code != "ResponsibleAIPolicyViolation" {
			t.Errorf("status %d body %s", x.status, x.body)
		}
	})
	t.Run("missing api-version", func(t *testing.T) {
		srv := providertest.NewAzure(t, providertest.Options{})
		resp, err := http.Post(srv.URL+"/openai/deployments/x/chat/completions", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("status %d, want 404", resp.StatusCode)
		}
	})
	t.Run("responses with an old api-version", func(t *testing.T) {
		srv := providertest.NewAzure(t, providertest.Options{})
		resp, err := http.Post(srv.URL+"/openai/responses?api-version=2024-10-21", "application/json", strings.NewReader(`{"model":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !bytes.Contains(b, []byte("2025-03-01-preview and later")) {
			t.Errorf("status %d body %s", resp.StatusCode, b)
		}
	})
}

func TestOllama(t *testing.T) {
	srv := providertest.NewOllama(t, providertest.Options{})
	p := ollama.New()
	ctx := context.Background()
	target := srv.Target()
	native := func(model string, stream *bool) []byte {
		m := map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": "Hi"}}}
		if stream != nil {
			m["stream"] = *stream
		}
		b, _ := json.Marshal(m)
		return b
	}
	no := false

	t.Run("api/chat streams NDJSON by default", func(t *testing.T) {
		x := send(t, ctx, p, target, providers.Call{Operation: "api/chat", Body: native("llama3", nil)}, false)
		want := providertest.WithModel(providertest.Testdata(t, "ollama_chat_stream.ndjson"), "llama3")
		if x.err != nil || x.header.Get("Content-Type") != "application/x-ndjson" || !bytes.Equal(x.body, want) || !x.res.SawDone {
			t.Fatalf("err %v ct %q SawDone %v body %s", x.err, x.header.Get("Content-Type"), x.res.SawDone, x.body)
		}
		checkUsage(t, x.res.Usage, tokens(26, 290, 316))
	})
	t.Run("api/chat without streaming", func(t *testing.T) {
		x := send(t, ctx, p, target, providers.Call{Operation: "api/chat", Body: native("llama3", &no)}, false)
		checkUsage(t, x.res.Usage, tokens(26, 290, 316))
	})
	t.Run("api/generate", func(t *testing.T) {
		x := send(t, ctx, p, target, providers.Call{Operation: "api/generate", Body: []byte(`{"model":"llama3","prompt":"Why is the sky blue?"}`)}, false)
		checkUsage(t, x.res.Usage, tokens(13, 42, 55))
		if x.res.Events != 10 {
			t.Errorf("Events = %d, want 10", x.res.Events)
		}
	})
	t.Run("api/embed", func(t *testing.T) {
		x := send(t, ctx, p, target, providers.Call{Operation: "api/embed", Body: []byte(`{"model":"all-minilm","input":"Hi"}`)}, false)
		checkUsage(t, x.res.Usage, meter.Tokens{"prompt_tokens": 8, "total_tokens": 8})
	})
	t.Run("api/tags and api/ps are GET", func(t *testing.T) {
		for _, op := range []string{"api/tags", "api/ps"} {
			x := send(t, ctx, p, target, providers.Call{Operation: op}, false)
			r, _ := srv.LastRequest()
			if x.status != 200 || r.Method != "GET" || !bytes.Contains(x.body, []byte(`"llama3:latest"`)) {
				t.Errorf("%s: status %d method %s body %s", op, x.status, r.Method, x.body)
			}
		}
	})
	t.Run("openai-compatible stream", func(t *testing.T) {
		x := send(t, ctx, p, target, providers.Call{Operation: "chat/completions", Body: chatBody("llama3", true, true)}, true)
		if x.err != nil || bytes.Contains(x.body, []byte(`"choices":[]`)) || !x.res.SawDone {
			t.Fatalf("err %v body %s", x.err, x.body)
		}
		checkUsage(t, x.res.Usage, tokens(26, 9, 35))
		if r, _ := srv.LastRequest(); r.Path != "/v1/chat/completions" {
			t.Errorf("path %s", r.Path)
		}
	})
	t.Run("model required", func(t *testing.T) {
		x := send(t, ctx, p, target, providers.Call{Operation: "api/chat", Body: []byte(`{}`)}, false)
		if x.status != 400 || string(bytes.TrimSpace(x.body)) != `{"error":"model is required"}` {
			t.Errorf("status %d body %s", x.status, x.body)
		}
	})
}

func TestOllamaErrors(t *testing.T) {
	srv := providertest.NewOllama(t, providertest.Options{Status: 404})
	x := send(t, context.Background(), ollama.New(), srv.Target(), providers.Call{Operation: "api/chat", Body: []byte(`{"model":"nope"}`)}, false)
	if x.status != 404 || string(bytes.TrimSpace(x.body)) != `{"error":"model \"nope\" not found, try pulling it first"}` {
		t.Errorf("native: status %d body %s", x.status, x.body)
	}
	x = send(t, context.Background(), ollama.New(), srv.Target(), providers.Call{Operation: "chat/completions", Body: []byte(`{"model":"nope"}`)}, false)
	if x.status != 404 || !bytes.Contains(x.body, []byte(`"type":"not_found_error"`)) {
		t.Errorf("openai: status %d body %s", x.status, x.body)
	}
	auth := providertest.NewOllama(t, providertest.Options{Credential: "proxy-key"})
	x = send(t, context.Background(), ollama.New(), auth.Target(), providers.Call{Operation: "api/tags"}, false)
	if x.status != 200 {
		t.Errorf("authenticated proxy: status %d", x.status)
	}
	target := auth.Target()
	target.Credential = ""
	x = send(t, context.Background(), ollama.New(), target, providers.Call{Operation: "api/tags"}, false)
	if x.status != 401 {
		t.Errorf("missing credential: status %d", x.status)
	}
}

func TestAbortMidStream(t *testing.T) {
	t.Run("sse", func(t *testing.T) {
		srv := providertest.NewAzure(t, providertest.Options{AbortAfter: 3})
		x := send(t, context.Background(), azure.New(), srv.Target(), providers.Call{Operation: "chat/completions", Body: []byte(`{"stream":true}`)}, false)
		events := providertest.SplitSSE(providertest.WithModel(providertest.SharedFixture(t, "azure_streaming.txt"), "gpt-4o"))
		want := bytes.Join(events[:3], nil)
		if !errors.Is(x.err, meter.ErrUpstream) || !errors.Is(x.err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v, want ErrUpstream wrapping io.ErrUnexpectedEOF", x.err)
		}
		if !bytes.HasPrefix(x.body, want) || !bytes.HasSuffix(x.body, []byte(`"code":"upstream_error"}}`+"\n\ndata: [DONE]\n\n")) {
			t.Errorf("client stream not ended cleanly:\n%s", x.body)
		}
	})
	t.Run("ndjson", func(t *testing.T) {
		srv := providertest.NewOllama(t, providertest.Options{AbortAfter: 2})
		x := send(t, context.Background(), ollama.New(), srv.Target(), providers.Call{Operation: "api/chat", Body: []byte(`{"model":"llama3"}`)}, false)
		lines := providertest.SplitLines(providertest.WithModel(providertest.Testdata(t, "ollama_chat_stream.ndjson"), "llama3"))
		want := string(bytes.Join(lines[:2], nil)) + `{"error":"upstream stream interrupted"}` + "\n"
		if !errors.Is(x.err, meter.ErrUpstream) || string(x.body) != want {
			t.Errorf("err %v body %s", x.err, x.body)
		}
	})
}

func TestEventDelayStreamsIncrementally(t *testing.T) {
	const delay = 40 * time.Millisecond
	srv := providertest.NewOpenAI(t, providertest.Options{EventDelay: delay})
	req, err := openaicompat.New().NewRequest(context.Background(), srv.Target(), providers.Call{Operation: "chat/completions", Body: chatBody("m", true, false)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	w := &firstWrite{}
	res, err := meter.Relay(w, resp.Body, meter.Options{Format: meter.FormatSSE})
	if err != nil {
		t.Fatal(err)
	}
	total := time.Since(start)
	first := w.at.Load().(time.Time).Sub(start)
	if res.Events != 9 || total < 8*delay || first >= total/2 {
		t.Errorf("events %d, first event after %v, stream took %v: events were not streamed one by one", res.Events, first, total)
	}
}

type firstWrite struct{ at atomic.Value }

func (f *firstWrite) Write(p []byte) (int, error) {
	f.at.CompareAndSwap(nil, time.Now())
	return len(p), nil
}

func TestCancellationIsObserved(t *testing.T) {
	var hooked atomic.Int32
	// The server observes a departed client by its cancelled context or by
	// the next failed write, whichever comes first; the stream keeps writing
	// so both apply.
	srv := providertest.NewOpenAI(t, providertest.Options{
		EventDelay: 200 * time.Millisecond,
		OnCancel:   func(*http.Request) { hooked.Add(1) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	req, err := openaicompat.New().NewRequest(ctx, srv.Target(), providers.Call{Operation: "chat/completions", Body: chatBody("m", true, false)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatalf("first event: %v", err)
	}
	select {
	case <-srv.Canceled():
		t.Fatal("cancellation reported before the client cancelled")
	default:
	}
	// A client that gives up cancels and closes its response, which closes
	// the connection the server watches.
	cancel()
	resp.Body.Close()
	select {
	case <-srv.Canceled():
	case <-time.After(5 * time.Second):
		t.Fatal("upstream never saw the cancellation")
	}
	// OnCancel runs just after Canceled is closed.
	deadline := time.Now().Add(5 * time.Second)
	for hooked.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if hooked.Load() != 1 {
		t.Errorf("OnCancel called %d times, want 1", hooked.Load())
	}
}

func TestHeaderDelayAndCancellation(t *testing.T) {
	srv := providertest.NewAzure(t, providertest.Options{HeaderDelay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, err := azure.New().NewRequest(ctx, srv.Target(), providers.Call{Operation: "chat/completions", Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do: %v, want a deadline error", err)
	}
	select {
	case <-srv.Canceled():
	case <-time.After(5 * time.Second):
		t.Fatal("upstream never saw the cancellation")
	}
}

func TestNoCancellationForCompletedRequests(t *testing.T) {
	srv := providertest.NewOllama(t, providertest.Options{})
	x := send(t, context.Background(), ollama.New(), srv.Target(), providers.Call{Operation: "api/chat", Body: []byte(`{"model":"m"}`)}, false)
	if x.err != nil {
		t.Fatal(x.err)
	}
	select {
	case <-srv.Canceled():
		t.Error("a completed request was reported as cancelled")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestSharedFixturesDir(t *testing.T) {
	dir, err := providertest.SharedFixturesDir()
	if err != nil {
		t.Skipf("shared fixtures absent: %v", err)
	}
	if !strings.HasSuffix(dir, "shared/fixtures") {
		t.Errorf("dir = %s", dir)
	}
	if b := providertest.SharedFixture(t, "azure_sync.json"); !bytes.Contains(b, []byte(providertest.Placeholder)) {
		t.Error("azure_sync.json has no model placeholder")
	}
}

func TestWithModelEscapes(t *testing.T) {
	got := providertest.WithModel([]byte(`{"model":"{{MODEL}}"}`), `a"b\c`)
	var v struct{ Model string }
	if err := json.Unmarshal(got, &v); err != nil || v.Model != `a"b\c` {
		t.Errorf("WithModel produced %s (%v)", got, err)
	}
}
