package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

// RunRateLimit runs the conformance tests of [store.RateLimitStore] against
// the store returned by open, which must implement it. Like [Run], every test
// is a subtest with a fresh store from open.
func RunRateLimit(t *testing.T, open func(t testing.TB) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.RateLimitStore)
	}{
		{"ClaimUpToLimit", testClaimUpToLimit},
		{"ConcurrentClaimsNeverExceedLimit", testConcurrentClaims},
		{"WindowsAndKeysIndependent", testWindowsIndependent},
		{"TokensAddUp", testTokensAddUp},
		{"DeleteBefore", testDeleteRateWindows},
		{"Invalid", testRateInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			rs, ok := s.(store.RateLimitStore)
			if !ok {
				t.Fatalf("%T does not implement store.RateLimitStore", s)
			}
			tc.fn(t, rs)
		})
	}
}

// rateWindow is a minute start used by the rate-limit tests.
var rateWindow = time.Date(2025, 6, 1, 12, 34, 0, 0, time.UTC)

func testClaimUpToLimit(t *testing.T, s store.RateLimitStore) {
	ctx := t.Context()
	steps := []struct {
		want, granted, requests int64
	}{
		{3, 3, 3}, {3, 3, 6}, {3, 3, 9}, {3, 1, 10}, {3, 0, 10}, {1, 0, 10},
	}
	for i, st := range steps {
		granted, u, err := s.ClaimPermits(ctx, "k", rateWindow, st.want, 10)
		if err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
		if granted != st.granted || u.Requests != st.requests || u.Tokens != 0 {
			t.Errorf("claim %d of %d: granted %d, usage %+v; want granted %d, requests %d", i, st.want, granted, u, st.granted, st.requests)
		}
	}
	// A raised limit makes room again; a lowered one grants nothing and
	// leaves the count alone.
	if granted, u, err := s.ClaimPermits(ctx, "k", rateWindow, 5, 12); err != nil || granted != 2 || u.Requests != 12 {
		t.Errorf("claim with a raised limit: granted %d, %+v, %v; want 2, 12 requests", granted, u, err)
	}
	if granted, u, err := s.ClaimPermits(ctx, "k", rateWindow, 1, 4); err != nil || granted != 0 || u.Requests != 12 {
		t.Errorf("claim with a lowered limit: granted %d, %+v, %v; want 0, 12 requests", granted, u, err)
	}
	if granted, u, err := s.ClaimPermits(ctx, "zero", rateWindow, 1, 0); err != nil || granted != 0 || u.Requests != 0 {
		t.Errorf("claim with limit 0: granted %d, %+v, %v; want nothing", granted, u, err)
	}
	u, err := s.WindowUsage(ctx, "k", rateWindow)
	if err != nil || u != (store.RateUsage{Requests: 12}) {
		t.Errorf("WindowUsage = %+v, %v; want 12 requests", u, err)
	}
}

func testConcurrentClaims(t *testing.T, s store.RateLimitStore) {
	ctx := t.Context()
	const (
		claimers = 20
		limit    = 57
	)
	var total atomic.Int64
	var wg sync.WaitGroup
	for i := range claimers {
		wg.Go(func() {
			want := int64(1 + i%4)
			for {
				granted, u, err := s.ClaimPermits(ctx, "busy", rateWindow, want, limit)
				if err != nil {
					t.Errorf("claimer %d: %v", i, err)
					return
				}
				if granted < 0 || granted > want || u.Requests > limit {
					t.Errorf("claimer %d: granted %d of %d, window at %d of %d", i, granted, want, u.Requests, limit)
				}
				total.Add(granted)
				if granted < want {
					return
				}
			}
		})
	}
	wg.Wait()
	if got := total.Load(); got != limit {
		t.Errorf("claimers were granted %d permits in all, want exactly %d", got, limit)
	}
	if u, err := s.WindowUsage(ctx, "busy", rateWindow); err != nil || u.Requests != limit {
		t.Errorf("WindowUsage = %+v, %v; want %d requests", u, err, limit)
	}
}

