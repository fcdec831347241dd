package logos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/internal/config"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
	"github.com/logos-llm/logos/store/sqlite"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// openStore opens a fresh store of the given kind for t.
func openStore(t *testing.T, kind, pgURL string) store.Store {
	t.Helper()
	ctx := t.Context()
	var st store.Store
	var err error
	switch kind {
	case "sqlite":
		st, err = sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "logos.db"), Logger: quietLog})
	case "postgres":
		if pgURL == "" {
			pgURL = pgtest.NewDatabase(t)
		}
		st, err = postgres.Open(ctx, postgres.Config{URL: pgURL, Logger: quietLog})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// serve runs a Router over st and returns its URL.
func serve(t *testing.T, st store.Store, secretKey []byte) (*logos.Router, string) {
	t.Helper()
	sched, err := fcfs.New(fcfs.Config{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	// The dashboard's always-failing model must keep answering with its
	// upstream's error, so no circuit breaker opens in these tests.
	r, err := logos.New(logos.Config{Store: st, Providers: builtin.Registry(), Scheduler: sched, Logger: quietLog, BreakerThreshold: 1000,
		UsageFlushInterval: 5 * time.Millisecond, SecretKey: secretKey})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Close(ctx)
		_ = sched.Close()
	})
	return r, srv.URL
}

// post sends a JSON body to url and decodes the JSON answer.
func post(t *testing.T, url, key string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST %s: %d, not a JSON object: %s", url, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// must posts and fails unless the status is 200; it returns the answer.
func must(t *testing.T, url, key string, body map[string]any) map[string]any {
	t.Helper()
	status, out := post(t, url, key, body)
	if status != 200 {
		t.Fatalf("POST %s %v: %d %v", url, body, status, out)
	}
	return out
}

func num(t *testing.T, m map[string]any, k string) int64 {
	t.Helper()
	v, ok := m[k].(float64)
	if !ok {
		t.Fatalf("answer %v has no number %q", m, k)
	}
	return int64(v)
}

// TestSetupFlowOverHTTP walks the original README's setup steps over HTTP on a
// fresh store, then completes a chat request with the key it created.
func TestSetupFlowOverHTTP(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			st := openStore(t, kind, "")
			_, base := serve(t, st, bytes.Repeat([]byte{7}, 32))
			azure := providertest.NewAzure(t, providertest.Options{Credential: "azure-secret", Deployment: "gpt4o-eu"})
			openai := providertest.NewOpenAI(t, providertest.Options{Credential: "sk-openai"})
			db := base + "/logosdb/"

			// 1. setup, with the first provider.
			out := must(t, db+"setup", "", map[string]any{"base_url": azure.URL, "provider_name": "azure-eu", "provider_type": "azure"})
			root, _ := out["logos-key"].(string)
			azureID := num(t, out, "provider-id")
			// 2. add_provider: a second provider.
			out = must(t, db+"add_provider", "", map[string]any{"logos_key": root, "provider_name": "openai", "base_url": openai.URL + "/v1",
				"provider_type": "openai", "api_key": "sk-openai", "auth_name": "Authorization", "auth_format": "Bearer {}"})
			openaiID := num(t, out, "provider-id")
			// 3. add_full_model.
			out = must(t, db+"add_full_model", root, map[string]any{"name": "gpt-4o", "weight_privacy": "CLOUD_IN_EU_BY_US_PROVIDER",
				"worse_accuracy": nil, "worse_quality": nil, "worse_latency": nil, "worse_cost": nil, "tags": "chat", "parallel": 4, "description": "GPT-4o"})
			modelID := num(t, out, "model_id")
			// 4. connect_model_provider.
			must(t, db+"connect_model_provider", root, map[string]any{"model_id": modelID, "provider_id": azureID, "upstream_model": "gpt4o-eu"})
			must(t, db+"connect_model_provider", root, map[string]any{"model_id": modelID, "provider_id": openaiID})
			// 5. connect_model_api: the deployment's credential.
			must(t, db+"connect_model_api", root, map[string]any{"model_id": modelID, "provider_id": azureID, "api_key": "azure-secret", "endpoint": ""})
			// 6. add_service: a consumer with its own key and profile.
			out = must(t, db+"add_service", root, map[string]any{"name": "course-bot"})
			svcKey, _ := out["logos-key"].(string)
			svcProcess, svcProfile := num(t, out, "process-id"), num(t, out, "profile-id")
			// 7. connect_profile_model.
			must(t, db+"connect_profile_model", root, map[string]any{"profile_id": svcProfile, "model_id": modelID})
			// 8. set_log, add_policy, add_billing.
			must(t, db+"set_log", root, map[string]any{"process_id": svcProcess, "set_log": "FULL"})
			must(t, db+"add_policy", root, map[string]any{"entity_id": svcProcess, "name": "eu-only", "description": "", "threshold_privacy": "CLOUD_IN_EU_BY_EU_PROVIDER",
				"threshold_latency": 0, "threshold_accuracy": 0, "threshold_cost": 0, "threshold_quality": 0, "priority": 5, "topic": ""})
			must(t, db+"add_billing", root, map[string]any{"type_name": "prompt_tokens", "type_cost": 0.0025, "valid_from": "2026-01-01T00:00:00Z"})

			// The service key now completes a chat request through Logos.
			status, resp := post(t, base+"/v1/chat/completions", svcKey, map[string]any{"model": "gpt-4o", "messages": []any{map[string]any{"role": "user", "content": "Hi"}}})
			if status != 200 {
				t.Fatalf("chat with the service key: %d %v", status, resp)
			}
			if got, _ := azure.LastRequest(); got.Header.Get("Api-Key") != "azure-secret" || !strings.Contains(got.Path, "/deployments/gpt4o-eu/") {
				t.Fatalf("azure upstream got %s with api-key %q", got.Path, got.Header.Get("Api-Key"))
			}
			// The credential is stored encrypted, and no read returns it.
			provs, err := st.ListProviders(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range provs {
				if strings.Contains(p.Credential, "sk-openai") || strings.Contains(p.Credential, "azure-secret") {
					t.Fatalf("provider %s credential stored in clear", p.Name)
				}
			}
			_, got := post(t, db+"get_providers", root, map[string]any{})
			if b, _ := json.Marshal(got); bytes.Contains(b, []byte("sk-openai")) || bytes.Contains(b, []byte("azure-secret")) {
				t.Fatalf("get_providers returned a credential: %s", b)
			}
		})
	}
}

