package logos_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/storetest"
)

// memStore is an in-memory store that implements only store.Core: the
// smallest store a Router runs on. Its catalogue is set with SetCatalog,
// since Core has no writer.
type memStore struct {
	mu      sync.Mutex
	closed  bool
	catalog store.Catalog
	usage   map[string]store.UsageRecord // by RequestID
	nextID  int64                        // of usage records
}

var _ store.Core = (*memStore)(nil)

var errMemClosed = errors.New("memstore: closed")

func newMemStore() *memStore { return &memStore{usage: map[string]store.UsageRecord{}} }

// SetCatalog replaces the catalogue; its slices are ordered by id as
// LoadCatalog returns them.
func (m *memStore) SetCatalog(c store.Catalog) {
	c = cloneCatalog(c)
	byID := func(a, b int64) int { return int(min(max(a-b, -1), 1)) }
	slices.SortFunc(c.Processes, func(a, b store.Process) int { return byID(a.ID, b.ID) })
	slices.SortFunc(c.Profiles, func(a, b store.Profile) int { return byID(a.ID, b.ID) })
	slices.SortFunc(c.Providers, func(a, b store.Provider) int { return byID(a.ID, b.ID) })
	slices.SortFunc(c.Models, func(a, b store.Model) int { return byID(a.ID, b.ID) })
	slices.SortFunc(c.Deployments, func(a, b store.Deployment) int { return byID(a.ID, b.ID) })
	slices.SortFunc(c.Policies, func(a, b store.Policy) int { return byID(a.ID, b.ID) })
	slices.SortFunc(c.Prices, func(a, b store.Price) int { return byID(a.ID, b.ID) })
	slices.SortFunc(c.TokenTypes, func(a, b store.TokenType) int { return byID(a.ID, b.ID) })
	m.mu.Lock()
	defer m.mu.Unlock()
	m.catalog = c
}

// cloneCatalog copies c's slices, so that neither side's later changes
// reach the other.
func cloneCatalog(c store.Catalog) store.Catalog {
	return store.Catalog{
		Processes:   slices.Clone(c.Processes),
		Profiles:    slices.Clone(c.Profiles),
		Providers:   slices.Clone(c.Providers),
		Models:      slices.Clone(c.Models),
		Deployments: slices.Clone(c.Deployments),
		Permissions: slices.Clone(c.Permissions),
		Policies:    slices.Clone(c.Policies),
		Prices:      slices.Clone(c.Prices),
		TokenTypes:  slices.Clone(c.TokenTypes),
	}
}

func (m *memStore) ProcessByKeyHash(ctx context.Context, hash []byte) (store.Process, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return store.Process{}, errMemClosed
	}
	for _, p := range m.catalog.Processes {
		if len(hash) > 0 && bytes.Equal(p.KeyHash, hash) {
			return p, nil
		}
	}
	return store.Process{}, fmt.Errorf("process by key hash: %w", store.ErrNotFound)
}

func (m *memStore) LoadCatalog(ctx context.Context) (store.Catalog, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return store.Catalog{}, errMemClosed
	}
	return cloneCatalog(m.catalog), nil
}

func (m *memStore) InsertUsage(ctx context.Context, records []store.UsageRecord) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, errMemClosed
	}
	n := 0
	for _, r := range records {
		if _, dup := m.usage[r.RequestID]; dup {
			continue
		}
		m.nextID++
		r.ID = m.nextID
		r.Tokens = slices.Clone(r.Tokens)
		for _, tc := range r.Tokens {
			m.ensureTokenType(tc.Type)
		}
		m.usage[r.RequestID] = r
		n++
	}
	return n, nil
}

// ensureTokenType adds a token type a usage record named; m.mu is held.
func (m *memStore) ensureTokenType(name string) {
	var last int64
	for _, tt := range m.catalog.TokenTypes {
		if tt.Name == name {
			return
		}
		last = max(last, tt.ID)
	}
	// Appended, not changed in place: snapshots handed out keep their slice.
	m.catalog.TokenTypes = append(slices.Clip(m.catalog.TokenTypes), store.TokenType{ID: last + 1, Name: name})
}

func (m *memStore) Ping(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errMemClosed
	}
	return nil
}

