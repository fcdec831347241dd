package logos_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/store"
)

// openAIUpstream answers chat completions with OpenAI's rate-limit headers;
// while limited is set it answers 429 with Retry-After: 60.
type openAIUpstream struct {
	*httptest.Server
	calls   atomic.Int64
	limited atomic.Bool
}

func newOpenAIUpstream(t *testing.T, remaining int) *openAIUpstream {
	u := &openAIUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		w.Header().Set("x-ratelimit-limit-requests", "100")
		w.Header().Set("x-ratelimit-reset-requests", "6m0s")
		if u.limited.Load() {
			w.Header().Set("x-ratelimit-remaining-requests", "0")
			w.Header().Set("Retry-After", "60")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`))
			return
		}
		w.Header().Set("x-ratelimit-remaining-requests", fmt.Sprint(remaining))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`))
	}))
	t.Cleanup(u.Close)
	return u
}

// TestRateLimitedDeploymentIsAvoided checks that a deployment that answered
// 429 is not chosen again before its retry time while another can serve,
// that the remaining-requests gauge follows the headers, and that a
// deployment is still used when every candidate is rate limited.
func TestRateLimitedDeploymentIsAvoided(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *logos.Config) { c.Registerer = reg })
	first, second := newOpenAIUpstream(t, 41), newOpenAIUpstream(t, 99)
	e.deploy("gpt", providers.Target{Kind: providers.KindOpenAI, BaseURL: first.URL + "/v1", Credential: "k1"},
		func(p *store.Provider, _ *store.Deployment) { p.Name = "first" })
	e.deploy("gpt", providers.Target{Kind: providers.KindOpenAI, BaseURL: second.URL + "/v1", Credential: "k2"},
		func(p *store.Provider, _ *store.Deployment) { p.Name = "second" })
	body := `{"model":"gpt","messages":[{"role":"user","content":"hi"}]}`

	// FCFS grants the first candidate (lowest provider id) while it has room.
	if st, _, b := e.do(http.MethodPost, "/v1/chat/completions", body); st != 200 {
		t.Fatalf("status %d: %s", st, b)
	}
	if first.calls.Load() != 1 || second.calls.Load() != 0 {
		t.Fatalf("calls = %d, %d; want the first deployment", first.calls.Load(), second.calls.Load())
	}
	if n := testutil.CollectAndCount(reg, "logos_deployment_ratelimit_remaining_requests"); n != 1 {
		t.Errorf("remaining-requests series = %d, want 1", n)
	}

	first.limited.Store(true)
	// The 429 is retried on the other deployment (retries before the first
	// byte), which answers.
	if st, _, b := e.do(http.MethodPost, "/v1/chat/completions", body); st != 200 {
		t.Fatalf("the 429 was not retried on the second deployment: %d %s", st, b)
	}
	for range 3 {
		if st, _, b := e.do(http.MethodPost, "/v1/chat/completions", body); st != 200 {
			t.Fatalf("status %d: %s", st, b)
		}
	}
	if first.calls.Load() != 2 || second.calls.Load() != 4 {
		t.Errorf("calls after the 429 = %d, %d; want 2, 4 (the rate-limited deployment avoided)", first.calls.Load(), second.calls.Load())
	}

	// Both limited: requests still go somewhere (the second, the only
	// candidate not known to be limited yet; its 429 is relayed) rather than
	// being refused by Logos.
	second.limited.Store(true)
	if st, _, _ := e.do(http.MethodPost, "/v1/chat/completions", body); st != http.StatusTooManyRequests {
		t.Errorf("with every deployment rate limited: status %d, want the upstream's 429", st)
	}
	if got := first.calls.Load() + second.calls.Load(); got != 7 {
		t.Errorf("total calls = %d, want 7", got)
	}
}

// TestPollersFollowTheRouterCatalogue checks that adding a provider with an
// admin URL through the store starts polling on the next catalogue reload,
// that snapshots land in the store, and that deleting it stops the poller.
func TestPollersFollowTheRouterCatalogue(t *testing.T) {
	var polls atomic.Int64
	gpu := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/api/ps") {
			polls.Add(1)
			_, _ = w.Write([]byte(`{"models":[{"name":"llama3:8b","size_vram":1048576,"expires_at":"2030-01-01T00:00:00.5+01:00"}]}`))
			return
		}
		_, _ = w.Write([]byte(`{"models":[]}`))
	}))
	defer gpu.Close()
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *logos.Config) { c.Registerer = reg })
	ctx := t.Context()
	p, err := e.store.CreateProvider(ctx, store.Provider{Name: "gpu", Kind: store.KindOllama, BaseURL: gpu.URL, AdminURL: gpu.URL,
		PollInterval: 10 * time.Millisecond, Privacy: store.PrivacyLocal})
	if err != nil {
		t.Fatal(err)
	}
	e.reload()
	deadline := time.Now().Add(10 * time.Second)
	var snaps []store.ProviderSnapshot
	for len(snaps) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		snaps, err = e.store.ListProviderSnapshots(ctx, p.ID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(snaps) < 2 || !snaps[0].PollSuccess || snaps[0].VRAMUsedBytes != 1<<20 || snaps[0].ModelsLoaded != 1 {
		t.Fatalf("snapshots = %+v", snaps)
	}
	if n := testutil.CollectAndCount(reg, "logos_provider_vram_used_bytes"); n != 1 {
		t.Errorf("VRAM series = %d, want 1", n)
	}
	if err := e.store.DeleteProvider(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	e.reload()
	// The reload waits for the poller goroutine to end, but a poll it sent
	// just before may still be inside the test server's handler (the client
	// cancelling does not stop a handler that already started). Let such a
	// straggler finish before counting.
	time.Sleep(100 * time.Millisecond)
	before := polls.Load()
	time.Sleep(200 * time.Millisecond)
	if after := polls.Load(); after != before {
		t.Errorf("polled %d times after the provider was deleted", after-before)
	}
}