// TestReplicasSeeChangesWithinTwoSeconds: a model added through replica A is
// callable through replica B, sharing one PostgreSQL database, within 2 s.
func TestPostgresReplicasSeeChangesWithinTwoSeconds(t *testing.T) {
	url := pgtest.NewMigratedDatabase(t)
	key := bytes.Repeat([]byte{9}, 32)
	_, a := serve(t, openStore(t, "postgres", url), key)
	_, b := serve(t, openStore(t, "postgres", url), key)
	up := providertest.NewOpenAI(t, providertest.Options{})

	out := must(t, a+"/logosdb/setup", "", map[string]any{"base_url": up.URL + "/v1", "provider_name": "oa", "provider_type": "openai"})
	root := out["logos-key"].(string)
	provID, profileID := num(t, out, "provider-id"), num(t, out, "profile-id")
	out = must(t, a+"/logosdb/add_model", root, map[string]any{"name": "fresh-model"})
	modelID := num(t, out, "model_id")
	must(t, a+"/logosdb/connect_model_provider", root, map[string]any{"model_id": modelID, "provider_id": provID})
	must(t, a+"/logosdb/connect_profile_model", root, map[string]any{"profile_id": profileID, "model_id": modelID})
	changed := time.Now()

	for {
		status, _ := post(t, b+"/v1/chat/completions", root, map[string]any{"model": "fresh-model", "messages": []any{}})
		if status == 200 {
			break
		}
		if time.Since(changed) > 2*time.Second {
			t.Fatalf("replica B still answers %d 2 s after the change on replica A", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("replica B served the new model %v after the change", time.Since(changed).Round(time.Millisecond))
}

// TestConfigFileAndAdminAPIBuildEqualCatalogues describes one deployment in a
// config file and builds the same through the HTTP admin API: the two
// catalogues are equal.
func TestConfigFileAndAdminAPIBuildEqualCatalogues(t *testing.T) {
	rootKey := "lg-root-" + strings.Repeat("r", 40)
	env := map[string]string{"ROOT_KEY": rootKey, "BOT_KEY": "lg-course-bot-" + strings.Repeat("b", 40), "AZURE_KEY": "azure-secret"}
	const file = `
providers:
  - name: azure-eu
    kind: azure
    base_url: https://logos-eu.openai.azure.com
    api_version: "2024-10-21"
    credential: ${AZURE_KEY}
    privacy: CLOUD_IN_EU_BY_US_PROVIDER
models:
  - name: gpt-4o
    privacy: CLOUD_IN_EU_BY_US_PROVIDER
    tags: chat
    parallel: 4
    description: GPT-4o in Sweden
    deployments:
      - provider: azure-eu
        upstream_model: gpt4o-eu
users:
  - username: root
    role: admin
services:
  - name: course-bot
processes:
  - name: root
    owner: user:root
    key: ${ROOT_KEY}
    profiles:
      - name: root
        models: [gpt-4o]
  - name: course-bot
    owner: service:course-bot
    key: ${BOT_KEY}
    log_level: FULL
    profiles:
      - name: course-bot
        models: [gpt-4o]
prices:
  - token_type: prompt_tokens
    price_per_million: "2.5"
    valid_from: 2026-01-01
`
	ctx := t.Context()
	fromFile := openStore(t, "sqlite", "")
	doc, err := config.Parse([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Apply(ctx, fromFile, doc, config.ApplyOptions{Getenv: func(k string) string { return env[k] }}); err != nil {
		t.Fatal(err)
	}

	viaAPI := openStore(t, "sqlite", "")
	r, base := serve(t, viaAPI, nil)
	if _, err := r.Bootstrap(ctx, rootKey); err != nil {
		t.Fatal(err)
	}
	db := base + "/logosdb/"
	out := must(t, db+"add_provider", rootKey, map[string]any{"provider_name": "azure-eu", "provider_type": "azure", "base_url": "https://logos-eu.openai.azure.com",
		"api_version": "2024-10-21", "api_key": "azure-secret", "privacy": "CLOUD_IN_EU_BY_US_PROVIDER"})
	provID := num(t, out, "provider-id")
	out = must(t, db+"add_full_model", rootKey, map[string]any{"name": "gpt-4o", "weight_privacy": "CLOUD_IN_EU_BY_US_PROVIDER", "tags": "chat", "parallel": 4, "description": "GPT-4o in Sweden"})
	modelID := num(t, out, "model_id")
	must(t, db+"connect_model_provider", rootKey, map[string]any{"model_id": modelID, "provider_id": provID, "upstream_model": "gpt4o-eu"})
	must(t, db+"connect_profile_model", rootKey, map[string]any{"profile_id": 1, "model_id": modelID})
	out = must(t, db+"add_service", rootKey, map[string]any{"name": "course-bot"})
	must(t, db+"connect_profile_model", rootKey, map[string]any{"profile_id": num(t, out, "profile-id"), "model_id": modelID})
	must(t, db+"set_log", rootKey, map[string]any{"process_id": num(t, out, "process-id"), "set_log": "FULL"})
	must(t, db+"add_billing", rootKey, map[string]any{"type_name": "prompt_tokens", "type_cost": 0.0025, "valid_from": "2026-01-01T00:00:00Z"})

	a, err := config.Export(ctx, fromFile, config.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := config.Export(ctx, viaAPI, config.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(a, b, cmpopts.IgnoreFields(config.Document{}, "Lines")); d != "" {
		t.Fatalf("catalogue from the file (-) and through the API (+) differ:\n%s", d)
	}
}
