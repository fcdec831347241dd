package logos_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres/pgtest"
)

// TestPostgresRateLimitAcrossReplicas: two Routers sharing one PostgreSQL
// database enforce one 60 requests/minute limit: of 200 concurrent requests
// spread over both, 60 ± 3 are admitted; every forwarded response carries the
// x-ratelimit headers and every refusal a Retry-After.
func TestPostgresRateLimitAcrossReplicas(t *testing.T) {
	url := pgtest.NewMigratedDatabase(t)
	a, aURL := serve(t, openStore(t, "postgres", url), nil)
	_, bURL := serve(t, openStore(t, "postgres", url), nil)
	up := providertest.NewOpenAI(t, providertest.Options{})

	root := "lg-root-" + strings.Repeat("q", 40)
	if _, err := a.Bootstrap(t.Context(), root); err != nil {
		t.Fatal(err)
	}
	out := must(t, aURL+"/logosdb/add_provider", root, map[string]any{"provider_name": "oa", "provider_type": "openai", "base_url": up.URL + "/v1"})
	provID := num(t, out, "provider-id")
	out = must(t, aURL+"/logosdb/add_model", root, map[string]any{"name": "m"})
	modelID := num(t, out, "model_id")
	must(t, aURL+"/logosdb/connect_model_provider", root, map[string]any{"model_id": modelID, "provider_id": provID})
	out = must(t, aURL+"/logosdb/add_service", root, map[string]any{"name": "bot"})
	key := out["logos-key"].(string)
	must(t, aURL+"/logosdb/connect_profile_model", root, map[string]any{"profile_id": num(t, out, "profile-id"), "model_id": modelID})
	st := openStore(t, "postgres", url)
	p, err := st.GetProcess(t.Context(), num(t, out, "process-id"))
	if err != nil {
		t.Fatal(err)
	}
	p.Settings = []byte(`{"requests_per_minute": 60}`)
	if _, err := st.UpdateProcess(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	// Both replicas must see the limit; then stay clear of a minute boundary,
	// where a fixed window starts afresh.
	time.Sleep(1500 * time.Millisecond)
	if s := time.Now().Second(); s > 50 {
		time.Sleep(time.Duration(62-s) * time.Second)
	}

	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := aURL
			if i%2 == 1 {
				base = bURL
			}
			req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/v1/chat/completions", bytes.NewReader([]byte(`{"model":"m","messages":[]}`)))
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.Header.Get("X-Ratelimit-Limit-Requests") != "60" || resp.Header.Get("X-Ratelimit-Remaining-Requests") == "" || resp.Header.Get("X-Ratelimit-Reset-Requests") == "" {
				t.Errorf("status %d without rate-limit headers: %v", resp.StatusCode, resp.Header)
			}
			switch resp.StatusCode {
			case 200:
				admitted.Add(1)
			case 429:
				if resp.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
				refused.Add(1)
			default:
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	// A machine too loaded to send 200 requests within the rest of the
	// minute crosses into the next window, which admits 60 more: each
	// window touched may admit its 60, never more.
	windows := int64(time.Now().Truncate(time.Minute).Sub(start.Truncate(time.Minute))/time.Minute) + 1
	if n := admitted.Load(); n < 57 || n > 60*windows+3 || n+refused.Load() != 200 {
		t.Fatalf("admitted %d, refused %d of 200 in %d minute window(s); want 60 ± 3 admitted per window", n, refused.Load(), windows)
	}
	t.Logf("admitted %d of 200 across two replicas", admitted.Load())
}

// TestBudgetBoundsABurst: 50 concurrent requests against a nearly exhausted
// budget. Each costs 0.01 EUR and in-flight requests count, so of the 0.05 EUR
// left exactly 5 are admitted (402 insufficient_quota for the rest) and the
// budget is not overshot.
func TestBudgetBoundsABurst(t *testing.T) {
	e := newEnv(t, func(c *logos.Config) { c.MetricsToken = metricsToken })
	up := providertest.NewOpenAI(t, providertest.Options{HeaderDelay: 200 * time.Millisecond})
	m, _ := e.deploy("m", up.Target(), nil)
	e.priceCompletionTokens(t, m.ID) // 0.01 EUR per answer
	must(t, e.srv.URL+"/logosdb/set_budget", e.key, map[string]any{"process_id": e.processID, "limit": "0.06", "currency": "EUR", "period": "month"})
	e.reload()
	// One request first: 0.01 spent, and the key's cost estimate learned.
	if s, _, b := e.do("POST", "/v1/chat/completions", chatBody); s != 200 {
		t.Fatalf("first request: %d %s", s, b)
	}

	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _, b := e.do("POST", "/v1/chat/completions", chatBody)
			switch s {
			case 200:
				admitted.Add(1)
			case 402:
				if _, typ, _ := errorBody(t, b); typ != "insufficient_quota" {
					t.Errorf("402 of type %q", typ)
				}
				refused.Add(1)
			default:
				t.Errorf("status %d %s", s, b)
			}
		}()
	}
	wg.Wait()
	var spent int64
	for _, r := range e.usage() {
		spent += r.CostMicros
	}
	if admitted.Load() != 5 || refused.Load() != 45 || spent > 60_000 {
		t.Fatalf("admitted %d, refused %d, spent %d micros of a 60,000 budget", admitted.Load(), refused.Load(), spent)
	}
	// The refusals and the cost show in the metrics.
	var cost float64
	metrics := e.scrape()
	for series, v := range metrics {
		if strings.HasPrefix(series, `logos_cost_micros_total{currency="EUR",model="m",`) {
			cost += v
		}
	}
	if metrics["logos_budget_refused_total"] != 45 || cost != float64(spent) {
		t.Fatalf("budget refusals %v (want 45), cost metric %v (want %d)", metrics["logos_budget_refused_total"], cost, spent)
	}
}

