package logos_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/store"
)

// upstream is a test upstream speaking the OpenAI wire format that counts
// the requests it got.
type upstream struct {
	hits   atomic.Int64
	target providers.Target
}

// newUpstream serves h (after counting the request) as an OpenAI provider.
func newUpstream(t *testing.T, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	u.target = providers.Target{Kind: providers.KindOpenAI, BaseURL: srv.URL + "/v1"}
	return u
}

func okUpstream(t *testing.T) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(chatJSON))
	})
}

func statusUpstream(t *testing.T, status int) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error":{"message":"upstream says ` + http.StatusText(status) + `","type":"server_error","code":null}}`))
	})
}

// refusedTarget is an address where nothing listens.
func refusedTarget(t *testing.T) providers.Target {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return providers.Target{Kind: providers.KindOpenAI, BaseURL: "http://" + addr + "/v1"}
}

// silentUpstream accepts requests and never answers (until the request is
// cancelled or the test ends).
func silentUpstream(t *testing.T) *upstream {
	done := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	t.Cleanup(func() { close(done) }) // before the server's Close, which waits for handlers
	return u
}

// deployAll deploys model on each target (one provider each, named by
// index, first best) and sets the model's retry policy.
func (e *env) deployAll(model string, policy store.RetryPolicy, targets ...providers.Target) (store.Model, []store.Deployment) {
	e.t.Helper()
	var (
		m    store.Model
		deps []store.Deployment
	)
	for i, tg := range targets {
		var d store.Deployment
		m, d = e.deploy(model, tg, func(p *store.Provider, _ *store.Deployment) {
			p.Name = model + "-provider-" + string(rune('a'+i))
		})
		deps = append(deps, d)
	}
	m.Retry = policy
	m, err := e.store.UpdateModel(context.Background(), m)
	if err != nil {
		e.t.Fatal(err)
	}
	e.reload()
	return m, deps
}

const retryChat = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`

// TestRetryOnNextDeployment: a connection refused, a 5xx, a 429 and no
// headers within the attempt timeout are each tried again on the model's
// next deployment; the client gets its answer and the one usage record says
// two attempts and names the deployment that answered.
func TestRetryOnNextDeployment(t *testing.T) {
	cases := []struct {
		name  string
		first func(t *testing.T) (providers.Target, *upstream)
	}{
		{"connection refused", func(t *testing.T) (providers.Target, *upstream) { return refusedTarget(t), nil }},
		{"503", func(t *testing.T) (providers.Target, *upstream) { u := statusUpstream(t, 503); return u.target, u }},
		{"500", func(t *testing.T) (providers.Target, *upstream) { u := statusUpstream(t, 500); return u.target, u }},
		{"429", func(t *testing.T) (providers.Target, *upstream) { u := statusUpstream(t, 429); return u.target, u }},
		{"no headers in time", func(t *testing.T) (providers.Target, *upstream) { u := silentUpstream(t); return u.target, u }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			first, bad := tc.first(t)
			good := okUpstream(t)
			_, deps := e.deployAll("m", store.RetryPolicy{AttemptTimeout: 50 * time.Millisecond}, first, good.target)
			for _, stream := range []bool{false, true} {
				body := retryChat
				if stream {
					body = `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
				}
				status, hdr, got := e.do("POST", "/v1/chat/completions", body)
				if status != http.StatusOK || string(got) != chatJSON {
					t.Fatalf("stream %v: %d %q", stream, status, got)
				}
				if hdr.Get("Retry-After") != "" {
					t.Fatalf("the failed attempt's Retry-After reached the client")
				}
				rec := e.lastUsage()
				want := 2
				if tc.name == "429" && stream {
					// The 429 marked the first deployment rate limited:
					// the second request is not sent there at all.
					want = 1
				}
				if rec.Attempts != want || rec.DeploymentID != deps[1].ID || rec.StatusCode != 200 || rec.Outcome != store.OutcomeSuccess {
					t.Fatalf("record: attempts %d (want %d), deployment %d (want %d), status %d, outcome %s", rec.Attempts, want, rec.DeploymentID, deps[1].ID, rec.StatusCode, rec.Outcome)
				}
				if tokens(rec)["total_tokens"] != 12 {
					t.Fatalf("tokens %v", tokens(rec))
				}
			}
			wantBad := int64(2)
			if tc.name == "429" {
				wantBad = 1
			}
			if bad != nil && bad.hits.Load() != wantBad {
				t.Fatalf("first upstream got %d requests, want %d", bad.hits.Load(), wantBad)
			}
			if n := good.hits.Load(); n != 2 {
				t.Fatalf("second upstream got %d requests, want 2", n)
			}
			if n := len(e.usage()); n != 2 {
				t.Fatalf("%d usage records for 2 requests", n)
			}
		})
	}
}

