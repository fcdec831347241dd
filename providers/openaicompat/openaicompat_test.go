package openaicompat_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/openaicompat"
	"github.com/logos-llm/logos/providers/providertest"
)

func TestNewRequestURL(t *testing.T) {
	openai := providers.Target{Kind: providers.KindOpenAI, BaseURL: "https://api.openai.com/v1"}
	tests := []struct {
		name       string
		target     providers.Target
		call       providers.Call
		wantMethod string
		wantURL    string
	}{
		{"chat", openai, providers.Call{Operation: "chat/completions"}, "POST", "https://api.openai.com/v1/chat/completions"},
		{"completions", openai, providers.Call{Operation: "completions"}, "POST", "https://api.openai.com/v1/completions"},
		{"embeddings", openai, providers.Call{Operation: "embeddings"}, "POST", "https://api.openai.com/v1/embeddings"},
		{"responses", openai, providers.Call{Operation: "responses"}, "POST", "https://api.openai.com/v1/responses"},
		{"audio", openai, providers.Call{Operation: "audio/transcriptions"}, "POST", "https://api.openai.com/v1/audio/transcriptions"},
		{"models is GET", openai, providers.Call{Operation: "models"}, "GET", "https://api.openai.com/v1/models"},
		{"model by id is GET, segment escaped", openai, providers.Call{Operation: "models/ft:gpt-4o:my org"}, "GET", "https://api.openai.com/v1/models/ft:gpt-4o:my%20org"},
		{"explicit method wins", openai, providers.Call{Operation: "models/ft:x", Method: "DELETE"}, "DELETE", "https://api.openai.com/v1/models/ft:x"},
		{"slashes around the operation", openai, providers.Call{Operation: "/chat//completions/"}, "POST", "https://api.openai.com/v1/chat/completions"},
		{"base with trailing slash", providers.Target{BaseURL: "https://api.openai.com/v1/"}, providers.Call{Operation: "chat/completions"}, "POST", "https://api.openai.com/v1/chat/completions"},
		{"no /v1 is invented", providers.Target{BaseURL: "https://owui.example/api"}, providers.Call{Operation: "chat/completions"}, "POST", "https://owui.example/api/chat/completions"},
		{"host-only base", providers.Target{BaseURL: "http://vllm:8000"}, providers.Call{Operation: "chat/completions"}, "POST", "http://vllm:8000/chat/completions"},
		{"base query kept", providers.Target{BaseURL: "https://gw.example/v1?tenant=a"}, providers.Call{Operation: "embeddings"}, "POST", "https://gw.example/v1/embeddings?tenant=a"},
		{"escaped base path kept", providers.Target{BaseURL: "https://gw.example/a%2Fb/v1"}, providers.Call{Operation: "chat/completions"}, "POST", "https://gw.example/a%2Fb/v1/chat/completions"},
		{"client query merged", openai, providers.Call{Operation: "models", Query: url.Values{"limit": {"5"}}}, "GET", "https://api.openai.com/v1/models?limit=5"},
		{"absolute endpoint verbatim", providers.Target{BaseURL: "https://ignored.example/v1", Endpoint: "https://other.example/custom/chat?x=1"},
			providers.Call{Operation: "embeddings"}, "POST", "https://other.example/custom/chat?x=1"},
		{"absolute endpoint, uppercase scheme", providers.Target{Endpoint: "HTTPS://other.example/chat"},
			providers.Call{Operation: "chat/completions"}, "POST", "https://other.example/chat"},
		{"relative endpoint joined with one slash", providers.Target{BaseURL: "https://owui.example/", Endpoint: "/api/chat/completions"},
			providers.Call{Operation: "chat/completions"}, "POST", "https://owui.example/api/chat/completions"},
		{"relative endpoint without slash", providers.Target{BaseURL: "https://api.openai.com/v1", Endpoint: "chat/completions"},
			providers.Call{Operation: "embeddings"}, "POST", "https://api.openai.com/v1/chat/completions"},
		{"relative endpoint query merged over base query", providers.Target{BaseURL: "https://gw.example/v1?a=1&b=base", Endpoint: "chat?b=endpoint"},
			providers.Call{Operation: "chat/completions"}, "POST", "https://gw.example/v1/chat?a=1&b=endpoint"},
		{"client query never overrides the URL's", providers.Target{Endpoint: "https://gw.example/chat?key=op"},
			providers.Call{Operation: "chat/completions", Query: url.Values{"key": {"client"}, "extra": {"1"}}}, "POST", "https://gw.example/chat?extra=1&key=op"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := openaicompat.New().NewRequest(context.Background(), tc.target, tc.call)
			if err != nil {
				t.Fatalf("NewRequest: %v", err)
			}
			if req.Method != tc.wantMethod || req.URL.String() != tc.wantURL {
				t.Errorf("got %s %s, want %s %s", req.Method, req.URL, tc.wantMethod, tc.wantURL)
			}
			// What goes on the wire: the Host header and the request line.
			want, err := url.Parse(tc.wantURL)
			if err != nil {
				t.Fatal(err)
			}
			if req.Host != want.Host || req.URL.RequestURI() != want.RequestURI() {
				t.Errorf("wire Host %q, request URI %q; want %q, %q", req.Host, req.URL.RequestURI(), want.Host, want.RequestURI())
			}
		})
	}
}

