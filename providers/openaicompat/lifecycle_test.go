package openaicompat_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/openaicompat"
)

func TestSleepAndWake(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	ctx := context.Background()
	p := openaicompat.New()
	tgt := providers.Target{Kind: providers.KindOpenAICompatible, BaseURL: srv.URL + "/v1", Credential: "tok"}
	// Without an admin URL the server is the base URL without /v1; with
	// one, the metrics URL without /metrics.
	if err := p.Sleep(ctx, srv.Client(), tgt, providers.PollOptions{SleepMode: true}, 1); err != nil {
		t.Fatal(err)
	}
	if err := p.Wake(ctx, srv.Client(), tgt, providers.PollOptions{SleepMode: true, AdminURL: srv.URL + "/gpu/metrics"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Sleep(ctx, srv.Client(), tgt, providers.PollOptions{SleepMode: true}, 2); err != nil {
		t.Fatal(err)
	}
	want := []string{"POST /sleep?level=1 Bearer tok", "POST /gpu/wake_up Bearer tok", "POST /sleep?level=2 Bearer tok"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("sent %q, want %q", got, want)
	}
}

func TestSleepNeedsSleepMode(t *testing.T) {
	p := openaicompat.New()
	tgt := providers.Target{Kind: providers.KindOpenAICompatible, BaseURL: "http://127.0.0.1:1/v1"}
	if err := p.Sleep(context.Background(), http.DefaultClient, tgt, providers.PollOptions{}, 1); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("Sleep without sleep mode: %v", err)
	}
	if err := p.Wake(context.Background(), http.DefaultClient, tgt, providers.PollOptions{}); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("Wake without sleep mode: %v", err)
	}
}

func TestWakeFailureStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "CUDA out of memory", http.StatusInternalServerError)
	}))
	defer srv.Close()
	tgt := providers.Target{Kind: providers.KindOpenAICompatible, BaseURL: srv.URL + "/v1", Credential: "tok"}
	err := openaicompat.New().Wake(context.Background(), srv.Client(), tgt, providers.PollOptions{SleepMode: true})
	if !errors.Is(err, openaicompat.ErrControlStatus) || strings.Contains(err.Error(), "tok") {
		t.Errorf("err = %v", err)
	}
}

func TestServerURL(t *testing.T) {
	for _, tc := range []struct {
		base, admin, suffix, want string
	}{
		{"http://gpu:8000/v1", "", "/metrics", "http://gpu:8000/sleep"},
		{"http://gpu:8000/v1", "http://gpu:9000/metrics", "/metrics", "http://gpu:9000/sleep"},
		{"http://gpu:11434/v1", "", "/v1", "http://gpu:11434/sleep"},
		{"http://gpu:11434", "http://gpu:11434/v1", "/v1", "http://gpu:11434/sleep"},
		{"http://gpu:11434/v1", "http://gpu:11434/x", "/v1", "http://gpu:11434/x/sleep"},
	} {
		u, err := openaicompat.ServerURL("pkg", providers.Target{BaseURL: tc.base}, providers.PollOptions{AdminURL: tc.admin}, tc.suffix, "sleep")
		if err != nil || u.String() != tc.want {
			t.Errorf("ServerURL(%q, %q, %q) = %v, %v; want %s", tc.base, tc.admin, tc.suffix, u, err, tc.want)
		}
	}
	_, err := openaicompat.ServerURL("ollama", providers.Target{BaseURL: "http://sk-secret@[::1", Credential: "sk-secret"}, providers.PollOptions{}, "/v1", "api/generate")
	if err == nil || !strings.HasPrefix(err.Error(), "ollama: server URL: ") || strings.Contains(err.Error(), "sk-secret") {
		t.Errorf("bad URL: error %v; want one prefixed by the package, without the credential", err)
	}
}