// TestNoRetryAfterFirstByte: a stream that breaks off after its first
// bytes reached the client is not tried again: the client keeps what it
// got (and the error event), and the record says one attempt.
func TestNoRetryAfterFirstByte(t *testing.T) {
	e := newEnv(t)
	broken := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n"))
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	})
	good := okUpstream(t)
	e.deployAll("m", store.RetryPolicy{}, broken.target, good.target)
	status, _, got := e.do("POST", "/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if status != http.StatusOK || !strings.Contains(string(got), `"Hel"`) {
		t.Fatalf("%d %q", status, got)
	}
	if good.hits.Load() != 0 {
		t.Fatal("a stream that had sent bytes was retried")
	}
	rec := e.lastUsage()
	if rec.Attempts != 1 || rec.Outcome != store.OutcomeError {
		t.Fatalf("record: attempts %d, outcome %s", rec.Attempts, rec.Outcome)
	}
}

// TestRetryLimits: the attempt limit and the deadline hold, and the client
// then gets the last attempt's own error.
func TestRetryLimits(t *testing.T) {
	t.Run("attempts", func(t *testing.T) {
		e := newEnv(t)
		a, b, c := statusUpstream(t, 502), statusUpstream(t, 503), okUpstream(t)
		_, deps := e.deployAll("m", store.RetryPolicy{MaxAttempts: 2}, a.target, b.target, c.target)
		status, hdr, got := e.do("POST", "/v1/chat/completions", retryChat)
		if status != http.StatusServiceUnavailable || !strings.Contains(string(got), "upstream says Service Unavailable") || hdr.Get("Retry-After") != "7" {
			t.Fatalf("%d %q %v", status, got, hdr)
		}
		if a.hits.Load() != 1 || b.hits.Load() != 1 || c.hits.Load() != 0 {
			t.Fatalf("hits %d %d %d, want 1 1 0", a.hits.Load(), b.hits.Load(), c.hits.Load())
		}
		rec := e.lastUsage()
		if rec.Attempts != 2 || rec.DeploymentID != deps[1].ID || rec.StatusCode != 503 || rec.Outcome != store.OutcomeError {
			t.Fatalf("record: attempts %d, deployment %d, status %d, outcome %s", rec.Attempts, rec.DeploymentID, rec.StatusCode, rec.Outcome)
		}
	})
	t.Run("one attempt", func(t *testing.T) {
		e := newEnv(t)
		a, b := statusUpstream(t, 500), okUpstream(t)
		e.deployAll("m", store.RetryPolicy{MaxAttempts: 1}, a.target, b.target)
		if status, _, got := e.do("POST", "/v1/chat/completions", retryChat); status != 500 {
			t.Fatalf("%d %q", status, got)
		}
		if b.hits.Load() != 0 || e.lastUsage().Attempts != 1 {
			t.Fatalf("retried with max_attempts 1")
		}
	})
	t.Run("deadline", func(t *testing.T) {
		// The first attempt alone takes the attempt timeout, longer than
		// the deadline: no second attempt may start.
		e := newEnv(t)
		a, b := silentUpstream(t), okUpstream(t)
		e.deployAll("m", store.RetryPolicy{AttemptTimeout: 100 * time.Millisecond, Deadline: time.Millisecond}, a.target, b.target)
		status, _, got := e.do("POST", "/v1/chat/completions", retryChat)
		if status != http.StatusGatewayTimeout || !strings.Contains(string(got), "upstream_timeout") {
			t.Fatalf("%d %q", status, got)
		}
		rec := e.lastUsage()
		if b.hits.Load() != 0 || rec.Attempts != 1 || rec.Outcome != store.OutcomeTimeout {
			t.Fatalf("hits %d, attempts %d, outcome %s", b.hits.Load(), rec.Attempts, rec.Outcome)
		}
	})
	t.Run("context length 500 is not retried", func(t *testing.T) {
		e := newEnv(t)
		a := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`{"error":{"message":"This model's maximum context length is 8192 tokens"}}`))
		})
		b := okUpstream(t)
		e.deployAll("m", store.RetryPolicy{}, a.target, b.target)
		if status, _, got := e.do("POST", "/v1/chat/completions", retryChat); status != 400 {
			t.Fatalf("%d %q", status, got)
		}
		if b.hits.Load() != 0 {
			t.Fatal("a client mistake was retried")
		}
	})
}