func (m *memStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// record returns the usage record with that request id.
func (m *memStore) record(requestID string) (store.UsageRecord, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.usage[requestID]
	return r, ok
}

// TestMemStoreCore: the in-memory store passes the suite every store must
// pass.
func TestMemStoreCore(t *testing.T) {
	storetest.RunCore(t,
		func(t testing.TB) store.Core {
			s := newMemStore()
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		func(t testing.TB, s store.Core, c store.Catalog) { s.(*memStore).SetCatalog(c) })
}

// TestRouterOnCoreStore runs a Router on a store that implements only
// store.Core: a proxied chat request reaches the upstream, and its usage
// record reaches the store. The admin API and the job paths answer 501.
func TestRouterOnCoreStore(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, chatJSON)
	}))
	defer upstream.Close()

	key := apikey.Generate("mem")
	st := newMemStore()
	st.SetCatalog(store.Catalog{
		Processes: []store.Process{{ID: 1, Name: "mem", KeyHash: apikey.Hash(key), KeyPrefix: apikey.Prefix(key),
			UserID: 1, LogLevel: store.LogBilling, Priority: 5}},
		Profiles:    []store.Profile{{ID: 1, Name: "mem", ProcessID: 1}},
		Providers:   []store.Provider{{ID: 1, Name: "up", Kind: store.KindOpenAI, BaseURL: upstream.URL + "/v1", Privacy: store.PrivacyLocal}},
		Models:      []store.Model{{ID: 1, Name: "m", WeightPrivacy: store.PrivacyLocal, Parallel: 1}},
		Deployments: []store.Deployment{{ID: 1, ModelID: 1, ProviderID: 1}},
		Permissions: []store.Permission{{ProfileID: 1, ModelID: 1}},
	})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sched, err := fcfs.New(fcfs.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer sched.Close()
	r, err := logos.New(logos.Config{Store: st, Providers: builtin.Registry(), Scheduler: sched, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	srv := httptest.NewServer(r)
	defer srv.Close()

	call := func(method, path, body string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}

	status, body, hdr := call("POST", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if status != 200 || body != chatJSON {
		t.Fatalf("chat completion: %d %s", status, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	rec, ok := st.record(hdr.Get("X-Logos-Request-ID"))
	if !ok {
		t.Fatalf("no usage record for request %q in the store", hdr.Get("X-Logos-Request-ID"))
	}
	if rec.ProcessID != 1 || rec.ModelID != 1 || rec.DeploymentID != 1 || rec.StatusCode != 200 || rec.Outcome != store.OutcomeSuccess {
		t.Errorf("usage record = process %d, model %d, deployment %d, status %d, outcome %q; want 1, 1, 1, 200, success",
			rec.ProcessID, rec.ModelID, rec.DeploymentID, rec.StatusCode, rec.Outcome)
	}
	counts := map[string]int64{}
	for _, tc := range rec.Tokens {
		counts[tc.Type] = tc.Count
	}
	if counts["prompt_tokens"] != 5 || counts["completion_tokens"] != 7 {
		t.Errorf("usage record tokens = %+v, want the upstream's 5 prompt and 7 completion tokens", rec.Tokens)
	}

	// Capabilities the store lacks answer 501 with an OpenAI-format error.
	for _, c := range []struct{ method, path string }{
		{"POST", "/logosdb/get_role"},
		{"POST", "/logosdb/add_model"},
		{"POST", "/logosdb/setup"},
		{"GET", "/logosdb/usage_csv"},
		{"POST", "/jobs/v1/chat/completions"},
		{"GET", "/jobs"},
	} {
		status, body, _ := call(c.method, c.path, `{}`)
		if status != http.StatusNotImplemented || !strings.Contains(body, `"code":"not_implemented"`) {
			t.Errorf("%s %s: %d %s, want 501 not_implemented", c.method, c.path, status, body)
		}
	}
	if _, err := r.Bootstrap(ctx, ""); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Bootstrap on a Core store = %v, want errors.ErrUnsupported", err)
	}
	if status, _, _ := call("GET", "/readyz", ""); status != 200 {
		t.Errorf("GET /readyz = %d, want 200", status)
	}
}