// TestOverBudgetRefusedBeforeClassifying: a request that leaves the model to
// Logos is refused for its budget before it is classified (classifying may
// cost an embeddings call), with the 402 a request naming a model gets and a
// like usage record; the estimate a request reserves before classification
// is released when classification then refuses it.
func TestOverBudgetRefusedBeforeClassifying(t *testing.T) {
	var classified atomic.Int64
	e := newEnv(t, func(c *logos.Config) {
		c.Classifier = classify.ClassifierFunc(func(_ context.Context, r classify.Request) ([]classify.Candidate, error) {
			classified.Add(1)
			if strings.Contains(r.User, "nothing fits") || len(r.Models) == 0 {
				return nil, classify.ErrNoModelPassed
			}
			return []classify.Candidate{{ModelID: r.Models[0].ID, Weight: 1}}, nil
		})
	})
	up := providertest.NewOpenAI(t, providertest.Options{})
	m, _ := e.deploy("m", up.Target(), nil)
	e.priceCompletionTokens(t, m.ID) // 0.01 EUR per answer
	must(t, e.srv.URL+"/logosdb/set_budget", e.key, map[string]any{"process_id": e.processID, "limit": "0.025", "currency": "EUR", "period": "month"})
	out := must(t, e.srv.URL+"/logosdb/add_policy", e.key, map[string]any{"entity_id": e.processID, "name": "any", "threshold_privacy": "CLOUD_NOT_IN_EU_BY_US_PROVIDER",
		"threshold_latency": 0, "threshold_accuracy": 0, "threshold_cost": 0, "threshold_quality": 0, "priority": 5})
	policy := fmt.Sprint(num(t, out, "policy-id"))
	e.reload()

	const (
		chosen  = `{"messages":[{"role":"user","content":"Hi"}]}`
		refused = `{"messages":[{"role":"user","content":"nothing fits"}]}`
	)
	post := func(body string, want int) []byte {
		t.Helper()
		s, _, b := e.do("POST", "/v1/chat/completions", body, "policy", policy)
		if s != want {
			t.Fatalf("%s: %d %s; want %d", body, s, b, want)
		}
		return b
	}
	// 0.01 EUR spent; the process's estimate becomes 0.01.
	post(chosen, 200)
	// Refused by classification: each releases what it reserved, or the
	// next request would not fit.
	for range 3 {
		post(refused, 400)
	}
	post(chosen, 200) // 0.02 spent: the next 0.01 does not fit 0.025
	if n := classified.Load(); n != 5 {
		t.Fatalf("%d classifications before the budget ran out; want 5", n)
	}

	named := post(chatBody, 402)
	if _, typ, code := errorBody(t, named); typ != "insufficient_quota" || code != "budget_exceeded" {
		t.Fatalf("named model: 402 of type %q code %v", typ, code)
	}
	sent := len(up.Requests())
	for _, body := range []string{chosen, `{"model":"logos-v1","messages":[{"role":"user","content":"Hi"}]}`} {
		if b := post(body, 402); !bytes.Equal(b, named) {
			t.Errorf("%s: 402 body %s; want the named model's %s", body, b, named)
		}
	}
	if n := classified.Load(); n != 5 {
		t.Errorf("requests over budget were classified (%d classifications; want 5)", n)
	}
	if n := len(up.Requests()); n != sent {
		t.Errorf("the upstream got %d requests over budget", n-sent)
	}

	recs := e.usage() // newest first: model string, no model, named, the 200 before
	if len(recs) < 4 {
		t.Fatalf("%d usage records", len(recs))
	}
	served, namedRec := recs[3], recs[2]
	if served.StatusCode != 200 || fmt.Sprint(served.PolicyID) != policy || namedRec.ModelID != m.ID {
		t.Fatalf("records before the refusals: %+v / %+v", served, namedRec)
	}
	for _, r := range recs[:3] {
		if r.StatusCode != 402 || r.Outcome != store.OutcomeRejected || r.ErrorMessage != namedRec.ErrorMessage ||
			!r.ForwardedAt.IsZero() || r.CostMicros != 0 || len(r.Tokens) != 0 || r.CompletedAt.IsZero() {
			t.Errorf("refusal recorded as %+v; want it like the named model's %+v", r, namedRec)
		}
	}
	for _, r := range recs[:2] {
		if r.PolicyID != served.PolicyID || len(r.Classification) != 0 {
			t.Errorf("resource-mode refusal: policy %d (want %d), classification %s (want none)", r.PolicyID, served.PolicyID, r.Classification)
		}
	}
}
