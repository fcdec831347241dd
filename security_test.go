package logos_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/store"
)

// TestUngrantedModelThroughCaseFoldedMember reproduces issue 25 item 1: an
// Ollama provider serves llama3:8b (granted) and llama3:70b-private (not
// granted). Ollama decodes bodies with Go's encoding/json, which matches
// "Model" to its model field and lets the last member win, so a body naming
// the granted model as "model" and the private one as "Model" used to run the
// private model while the record said llama3:8b. Such bodies are refused
// before anything reaches the provider, on every proxied path.
func TestUngrantedModelThroughCaseFoldedMember(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOllama(t, providertest.Options{})
	_, dep := e.deploy("llama3:8b", up.Target(), nil)
	ctx := context.Background()
	private, err := e.store.CreateModel(ctx, store.Model{Name: "llama3:70b-private", WeightPrivacy: store.PrivacyLocal, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateDeployment(ctx, store.Deployment{ModelID: private.ID, ProviderID: dep.ProviderID}); err != nil {
		t.Fatal(err)
	}
	e.reload()

	// The private model is refused when named plainly.
	if s, _, b := e.do("POST", "/api/chat", `{"model":"llama3:70b-private","stream":false,"messages":[]}`); s != 404 {
		t.Fatalf("plain request for the private model: %d %s", s, b)
	}
	before := len(up.Requests())
	for _, tc := range []struct{ path, body, param string }{
		{"/api/chat", `{"model":"llama3:8b","Model":"llama3:70b-private","stream":false,"messages":[{"role":"user","content":"hi"}]}`, "Model"},
		{"/api/generate", `{"model":"llama3:8b","MODEL":"llama3:70b-private","stream":false,"prompt":"hi"}`, "MODEL"},
		{"/api/chat", `{"model":"llama3:8b","model":"llama3:70b-private","stream":false,"messages":[]}`, "model"},
		{"/v1/chat/completions", `{"model":"llama3:8b","Model":"llama3:70b-private","messages":[{"role":"user","content":"hi"}]}`, "Model"},
		{"/openai/chat/completions", `{"model":"llama3:8b","Model":"llama3:70b-private","messages":[{"role":"user","content":"hi"}]}`, "Model"},
		{"/v1/responses", `{"model":"llama3:8b","Model":"llama3:70b-private","input":"hi"}`, "Model"},
		{"/v1/chat/completions", `{"model":"llama3:8b","stream":false,"Stream":true,"messages":[]}`, "Stream"},
	} {
		s, _, b := e.do("POST", tc.path, tc.body)
		if s != 400 || strings.Contains(string(b), "70b") && !strings.Contains(string(b), "Model") {
			t.Errorf("%s %s: %d %s, want 400", tc.path, tc.body, s, b)
			continue
		}
		if !strings.HasPrefix(tc.path, "/api/") {
			var env struct {
				Error struct{ Param, Type string } `json:"error"`
			}
			if json.Unmarshal(b, &env) != nil || env.Error.Param != tc.param || env.Error.Type != "invalid_request_error" {
				t.Errorf("%s %s: error %s, want param %q", tc.path, tc.body, b, tc.param)
			}
		}
		if r := e.lastUsage(); r.StatusCode != 400 || r.ModelName == "llama3:8b" {
			t.Errorf("%s: record status %d model %q", tc.path, r.StatusCode, r.ModelName)
		}
	}
	if got := len(up.Requests()); got != before {
		t.Fatalf("%d ambiguous requests reached the provider", got-before)
	}
}