// TestCircuitBreaker: after BreakerThreshold consecutive failures a
// deployment is skipped (no request reaches it, the request needs one
// attempt); a model whose every deployment is open is refused at once
// with 503; the metrics show it.
func TestCircuitBreaker(t *testing.T) {
	e := newEnv(t, func(c *logos.Config) {
		c.BreakerThreshold = 2
		c.BreakerCoolOff = time.Hour
		c.MetricsToken = metricsToken
	})
	bad, good := statusUpstream(t, 503), okUpstream(t)
	e.deployAll("m", store.RetryPolicy{}, bad.target, good.target)
	for range 2 {
		if status, _, got := e.do("POST", "/v1/chat/completions", retryChat); status != 200 {
			t.Fatalf("%d %q", status, got)
		}
	}
	if bad.hits.Load() != 2 {
		t.Fatalf("bad upstream hit %d times before its breaker opened, want 2", bad.hits.Load())
	}
	if status, _, got := e.do("POST", "/v1/chat/completions", retryChat); status != 200 {
		t.Fatalf("%d %q", status, got)
	}
	if bad.hits.Load() != 2 || e.lastUsage().Attempts != 1 {
		t.Fatalf("open breaker: bad upstream hits %d, attempts %d", bad.hits.Load(), e.lastUsage().Attempts)
	}
	m := e.scrape()
	if m["logos_circuit_breaker_opened_total"] != 1 || m[`logos_upstream_retries_total{reason="status_5xx"}`] != 2 {
		t.Fatalf("metrics: opened %v, retries %v", m["logos_circuit_breaker_opened_total"], m[`logos_upstream_retries_total{reason="status_5xx"}`])
	}
	found := false
	for k, v := range m {
		if strings.HasPrefix(k, "logos_circuit_breaker_state{") && strings.Contains(k, `state="open"`) && v == 1 {
			found = true
		}
	}
	if !found {
		t.Fatal("no open breaker in logos_circuit_breaker_state")
	}

	// A model served only by a failing deployment: once open, requests
	// are refused without reaching it.
	only := statusUpstream(t, 502)
	e.deployAll("solo", store.RetryPolicy{}, only.target)
	solo := `{"model":"solo","messages":[{"role":"user","content":"hi"}]}`
	for range 2 {
		if status, _, _ := e.do("POST", "/v1/chat/completions", solo); status != 502 {
			t.Fatalf("status %d, want the upstream's 502", status)
		}
	}
	status, hdr, got := e.do("POST", "/v1/chat/completions", solo)
	if status != 503 || !strings.Contains(string(got), "upstream_unavailable") || hdr.Get("Retry-After") == "" {
		t.Fatalf("%d %q %v", status, got, hdr)
	}
	if only.hits.Load() != 2 {
		t.Fatalf("open breaker: upstream hit %d times, want 2", only.hits.Load())
	}
	if rec := e.lastUsage(); rec.Attempts != 0 || rec.StatusCode != 503 {
		t.Fatalf("record: attempts %d, status %d", rec.Attempts, rec.StatusCode)
	}
}
