package router

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/internal/config"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite"
)

// catSealer is a reversible test Sealer: the sealed form never contains the
// plaintext.
type catSealer struct{}

func (catSealer) Seal(s string) (string, error) {
	return "sealed:" + hex.EncodeToString([]byte(s)), nil
}

// Open reverses Seal and passes unsealed values through, as secret.Box does.
func (catSealer) Open(s string) (string, error) {
	hexed, ok := strings.CutPrefix(s, "sealed:")
	if !ok {
		return s, nil
	}
	b, err := hex.DecodeString(hexed)
	if err != nil {
		return "", errors.New("malformed sealed value")
	}
	return string(b), nil
}

// catSealOnly seals but cannot open.
type catSealOnly struct{}

func (catSealOnly) Seal(s string) (string, error) { return catSealer{}.Seal(s) }

// catFixture is a Handler over a fresh SQLite store with an admin key and the
// key of an ordinary user with one profile.
type catFixture struct {
	t           *testing.T
	st          store.Store
	h           *Handler
	admin       string
	rootProfile int64
	user        string
	userProcess store.Process
	userProfile int64
	changes     atomic.Int64
}

func newCatFixture(t *testing.T, sealer Sealer) *catFixture {
	t.Helper()
	ctx := t.Context()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "logos.db"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	res, admin, err := Bootstrap(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	f := &catFixture{t: t, st: st, admin: admin, rootProfile: res.Profile.ID}

	u, err := st.CreateUser(ctx, store.User{Username: "alice", Role: store.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	f.user = apikey.Generate("alice")
	f.userProcess, err = st.CreateProcess(ctx, store.Process{Name: "alice", KeyHash: apikey.Hash(f.user), KeyPrefix: apikey.Prefix(f.user), UserID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	prof, err := st.CreateProfile(ctx, store.Profile{Name: "default", ProcessID: f.userProcess.ID})
	if err != nil {
		t.Fatal(err)
	}
	f.userProfile = prof.ID

	getenv := func(k string) string {
		switch k {
		case "LOGOS_IMPORT_CAT_SECRET":
			return "env-secret"
		case "HOME":
			return "/home/logos"
		case "PGPASSWORD":
			return "pg-secret"
		}
		return ""
	}
	f.h = New(Config{Store: st, Logger: quiet, Sealer: sealer, Getenv: getenv, OnChange: func(context.Context) { f.changes.Add(1) }})
	return f
}

// call posts body (a string is sent verbatim, anything else as JSON) to
// /logosdb/name with key as bearer token and returns the status and the
// decoded JSON object.
func (f *catFixture) call(name, key string, body any) (int, map[string]any) {
	f.t.Helper()
	status, raw := f.raw(name, key, body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		f.t.Fatalf("POST /logosdb/%s: %d, not a JSON object: %s", name, status, raw)
	}
	return status, out
}

// raw is call without decoding.
func (f *catFixture) raw(name, key string, body any) (int, []byte) {
	f.t.Helper()
	var b []byte
	if s, ok := body.(string); ok {
		b = []byte(s)
	} else if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			f.t.Fatal(err)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/logosdb/"+name, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// ok calls name as admin and fails unless it answers 200.
func (f *catFixture) ok(name string, body map[string]any) map[string]any {
	f.t.Helper()
	status, out := f.call(name, f.admin, body)
	if status != http.StatusOK {
		f.t.Fatalf("%s %v: %d %v", name, body, status, out)
	}
	return out
}

// id returns the number out[k].
func (f *catFixture) id(out map[string]any, k string) int64 {
	f.t.Helper()
	v, ok := out[k].(float64)
	if !ok {
		f.t.Fatalf("answer %v has no number %q", out, k)
	}
	return int64(v)
}

// catErr returns the status, param and code of an error answer.
func catErr(t *testing.T, status int, out map[string]any) (param, code string) {
	t.Helper()
	e, ok := out["error"].(map[string]any)
	if !ok {
		t.Fatalf("status %d without an error object: %v", status, out)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Fatalf("error without message: %v", out)
	}
	param, _ = e["param"].(string)
	code, _ = e["code"].(string)
	return param, code
}

// seed creates a provider, a model and a deployment and returns their ids.
func (f *catFixture) seed() (provider, model, deployment int64) {
	f.t.Helper()
	provider = f.id(f.ok("add_provider", map[string]any{"provider_name": "seed-provider", "base_url": "https://seed.example/v1", "provider_type": "openai",
		"api_key": "sk-seed-secret", "auth_name": "Authorization", "auth_format": "Bearer {}"}), "provider-id")
	model = f.id(f.ok("add_model", map[string]any{"name": "seed-model"}), "model_id")
	deployment = f.id(f.ok("connect_model_provider", map[string]any{"model_id": model, "provider_id": provider}), "deployment-id")
	return provider, model, deployment
}

// catEndpoints are every catalogue endpoint and whether it needs an admin key.
var catEndpoints = []struct {
	name  string
	admin bool
}{
	{"add_provider", true}, {"update_provider", true}, {"update_provider_sdi_config", true}, {"get_providers", false},
	{"add_model", true}, {"add_full_model", true}, {"update_model", true}, {"delete_model", true},
	{"get_model", false}, {"get_models", false},
	{"connect_model_provider", true}, {"connect_model_api", true}, {"list_deployments", true},
	{"connect_profile_model", true}, {"connect_process_model", true}, {"connect_process_provider", true},
	{"add_billing", true}, {"export", true}, {"import", true},
}

func TestCatalogAuth(t *testing.T) {
	f := newCatFixture(t, catSealer{})
	for _, ep := range catEndpoints {
		t.Run(ep.name, func(t *testing.T) {
			status, out := f.call(ep.name, "", map[string]any{})
			if status != http.StatusUnauthorized {
				t.Fatalf("without a key: %d %v", status, out)
			}
			if _, code := catErr(t, status, out); code != "missing_api_key" {
				t.Errorf("without a key: code %q", code)
			}
			status, out = f.call(ep.name, "", map[string]any{"logos_key": "lg-nobody-0123456789012345678901234"})
			if status != http.StatusUnauthorized {
				t.Fatalf("unknown key: %d %v", status, out)
			}
			status, out = f.call(ep.name, f.user, map[string]any{})
			switch {
			case ep.admin && status != http.StatusForbidden:
				t.Fatalf("non-admin key: %d %v, want 403", status, out)
			case ep.admin:
				if _, code := catErr(t, status, out); code != "admin_required" {
					t.Errorf("non-admin key: code %q", code)
				}
			case status == http.StatusUnauthorized || status == http.StatusForbidden:
				t.Fatalf("non-admin key on a scoped endpoint: %d %v", status, out)
			}
		})
	}
	// The key may also come in the body, as the original sends it.
	if status, out := f.call("get_models", "", map[string]any{"logos_key": f.admin}); status != http.StatusOK {
		t.Fatalf("key in the body: %d %v", status, out)
	}
}

// TestCatalogMalformed sends bad bodies to every endpoint: each is a 4xx
// naming the field, never a 500.
func TestCatalogMalformed(t *testing.T) {
	f := newCatFixture(t, catSealer{})
	prov, model, _ := f.seed()
	other := f.id(f.ok("add_provider", map[string]any{"provider_name": "unconnected", "base_url": "http://localhost:11434", "provider_type": "ollama"}), "provider-id")
	newProvider := func(kv ...any) map[string]any {
		m := map[string]any{"provider_name": "p-new", "base_url": "https://x.example", "provider_type": "openai"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	billing := func(kv ...any) map[string]any {
		m := map[string]any{"type_name": "prompt_tokens", "type_cost": 0.5, "valid_from": "2026-01-01T00:00:00Z"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		endpoint string
		body     any
		status   int
		param    string
	}{
		{"add_provider", `{not json`, 400, ""},
		{"add_provider", `["a"]`, 400, ""},
		{"add_provider", `"text"`, 400, ""},
		{"add_provider", newProvider("provider_name", 5), 400, "provider_name"},
		{"add_provider", newProvider("provider_name", nil), 400, "provider_name"},
		{"add_provider", newProvider("provider_name", "  "), 400, "provider_name"},
		{"add_provider", newProvider("base_url", nil), 400, "base_url"},
		{"add_provider", newProvider("base_url", "ftp://x.example"), 400, "base_url"},
		{"add_provider", newProvider("base_url", "x.example"), 400, "base_url"},
		{"add_provider", newProvider("provider_type", nil), 400, "provider_type"},
		{"add_provider", newProvider("provider_type", ""), 400, "provider_type"},
		{"add_provider", newProvider("provider_type", "grpc"), 400, "provider_type"},
		{"add_provider", newProvider("provider_type", true), 400, "provider_type"},
		{"add_provider", newProvider("privacy", "PUBLIC"), 400, "privacy"},
		{"add_provider", newProvider("auth_format", "Bearer"), 400, "auth_format"},
		{"add_provider", newProvider("auth_name", "bad header"), 400, "auth_name"},
		{"add_provider", newProvider("api_key", 42), 400, "api_key"},
		{"add_provider", newProvider("total_vram_mb", -1), 400, "total_vram_mb"},
		{"add_provider", newProvider("provider_name", "seed-provider"), 409, "provider_name"},

		{"update_provider", `{"provider_id":`, 400, ""},
		{"update_provider", map[string]any{}, 400, "provider_id"},
		{"update_provider", map[string]any{"provider_id": "1"}, 400, "provider_id"},
		{"update_provider", map[string]any{"provider_id": 1.5}, 400, "provider_id"},
		{"update_provider", map[string]any{"provider_id": -1}, 400, "provider_id"},
		{"update_provider", map[string]any{"provider_id": 999}, 404, "provider_id"},
		{"update_provider", map[string]any{"provider_id": prov, "parallel_capacity": -1}, 400, "parallel_capacity"},
		{"update_provider", map[string]any{"provider_id": prov, "keep_alive_seconds": "300"}, 400, "keep_alive_seconds"},
		{"update_provider", map[string]any{"provider_id": prov, "max_loaded_models": -3}, 400, "max_loaded_models"},
		{"update_provider", map[string]any{"provider_id": prov, "total_vram_mb": 1e30}, 400, "total_vram_mb"},
		{"update_provider", map[string]any{"provider_id": prov, "admin_url": "not a url"}, 400, "admin_url"},
		{"update_provider", map[string]any{"provider_id": prov, "provider_name": "unconnected"}, 409, "provider_name"},
		{"update_provider_sdi_config", map[string]any{"provider_id": prov, "base_url": ""}, 400, "base_url"},
		{"update_provider_sdi_config", map[string]any{"provider_id": prov, "privacy": "EU"}, 400, "privacy"},
		{"update_provider_sdi_config", map[string]any{"provider_id": prov, "poll_interval_ms": -1}, 400, "poll_interval_ms"},
		{"update_provider_sdi_config", map[string]any{"provider_id": prov, "poll_timeout_ms": 86400001}, 400, "poll_timeout_ms"},
		{"update_provider_sdi_config", map[string]any{"provider_id": prov, "sleep_mode": "yes"}, 400, "sleep_mode"},

		{"get_providers", `{"x"}`, 400, ""},

		{"add_model", `nope`, 400, ""},
		{"add_model", map[string]any{}, 400, "name"},
		{"add_model", map[string]any{"name": 5}, 400, "name"},
		{"add_model", map[string]any{"name": "seed-model"}, 409, "name"},

		{"add_full_model", `{`, 400, ""},
		{"add_full_model", map[string]any{"tags": "x"}, 400, "name"},
		{"add_full_model", map[string]any{"name": "m", "weight_privacy": "PUBLIC"}, 400, "weight_privacy"},
		{"add_full_model", map[string]any{"name": "m", "parallel": 300}, 400, "parallel"},
		{"add_full_model", map[string]any{"name": "m", "parallel": "4"}, 400, "parallel"},
		{"add_full_model", map[string]any{"name": "m", "context_window": -1}, 400, "context_window"},
		{"add_full_model", map[string]any{"name": "m", "worse_cost": "x"}, 400, "worse_cost"},
		{"add_full_model", map[string]any{"name": "m", "worse_latency": 999}, 404, "worse_latency"},
		{"add_full_model", map[string]any{"name": "m", "tags": []string{"a"}}, 400, "tags"},
		{"add_full_model", map[string]any{"name": "seed-model"}, 409, "name"},

		{"update_model", `[]`, 400, ""},
		{"update_model", map[string]any{"category": "cost", "value": 1}, 400, "id"},
		{"update_model", map[string]any{"id": model, "value": 1}, 400, "category"},
		{"update_model", map[string]any{"id": model, "category": "speed", "value": 1}, 400, "category"},
		{"update_model", map[string]any{"id": model, "category": 3, "value": 1}, 400, "category"},
		{"update_model", map[string]any{"id": model, "category": "cost"}, 400, "value"},
		{"update_model", map[string]any{"id": model, "category": "cost", "value": nil}, 400, "value"},
		{"update_model", map[string]any{"id": model, "category": "cost", "value": "x"}, 400, "value"},
		{"update_model", map[string]any{"id": model, "category": "cost", "value": 1.5}, 400, "value"},
		{"update_model", map[string]any{"id": model, "category": "privacy", "value": 5}, 400, "value"},
		{"update_model", map[string]any{"id": model, "category": "privacy", "value": "PUBLIC"}, 400, "value"},
		{"update_model", map[string]any{"id": 999, "category": "cost", "value": 1}, 404, "id"},
		{"update_model", map[string]any{"id": 999, "category": "privacy", "value": "LOCAL"}, 404, "id"},

		{"delete_model", `{]`, 400, ""},
		{"delete_model", map[string]any{}, 400, "id"},
		{"delete_model", map[string]any{"id": "1"}, 400, "id"},
		{"delete_model", map[string]any{"id": 999}, 404, "id"},

		{"get_model", `x`, 400, ""},
		{"get_model", map[string]any{}, 400, "id"},
		{"get_model", map[string]any{"id": []int{1}}, 400, "id"},
		{"get_model", map[string]any{"id": 999}, 404, "id"},

		{"get_models", `{"a":}`, 400, ""},

		{"connect_model_provider", `{`, 400, ""},
		{"connect_model_provider", map[string]any{"provider_id": prov}, 400, "model_id"},
		{"connect_model_provider", map[string]any{"model_id": model}, 400, "provider_id"},
		{"connect_model_provider", map[string]any{"model_id": "a", "provider_id": prov}, 400, "model_id"},
		{"connect_model_provider", map[string]any{"model_id": model, "provider_id": prov, "parallel_capacity": -1}, 400, "parallel_capacity"},
		{"connect_model_provider", map[string]any{"model_id": model, "provider_id": prov, "endpoint": "ftp://x/y"}, 400, "endpoint"},
		{"connect_model_provider", map[string]any{"model_id": model, "provider_id": prov, "upstream_model": 3}, 400, "upstream_model"},
		{"connect_model_provider", map[string]any{"model_id": 999, "provider_id": prov}, 404, "model_id"},
		{"connect_model_provider", map[string]any{"model_id": model, "provider_id": 999}, 404, "provider_id"},

		{"connect_model_api", `nope`, 400, ""},
		{"connect_model_api", map[string]any{"provider_id": prov, "api_key": "k"}, 400, "model_id"},
		{"connect_model_api", map[string]any{"model_id": model, "api_key": "k"}, 400, "provider_id"},
		{"connect_model_api", map[string]any{"model_id": model, "provider_id": prov}, 400, "api_key"},
		{"connect_model_api", map[string]any{"model_id": model, "provider_id": prov, "api_key": 5}, 400, "api_key"},
		{"connect_model_api", map[string]any{"model_id": model, "provider_id": prov, "api_key": "k", "endpoint": "ftp://x"}, 400, "endpoint"},
		{"connect_model_api", map[string]any{"model_id": model, "provider_id": other, "api_key": "k"}, 400, "provider_id"},
		{"connect_model_api", map[string]any{"model_id": 999, "provider_id": prov, "api_key": "k"}, 404, "model_id"},
		{"connect_model_api", map[string]any{"model_id": model, "provider_id": 999, "api_key": "k"}, 404, "provider_id"},

		{"list_deployments", `{{`, 400, ""},

		{"connect_profile_model", `[1]`, 400, ""},
		{"connect_profile_model", map[string]any{"model_id": model}, 400, "profile_id"},
		{"connect_profile_model", map[string]any{"profile_id": f.userProfile}, 400, "model_id"},
		{"connect_profile_model", map[string]any{"profile_id": f.userProfile, "model_id": -2}, 400, "model_id"},
		{"connect_profile_model", map[string]any{"profile_id": 999, "model_id": model}, 404, "profile_id"},
		{"connect_profile_model", map[string]any{"profile_id": f.userProfile, "model_id": 999}, 404, "model_id"},
		{"connect_process_model", map[string]any{"profile_id": "p", "model_id": model}, 400, "profile_id"},
		{"connect_process_model", map[string]any{"profile_id": f.userProfile, "model_id": 999}, 404, "model_id"},

		{"connect_process_provider", `}`, 400, ""},
		{"connect_process_provider", map[string]any{"provider_id": prov}, 400, "profile_id"},
		{"connect_process_provider", map[string]any{"profile_id": f.userProfile}, 400, "provider_id"},
		{"connect_process_provider", map[string]any{"profile_id": f.userProfile, "provider_id": false}, 400, "provider_id"},
		{"connect_process_provider", map[string]any{"profile_id": 999, "provider_id": prov}, 404, "profile_id"},
		{"connect_process_provider", map[string]any{"profile_id": f.userProfile, "provider_id": 999}, 404, "provider_id"},

		{"add_billing", `{"type_name"}`, 400, ""},
		{"add_billing", billing("type_name", nil), 400, "type_name"},
		{"add_billing", billing("type_name", 7), 400, "type_name"},
		{"add_billing", billing("type_cost", nil), 400, "type_cost"},
		{"add_billing", billing("type_cost", "0.5"), 400, "type_cost"},
		{"add_billing", billing("type_cost", -1), 400, "type_cost"},
		{"add_billing", billing("type_cost", 1e300), 400, "type_cost"},
		{"add_billing", billing("valid_from", nil), 400, "valid_from"},
		{"add_billing", billing("valid_from", "yesterday"), 400, "valid_from"},
		{"add_billing", billing("valid_from", 20260101), 400, "valid_from"},
		{"add_billing", billing("currency", "EURO"), 400, "currency"},
		{"add_billing", billing("currency", "E1R"), 400, "currency"},
		{"add_billing", billing("model_id", "x"), 400, "model_id"},
		{"add_billing", billing("model_id", 999), 404, "model_id"},
		{"add_billing", billing("provider_id", 999), 404, "provider_id"},
	}
	for _, tc := range tests {
		b, _ := json.Marshal(tc.body)
		if s, ok := tc.body.(string); ok {
			b = []byte(s)
		}
		t.Run(tc.endpoint+" "+string(b), func(t *testing.T) {
			status, out := f.call(tc.endpoint, f.admin, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, out)
			}
			if param, _ := catErr(t, status, out); param != tc.param {
				t.Errorf("param %q, want %q: %v", param, tc.param, out)
			}
		})
	}
	// Nothing of the above changed the catalogue.
	c, err := f.st.LoadCatalog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Providers) != 2 || len(c.Models) != 1 || len(c.Deployments) != 1 || len(c.Prices) != 0 {
		t.Errorf("catalogue changed: %d providers, %d models, %d deployments, %d prices", len(c.Providers), len(c.Models), len(c.Deployments), len(c.Prices))
	}
}

func TestCatalogProviders(t *testing.T) {
	f := newCatFixture(t, catSealer{})
	ctx := t.Context()
	out := f.ok("add_provider", map[string]any{"provider_name": "azure-eu", "base_url": "https://eu.example.azure.com", "provider_type": "azure",
		"api_key": "azure-secret-1", "auth_name": "api-key", "auth_format": "{}", "api_version": "2024-10-21", "privacy": "cloud_in_eu_by_us_provider"})
	if out["result"] != "Created Provider." {
		t.Errorf("answer %v", out)
	}
	azure := f.id(out, "provider-id")
	webui := f.id(f.ok("add_provider", map[string]any{"provider_name": "webui", "base_url": "http://gpu.local:8080", "provider_type": "openwebui"}), "provider-id")
	cloud := f.id(f.ok("add_provider", map[string]any{"provider_name": "cloud", "base_url": "https://api.example", "provider_type": "Cloud"}), "provider-id")

	p, err := f.st.GetProvider(ctx, azure)
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != store.KindAzure || p.Privacy != store.PrivacyCloudInEUByUSProvider || p.AuthHeader != "api-key" || p.APIVersion != "2024-10-21" {
		t.Errorf("stored %+v", p)
	}
	if plain, _ := (catSealer{}).Open(p.Credential); plain != "azure-secret-1" || strings.Contains(p.Credential, "azure-secret") {
		t.Errorf("credential stored as %q", p.Credential)
	}
	for _, id := range []int64{webui, cloud} {
		if p, _ := f.st.GetProvider(ctx, id); p.Kind != store.KindOpenAICompatible || p.Credential != "" {
			t.Errorf("provider %d stored as %+v", id, p)
		}
	}

	// A partial update changes only the fields sent, through either name.
	before := f.changes.Load()
	out = f.ok("update_provider_sdi_config", map[string]any{"provider_id": webui, "admin_url": "http://gpu.local:11434", "total_vram_mb": 49152,
		"parallel_capacity": 4, "keep_alive_seconds": 600, "max_loaded_models": 2,
		"poll_interval_ms": 2000, "poll_timeout_ms": 1500, "sleep_mode": true})
	if out["result"] != "Updated Provider." {
		t.Errorf("answer %v", out)
	}
	if f.changes.Load() == before {
		t.Error("a write did not call OnChange")
	}
	f.ok("update_provider", map[string]any{"provider_id": azure, "api_key": "azure-secret-2", "privacy": "CLOUD_IN_EU_BY_EU_PROVIDER"})
	got, err := f.st.GetProvider(ctx, webui)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Provider{ID: webui, Name: "webui", Kind: store.KindOpenAICompatible, BaseURL: "http://gpu.local:8080", Privacy: store.PrivacyLocal,
		AdminURL: "http://gpu.local:11434", TotalVRAMMB: 49152, ParallelCapacity: 4, KeepAliveSeconds: 600, MaxLoadedModels: 2,
		PollInterval: 2 * time.Second, PollTimeout: 1500 * time.Millisecond, SleepMode: true}
	if d := cmp.Diff(want, got, cmpIgnoreTimes()); d != "" {
		t.Errorf("webui after update (-want +got):\n%s", d)
	}
	p, _ = f.st.GetProvider(ctx, azure)
	if plain, _ := (catSealer{}).Open(p.Credential); plain != "azure-secret-2" || p.BaseURL != "https://eu.example.azure.com" || p.Privacy != store.PrivacyCloudInEUByEUProvider || p.AuthFormat != "{}" {
		t.Errorf("azure after update: %+v", p)
	}

	// get_providers: all for the admin, never the credential.
	status, raw := f.raw("get_providers", f.admin, map[string]any{})
	if status != 200 {
		t.Fatalf("get_providers: %d %s", status, raw)
	}
	if bytes.Contains(raw, []byte("azure-secret")) || bytes.Contains(raw, []byte("sealed:")) {
		t.Fatalf("get_providers answered a credential: %s", raw)
	}
	var list struct {
		Providers []catalogProvider `json:"providers"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	wantList := []catalogProvider{
		{ID: azure, Name: "azure-eu", Kind: store.KindAzure, BaseURL: "https://eu.example.azure.com", AuthName: "api-key", AuthFormat: "{}",
			APIVersion: "2024-10-21", Privacy: store.PrivacyCloudInEUByEUProvider, HasAPIKey: true},
		{ID: webui, Name: "webui", Kind: store.KindOpenAICompatible, BaseURL: "http://gpu.local:8080", Privacy: store.PrivacyLocal,
			AdminURL: "http://gpu.local:11434", TotalVRAMMB: 49152, ParallelCapacity: 4, KeepAliveSeconds: 600, MaxLoadedModels: 2,
			PollIntervalMS: 2000, PollTimeoutMS: 1500, SleepMode: true},
		{ID: cloud, Name: "cloud", Kind: store.KindOpenAICompatible, BaseURL: "https://api.example", Privacy: store.PrivacyLocal},
	}
	if d := cmp.Diff(wantList, list.Providers, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("get_providers (-want +got):\n%s", d)
	}
	var keys map[string]any
	_ = json.Unmarshal(raw, &keys)
	first := keys["providers"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "name", "kind", "base_url", "auth_name", "auth_format", "api_version", "privacy", "admin_url", "total_vram_mb", "parallel_capacity"} {
		if _, ok := first[k]; !ok {
			t.Errorf("get_providers entry lacks %q: %v", k, first)
		}
	}

	// For a non-admin: only providers deploying a model it may use.
	status, out = f.call("get_providers", f.user, nil)
	if status != 200 || len(out["providers"].([]any)) != 0 {
		t.Fatalf("non-admin without permissions: %d %v", status, out)
	}
	m := f.id(f.ok("add_model", map[string]any{"name": "llama"}), "model_id")
	f.ok("connect_model_provider", map[string]any{"model_id": m, "provider_id": webui})
	f.ok("connect_profile_model", map[string]any{"profile_id": f.userProfile, "model_id": m})
	_, raw = f.raw("get_providers", f.user, nil)
	list.Providers = nil
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Providers) != 1 || list.Providers[0].ID != webui {
		t.Errorf("non-admin sees %s", raw)
	}
}

// cmpIgnoreTimes ignores CreatedAt and UpdatedAt fields.
func cmpIgnoreTimes() cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		s := p.Last().String()
		return s == ".CreatedAt" || s == ".UpdatedAt"
	}, cmp.Ignore())
}

func TestCatalogModels(t *testing.T) {
	f := newCatFixture(t, nil)
	out := f.ok("add_model", map[string]any{"name": "plain"})
	if out["result"] != "Created Model" {
		t.Errorf("answer %v", out)
	}
	plain := f.id(out, "model_id")
	full := f.id(f.ok("add_full_model", map[string]any{"name": "gpt-4o", "weight_privacy": "CLOUD_IN_EU_BY_US_PROVIDER", "worse_accuracy": nil,
		"worse_quality": nil, "worse_latency": nil, "worse_cost": nil, "tags": "chat code", "parallel": 8, "description": "GPT-4o", "context_window": 128000,
		"retry_max_attempts": 2, "retry_deadline_ms": 5000}), "model_id")

	status, out := f.call("get_model", f.admin, map[string]any{"id": full})
	if status != 200 {
		t.Fatalf("get_model: %d %v", status, out)
	}
	delete(out, "created_at")
	delete(out, "updated_at")
	want := map[string]any{"id": float64(full), "name": "gpt-4o", "weight_privacy": "CLOUD_IN_EU_BY_US_PROVIDER", "weight_latency": float64(-4),
		"weight_accuracy": float64(-4), "weight_cost": float64(-4), "weight_quality": float64(-4), "tags": "chat code", "parallel": float64(8),
		"description": "GPT-4o", "context_window": float64(128000),
		"retry_max_attempts": float64(2), "retry_attempt_timeout_ms": float64(0), "retry_deadline_ms": float64(5000)}
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("get_model (-want +got):\n%s", d)
	}
	// One retry field at a time through update_model; out of range is a 400.
	f.ok("update_model", map[string]any{"id": full, "category": "retry_attempt_timeout_ms", "value": 1500})
	if _, out = f.call("get_model", f.admin, map[string]any{"id": full}); out["retry_attempt_timeout_ms"] != float64(1500) || out["retry_max_attempts"] != float64(2) {
		t.Errorf("after update_model retry_attempt_timeout_ms: %v", out)
	}
	if status, out := f.call("update_model", f.admin, map[string]any{"id": full, "category": "retry_max_attempts", "value": 101}); status != 400 {
		t.Errorf("retry_max_attempts 101: %d %v", status, out)
	}
	if status, out := f.call("add_full_model", f.admin, map[string]any{"name": "bad-retry", "retry_deadline_ms": -1}); status != 400 {
		t.Errorf("add_full_model with retry_deadline_ms -1: %d %v", status, out)
	}

	// The admin sees every model; a user only those its profiles may use.
	_, out = f.call("get_models", f.admin, nil)
	if n := len(out["models"].([]any)); n != 2 {
		t.Errorf("admin sees %d models", n)
	}
	_, out = f.call("get_models", f.user, nil)
	if n := len(out["models"].([]any)); n != 0 {
		t.Errorf("user without permissions sees %d models", n)
	}
	if status, out := f.call("get_model", f.user, map[string]any{"id": full}); status != 404 {
		t.Errorf("user reads a model it may not use: %d %v", status, out)
	}
	f.ok("connect_profile_model", map[string]any{"profile_id": f.userProfile, "model_id": full})
	_, out = f.call("get_models", f.user, nil)
	if ms := out["models"].([]any); len(ms) != 1 || ms[0].(map[string]any)["name"] != "gpt-4o" {
		t.Errorf("user sees %v", ms)
	}
	if status, out := f.call("get_model", f.user, map[string]any{"id": full}); status != 200 || out["name"] != "gpt-4o" {
		t.Errorf("user reads a permitted model: %d %v", status, out)
	}
	if status, _ := f.call("get_model", f.user, map[string]any{"id": plain}); status != 404 {
		t.Errorf("user reads another model: %d", status)
	}

	// Privacy is a level, set as it is.
	f.ok("update_model", map[string]any{"id": plain, "category": "privacy", "value": "cloud_not_in_eu_by_us_provider"})
	if m, _ := f.st.GetModel(t.Context(), plain); m.WeightPrivacy != store.PrivacyCloudNotInEUByUSProvider {
		t.Errorf("privacy after update_model: %q", m.WeightPrivacy)
	}
	out = f.ok("delete_model", map[string]any{"id": plain})
	if out["result"] != "Deleted Model" {
		t.Errorf("answer %v", out)
	}
	if _, err := f.st.GetModel(t.Context(), plain); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted model still there: %v", err)
	}
	if status, _ := f.call("delete_model", f.admin, map[string]any{"id": plain}); status != 404 {
		t.Errorf("second delete: %d", status)
	}
}

// TestCatalogRankingSpecExample replays the worked example of spec §5.5
// through add_full_model, update_model and delete_model.
func TestCatalogRankingSpecExample(t *testing.T) {
	f := newCatFixture(t, nil)
	weights := func() map[int64][4]int { // id → accuracy, quality, latency, cost
		t.Helper()
		status, raw := f.raw("get_models", f.admin, nil)
		if status != 200 {
			t.Fatalf("get_models: %d %s", status, raw)
		}
		var out struct {
			Models []catalogModel `json:"models"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		w := map[int64][4]int{}
		for _, m := range out.Models {
			w[m.ID] = [4]int{m.WeightAccuracy, m.WeightQuality, m.WeightLatency, m.WeightCost}
		}
		return w
	}
	same := func(v int) [4]int { return [4]int{v, v, v, v} }
	add := func(name string, worse any) int64 {
		t.Helper()
		return f.id(f.ok("add_full_model", map[string]any{"name": name, "weight_privacy": "LOCAL", "worse_accuracy": worse, "worse_quality": worse,
			"worse_latency": worse, "worse_cost": worse, "tags": "", "parallel": 1, "description": ""}), "model_id")
	}
	check := func(step string, want map[int64][4]int) {
		t.Helper()
		if d := cmp.Diff(want, weights()); d != "" {
			t.Errorf("after %s (-want +got):\n%s", step, d)
		}
	}

	m1 := add("m1", nil)
	check("adding 1", map[int64][4]int{m1: same(0)})
	m2 := add("m2", 0) // 0 means none, like null
	check("adding 2 as the worst", map[int64][4]int{m2: same(-4), m1: same(4)})
	m3 := add("m3", m1)
	check("adding 3 above 1", map[int64][4]int{m2: same(-8), m1: same(0), m3: same(8)})
	m4 := add("m4", m3)
	check("adding 4 above 3", map[int64][4]int{m2: same(-12), m1: same(-4), m3: same(4), m4: same(12)})
	if got := []int64{m1, m2, m3, m4}; !cmp.Equal(got, []int64{1, 2, 3, 4}) {
		t.Logf("model ids %v (the spec numbers them 1..4)", got)
	}

	out := f.ok("update_model", map[string]any{"id": m2, "category": "accuracy", "value": 5})
	if out["result"] != "Updated Model" {
		t.Errorf("answer %v", out)
	}
	check("+5 to 2", map[int64][4]int{m2: {-7, -12, -12, -12}, m1: same(-4), m3: same(4), m4: same(12)})
	f.ok("update_model", map[string]any{"id": m2, "category": "Accuracy", "value": 20})
	check("+20 to 2", map[int64][4]int{m1: {-12, -4, -4, -4}, m3: {-4, 4, 4, 4}, m4: {4, 12, 12, 12}, m2: {13, -12, -12, -12}})

	f.ok("delete_model", map[string]any{"id": m3})
	check("removing 3", map[int64][4]int{m1: {-8, 0, 0, 0}, m4: {0, 8, 8, 8}, m2: {9, -8, -8, -8}})

	// Feedback in another category leaves accuracy alone; cost is re-centred
	// on its new median (1 at −1).
	f.ok("update_model", map[string]any{"id": m1, "category": "cost", "value": -1})
	check("-1 cost to 1", map[int64][4]int{m1: {-8, 0, 0, 0}, m4: {0, 8, 8, 9}, m2: {9, -8, -8, -7}})
}

func TestCatalogDeployments(t *testing.T) {
	f := newCatFixture(t, catSealer{})
	ctx := t.Context()
	prov := f.id(f.ok("add_provider", map[string]any{"provider_name": "azure", "base_url": "https://x.openai.azure.com", "provider_type": "azure",
		"api_key": "provider-secret"}), "provider-id")
	model := f.id(f.ok("add_model", map[string]any{"name": "gpt-4o"}), "model_id")

	// connect_model_api before the deployment exists.
	status, out := f.call("connect_model_api", f.admin, map[string]any{"model_id": model, "provider_id": prov, "api_key": "k", "endpoint": ""})
	if status != 400 || out["error"].(map[string]any)["message"] != "Model is not connected to the specified provider." {
		t.Fatalf("connect_model_api without deployment: %d %v", status, out)
	}

	body := map[string]any{"model_id": model, "provider_id": prov, "upstream_model": "gpt4o-eu", "api_version": "2024-10-21", "parallel_capacity": 3}
	out = f.ok("connect_model_provider", body)
	if out["result"] != "Connected Model to Provider." {
		t.Errorf("answer %v", out)
	}
	dep := f.id(out, "deployment-id")
	if again := f.ok("connect_model_provider", body); f.id(again, "deployment-id") != dep || again["result"] != out["result"] {
		t.Errorf("second connect answered %v, first %v", again, out)
	}
	// Without the optional fields it changes nothing either.
	if again := f.ok("connect_model_provider", map[string]any{"model_id": model, "provider_id": prov}); f.id(again, "deployment-id") != dep {
		t.Errorf("third connect answered %v", again)
	}
	deps, err := f.st.ListDeployments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) != 1 || deps[0].UpstreamModel != "gpt4o-eu" || deps[0].APIVersion != "2024-10-21" || deps[0].ParallelCapacity != 3 {
		t.Fatalf("deployments %+v", deps)
	}

	out = f.ok("connect_model_api", map[string]any{"model_id": model, "provider_id": prov, "api_key": "deployment-secret", "endpoint": "https://x.openai.azure.com/openai/deployments/gpt4o-eu/chat/completions"})
	if out["result"] != "Added api-connection to model." || f.id(out, "deployment-id") != dep {
		t.Errorf("answer %v", out)
	}
	d, err := f.st.GetDeployment(ctx, dep)
	if err != nil {
		t.Fatal(err)
	}
	if plain, _ := (catSealer{}).Open(d.Credential); plain != "deployment-secret" || !strings.HasPrefix(d.Endpoint, "https://x.openai.azure.com/") || d.UpstreamModel != "gpt4o-eu" {
		t.Errorf("deployment after connect_model_api: %+v", d)
	}
	// Without endpoint the endpoint stays; an empty api_key removes the credential.
	f.ok("connect_model_api", map[string]any{"model_id": model, "provider_id": prov, "api_key": ""})
	if d, _ := f.st.GetDeployment(ctx, dep); d.Credential != "" || d.Endpoint == "" {
		t.Errorf("deployment after clearing the key: %+v", d)
	}
	f.ok("connect_model_api", map[string]any{"model_id": model, "provider_id": prov, "api_key": "deployment-secret", "endpoint": ""})

	// Concurrent connects of a new pair create one deployment, answered to all.
	other := f.id(f.ok("add_provider", map[string]any{"provider_name": "openai", "base_url": "https://api.openai.com/v1", "provider_type": "openai"}), "provider-id")
	ids := make([]int64, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			status, raw := f.raw("connect_model_provider", f.admin, map[string]any{"model_id": model, "provider_id": other})
			var out struct {
				ID int64 `json:"deployment-id"`
			}
			if err := json.Unmarshal(raw, &out); status != 200 || err != nil {
				t.Errorf("concurrent connect: %d %s", status, raw)
			}
			ids[i] = out.ID
		})
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Errorf("concurrent connects answered ids %v", ids)
			break
		}
	}
	if deps, _ := f.st.ListDeployments(ctx); len(deps) != 2 {
		t.Errorf("%d deployments after concurrent connects, want 2", len(deps))
	}
	f.ok("connect_model_api", map[string]any{"model_id": model, "provider_id": other, "api_key": "other-secret"})
	if status, out := f.call("connect_model_provider", f.admin, map[string]any{"model_id": model, "provider_id": other, "endpoint": "/chat/completions"}); status != 200 {
		t.Fatalf("re-connect with an endpoint: %d %v", status, out)
	}
	if d, _ := f.st.GetDeployment(ctx, ids[0]); d.Endpoint != "/chat/completions" || d.Credential == "" {
		t.Errorf("re-connect with an endpoint: %+v", d)
	}

	status, raw := f.raw("list_deployments", f.admin, nil)
	if status != 200 {
		t.Fatalf("list_deployments: %d %s", status, raw)
	}
	if bytes.Contains(raw, []byte("secret")) || bytes.Contains(raw, []byte("sealed:")) {
		t.Fatalf("list_deployments answered a credential: %s", raw)
	}
	var list struct {
		Deployments []catalogDeployment `json:"deployments"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	want := []catalogDeployment{
		{ID: dep, ModelID: model, Model: "gpt-4o", ProviderID: prov, Provider: "azure", UpstreamModel: "gpt4o-eu", APIVersion: "2024-10-21", ParallelCapacity: 3, HasAPIKey: true},
		{ID: ids[0], ModelID: model, Model: "gpt-4o", ProviderID: other, Provider: "openai", Endpoint: "/chat/completions", HasAPIKey: true},
	}
	if d := cmp.Diff(want, list.Deployments); d != "" {
		t.Errorf("list_deployments (-want +got):\n%s", d)
	}
}

func TestCatalogPermissions(t *testing.T) {
	f := newCatFixture(t, nil)
	ctx := t.Context()
	prov := f.id(f.ok("add_provider", map[string]any{"provider_name": "ollama", "base_url": "http://localhost:11434", "provider_type": "ollama"}), "provider-id")
	var models []int64
	for _, name := range []string{"a", "b", "c"} {
		m := f.id(f.ok("add_model", map[string]any{"name": name}), "model_id")
		models = append(models, m)
		f.ok("connect_model_provider", map[string]any{"model_id": m, "provider_id": prov})
	}
	extra := f.id(f.ok("add_model", map[string]any{"name": "undeployed"}), "model_id")

	for _, ep := range []string{"connect_profile_model", "connect_profile_model", "connect_process_model"} {
		out := f.ok(ep, map[string]any{"profile_id": f.userProfile, "model_id": models[0]})
		want := map[string]any{"result": "Created Permission.", "profile-id": float64(f.userProfile), "model-id": float64(models[0])}
		if d := cmp.Diff(want, out); d != "" {
			t.Errorf("%s (-want +got):\n%s", ep, d)
		}
	}
	perms, err := f.st.ListPermissions(ctx, f.userProfile)
	if err != nil {
		t.Fatal(err)
	}
	if len(perms) != 1 {
		t.Fatalf("permissions after three grants: %+v", perms)
	}

	out := f.ok("connect_process_provider", map[string]any{"profile_id": f.userProfile, "provider_id": prov})
	if out["result"] != "Granted access to 2 model(s) for provider "+itoa(prov)+"." {
		t.Errorf("answer %v", out)
	}
	out = f.ok("connect_process_provider", map[string]any{"profile_id": f.userProfile, "provider_id": prov})
	if out["result"] != "Granted access to 0 model(s) for provider "+itoa(prov)+"." {
		t.Errorf("second answer %v", out)
	}
	perms, _ = f.st.ListPermissions(ctx, f.userProfile)
	want := []store.Permission{{ProfileID: f.userProfile, ModelID: models[0]}, {ProfileID: f.userProfile, ModelID: models[1]}, {ProfileID: f.userProfile, ModelID: models[2]}}
	if d := cmp.Diff(want, perms); d != "" {
		t.Errorf("permissions (-want +got):\n%s", d)
	}
	for _, p := range perms {
		if p.ModelID == extra {
			t.Error("a model not deployed on the provider was granted")
		}
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestCatalogBilling(t *testing.T) {
	f := newCatFixture(t, nil)
	ctx := t.Context()
	prov, model, _ := f.seed()
	tests := []struct {
		body     map[string]any
		from     time.Time
		micros   int64
		currency string
		model    int64
		provider int64
	}{
		{map[string]any{"type_name": "prompt_tokens", "type_cost": 0.0025, "valid_from": "2026-01-01T00:00:00Z"},
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 2_500_000, "EUR", 0, 0},
		{map[string]any{"type_name": "completion_tokens", "type_cost": 0.01, "valid_from": "2026-02-01T12:30:00.5+01:00", "currency": "usd",
			"model_id": model, "provider_id": prov}, time.Date(2026, 2, 1, 11, 30, 0, 500_000_000, time.UTC), 10_000_000, "USD", model, prov},
		{map[string]any{"type_name": "prompt_tokens", "type_cost": 0, "valid_from": "2026-03-01"}, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 0, "EUR", 0, 0},
		{map[string]any{"type_name": "prompt_tokens", "type_cost": 1.5, "valid_from": "2026-04-01T08:00:00"}, time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC), 1_500_000_000, "EUR", 0, 0},
	}
	for _, tc := range tests {
		out := f.ok("add_billing", tc.body)
		if out["result"] != "Successfully added billing" {
			t.Errorf("answer %v", out)
		}
		id := f.id(out, "billing-id")
		prices, err := f.st.ListPrices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got *store.Price
		for i := range prices {
			if prices[i].ID == id {
				got = &prices[i]
			}
		}
		if got == nil {
			t.Fatalf("price %d not stored", id)
		}
		types, _ := f.st.ListTokenTypes(ctx)
		var typeName string
		for _, tt := range types {
			if tt.ID == got.TokenTypeID {
				typeName = tt.Name
			}
		}
		if typeName != tc.body["type_name"] || !got.ValidFrom.Equal(tc.from) || got.MicrosPerMillion != tc.micros || got.Currency != tc.currency ||
			got.ModelID != tc.model || got.ProviderID != tc.provider {
			t.Errorf("%v stored as %+v (type %q)", tc.body, *got, typeName)
		}
	}
	// The same price twice is a conflict, not a second row.
	status, out := f.call("add_billing", f.admin, tests[0].body)
	if status != http.StatusConflict {
		t.Errorf("duplicate price: %d %v", status, out)
	}
}

func TestCatalogExportImport(t *testing.T) {
	f := newCatFixture(t, catSealer{})
	ctx := t.Context()
	prov, model, _ := f.seed()
	f.ok("connect_model_api", map[string]any{"model_id": model, "provider_id": prov, "api_key": "dep-secret"})
	f.ok("connect_profile_model", map[string]any{"profile_id": f.userProfile, "model_id": model})
	f.ok("add_billing", map[string]any{"type_name": "prompt_tokens", "type_cost": 0.0025, "valid_from": "2026-01-01T00:00:00Z"})

	// Without include_secrets every credential is redacted.
	status, raw := f.raw("export", f.admin, map[string]any{})
	if status != 200 {
		t.Fatalf("export: %d %s", status, raw)
	}
	for _, secret := range []string{"sk-seed-secret", "dep-secret", "sealed:", hex.EncodeToString([]byte("dep-secret"))} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("export without include_secrets contains %q: %s", secret, raw)
		}
	}
	var exported struct {
		Result map[string]any `json:"result"`
	}
	if err := json.Unmarshal(raw, &exported); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(raw), `"[REDACTED]"`); got != 2 {
		t.Errorf("%d redacted credentials, want 2: %s", got, raw)
	}
	for _, section := range []string{"providers", "models", "users", "processes", "prices"} {
		if _, ok := exported.Result[section]; !ok {
			t.Errorf("export lacks %s: %s", section, raw)
		}
	}

	// With include_secrets they are decrypted.
	status, raw = f.raw("export", f.admin, map[string]any{"include_secrets": true})
	if status != 200 || !bytes.Contains(raw, []byte(`"sk-seed-secret"`)) || !bytes.Contains(raw, []byte(`"dep-secret"`)) || bytes.Contains(raw, []byte("sealed:")) {
		t.Fatalf("export with include_secrets: %d %s", status, raw)
	}
	if status, out := f.call("export", f.admin, map[string]any{"include_secrets": "yes"}); status != 400 {
		t.Errorf("include_secrets of the wrong type: %d %v", status, out)
	} else if param, _ := catErr(t, status, out); param != "include_secrets" {
		t.Errorf("param %q", param)
	}
	sealOnly := newCatFixture(t, catSealOnly{})
	status, out := sealOnly.call("export", sealOnly.admin, map[string]any{"include_secrets": true})
	if status != 400 {
		t.Fatalf("include_secrets without an opener: %d %v", status, out)
	}
	if param, _ := catErr(t, status, out); param != "include_secrets" {
		t.Errorf("param %q", param)
	}
	if status, _ := sealOnly.call("export", sealOnly.admin, map[string]any{}); status != 200 {
		t.Errorf("export without secrets and without an opener: %d", status)
	}

	// Importing the export changes nothing, and keeps the redacted credentials.
	out = f.ok("import", map[string]any{"json_data": exported.Result})
	want := map[string]any{"result": "Imported", "created": []any{}, "updated": []any{}, "deleted": []any{}}
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("re-importing the export (-want +got):\n%s", d)
	}
	if p, _ := f.st.GetProvider(ctx, prov); p.Credential != "sealed:"+hex.EncodeToString([]byte("sk-seed-secret")) {
		t.Errorf("provider credential after import: %q", p.Credential)
	}

	// A document as text (YAML), with a ${VAR} credential, sealed when stored.
	doc := `
providers:
  - name: local
    kind: ollama
    base_url: http://localhost:11434
    credential: ${LOGOS_IMPORT_CAT_SECRET}
models:
  - name: llama3
    deployments:
      - provider: local
`
	before := f.changes.Load()
	out = f.ok("import", map[string]any{"json_data": doc})
	if created := out["created"].([]any); len(created) != 3 {
		t.Errorf("created %v, want provider, model and deployment", created)
	}
	if f.changes.Load() == before {
		t.Error("import did not call OnChange")
	}
	provs, _ := f.st.ListProviders(ctx)
	var local store.Provider
	for _, p := range provs {
		if p.Name == "local" {
			local = p
		}
	}
	if local.Credential != "sealed:"+hex.EncodeToString([]byte("env-secret")) || local.Kind != store.KindOllama {
		t.Errorf("imported provider %+v", local)
	}
	if out = f.ok("import", map[string]any{"json_data": doc}); len(out["created"].([]any))+len(out["updated"].([]any)) != 0 {
		t.Errorf("second import of the same document: %v", out)
	}

	// prune deletes what the document does not mention.
	out = f.ok("import", map[string]any{"json_data": exported.Result, "prune": true})
	if deleted := out["deleted"].([]any); len(deleted) != 3 {
		t.Errorf("prune deleted %v, want the deployment, model and provider of the text document", deleted)
	}
	if _, err := f.st.GetModelByName(ctx, "llama3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pruned model still there: %v", err)
	}

	// Bad documents are 400s naming json_data.
	for _, body := range []map[string]any{
		{},
		{"json_data": nil},
		{"json_data": 5},
		{"json_data": []any{1}},
		{"json_data": "providers: [\n  - {"},
		{"json_data": map[string]any{"providers": []any{map[string]any{"name": "x", "kind": "grpc", "base_url": "http://x"}}}},
		{"json_data": map[string]any{"process": []any{[]any{1, "key", "root"}}}}, // the original's table dump
		{"json_data": map[string]any{"providers": []any{map[string]any{"name": "x", "kind": "openai", "base_url": "http://x", "credential": "${MISSING}"}}}},
		{"json_data": map[string]any{"providers": []any{map[string]any{"name": "new", "kind": "openai", "base_url": "http://x", "credential": "[REDACTED]"}}}},
		{"json_data": map[string]any{}, "prune": "yes"},
	} {
		status, out := f.call("import", f.admin, body)
		if status != 400 {
			t.Errorf("import %v: %d %v", body, status, out)
			continue
		}
		param, _ := catErr(t, status, out)
		if wantParam := "json_data"; body["prune"] != nil {
			if param != "prune" {
				t.Errorf("import %v: param %q", body, param)
			}
		} else if param != wantParam {
			t.Errorf("import %v: param %q, want %q", body, param, wantParam)
		}
	}
}

// TestCatalogImportEnvPrefix reproduces issue 25 item 14: an admin imported a
// provider whose credential was ${PGPASSWORD} (or ${HOME}) and read the
// server's environment back through an export with include_secrets. Only
// variables named LOGOS_IMPORT_... are resolved through the admin API.
func TestCatalogImportEnvPrefix(t *testing.T) {
	f := newCatFixture(t, nil)
	for _, name := range []string{"HOME", "PGPASSWORD", "LOGOS_SECRET_KEY", "LOGOS_IMPORT"} {
		doc := map[string]any{"providers": []any{map[string]any{"name": "leak", "kind": "openai", "base_url": "http://x", "credential": "${" + name + "}"}}}
		status, out := f.call("import", f.admin, map[string]any{"json_data": doc})
		if status != http.StatusBadRequest {
			t.Fatalf("import of ${%s}: %d %v", name, status, out)
		}
		catErr(t, status, out)
		if msg := out["error"].(map[string]any)["message"].(string); !strings.Contains(msg, config.ImportEnvPrefix) {
			t.Errorf("${%s}: the error does not name the prefix: %q", name, msg)
		}
		if p := catProviderNamed(t, f.st, "leak"); p.ID != 0 {
			t.Fatalf("${%s}: the provider was created: %+v", name, p)
		}
	}
	doc := map[string]any{"providers": []any{map[string]any{"name": "ok", "kind": "openai", "base_url": "http://x", "credential": "${LOGOS_IMPORT_CAT_SECRET}"}}}
	f.ok("import", map[string]any{"json_data": doc})
	if p := catProviderNamed(t, f.st, "ok"); p.Credential != "env-secret" {
		t.Errorf("provider from ${LOGOS_IMPORT_CAT_SECRET}: %+v", p)
	}
}

// catProviderNamed returns the stored provider called name, or the zero one.
func catProviderNamed(t *testing.T, st store.Store, name string) store.Provider {
	t.Helper()
	ps, err := st.ListProviders(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Name == name {
			return p
		}
	}
	return store.Provider{}
}

// TestCatalogURLSecretsRedacted reproduces issue 25 item 5: a provider URL
// with user information and a ?token= was shown whole to a user's key by
// get_providers and kept by a redacted export. Non-admins and redacted
// exports see REDACTED in their place; importing the redacted export keeps
// the stored URL; admins and include_secrets see it whole.
func TestCatalogURLSecretsRedacted(t *testing.T) {
	f := newCatFixture(t, nil)
	const (
		secretURL = "https://svc:hunter2@llm.example/v1?token=tok-secret&region=eu"
		adminURL  = "http://ops:pw-secret@gpu.local:11434/?key=adm-secret"
	)
	prov := f.id(f.ok("add_provider", map[string]any{"provider_name": "p", "base_url": secretURL, "provider_type": "openai", "admin_url": adminURL}), "provider-id")
	model := f.id(f.ok("add_model", map[string]any{"name": "m"}), "model_id")
	f.ok("connect_model_provider", map[string]any{"model_id": model, "provider_id": prov})
	f.ok("connect_profile_model", map[string]any{"profile_id": f.userProfile, "model_id": model})

	secrets := []string{"hunter2", "tok-secret", "pw-secret", "adm-secret", "svc:", "ops:"}
	status, raw := f.raw("get_providers", f.user, nil)
	if status != 200 || !bytes.Contains(raw, []byte(`"https://REDACTED@llm.example/v1?token=REDACTED\u0026region=REDACTED"`)) {
		t.Fatalf("get_providers for a user: %d %s", status, raw)
	}
	for _, s := range secrets {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("get_providers shows %q to a user: %s", s, raw)
		}
	}
	if _, raw = f.raw("get_providers", f.admin, nil); !bytes.Contains(raw, []byte("tok-secret")) {
		t.Errorf("get_providers for the admin hides the URL: %s", raw)
	}

	status, raw = f.raw("export", f.admin, map[string]any{})
	if status != 200 {
		t.Fatalf("export: %d %s", status, raw)
	}
	for _, s := range secrets {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("a redacted export keeps %q: %s", s, raw)
		}
	}
	var exported struct {
		Result map[string]any `json:"result"`
	}
	if err := json.Unmarshal(raw, &exported); err != nil {
		t.Fatal(err)
	}
	out := f.ok("import", map[string]any{"json_data": exported.Result})
	if n := len(out["updated"].([]any)); n != 0 {
		t.Errorf("re-importing the redacted export updated %v", out["updated"])
	}
	if p, _ := f.st.GetProvider(t.Context(), prov); p.BaseURL != secretURL || p.AdminURL != adminURL {
		t.Errorf("URLs after re-import: %q %q", p.BaseURL, p.AdminURL)
	}
	if _, raw = f.raw("export", f.admin, map[string]any{"include_secrets": true}); !bytes.Contains(raw, []byte("tok-secret")) {
		t.Errorf("export with include_secrets hides the URL: %s", raw)
	}
}