func TestNewRequestHeadersAndBody(t *testing.T) {
	base := providers.Target{Kind: providers.KindOpenAI, BaseURL: "https://api.openai.com/v1", Credential: "sk-test"}
	body := []byte(`{"model":"gpt-4o","messages":[]}`)
	client := http.Header{
		"X-Custom":            {"a", "b"},
		"Openai-Organization": {"org-1"},
		"authorization":       {"Bearer lg-logos-key"}, // not canonical: must still be dropped
		"Api-Key":             {"lg-logos-key"},
		"Cookie":              {"session=1"},
		"Connection":          {"keep-alive"},
		"Accept-Encoding":     {"gzip"},
		"Content-Length":      {"999"},
		"X-Api-Key":           {"client-value"},
	}
	tests := []struct {
		name   string
		target providers.Target
		call   providers.Call
		want   http.Header
	}{
		{
			name:   "default bearer, filtered client headers, json body",
			target: base,
			call:   providers.Call{Operation: "chat/completions", Body: body, Header: client},
			want: http.Header{
				"Authorization": {"Bearer sk-test"}, "Content-Type": {"application/json"},
				"X-Custom": {"a", "b"}, "Openai-Organization": {"org-1"}, "X-Api-Key": {"client-value"},
			},
		},
		{
			name:   "named header without format sends the bare credential",
			target: withAuth(base, "X-Api-Key", ""),
			call:   providers.Call{Operation: "chat/completions", Body: body, Header: client},
			want: http.Header{
				"X-Api-Key": {"sk-test"}, "Content-Type": {"application/json"},
				"X-Custom": {"a", "b"}, "Openai-Organization": {"org-1"},
			},
		},
		{
			name:   "named header with format",
			target: withAuth(base, "Authorization", "Token {}"),
			call:   providers.Call{Operation: "chat/completions", Body: body},
			want:   http.Header{"Authorization": {"Token sk-test"}, "Content-Type": {"application/json"}},
		},
		{
			name:   "format without header uses the default header",
			target: withAuth(base, "", "Key {}"),
			call:   providers.Call{Operation: "chat/completions", Body: body},
			want:   http.Header{"Authorization": {"Key sk-test"}, "Content-Type": {"application/json"}},
		},
		{
			name:   "no credential, no auth header; the named header is not forwarded either",
			target: providers.Target{BaseURL: "http://vllm:8000/v1", AuthHeader: "X-Api-Key"},
			call:   providers.Call{Operation: "chat/completions", Body: body, Header: client},
			want: http.Header{
				"Content-Type": {"application/json"}, "X-Custom": {"a", "b"}, "Openai-Organization": {"org-1"},
			},
		},
		{
			name:   "no body, no content type",
			target: base,
			call:   providers.Call{Operation: "models"},
			want:   http.Header{"Authorization": {"Bearer sk-test"}},
		},
		{
			name:   "client content type kept (multipart upload)",
			target: base,
			call: providers.Call{Operation: "audio/transcriptions", Body: []byte("--b\r\n"),
				Header: http.Header{"Content-Type": {"multipart/form-data; boundary=b"}}},
			want: http.Header{"Authorization": {"Bearer sk-test"}, "Content-Type": {"multipart/form-data; boundary=b"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, err := openaicompat.New().NewRequest(ctx, tc.target, tc.call)
			if err != nil {
				t.Fatalf("NewRequest: %v", err)
			}
			if diff := cmp.Diff(tc.want, req.Header); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if req.Context() != ctx {
				t.Error("request does not carry the caller's context")
			}
			if len(tc.call.Body) == 0 {
				if req.Body != nil && req.Body != http.NoBody {
					t.Error("request without a body has one")
				}
				return
			}
			got, _ := io.ReadAll(req.Body)
			if string(got) != string(tc.call.Body) || req.ContentLength != int64(len(tc.call.Body)) || req.GetBody == nil {
				t.Errorf("body %q (length %d, GetBody %v), want %q", got, req.ContentLength, req.GetBody != nil, tc.call.Body)
			}
		})
	}
	// The caller's header map is not modified.
	//lint:ignore SA1008 the client map deliberately holds a non-canonical key
	if len(client) != 9 || client["authorization"][0] != "Bearer lg-logos-key" || len(client["X-Custom"]) != 2 {
		t.Errorf("client headers were modified: %v", client)
	}
}

func withAuth(t providers.Target, header, format string) providers.Target {
	t.AuthHeader, t.AuthFormat = header, format
	return t
}

func TestNewRequestErrors(t *testing.T) {
	ok := providers.Target{BaseURL: "https://api.openai.com/v1"}
	tests := []struct {
		name        string
		target      providers.Target
		call        providers.Call
		unsupported bool
	}{
		{"empty operation", ok, providers.Call{Operation: ""}, true},
		{"slash operation", ok, providers.Call{Operation: "/"}, true},
		{"dot-dot", ok, providers.Call{Operation: "../admin"}, true},
		{"inner dot-dot", ok, providers.Call{Operation: "chat/../../admin"}, true},
		{"dot", ok, providers.Call{Operation: "./chat"}, true},
		{"empty base", providers.Target{}, providers.Call{Operation: "chat/completions"}, false},
		{"relative base", providers.Target{BaseURL: "api.openai.com/v1"}, providers.Call{Operation: "chat/completions"}, false},
		{"other scheme", providers.Target{BaseURL: "ftp://api.openai.com"}, providers.Call{Operation: "chat/completions"}, false},
		{"relative endpoint without base", providers.Target{Endpoint: "chat/completions"}, providers.Call{Operation: "chat/completions"}, false},
		{"auth format without placeholder", providers.Target{BaseURL: "https://a.example", Credential: "k", AuthHeader: "X-Key", AuthFormat: "Bearer"}, providers.Call{Operation: "x"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openaicompat.New().NewRequest(context.Background(), tc.target, tc.call)
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
	providertest.CheckCredentialHygiene(t, openaicompat.New(), providers.KindOpenAI)
}

func TestZeroValueUsable(t *testing.T) {
	var p openaicompat.Provider
	req, err := p.NewRequest(context.Background(), providers.Target{BaseURL: "https://a.example/v1"}, providers.Call{Operation: "models"})
	if err != nil || req.URL.String() != "https://a.example/v1/models" {
		t.Fatalf("zero Provider: %v, %v", req, err)
	}
}
