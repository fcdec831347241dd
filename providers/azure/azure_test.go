package azure_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/azure"
	"github.com/logos-llm/logos/providers/providertest"
)

const res = "https://myres.openai.azure.com"

func target(base string) providers.Target {
	return providers.Target{Kind: providers.KindAzure, BaseURL: base, UpstreamModel: "gpt-4o", Credential: "azkey"}
}

func TestNewRequestURL(t *testing.T) {
	chat := providers.Call{Operation: "chat/completions"}
	withVersion := func(t providers.Target, v string) providers.Target { t.APIVersion = v; return t }
	withDeployment := func(t providers.Target, d string) providers.Target { t.UpstreamModel = d; return t }
	withEndpoint := func(t providers.Target, e string) providers.Target { t.Endpoint = e; return t }
	tests := []struct {
		name       string
		target     providers.Target
		call       providers.Call
		wantMethod string
		wantURL    string
	}{
		{"resource base", target(res), chat, "POST", res + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"},
		{"base with trailing slash", target(res + "/"), chat, "POST", res + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"},
		{"base ending in /openai", target(res + "/openai"), chat, "POST", res + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"},
		{"base ending in /openai/deployments/", target(res + "/openai/deployments/"), chat, "POST", res + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"},
		{"base ending in the deployment", target(res + "/openai/deployments/gpt-4o"), chat, "POST", res + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"},
		{"base under a gateway prefix", target("https://apim.example/aoai/openai"), chat, "POST", "https://apim.example/aoai/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"},
		{"configured api-version", withVersion(target(res), "2024-08-01-preview"), chat, "POST", res + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-08-01-preview"},
		{"deployment escaped", withDeployment(target(res), "my dep/x"), chat, "POST", res + "/openai/deployments/my%20dep%2Fx/chat/completions?api-version=2024-10-21"},
		{"embeddings", target(res), providers.Call{Operation: "embeddings"}, "POST", res + "/openai/deployments/gpt-4o/embeddings?api-version=2024-10-21"},
		{"completions", target(res), providers.Call{Operation: "completions"}, "POST", res + "/openai/deployments/gpt-4o/completions?api-version=2024-10-21"},
		{"audio", target(res), providers.Call{Operation: "audio/transcriptions"}, "POST", res + "/openai/deployments/gpt-4o/audio/transcriptions?api-version=2024-10-21"},
		{"images", target(res), providers.Call{Operation: "images/generations"}, "POST", res + "/openai/deployments/gpt-4o/images/generations?api-version=2024-10-21"},
		{"responses default version", target(res), providers.Call{Operation: "responses"}, "POST", res + "/openai/responses?api-version=2025-03-01-preview"},
		{"responses ignores a too old version", withVersion(target(res), "2024-10-21"), providers.Call{Operation: "responses"}, "POST", res + "/openai/responses?api-version=2025-03-01-preview"},
		{"responses keeps a recent version", withVersion(target(res), "2025-04-01-preview"), providers.Call{Operation: "responses"}, "POST", res + "/openai/responses?api-version=2025-04-01-preview"},
		{"responses from a deployment base", target(res + "/openai/deployments/gpt-4o/"), providers.Call{Operation: "responses"}, "POST", res + "/openai/responses?api-version=2025-03-01-preview"},
		{"responses by id", target(res), providers.Call{Operation: "responses/resp_1", Method: "GET"}, "GET", res + "/openai/responses/resp_1?api-version=2025-03-01-preview"},
		{"models", target(res + "/openai/deployments"), providers.Call{Operation: "models"}, "GET", res + "/openai/models?api-version=2024-10-21"},
		{"models without deployment", withDeployment(target(res), ""), providers.Call{Operation: "models"}, "GET", res + "/openai/models?api-version=2024-10-21"},
		{"v1 api", target(res + "/openai/v1/"), chat, "POST", res + "/openai/v1/chat/completions"},
		{"v1 api with version", withVersion(target(res+"/openai/v1"), "preview"), providers.Call{Operation: "responses"}, "POST", res + "/openai/v1/responses?api-version=preview"},
		{"version in the base query kept", target(res + "/openai?api-version=2024-06-01"), chat, "POST", res + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-06-01"},
		{"configured version beats the base query", withVersion(target(res+"/openai?api-version=2024-06-01"), "2024-10-21"), chat, "POST", res + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"},
		{"client query cannot override api-version", target(res),
			providers.Call{Operation: "chat/completions", Query: url.Values{"api-version": {"evil"}, "foo": {"1"}}}, "POST",
			res + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21&foo=1"},
		{"absolute endpoint verbatim", withEndpoint(target("https://ignored.example"), res+"/openai/deployments/gpt4o/chat/completions?api-version=2024-08-01-preview"),
			providers.Call{Operation: "embeddings"}, "POST", res + "/openai/deployments/gpt4o/chat/completions?api-version=2024-08-01-preview"},
		{"absolute endpoint gets a missing api-version", withEndpoint(withVersion(target(""), "2024-06-01"), res+"/openai/deployments/gpt4o/chat/completions"),
			chat, "POST", res + "/openai/deployments/gpt4o/chat/completions?api-version=2024-06-01"},
		{"relative endpoint joined", withEndpoint(target(res+"/openai/deployments/"), "gpt4o/chat/completions?api-version=2024-08-01-preview"),
			chat, "POST", res + "/openai/deployments/gpt4o/chat/completions?api-version=2024-08-01-preview"},
		{"relative endpoint gets the default api-version", withEndpoint(target(res+"/openai/deployments/"), "/gpt4o/chat/completions"),
			chat, "POST", res + "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := azure.New().NewRequest(context.Background(), tc.target, tc.call)
			if err != nil {
				t.Fatalf("NewRequest: %v", err)
			}
			if req.Method != tc.wantMethod || req.URL.String() != tc.wantURL {
				t.Errorf("got %s %s\nwant %s %s", req.Method, req.URL, tc.wantMethod, tc.wantURL)
			}
		})
	}
}

func TestNewRequestHeaders(t *testing.T) {
	body := []byte(`{"messages":[]}`)
	tests := []struct {
		name   string
		target providers.Target
		want   http.Header
	}{
		{"default api-key", target(res), http.Header{"Api-Key": {"azkey"}, "Content-Type": {"application/json"}, "X-Ms-Client-Request-Id": {"r1"}}},
		{"entra bearer token", func() providers.Target {
			t := target(res)
			t.AuthHeader, t.AuthFormat = "Authorization", "Bearer {}"
			return t
		}(), http.Header{"Authorization": {"Bearer azkey"}, "Content-Type": {"application/json"}, "X-Ms-Client-Request-Id": {"r1"}}},
		{"no credential", func() providers.Target { t := target(res); t.Credential = ""; return t }(),
			http.Header{"Content-Type": {"application/json"}, "X-Ms-Client-Request-Id": {"r1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			call := providers.Call{Operation: "chat/completions", Body: body,
				Header: http.Header{"X-Ms-Client-Request-Id": {"r1"}, "Api-Key": {"lg-client-key"}, "Authorization": {"Bearer lg-client-key"}}}
			req, err := azure.New().NewRequest(context.Background(), tc.target, call)
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
	tests := []struct {
		name        string
		target      providers.Target
		call        providers.Call
		unsupported bool
	}{
		{"ollama native chat", target(res), providers.Call{Operation: "api/chat"}, true},
		{"ollama native tags", target(res), providers.Call{Operation: "api/tags"}, true},
		{"dot-dot", target(res), providers.Call{Operation: "../../keys"}, true},
		{"no deployment for a deployment operation", func() providers.Target { t := target(res); t.UpstreamModel = " "; return t }(), providers.Call{Operation: "chat/completions"}, false},
		{"bad base", target("myres.openai.azure.com"), providers.Call{Operation: "chat/completions"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := azure.New().NewRequest(context.Background(), tc.target, tc.call)
			if err == nil {
				t.Fatal("NewRequest succeeded, want an error")
			}
			if got := errors.Is(err, providers.ErrUnsupported); got != tc.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v (err: %v)", got, tc.unsupported, err)
			}
		})
	}
}

func TestCredentialNeverInErrors(t *testing.T) {
	noDeployment := target(res)
	noDeployment.Credential = providertest.LeakSecret
	noDeployment.UpstreamModel = ""
	native := target(res)
	native.Credential = providertest.LeakSecret
	providertest.CheckCredentialHygiene(t, azure.New(), providers.KindAzure,
		providertest.ErrorCase{Name: "no deployment", Target: noDeployment, Call: providers.Call{Operation: "chat/completions"}},
		providertest.ErrorCase{Name: "native operation", Target: native, Call: providers.Call{Operation: "api/" + providertest.LeakSecret}},
	)
}
