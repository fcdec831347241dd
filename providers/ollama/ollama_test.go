package ollama_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/ollama"
	"github.com/logos-llm/logos/providers/providertest"
)

func TestNewRequestURL(t *testing.T) {
	direct := providers.Target{Kind: providers.KindOllama, BaseURL: "http://gpu1:11434"}
	v1 := providers.Target{Kind: providers.KindOllama, BaseURL: "http://gpu1:11434/v1/"}
	proxied := providers.Target{Kind: providers.KindOllama, BaseURL: "https://gpu.example/ollama/"}
	withEndpoint := func(t providers.Target, e string) providers.Target { t.Endpoint = e; return t }
	tests := []struct {
		name       string
		target     providers.Target
		op         string
		wantMethod string
		wantURL    string
	}{
		{"native chat", direct, "api/chat", "POST", "http://gpu1:11434/api/chat"},
		{"native generate", direct, "api/generate", "POST", "http://gpu1:11434/api/generate"},
		{"native embed", direct, "api/embed", "POST", "http://gpu1:11434/api/embed"},
		{"native show", direct, "api/show", "POST", "http://gpu1:11434/api/show"},
		{"native tags is GET", direct, "api/tags", "GET", "http://gpu1:11434/api/tags"},
		{"native ps is GET", direct, "api/ps", "GET", "http://gpu1:11434/api/ps"},
		{"native version is GET", direct, "/api/version", "GET", "http://gpu1:11434/api/version"},
		{"openai chat", direct, "chat/completions", "POST", "http://gpu1:11434/v1/chat/completions"},
		{"openai embeddings", direct, "embeddings", "POST", "http://gpu1:11434/v1/embeddings"},
		{"openai models is GET", direct, "models", "GET", "http://gpu1:11434/v1/models"},
		{"v1 base not duplicated", v1, "chat/completions", "POST", "http://gpu1:11434/v1/chat/completions"},
		{"v1 stripped for native", v1, "api/chat", "POST", "http://gpu1:11434/api/chat"},
		{"proxied native", proxied, "api/chat", "POST", "https://gpu.example/ollama/api/chat"},
		{"proxied openai", proxied, "chat/completions", "POST", "https://gpu.example/ollama/v1/chat/completions"},
		{"relative endpoint as is", withEndpoint(direct, "/api/chat"), "chat/completions", "POST", "http://gpu1:11434/api/chat"},
		{"openwebui endpoint", withEndpoint(proxied, "/api/chat/completions"), "chat/completions", "POST", "https://gpu.example/ollama/api/chat/completions"},
		{"absolute endpoint verbatim", withEndpoint(direct, "http://other:11434/v1/chat/completions"), "api/chat", "POST", "http://other:11434/v1/chat/completions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ollama.New().NewRequest(context.Background(), tc.target, providers.Call{Operation: tc.op})
			if err != nil {
				t.Fatalf("NewRequest: %v", err)
			}
			if req.Method != tc.wantMethod || req.URL.String() != tc.wantURL {
				t.Errorf("got %s %s, want %s %s", req.Method, req.URL, tc.wantMethod, tc.wantURL)
			}
		})
	}
}

func TestNewRequestHeaders(t *testing.T) {
	body := []byte(`{"model":"llama3"}`)
	client := http.Header{"Authorization": {"Bearer lg-client-key"}, "X-Trace": {"t1"}}
	tests := []struct {
		name   string
		target providers.Target
		want   http.Header
	}{
		{"no auth by default; the client's key is not forwarded", providers.Target{BaseURL: "http://gpu1:11434"},
			http.Header{"Content-Type": {"application/json"}, "X-Trace": {"t1"}}},
		{"proxy credential as bearer", providers.Target{BaseURL: "https://gpu.example/ollama", Credential: "owui-key"},
			http.Header{"Authorization": {"Bearer owui-key"}, "Content-Type": {"application/json"}, "X-Trace": {"t1"}}},
		{"custom header", providers.Target{BaseURL: "https://gpu.example/ollama", Credential: "k", AuthHeader: "X-Auth", AuthFormat: "Key {}"},
			http.Header{"X-Auth": {"Key k"}, "Content-Type": {"application/json"}, "X-Trace": {"t1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ollama.New().NewRequest(context.Background(), tc.target, providers.Call{Operation: "api/chat", Body: body, Header: client})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, req.Header); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewRequestErrors(t *testing.T) {
	for _, op := range []string{"", "api/../../etc", ".."} {
		_, err := ollama.New().NewRequest(context.Background(), providers.Target{BaseURL: "http://gpu1:11434"}, providers.Call{Operation: op})
		if !errors.Is(err, providers.ErrUnsupported) {
			t.Errorf("operation %q: err = %v, want ErrUnsupported", op, err)
		}
	}
	if _, err := ollama.New().NewRequest(context.Background(), providers.Target{BaseURL: "gpu1:11434"}, providers.Call{Operation: "api/chat"}); err == nil || errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("base without scheme: err = %v, want a configuration error", err)
	}
}

func TestIsNative(t *testing.T) {
	for op, want := range map[string]bool{"api/chat": true, "/api/tags": true, "api": true, "chat/completions": false, "apis/x": false, "models": false} {
		if got := ollama.IsNative(op); got != want {
			t.Errorf("IsNative(%q) = %v, want %v", op, got, want)
		}
	}
}

func TestCredentialNeverInErrors(t *testing.T) {
	providertest.CheckCredentialHygiene(t, ollama.New(), providers.KindOllama)
}
