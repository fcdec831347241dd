package live_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos/monitor/live"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// memStore keeps snapshots in memory.
type memStore struct {
	mu    sync.Mutex
	snaps []store.ProviderSnapshot
}

func (s *memStore) InsertProviderSnapshot(_ context.Context, p store.ProviderSnapshot) (store.ProviderSnapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.ID = int64(len(s.snaps) + 1)
	s.snaps = append(s.snaps, p)
	return p, nil
}

func (s *memStore) DeleteProviderSnapshotsBefore(_ context.Context, t time.Time, limit int) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	s.snaps = slices.DeleteFunc(s.snaps, func(p store.ProviderSnapshot) bool {
		if n < int64(limit) && p.TakenAt.Before(t) {
			n++
			return true
		}
		return false
	})
	return n, nil
}

func (s *memStore) of(provider int64) []store.ProviderSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.ProviderSnapshot
	for _, p := range s.snaps {
		if p.ProviderID == provider {
			out = append(out, p)
		}
	}
	return out
}

// gpuNode answers Ollama's /api/ps and vLLM's /metrics, counting requests per path.
type gpuNode struct {
	*httptest.Server
	hits sync.Map // path → *atomic.Int64
	fail atomic.Bool
}

func newGPUNode(t *testing.T) *gpuNode {
	n := &gpuNode{}
	n.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := n.hits.LoadOrStore(r.URL.Path, new(atomic.Int64))
		c.(*atomic.Int64).Add(1)
		if n.fail.Load() {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/api/ps"):
			_, _ = w.Write([]byte(`{"models":[{"name":"a:1","size":300,"size_vram":200,"expires_at":"2030-01-02T03:04:05.123456789+02:00"},{"name":"b:2","size":50,"size_vram":50}]}`))
		case strings.HasSuffix(r.URL.Path, "/api/tags"):
			_, _ = w.Write([]byte(`{"models":[{"name":"a:1"},{"name":"b:2"},{"name":"c:3"}]}`))
		case strings.HasSuffix(r.URL.Path, "/metrics"):
			_, _ = w.Write([]byte("# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name=\"m\"} 2\n# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=\"m\"} 9\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(n.Close)
	return n
}

func (n *gpuNode) count(path string) int64 {
	c, ok := n.hits.Load(path)
	if !ok {
		return 0
	}
	return c.(*atomic.Int64).Load()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newMonitor(t *testing.T, st live.SnapshotStore, reg prometheus.Registerer) *live.Monitor {
	t.Helper()
	m, err := live.New(live.Config{Providers: builtin.Registry(), Store: st, Registerer: reg, Retention: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func TestPollersFollowTheCatalogue(t *testing.T) {
	node := newGPUNode(t)
	st := &memStore{}
	reg := prometheus.NewRegistry()
	m := newMonitor(t, st, reg)
	fast := 10 * time.Millisecond
	ollama := store.Provider{ID: 1, Name: "gpu1", Kind: store.KindOllama, BaseURL: "http://unused.invalid",
		AdminURL: node.URL + "/o1", PollInterval: fast, TotalVRAMMB: 1}
	vllm := store.Provider{ID: 2, Name: "vllm", Kind: store.KindOpenAICompatible, BaseURL: node.URL + "/v1",
		AdminURL: node.URL + "/metrics", PollInterval: fast}
	cloud := store.Provider{ID: 3, Name: "openai", Kind: store.KindOpenAI, BaseURL: "https://api.openai.invalid/v1"}
	noAdmin := store.Provider{ID: 4, Name: "gpu-unmonitored", Kind: store.KindOllama, BaseURL: node.URL}

	m.Sync([]store.Provider{ollama, vllm, cloud, noAdmin})
	if got := sorted(m.Polled()); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("polled = %v, want [1 2] (no poller without an admin URL or a poll capability)", got)
	}
	eventually(t, "both providers polled", func() bool {
		a, _ := m.ProviderState(1)
		b, _ := m.ProviderState(2)
		return a.Polls > 0 && b.Polls > 0
	})
	s1, _ := m.ProviderState(1)
	if !s1.LoadedKnown || len(s1.Loaded) != 2 || s1.VRAMUsedBytes != 250 || len(s1.Available) != 3 || s1.Err != "" {
		t.Errorf("ollama state = %+v", s1)
	}
	s2, _ := m.ProviderState(2)
	if !s2.QueueKnown || s2.Running != 2 || s2.Waiting != 9 || s2.LoadedKnown {
		t.Errorf("vLLM state = %+v", s2)
	}
	if _, ok := m.ProviderState(3); ok {
		t.Error("a provider that is not polled has a state; it must be unknown")
	}
	eventually(t, "snapshots stored", func() bool { return len(st.of(1)) > 0 && len(st.of(2)) > 0 })
	snap := st.of(1)[0]
	if !snap.PollSuccess || snap.ModelsLoaded != 2 || snap.VRAMUsedBytes != 250 || snap.QueueKnown ||
		!strings.Contains(string(snap.LoadedModels), `"expires_at":"2030-01-02T01:04:05.123456789Z"`) {
		t.Errorf("ollama snapshot = %+v %s", snap, snap.LoadedModels)
	}
	if v := st.of(2)[0]; !v.QueueKnown || v.RunningRequests != 2 || v.WaitingRequests != 9 {
		t.Errorf("vLLM snapshot = %+v", v)
	}
	if n := testutil.CollectAndCount(reg, "logos_provider_vram_used_bytes", "logos_provider_requests_waiting", "logos_provider_vram_total_bytes"); n != 3 {
		t.Errorf("gauges = %d series, want 3 (VRAM of gpu1, waiting of vllm, capacity of gpu1)", n)
	}

	// A changed setting restarts the poller against the new URL.
	ollama.AdminURL = node.URL + "/o2"
	m.Sync([]store.Provider{ollama, vllm, cloud})
	eventually(t, "the new admin URL polled", func() bool { return node.count("/o2/api/ps") > 0 })
	before := node.count("/o1/api/ps")
	time.Sleep(5 * fast)
	if after := node.count("/o1/api/ps"); after != before {
		t.Errorf("the old admin URL was polled %d more times after the change", after-before)
	}

	// A removed provider's poller stops; an unchanged one keeps running.
	m.Sync([]store.Provider{vllm})
	if got := m.Polled(); !slices.Equal(got, []int64{2}) {
		t.Fatalf("polled after removal = %v, want [2]", got)
	}
	time.Sleep(5 * fast) // a straggler, as after Close below
	before = node.count("/o2/api/ps")
	time.Sleep(5 * fast)
	if after := node.count("/o2/api/ps"); after != before {
		t.Errorf("a removed provider was polled %d more times", after-before)
	}
	if n := testutil.CollectAndCount(reg, "logos_provider_vram_used_bytes"); n != 0 {
		t.Errorf("a removed provider still has %d VRAM series", n)
	}

	// Close stops everything (the race detector and goleak-free exit of
	// the test check the goroutines end).
	m.Close()
	// Close waits for the pollers, but a poll one sent just before may
	// still be on its way into the test server's handler (cancelling the
	// client does not stop a request already written). Let such a straggler
	// arrive before counting.
	time.Sleep(5 * fast)
	before = node.count("/metrics")
	time.Sleep(5 * fast)
	if after := node.count("/metrics"); after != before {
		t.Errorf("polled %d times after Close", after-before)
	}
	m.Sync([]store.Provider{ollama}) // after Close: starts nothing
	if len(m.Polled()) != 0 {
		t.Error("Sync after Close started a poller")
	}
}

func TestFailingPollerIsVisible(t *testing.T) {
	node := newGPUNode(t)
	node.fail.Store(true)
	st := &memStore{}
	reg := prometheus.NewRegistry()
	m := newMonitor(t, st, reg)
	m.Sync([]store.Provider{{ID: 7, Name: "down", Kind: store.KindOllama, BaseURL: node.URL, AdminURL: node.URL, PollInterval: 10 * time.Millisecond}})
	eventually(t, "two failed polls", func() bool { s, _ := m.ProviderState(7); return s.Failures >= 2 })
	s, _ := m.ProviderState(7)
	if !strings.Contains(s.Err, "500") || s.LoadedKnown || s.QueueKnown {
		t.Errorf("state of a failing provider = %+v; want the error and no figures (unknown, not busy)", s)
	}
	eventually(t, "failure snapshots", func() bool { return len(st.of(7)) >= 2 })
	if f := st.of(7)[0]; f.PollSuccess || !strings.Contains(f.ErrorMessage, "500") {
		t.Errorf("failure snapshot = %+v", f)
	}
	if v := testutil.ToFloat64(mustCounter(t, reg, "logos_provider_poll_failures_total")); v < 2 {
		t.Errorf("poll failures counter = %v, want >= 2", v)
	}
	// Recovery clears the error.
	node.fail.Store(false)
	eventually(t, "recovery", func() bool { s, _ := m.ProviderState(7); return s.Err == "" && s.LoadedKnown })
}

func TestPollTimeout(t *testing.T) {
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)
	m := newMonitor(t, nil, nil)
	m.Sync([]store.Provider{{ID: 1, Name: "slow", Kind: store.KindOllama, BaseURL: slow.URL, AdminURL: slow.URL,
		PollInterval: time.Hour, PollTimeout: 20 * time.Millisecond}})
	eventually(t, "a timed-out poll", func() bool { s, _ := m.ProviderState(1); return s.Failures == 1 })
	if s, _ := m.ProviderState(1); !strings.Contains(s.Err, "timed out") {
		t.Errorf("error = %q, want a timeout", s.Err)
	}
}

func TestPrune(t *testing.T) {
	st := &memStore{}
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	for i := range 2500 {
		st.snaps = append(st.snaps, store.ProviderSnapshot{ProviderID: 1, TakenAt: now.Add(-time.Duration(i) * time.Minute)})
	}
	m, err := live.New(live.Config{Store: st, Retention: 24 * time.Hour, RetentionBatch: 100, RetentionInterval: time.Hour,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// The first pass runs at start; wait for it, then check nothing newer
	// than a day went.
	eventually(t, "the retention pass", func() bool { return len(st.of(1)) == 24*60+1 })
	for _, s := range st.of(1) {
		if s.TakenAt.Before(now.Add(-24 * time.Hour)) {
			t.Fatalf("snapshot of %v kept past the retention", s.TakenAt)
		}
	}
	if n, err := m.Prune(context.Background()); err != nil || n != 0 {
		t.Errorf("second Prune = %d, %v; want nothing left to delete", n, err)
	}
}

func TestRateLimitState(t *testing.T) {
	m := newMonitor(t, nil, prometheus.NewRegistry())
	reg := builtin.Registry()
	oa, _ := reg.Lookup(providers.KindOpenAI)
	ol, _ := reg.Lookup(providers.KindOllama)
	h := http.Header{}
	h.Set("x-ratelimit-remaining-requests", "0")
	h.Set("x-ratelimit-reset-requests", "6m0s")
	m.ObserveResponse(11, 1, "openai", ol, 200, h) // ollama reads no headers
	if _, ok := m.RateLimit(11); ok {
		t.Error("an Ollama response created rate-limit state")
	}
	m.ObserveResponse(12, 1, "openai", oa, 200, http.Header{"Content-Type": {"application/json"}})
	if _, ok := m.RateLimit(12); ok || m.RateLimited(12, time.Now()) {
		t.Error("a response without rate-limit headers created state; unknown must stay unknown")
	}
	m.ObserveResponse(11, 1, "openai", oa, 200, h)
	if !m.RateLimited(11, time.Now()) || m.RateLimited(11, time.Now().Add(7*time.Minute)) {
		t.Error("0 remaining requests should rate-limit the deployment until its reset")
	}
	m.ObserveResponse(11, 1, "openai", oa, 429, http.Header{"Retry-After": {"30"}})
	if rl, _ := m.RateLimit(11); rl.RetryAfter.IsZero() || rl.RemainingRequests != 0 {
		t.Errorf("after a 429: %+v", rl)
	}
	m.Sync(nil) // the provider is gone: so is its deployments' state
	if _, ok := m.RateLimit(11); ok {
		t.Error("rate-limit state of a removed provider kept")
	}
}

// BenchmarkObserveResponse is the request-path cost of rate-limit tracking
// for a deployment already known (OpenAI's six headers).
func BenchmarkObserveResponse(b *testing.B) {
	m, err := live.New(live.Config{Providers: builtin.Registry(), Retention: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	oa, _ := builtin.Registry().Lookup(providers.KindOpenAI)
	h := http.Header{}
	for k, v := range map[string]string{"x-ratelimit-limit-requests": "10000", "x-ratelimit-limit-tokens": "30000000",
		"x-ratelimit-remaining-requests": "9999", "x-ratelimit-remaining-tokens": "29999980",
		"x-ratelimit-reset-requests": "6m0s", "x-ratelimit-reset-tokens": "20ms"} {
		h.Set(k, v)
	}
	m.ObserveResponse(1, 1, "openai", oa, 200, h)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveResponse(1, 1, "openai", oa, 200, h)
		}
	})
}

func sorted(ids []int64) []int64 { slices.Sort(ids); return ids }

func mustCounter(t *testing.T, g prometheus.Gatherer, name string) prometheus.Collector {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "copy"})
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			c.Add(sum)
			return c
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

func TestRateLimitStateExpires(t *testing.T) {
	now := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	m, err := live.New(live.Config{Providers: builtin.Registry(), Retention: -1, RateLimitTTL: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	oa, _ := builtin.Registry().Lookup(providers.KindOpenAI)
	m.ObserveResponse(1, 1, "openai", oa, 200, http.Header{"X-Ratelimit-Remaining-Requests": {"7"}})
	m.ObserveResponse(2, 1, "openai", oa, 200, http.Header{"X-Ratelimit-Remaining-Requests": {"0"}, "X-Ratelimit-Reset-Requests": {"10m"}})
	now = now.Add(2 * time.Minute)
	if rl, ok := m.RateLimit(1); ok {
		t.Errorf("state of 2 minutes ago without a reset ahead = %+v; want unknown after the 1-minute TTL", rl)
	}
	if !m.RateLimited(2, now) {
		t.Error("a reset still ahead keeps the state past the TTL")
	}
	now = now.Add(10 * time.Minute)
	if _, ok := m.RateLimit(2); ok || m.RateLimited(2, now) {
		t.Error("state past its reset and the TTL is still believed")
	}
}
