package router

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logos-llm/logos/store/sqlite"
)

// fuzzedAdminRoutes are the admin endpoints FuzzAdminJSON posts to.
var fuzzedAdminRoutes = []string{
	"set_budget", "get_budgets", "add_provider", "update_provider", "update_provider_sdi_config", "get_providers",
	"add_model", "add_full_model", "update_model", "delete_model", "get_model", "get_models",
	"connect_model_provider", "connect_model_api", "list_deployments", "connect_profile_model",
	"connect_process_model", "connect_process_provider", "add_billing", "export", "import",
	"add_user", "add_process", "add_profile", "add_service", "connect_service_process", "list_keys",
	"set_log", "add_policy", "update_policy", "delete_policy", "get_policy", "get_policies",
	"get_process_id", "get_role", "generalstats", "usage_stats", "latest_requests", "request_event_stats",
}

// FuzzAdminJSON posts arbitrary bodies to the admin API of a Handler over a
// real SQLite store, as the root admin: decoding must not panic, and no body
// may cause a 500 (a client's mistake is a 4xx). The seed corpus (below and
// testdata/fuzz/FuzzAdminJSON) runs under plain go test.
func FuzzAdminJSON(f *testing.F) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(f.TempDir(), "logos.db"), Logger: log})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	_, key, err := Bootstrap(ctx, st, "")
	if err != nil {
		f.Fatal(err)
	}
	h := New(Config{Store: st, Logger: log})

	for i, s := range []string{
		`{}`, `null`, ``, `[]`, `{"name":1}`, `{"name":"p","kind":"openai","base_url":"http://127.0.0.1:1/v1"}`,
		`{"name":"m","weights":{"quality":"x"}}`, `{"model_id":"1","provider_id":-1}`, `{"process_id":1e400}`,
		`{"username":"u\u0000","role":"admin"}`, `{"budget":{"amount":-5,"period":"yearly"}}`,
		`{"document":{"providers":[{"name":"x"}]}}`, `{"from":"yesterday","to":"2026-02-30T00:00:00Z"}`,
		`{"limit":-1,"offset":99999999999999999999}`, `{"settings":"{"}`, `{"logos_key":7}`,
	} {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		name := fuzzedAdminRoutes[int(route)%len(fuzzedAdminRoutes)]
		req := httptest.NewRequest(http.MethodPost, "/logosdb/"+name, strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST /logosdb/%s with %q: %d %s", name, body, rec.Code, rec.Body.Bytes())
		}
	})
}
