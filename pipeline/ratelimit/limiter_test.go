package ratelimit_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos/pipeline/ratelimit"
	"github.com/logos-llm/logos/scheduler/clock"
	"github.com/logos-llm/logos/store"
)

// quiet discards the limiter's log records.
var quiet = slog.New(slog.DiscardHandler)

// memStore is an in-memory store.RateLimitStore that counts its calls and can
// be made to fail or to block.
type memStore struct {
	mu      sync.Mutex
	windows map[string]store.RateUsage
	fail    error
	claims  atomic.Int64
	reads   atomic.Int64
	adds    atomic.Int64
	gate    chan struct{} // if not nil, ClaimPermits waits for it
}

func newMemStore() *memStore { return &memStore{windows: make(map[string]store.RateUsage)} }

func (m *memStore) id(key string, window time.Time) string {
	return key + "@" + window.UTC().Format(time.RFC3339Nano)
}

func (m *memStore) setFail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = err
}

func (m *memStore) ClaimPermits(ctx context.Context, key string, window time.Time, want, limit int64) (int64, store.RateUsage, error) {
	m.claims.Add(1)
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return 0, store.RateUsage{}, ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, store.RateUsage{}, m.fail
	}
	u := m.windows[m.id(key, window)]
	granted := min(want, max(limit-u.Requests, 0))
	u.Requests += granted
	m.windows[m.id(key, window)] = u
	return granted, u, nil
}

func (m *memStore) AddTokens(_ context.Context, key string, window time.Time, n int64) (store.RateUsage, error) {
	m.adds.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return store.RateUsage{}, m.fail
	}
	u := m.windows[m.id(key, window)]
	u.Tokens += n
	m.windows[m.id(key, window)] = u
	return u, nil
}

func (m *memStore) WindowUsage(_ context.Context, key string, window time.Time) (store.RateUsage, error) {
	m.reads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return store.RateUsage{}, m.fail
	}
	return m.windows[m.id(key, window)], nil
}

func (m *memStore) DeleteRateWindowsBefore(context.Context, time.Time) (int64, error) { return 0, nil }

// start is 10 s into a minute.
var start = time.Date(2025, 6, 1, 12, 0, 10, 0, time.UTC)

// newLimiter returns a limiter on s reading clk, closed when t ends.
func newLimiter(t testing.TB, s store.RateLimitStore, clk *clock.Fake) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(ratelimit.Config{Store: s, Now: clk.Now, Logger: quiet, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// admitN calls Admit n times in sequence and returns how many were allowed
// and the last decision.
func admitN(t testing.TB, l *ratelimit.Limiter, key string, lim ratelimit.Limits, n int) (int, ratelimit.Decision) {
	t.Helper()
	allowed := 0
	var d ratelimit.Decision
	for range n {
		var err error
		d, err = l.Admit(t.Context(), key, lim)
		if err != nil {
			t.Fatalf("Admit: %v", err)
		}
		if d.Allowed {
			allowed++
		}
	}
	return allowed, d
}

func TestRequestsPerMinute(t *testing.T) {
	s := newMemStore()
	clk := clock.NewFake(start)
	l := newLimiter(t, s, clk)
	lim := ratelimit.Limits{RequestsPerMinute: 100}

	allowed, d := admitN(t, l, "k", lim, 100)
	if allowed != 100 || !d.Allowed {
		t.Fatalf("admitted %d of the first 100 requests, want all", allowed)
	}
	if d.Requests != (ratelimit.Quota{Limit: 100, Remaining: 0, Reset: 50 * time.Second}) {
		t.Errorf("last admitted quota = %+v", d.Requests)
	}
	if c := s.claims.Load(); c > 30 {
		t.Errorf("100 admissions made %d claims; want the store touched once per chunk, not per request", c)
	}
	clk.Advance(20 * time.Second)
	d, err := l.Admit(t.Context(), "k", lim)
	if err != nil || d.Allowed {
		t.Fatalf("request 101 = %+v, %v; want refused", d, err)
	}
	if d.RetryAfter != 30*time.Second || d.Requests.Remaining != 0 {
		t.Errorf("refusal = %+v; want RetryAfter 30s and nothing remaining", d)
	}
	claims := s.claims.Load()
	admitN(t, l, "k", lim, 50)
	if got := s.claims.Load(); got != claims {
		t.Errorf("refusals in an exhausted window made %d more claims, want none", got-claims)
	}

	// Another key is independent; the next minute starts afresh.
	if n, _ := admitN(t, l, "other", lim, 5); n != 5 {
		t.Errorf("other key admitted %d of 5", n)
	}
	clk.Advance(30 * time.Second)
	if n, d := admitN(t, l, "k", lim, 100); n != 100 || d.Requests.Reset != time.Minute {
		t.Errorf("next window admitted %d of 100 (last %+v), want all with a reset of 1m", n, d)
	}
}

func TestSmallLimitNeverExceeded(t *testing.T) {
	s := newMemStore()
	clk := clock.NewFake(start)
	l := newLimiter(t, s, clk)
	for _, limit := range []int64{1, 2, 3, 7} {
		key := string(rune('a' + limit))
		if n, _ := admitN(t, l, key, ratelimit.Limits{RequestsPerMinute: limit}, 20); int64(n) != limit {
			t.Errorf("limit %d admitted %d", limit, n)
		}
	}
}

// TestReplicasShareOneLimit is the Done-when scenario on the in-memory store:
// two limiters (replicas) on one store, 200 concurrent requests, 60/min.
func TestReplicasShareOneLimit(t *testing.T) {
	s := newMemStore()
	clk := clock.NewFake(start)
	replicas := []*ratelimit.Limiter{newLimiter(t, s, clk), newLimiter(t, s, clk)}
	if got := admitConcurrently(t, replicas, "process:1", 60, 200); got != 60 {
		t.Errorf("admitted %d of 200 concurrent requests under 60/min, want exactly 60", got)
	}
}

// admitConcurrently sends n concurrent Admit calls for key, spread over the
// limiters, under a limit of rpm, and returns how many were admitted. Every
// refusal must carry a Retry-After within the window.
func admitConcurrently(t *testing.T, limiters []*ratelimit.Limiter, key string, rpm int64, n int) int64 {
	t.Helper()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for i := range n {
		l := limiters[i%len(limiters)]
		wg.Go(func() {
			<-begin
			d, err := l.Admit(t.Context(), key, ratelimit.Limits{RequestsPerMinute: rpm})
			if err != nil {
				t.Errorf("Admit: %v", err)
				return
			}
			if d.Allowed {
				admitted.Add(1)
			} else if d.RetryAfter <= 0 || d.RetryAfter > time.Minute {
				t.Errorf("refusal with RetryAfter %v", d.RetryAfter)
			}
		})
	}
	close(begin)
	wg.Wait()
	return admitted.Load()
}

func TestConcurrentRequestsShareAClaim(t *testing.T) {
	s := newMemStore()
	s.gate = make(chan struct{})
	clk := clock.NewFake(start)
	l := newLimiter(t, s, clk)
	const n = 50
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			d, err := l.Admit(t.Context(), "k", ratelimit.Limits{RequestsPerMinute: 1000})
			if err != nil || !d.Allowed {
				t.Errorf("Admit = %+v, %v", d, err)
			}
			admitted.Add(1)
		})
	}
	// Let the requests pile up behind the first claim, then release claims.
	deadline := time.Now().Add(5 * time.Second)
	for s.claims.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(s.gate)
	wg.Wait()
	if c := s.claims.Load(); c > 5 {
		t.Errorf("%d concurrent requests made %d claims, want them to share a few", n, c)
	}
}

