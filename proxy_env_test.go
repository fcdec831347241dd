package logos_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite"
)

// env is a running Logos in front of test upstreams: a real SQLite store, the
// FCFS scheduler and the built-in providers, served by an httptest server.
type env struct {
	t         testing.TB
	store     store.Store
	router    *logos.Router
	srv       *httptest.Server
	sched     *fcfs.Scheduler
	key       string
	processID int64
	profileID int64
}

type envOption func(*logos.Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "logos.db"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sched, err := fcfs.New(fcfs.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	cfg := logos.Config{
		Store:              st,
		Providers:          builtin.Registry(),
		Scheduler:          sched,
		UsageFlushInterval: 5 * time.Millisecond,
		Logger:             quiet,
	}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := logos.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	key, err := r.Bootstrap(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(cctx); err != nil {
			t.Errorf("router close: %v", err)
		}
		_ = sched.Close()
		_ = st.Close()
	})
	// An option may have replaced the store.
	e := &env{t: t, store: cfg.Store.(store.Store), router: r, srv: srv, sched: sched, key: key}
	procs, err := e.store.ListProcesses(ctx)
	if err != nil || len(procs) != 1 {
		t.Fatalf("processes after bootstrap: %v %v", procs, err)
	}
	e.processID = procs[0].ID
	profs, err := e.store.ListProfiles(ctx, e.processID)
	if err != nil || len(profs) != 1 {
		t.Fatalf("profiles after bootstrap: %v %v", profs, err)
	}
	e.profileID = profs[0].ID
	return e
}

// deploy makes model servable through upstream target t and grants it to the
// root profile. mod may adjust the provider and deployment before they are stored.
func (e *env) deploy(model string, t providers.Target, mod func(*store.Provider, *store.Deployment)) (store.Model, store.Deployment) {
	e.t.Helper()
	ctx := context.Background()
	prov := store.Provider{
		Name:       model + "-provider-" + t.Kind,
		Kind:       store.ProviderKind(t.Kind),
		BaseURL:    t.BaseURL,
		Credential: t.Credential,
		APIVersion: t.APIVersion,
		Privacy:    store.PrivacyLocal,
	}
	dep := store.Deployment{UpstreamModel: t.UpstreamModel}
	if mod != nil {
		mod(&prov, &dep)
	}
	p, err := e.store.CreateProvider(ctx, prov)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := e.store.GetModelByName(ctx, model)
	if err != nil {
		m, err = e.store.CreateModel(ctx, store.Model{Name: model, WeightPrivacy: store.PrivacyLocal, Parallel: 1})
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.store.GrantModel(ctx, e.profileID, m.ID); err != nil {
			e.t.Fatal(err)
		}
	}
	dep.ModelID, dep.ProviderID = m.ID, p.ID
	d, err := e.store.CreateDeployment(ctx, dep)
	if err != nil {
		e.t.Fatal(err)
	}
	e.reload()
	return m, d
}

func (e *env) reload() {
	e.t.Helper()
	if err := e.router.Reload(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// client returns a go-openai client that talks to Logos with the root key.
func (e *env) client() *openai.Client {
	cfg := openai.DefaultConfig(e.key)
	cfg.BaseURL = e.srv.URL + "/v1"
	return openai.NewClientWithConfig(cfg)
}

// do sends a raw request with the root key and returns status, headers and body.
func (e *env) do(method, path, body string, hdr ...string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// usage flushes and returns every usage record, newest first.
func (e *env) usage() []store.UsageRecord {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.router.FlushUsage(ctx); err != nil {
		e.t.Fatal(err)
	}
	recs, err := e.store.ListUsage(ctx, store.UsageFilter{Limit: 100000})
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

// lastUsage returns the newest usage record.
func (e *env) lastUsage() store.UsageRecord {
	e.t.Helper()
	recs := e.usage()
	if len(recs) == 0 {
		e.t.Fatal("no usage record")
	}
	return recs[0]
}

func tokens(r store.UsageRecord) map[string]int64 {
	m := map[string]int64{}
	for _, t := range r.Tokens {
		m[t.Type] = t.Count
	}
	return m
}

func mustContain(t *testing.T, got []byte, want string) {
	t.Helper()
	if !bytes.Contains(got, []byte(want)) {
		t.Fatalf("%q does not contain %q", got, want)
	}
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// priceCompletionTokens prices the completion tokens of model at 1,000 EUR
// per million, so the mock upstream's 10 per answer cost 0.01 EUR. Reload
// the catalogue for the price to apply.
func (e *env) priceCompletionTokens(t *testing.T, model int64) {
	t.Helper()
	tt, err := e.store.EnsureTokenType(t.Context(), "completion_tokens")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreatePrice(t.Context(), store.Price{TokenTypeID: tt.ID, ModelID: model, ValidFrom: time.Now().Add(-time.Hour), MicrosPerMillion: 1_000_000_000, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
}