func testWindowsIndependent(t *testing.T, s store.RateLimitStore) {
	ctx := t.Context()
	next := rateWindow.Add(time.Minute)
	claims := []struct {
		key    string
		window time.Time
	}{{"a", rateWindow}, {"a", next}, {"b", rateWindow}}
	for _, c := range claims {
		if granted, u, err := s.ClaimPermits(ctx, c.key, c.window, 5, 5); err != nil || granted != 5 || u.Requests != 5 {
			t.Errorf("claim %s at %v: granted %d, %+v, %v; want all 5 (a fresh window)", c.key, c.window, granted, u, err)
		}
	}
	if _, err := s.AddTokens(ctx, "a", next, 7); err != nil {
		t.Fatal(err)
	}
	if u, err := s.WindowUsage(ctx, "a", rateWindow); err != nil || u != (store.RateUsage{Requests: 5}) {
		t.Errorf("window a/%v = %+v, %v; want 5 requests and no tokens", rateWindow, u, err)
	}
	// The same instant in another zone is the same window.
	if u, err := s.WindowUsage(ctx, "a", next.In(time.FixedZone("X", 3600))); err != nil || u != (store.RateUsage{Requests: 5, Tokens: 7}) {
		t.Errorf("window a/%v = %+v, %v; want 5 requests and 7 tokens", next, u, err)
	}
	if u, err := s.WindowUsage(ctx, "never", rateWindow); err != nil || u != (store.RateUsage{}) {
		t.Errorf("unused window = %+v, %v; want zero and no error", u, err)
	}
}

func testTokensAddUp(t *testing.T, s store.RateLimitStore) {
	ctx := t.Context()
	const adders, each = 10, 20
	var wg sync.WaitGroup
	for i := range adders {
		wg.Go(func() {
			for range each {
				if _, err := s.AddTokens(ctx, "tok", rateWindow, int64(i+1)); err != nil {
					t.Errorf("AddTokens: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := int64(each * adders * (adders + 1) / 2)
	if u, err := s.AddTokens(ctx, "tok", rateWindow, 0); err != nil || u != (store.RateUsage{Tokens: want}) {
		t.Errorf("AddTokens(0) = %+v, %v; want %d tokens", u, err, want)
	}
	// Tokens and permits share the window.
	granted, u, err := s.ClaimPermits(ctx, "tok", rateWindow, 2, 10)
	if err != nil || granted != 2 || u != (store.RateUsage{Requests: 2, Tokens: want}) {
		t.Errorf("ClaimPermits = %d, %+v, %v; want 2 and %d tokens", granted, u, err, want)
	}
}

func testDeleteRateWindows(t *testing.T, s store.RateLimitStore) {
	ctx := t.Context()
	for i := range 3 {
		if _, err := s.AddTokens(ctx, "d", rateWindow.Add(time.Duration(i)*time.Minute), 1); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteRateWindowsBefore(ctx, rateWindow.Add(2*time.Minute))
	if err != nil || n != 2 {
		t.Errorf("DeleteRateWindowsBefore = %d, %v; want 2", n, err)
	}
	if u, _ := s.WindowUsage(ctx, "d", rateWindow); u != (store.RateUsage{}) {
		t.Errorf("deleted window still counts %+v", u)
	}
	if u, _ := s.WindowUsage(ctx, "d", rateWindow.Add(2*time.Minute)); u.Tokens != 1 {
		t.Errorf("kept window counts %+v, want 1 token", u)
	}
}

func testRateInvalid(t *testing.T, s store.RateLimitStore) {
	ctx := t.Context()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", what, err)
		}
	}
	_, _, err := s.ClaimPermits(ctx, "", rateWindow, 1, 1)
	check("empty key", err)
	_, _, err = s.ClaimPermits(ctx, "k", time.Time{}, 1, 1)
	check("zero window", err)
	_, _, err = s.ClaimPermits(ctx, "k", rateWindow, 0, 1)
	check("want 0", err)
	_, _, err = s.ClaimPermits(ctx, "k", rateWindow, 1, -1)
	check("negative limit", err)
	_, err = s.AddTokens(ctx, "k", rateWindow, -1)
	check("negative tokens", err)
	_, err = s.WindowUsage(ctx, "", rateWindow)
	check("WindowUsage of an empty key", err)
}
