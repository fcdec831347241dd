package ratelimit_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/logos-llm/logos/pipeline/ratelimit"
	"github.com/logos-llm/logos/scheduler/clock"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
	"github.com/logos-llm/logos/store/sqlite"
)

// The Done-when scenario: two replicas, each with its own store instance on
// one shared database, a limit of 60 requests per minute, and 200 concurrent
// requests split across them within one window. Exactly 60 are admitted
// (the acceptance bound is 60 ± 3): when demand exceeds the limit, every
// permit a replica claims is used.
const (
	replicaLimit    = 60
	replicaRequests = 200
	replicaSlack    = 3
)

func TestReplicasSharePostgres(t *testing.T) {
	url := pgtest.NewMigratedDatabase(t)
	testReplicasShare(t, func(t *testing.T) store.RateLimitStore {
		s, err := postgres.Open(t.Context(), postgres.Config{URL: url, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestReplicasShareSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logos.db")
	testReplicasShare(t, func(t *testing.T) store.RateLimitStore {
		s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func testReplicasShare(t *testing.T, open func(t *testing.T) store.RateLimitStore) {
	// A fake clock keeps the whole test inside one window.
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Minute).Add(5 * time.Second))
	stores := []store.RateLimitStore{open(t), open(t)}
	var limiters []*ratelimit.Limiter
	for _, s := range stores {
		limiters = append(limiters, newLimiter(t, s, clk))
	}
	const key = "process:1"
	got := admitConcurrently(t, limiters, key, replicaLimit, replicaRequests)
	t.Logf("admitted %d of %d under %d/min across %d replicas", got, replicaRequests, replicaLimit, len(limiters))
	if got < replicaLimit-replicaSlack || got > replicaLimit+replicaSlack {
		t.Fatalf("admitted %d, want %d ± %d", got, replicaLimit, replicaSlack)
	}
	if got != replicaLimit {
		t.Errorf("admitted %d, want exactly %d", got, replicaLimit)
	}
	u, err := stores[0].WindowUsage(t.Context(), key, clk.Now().Truncate(time.Minute))
	if err != nil || u.Requests != replicaLimit {
		t.Errorf("window usage = %+v, %v; want %d requests claimed", u, err, replicaLimit)
	}

	// Tokens recorded on one replica refuse requests on the other.
	lim := ratelimit.Limits{RequestsPerMinute: 1000, TokensPerMinute: 500}
	if d, err := limiters[1].Admit(t.Context(), "tok", lim); err != nil || !d.Allowed {
		t.Fatalf("first token-limited request = %+v, %v", d, err)
	}
	limiters[0].RecordTokens("tok", lim, 600)
	if err := limiters[0].Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(ratelimit.DefaultRefreshInterval)
	d, err := limiters[1].Admit(t.Context(), "tok", lim)
	if err != nil || d.Allowed || d.Tokens.Remaining != 0 {
		t.Errorf("after 600 tokens on the other replica: %+v, %v; want refused", d, err)
	}

	// The next window starts afresh.
	clk.Advance(time.Minute)
	if got := admitConcurrently(t, limiters, key, replicaLimit, 20); got != 20 {
		t.Errorf("next window admitted %d of 20", got)
	}
}
