package logos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// postRaw sends body with key and extra headers; it returns status, headers
// and body.
func postRaw(t *testing.T, url, key, body string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestResourceModeEndToEnd sets Logos up over /logosdb/* only (no config
// file), then sends requests that name no model, a logos-v model string or a
// policy header, and checks where they go, what they answer and what they
// record.
func TestResourceModeEndToEnd(t *testing.T) {
	st := openStore(t, "sqlite", "")
	router, base := serve(t, st, nil)
	local := providertest.NewOpenAI(t, providertest.Options{Model: "fixed"})
	cloud := providertest.NewOpenAI(t, providertest.Options{Model: "fixed"})
	db := base + "/logosdb/"

	out := must(t, db+"setup", "", map[string]any{"base_url": local.URL + "/v1", "provider_name": "local-gpu", "provider_type": "openai"})
	root := out["logos-key"].(string)
	localProv, processID, profileID := num(t, out, "provider-id"), num(t, out, "process-id"), num(t, out, "profile-id")
	out = must(t, db+"add_provider", root, map[string]any{"provider_name": "us-cloud", "base_url": cloud.URL + "/v1", "provider_type": "openai"})
	cloudProv := num(t, out, "provider-id")

	out = must(t, db+"add_full_model", root, map[string]any{"name": "coder", "weight_privacy": "LOCAL",
		"tags": "code python debugging tests", "description": "Small local coding model: patches, bug fixes, unit tests.", "parallel": 4})
	coder := num(t, out, "model_id")
	out = must(t, db+"add_full_model", root, map[string]any{"name": "thinker", "weight_privacy": "CLOUD_NOT_IN_EU_BY_US_PROVIDER",
		"worse_accuracy": coder, "worse_quality": coder, "worse_cost": nil, "worse_latency": nil,
		"tags": "reasoning math architecture", "description": "Deep reasoning: proofs, math, architecture tradeoffs.", "parallel": 4})
	thinker := num(t, out, "model_id")
	must(t, db+"connect_model_provider", root, map[string]any{"model_id": coder, "provider_id": localProv})
	must(t, db+"connect_model_provider", root, map[string]any{"model_id": thinker, "provider_id": cloudProv})
	must(t, db+"connect_profile_model", root, map[string]any{"profile_id": profileID, "model_id": coder})
	must(t, db+"connect_profile_model", root, map[string]any{"profile_id": profileID, "model_id": thinker})
	out = must(t, db+"add_policy", root, map[string]any{"entity_id": processID, "name": "local-only", "threshold_privacy": "LOCAL",
		"threshold_latency": 0, "threshold_accuracy": 0, "threshold_cost": -1024, "threshold_quality": 0, "priority": 5})
	localOnly := num(t, out, "policy-id")
	out = must(t, db+"add_policy", root, map[string]any{"entity_id": processID, "name": "cheapest", "threshold_privacy": "CLOUD_NOT_IN_EU_BY_US_PROVIDER",
		"threshold_latency": 0, "threshold_accuracy": 0, "threshold_cost": 1024, "threshold_quality": 0, "priority": 5})
	cheapest := num(t, out, "policy-id")
	chat := base + "/v1/chat/completions"

	t.Run("no model: reasoning prompt reaches the reasoning model", func(t *testing.T) {
		n := len(cloud.Requests())
		s, h, b := postRaw(t, chat, root, `{"messages":[{"role":"system","content":"Deep reasoning and math."},{"role":"user","content":"Prove the theorem and weigh the architecture tradeoffs."}]}`)
		if s != 200 || h.Get("X-Logos-Model") != "thinker" || h.Get("X-Logos-Policy") != "default" {
			t.Fatalf("%d model %q policy %q: %s", s, h.Get("X-Logos-Model"), h.Get("X-Logos-Policy"), b)
		}
		if len(cloud.Requests()) != n+1 {
			t.Fatal("the reasoning model's upstream got no request")
		}
		got, _ := cloud.LastRequest()
		if !bytes.Contains(got.Body, []byte(`"model":"thinker"`)) {
			t.Fatalf("upstream body names no model: %s", got.Body)
		}
	})
	t.Run("policy header LOCAL keeps the request local", func(t *testing.T) {
		s, h, b := postRaw(t, chat, root, `{"model":"","messages":[{"role":"user","content":"Prove the theorem."}]}`, "policy", fmt.Sprint(localOnly))
		if s != 200 || h.Get("X-Logos-Model") != "coder" || h.Get("X-Logos-Policy") != fmt.Sprint(localOnly) {
			t.Fatalf("%d %v: %s", s, h, b)
		}
	})
	t.Run("model string with privacy LOCAL", func(t *testing.T) {
		s, h, b := postRaw(t, chat, root, `{"model":"logos-v1__policy_privacy=LOCAL","messages":[{"role":"user","content":"math proof"}]}`)
		if s != 200 || h.Get("X-Logos-Model") != "coder" {
			t.Fatalf("%d %v: %s", s, h, b)
		}
	})
	t.Run("streams unchanged, headers before the first byte", func(t *testing.T) {
		s1, h1, want := postRaw(t, chat, root, `{"model":"coder","stream":true,"messages":[{"role":"user","content":"fix my python test"}]}`)
		s2, h2, got := postRaw(t, chat, root, `{"stream":true,"messages":[{"role":"user","content":"fix my python test"}]}`, "policy", fmt.Sprint(localOnly))
		if s1 != 200 || s2 != 200 || h2.Get("X-Logos-Model") != "coder" || h1.Get("X-Logos-Model") != "" {
			t.Fatalf("%d %d %v", s1, s2, h2)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("resource-mode stream differs from the named-model stream:\n%s\n---\n%s", got, want)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, body string
			hdr        []string
			status     int
			code, msg  string
		}{
			{"non-integer policy", `{"messages":[]}`, []string{"policy", "abc"}, 400, "invalid_policy", "integer"},
			{"unknown policy", `{"messages":[]}`, []string{"policy", "999"}, 404, "policy_not_found", "999"},
			{"guardrail", `{"model":"thinker","messages":[]}`, []string{"policy", fmt.Sprint(localOnly)}, 403, "policy_violation", "privacy"},
			{"bad model string", `{"model":"logos-v1__policy_cost=cheap","messages":[]}`, nil, 400, "invalid_model_string", `"cost=cheap" at byte 17`},
			{"nothing passes", `{"model":"logos-v1__policy_privacy=LOCAL_cost=1000","messages":[]}`, nil, 400, "no_model_passed_policy", "cost filter"},
			{"model string names a foreign policy", `{"model":"logos-v1__policy=999","messages":[]}`, nil, 404, "policy_not_found", "999"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, _, b := postRaw(t, chat, root, tc.body, tc.hdr...)
				var env struct {
					Error struct {
						Message, Type, Code string
					}
				}
				if err := json.Unmarshal(b, &env); err != nil || s != tc.status || env.Error.Code != tc.code || !strings.Contains(env.Error.Message, tc.msg) {
					t.Fatalf("%d %s; want %d %s containing %q", s, b, tc.status, tc.code, tc.msg)
				}
			})
		}
	})
	t.Run("explicit model passes the guardrail", func(t *testing.T) {
		s, h, b := postRaw(t, chat, root, `{"model":"coder","messages":[]}`, "policy", fmt.Sprint(cheapest))
		if s != 200 || h.Get("X-Logos-Model") != "" {
			t.Fatalf("%d %v %s", s, h, b)
		}
	})
	t.Run("usage record keeps the policy and the classification", func(t *testing.T) {
		if err := router.FlushUsage(t.Context()); err != nil {
			t.Fatal(err)
		}
		recs, err := st.ListUsage(t.Context(), store.UsageFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, r := range recs {
			if r.PolicyID != localOnly || r.ModelName != "coder" || len(r.Classification) == 0 || r.StatusCode != 200 {
				continue
			}
			var c struct {
				Policy     struct{ ID int64 }
				DecidedBy  string `json:"decided_by"`
				TookUS     int64  `json:"took_us"`
				Candidates []struct {
					Model                      string
					Weight, Policy, Similarity float64
				}
			}
			if err := json.Unmarshal(r.Classification, &c); err != nil {
				t.Fatal(err)
			}
			if c.Policy.ID != localOnly || c.DecidedBy != "filter" || len(c.Candidates) != 1 || c.Candidates[0].Model != "coder" {
				t.Fatalf("classification %s", r.Classification)
			}
			found = true
		}
		if !found {
			t.Fatalf("no usage record with policy %d and a classification", localOnly)
		}
	})
}

// TestResourceModeNativeAndResponses: /api/chat and /v1/responses may leave
// the model to Logos too; /api/chat then chooses among Ollama deployments only.
func TestResourceModeNativeAndResponses(t *testing.T) {
	e := newEnv(t)
	ol := providertest.NewOllama(t, providertest.Options{})
	e.deploy("llama3.2:3b", ol.Target(), nil)
	oa := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("gpt-4o", oa.Target(), nil)
	ctx := t.Context()
	for _, name := range []string{"llama3.2:3b", "gpt-4o"} {
		m, err := e.store.GetModelByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		m.Description = map[string]string{"llama3.2:3b": "small local chat model", "gpt-4o": "cloud model for long documents and analysis"}[name]
		m.WeightQuality = map[string]int{"llama3.2:3b": -4, "gpt-4o": 4}[name]
		if _, err := e.store.UpdateModel(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	e.reload()

	s, h, b := e.do("POST", "/api/chat", `{"messages":[{"role":"user","content":"Hi"}]}`)
	if s != 200 || h.Get("X-Logos-Model") != "llama3.2:3b" {
		t.Fatalf("/api/chat without model: %d %q %s", s, h.Get("X-Logos-Model"), b)
	}
	if got, _ := ol.LastRequest(); !bytes.Contains(got.Body, []byte(`"model":"llama3.2:3b"`)) {
		t.Fatalf("ollama upstream body %s", got.Body)
	}
	s, h, b = e.do("POST", "/api/chat", `{"model":"logos-v1","messages":[{"role":"user","content":"Hi"}]}`)
	if s != 200 || h.Get("X-Logos-Model") != "llama3.2:3b" {
		t.Fatalf("/api/chat with a model string: %d %q %s", s, h.Get("X-Logos-Model"), b)
	}

	s, h, b = e.do("POST", "/v1/responses", `{"instructions":"Be thorough.","input":"Analyse this long document."}`)
	if s != 200 || h.Get("X-Logos-Model") != "gpt-4o" {
		t.Fatalf("/v1/responses without model: %d %q %s", s, h.Get("X-Logos-Model"), b)
	}
	if got, _ := oa.LastRequest(); got.Path != "/v1/responses" || !bytes.Contains(got.Body, []byte(`"model":"gpt-4o"`)) {
		t.Fatalf("responses upstream %s %s", got.Path, got.Body)
	}
	// Embeddings need a model name.
	s, _, b = e.do("POST", "/v1/embeddings", `{"model":"logos-v1","input":"x"}`)
	if s != 400 || !bytes.Contains(b, []byte("invalid_model_string")) {
		t.Fatalf("embeddings with a model string: %d %s", s, b)
	}
}

// recordingScheduler remembers the jobs it is asked to run.
type recordingScheduler struct {
	inner scheduler.Scheduler
	mu    sync.Mutex
	jobs  []scheduler.Job
}

func (s *recordingScheduler) Acquire(ctx context.Context, j scheduler.Job) (*scheduler.Lease, error) {
	s.mu.Lock()
	s.jobs = append(s.jobs, j)
	s.mu.Unlock()
	return s.inner.Acquire(ctx, j)
}

// TestResourceModeCandidates: every deployment of every passing model goes to
// the scheduler, best first, with the classification weight.
func TestResourceModeCandidates(t *testing.T) {
	var rec *recordingScheduler
	e := newEnv(t, func(c *logos.Config) {
		rec = &recordingScheduler{inner: c.Scheduler}
		c.Scheduler = rec
	})
	a1 := providertest.NewOpenAI(t, providertest.Options{})
	a2 := providertest.NewOpenAI(t, providertest.Options{})
	b := providertest.NewOpenAI(t, providertest.Options{})
	ma, _ := e.deploy("alpha", a1.Target(), nil)
	e.deploy("alpha", a2.Target(), func(p *store.Provider, _ *store.Deployment) { p.Name = "alpha-second" })
	mb, _ := e.deploy("beta", b.Target(), nil)
	ma.Description, ma.WeightQuality = "python code fixes", 8
	if _, err := e.store.UpdateModel(t.Context(), ma); err != nil {
		t.Fatal(err)
	}
	e.reload()
	if s, _, body := e.do("POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"fix my python code"}]}`); s != 200 {
		t.Fatalf("%d %s", s, body)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	j := rec.jobs[len(rec.jobs)-1]
	if len(j.Candidates) != 3 || j.Candidates[0].ModelID != ma.ID || j.Candidates[1].ModelID != ma.ID || j.Candidates[2].ModelID != mb.ID {
		t.Fatalf("candidates %+v; want alpha's two deployments, then beta's", j.Candidates)
	}
	if j.Candidates[0].Weight != j.Candidates[1].Weight || !(j.Candidates[1].Weight > j.Candidates[2].Weight) || j.Candidates[2].Weight <= 0 {
		t.Fatalf("weights %+v", j.Candidates)
	}
}

// TestJobCarriesMaxTokens: the scheduler's job states the request's output
// limit (max_tokens, or max_completion_tokens / max_output_tokens), which
// schedulers read as the expected length; 0 when none or unreadable.
func TestJobCarriesMaxTokens(t *testing.T) {
	var rec *recordingScheduler
	e := newEnv(t, func(c *logos.Config) {
		rec = &recordingScheduler{inner: c.Scheduler}
		c.Scheduler = rec
	})
	up := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("m", up.Target(), nil)
	for _, tc := range []struct {
		limit string
		want  int
	}{
		{`"max_tokens":300,`, 300},
		{`"max_completion_tokens":77,`, 77},
		{``, 0},
		{`"max_tokens":-4,`, 0},
		{`"max_tokens":"many",`, 0},
		{`"max_tokens":null,"max_completion_tokens":12,`, 12},
		{`"max_tokens":99999999999999999999,`, math.MaxInt32},
	} {
		rec.mu.Lock()
		rec.jobs = nil
		rec.mu.Unlock()
		e.do(http.MethodPost, "/v1/chat/completions", `{`+tc.limit+`"model":"m","messages":[{"role":"user","content":"hi"}]}`)
		rec.mu.Lock()
		jobs := slices.Clone(rec.jobs)
		rec.mu.Unlock()
		if len(jobs) != 1 || jobs[0].EstimatedTokens != tc.want {
			t.Errorf("%s: jobs %+v, want one with EstimatedTokens %d", tc.limit, jobs, tc.want)
		}
	}
}