func TestWaiterGivesUpWithItsContext(t *testing.T) {
	s := newMemStore()
	s.gate = make(chan struct{})
	defer close(s.gate)
	clk := clock.NewFake(start)
	l := newLimiter(t, s, clk)
	lim := ratelimit.Limits{RequestsPerMinute: 10}
	go func() { _, _ = l.Admit(context.Background(), "k", lim) }() // the claimer, blocked on the gate
	for s.claims.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	d, err := l.Admit(ctx, "k", lim)
	if !errors.Is(err, context.DeadlineExceeded) || d.Allowed {
		t.Errorf("Admit with an ending context = %+v, %v; want refused with the context's error", d, err)
	}
}

func TestFailOpen(t *testing.T) {
	s := newMemStore()
	clk := clock.NewFake(start)
	l, err := ratelimit.New(ratelimit.Config{Store: s, Now: clk.Now, Logger: quiet, FailOpenBackoff: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	lim := ratelimit.Limits{RequestsPerMinute: 2}
	boom := errors.New("database down")
	s.setFail(boom)
	d, err := l.Admit(t.Context(), "k", lim)
	if !d.Allowed || !errors.Is(err, boom) {
		t.Fatalf("Admit with a failing store = %+v, %v; want admitted and the store's error", d, err)
	}
	claims := s.claims.Load()
	if n, _ := admitN(t, l, "k", lim, 10); n != 10 || s.claims.Load() != claims {
		t.Errorf("during the backoff admitted %d of 10 with %d claims; want all, without the store", n, s.claims.Load()-claims)
	}
	s.setFail(nil)
	clk.Advance(5 * time.Second)
	if n, _ := admitN(t, l, "k", lim, 10); n != 2 {
		t.Errorf("after the backoff admitted %d of 10, want the limit of 2", n)
	}
}

func TestTokensPerMinute(t *testing.T) {
	s := newMemStore()
	clk := clock.NewFake(start)
	a := newLimiter(t, s, clk)
	b := newLimiter(t, s, clk)
	lim := ratelimit.Limits{TokensPerMinute: 1000}

	d, err := a.Admit(t.Context(), "k", lim)
	if err != nil || !d.Allowed || d.Tokens != (ratelimit.Quota{Limit: 1000, Remaining: 1000, Reset: 50 * time.Second}) {
		t.Fatalf("first Admit = %+v, %v", d, err)
	}
	a.RecordTokens("k", lim, 600)
	if s.adds.Load() != 0 {
		t.Error("RecordTokens wrote to the store synchronously")
	}
	if d, _ := a.Admit(t.Context(), "k", lim); !d.Allowed || d.Tokens.Remaining != 400 {
		t.Errorf("after 600 tokens: %+v, want admitted with 400 remaining", d)
	}
	a.RecordTokens("k", lim, 500)
	// The replica refuses from its own unflushed count at once.
	if d, _ := a.Admit(t.Context(), "k", lim); d.Allowed || d.RetryAfter != 50*time.Second || d.Tokens.Remaining != 0 {
		t.Errorf("after 1100 tokens: %+v, want refused until the window ends", d)
	}
	if err := a.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s.adds.Load() != 1 {
		t.Errorf("flushing one key made %d store calls, want 1 batch", s.adds.Load())
	}
	// The other replica sees the tokens when it reads the window.
	if d, _ := b.Admit(t.Context(), "k", lim); d.Allowed {
		t.Errorf("other replica admitted %+v after 1100 tokens", d)
	}
	clk.Advance(50 * time.Second)
	if d, _ := b.Admit(t.Context(), "k", lim); !d.Allowed || d.Tokens.Remaining != 1000 {
		t.Errorf("next window: %+v, want admitted with everything remaining", d)
	}
}

func TestTokensOfOtherReplicaSeenAfterRefresh(t *testing.T) {
	s := newMemStore()
	clk := clock.NewFake(start)
	a := newLimiter(t, s, clk)
	b := newLimiter(t, s, clk)
	lim := ratelimit.Limits{TokensPerMinute: 100}
	if d, _ := b.Admit(t.Context(), "k", lim); !d.Allowed {
		t.Fatal("first request refused")
	}
	a.RecordTokens("k", lim, 100)
	if err := a.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	reads := s.reads.Load()
	if d, _ := b.Admit(t.Context(), "k", lim); !d.Allowed || s.reads.Load() != reads {
		t.Errorf("within the refresh interval: %+v with %d reads; want the cached view and no read", d, s.reads.Load()-reads)
	}
	clk.Advance(time.Second)
	if d, _ := b.Admit(t.Context(), "k", lim); d.Allowed {
		t.Errorf("after the refresh interval: %+v, want refused", d)
	}
}

func TestCloseFlushesTokens(t *testing.T) {
	s := newMemStore()
	clk := clock.NewFake(start)
	l, err := ratelimit.New(ratelimit.Config{Store: s, Now: clk.Now, Logger: quiet, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	lim := ratelimit.Limits{TokensPerMinute: 1000}
	l.RecordTokens("k", lim, 7)
	l.RecordTokens("k", lim, 5)
	l.RecordTokens("free", ratelimit.Limits{}, 5) // no token limit: not counted
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	l.RecordTokens("k", lim, 100) // ignored after Close
	u, _ := s.WindowUsage(t.Context(), "k", start.Truncate(time.Minute))
	if u.Tokens != 12 || s.adds.Load() != 1 {
		t.Errorf("after Close the store has %+v from %d calls, want 12 tokens in one call", u, s.adds.Load())
	}
	if err := l.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBackgroundFlush(t *testing.T) {
	s := newMemStore()
	clk := clock.NewFake(start)
	l, err := ratelimit.New(ratelimit.Config{Store: s, Now: clk.Now, Logger: quiet, FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	l.RecordTokens("k", ratelimit.Limits{TokensPerMinute: 10}, 3)
	deadline := time.Now().Add(5 * time.Second)
	for s.adds.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if u, _ := s.WindowUsage(t.Context(), "k", start.Truncate(time.Minute)); u.Tokens != 3 {
		t.Errorf("background flush stored %+v, want 3 tokens", u)
	}
}

func TestFlushKeepsTokensOnFailure(t *testing.T) {
	s := newMemStore()
	clk := clock.NewFake(start)
	l := newLimiter(t, s, clk)
	lim := ratelimit.Limits{TokensPerMinute: 10}
	l.RecordTokens("k", lim, 4)
	s.setFail(errors.New("down"))
	if err := l.Flush(t.Context()); err == nil {
		t.Fatal("Flush with a failing store reported no error")
	}
	s.setFail(nil)
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.WindowUsage(t.Context(), "k", start.Truncate(time.Minute)); u.Tokens != 4 {
		t.Errorf("after a failed and a good flush the store has %+v, want 4 tokens", u)
	}
}

func TestNoLimitsNoStore(t *testing.T) {
	s := newMemStore()
	l := newLimiter(t, s, clock.NewFake(start))
	d, err := l.Admit(t.Context(), "k", ratelimit.Limits{})
	if err != nil || !d.Allowed || s.claims.Load()+s.reads.Load() != 0 {
		t.Errorf("Admit without limits = %+v, %v with store calls", d, err)
	}
	h := http.Header{}
	d.SetHeaders(h)
	if len(h) != 0 {
		t.Errorf("headers without limits: %v", h)
	}
}

func TestNewNeedsStore(t *testing.T) {
	if _, err := ratelimit.New(ratelimit.Config{}); err == nil {
		t.Error("New without a store succeeded")
	}
}
