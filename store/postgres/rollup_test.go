package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
	"github.com/logos-llm/logos/store/storetest"
)

// TestRollupEqualsRecords: every statistic served from the hourly rollups
// (with the partial hours at the edges from the records) is exactly what the
// queries reading only the records return, floats included, over usage that
// spans two monthly partitions and refers to a deleted model and process.
func TestRollupEqualsRecords(t *testing.T) {
	s := openStore(t)
	from, to := storetest.SeedVariedUsage(t, s)
	storetest.CompareStats(t, s, s, postgres.WithoutRollup(s), from, to)
}

// TestRollupRebuild: rebuilding the rollups from the records (what the
// migration does for existing usage) gives what InsertUsage maintained.
func TestRollupRebuild(t *testing.T) {
	ctx := t.Context()
	s, url := openStoreURL(t)
	from, to := storetest.SeedVariedUsage(t, s)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var before, after string
	if err := conn.QueryRow(ctx, rollupDigest).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT logos_rebuild_usage_rollup('-infinity', 'infinity')`); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, rollupDigest).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Errorf("rollups after a rebuild differ from those InsertUsage kept")
	}
	storetest.CompareStats(t, s, s, postgres.WithoutRollup(s), from, to)
}

// TestUsageRollupEqualsInsert: a bulk load's rollups (UsageRollup, then
// AddUsageRollup) are exactly those InsertUsage keeps for the same records,
// including what InsertUsage cleans: tokens of one type merged, zero counts
// left out, text that is not UTF-8, times below a microsecond.
func TestUsageRollupEqualsInsert(t *testing.T) {
	ctx := t.Context()
	s, url := openStoreURL(t)
	t0 := time.Date(2026, 1, 31, 22, 59, 59, 999_999_500, time.UTC)
	outcomes := []store.Outcome{store.OutcomeSuccess, store.OutcomeError, store.OutcomeSuccess, store.OutcomeCancelled}
	var recs []store.UsageRecord
	for i := range 60 {
		at := t0.Add(time.Duration(i) * 17 * time.Minute)
		r := store.UsageRecord{
			RequestID: fmt.Sprintf("bulk-%d", i), ModelName: []string{"m1", "m2\xff"}[i%2], ProviderName: "p",
			Operation: "chat/completions", ReceivedAt: at, StatusCode: 200, Outcome: outcomes[i%len(outcomes)],
			Priority: 5, LogLevel: store.LogBilling, QueueWait: time.Duration(i) * time.Millisecond,
			ColdStart: i%5 == 0, CostMicros: int64(i) * 10, Currency: []string{"", "EUR"}[i%2],
			Tokens: []store.TokenCount{{Type: "prompt_tokens", Count: int64(i + 1), CostMicros: 3},
				{Type: "prompt_tokens", Count: 2}, {Type: "completion_tokens", Count: int64(i % 3)}},
		}
		if i%3 != 0 {
			r.ForwardedAt = at.Add(time.Millisecond + 300)
		}
		if i%4 != 0 {
			r.CompletedAt = at.Add(time.Second + 700)
		}
		if r.Outcome == store.OutcomeError {
			r.ErrorMessage = "upstream"
		}
		recs = append(recs, r)
	}
	if _, err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var inserted, bulk string
	if err := conn.QueryRow(ctx, rollupDigest).Scan(&inserted); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM usage_rollup; DELETE FROM usage_token_rollup`); err != nil {
		t.Fatal(err)
	}
	u := postgres.NewUsageRollup()
	for _, r := range recs {
		u.Add(r)
	}
	if rows, toks := u.Rows(); rows == 0 || toks == 0 {
		t.Fatalf("Rows() = %d, %d", rows, toks)
	}
	if err := s.AddUsageRollup(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, rollupDigest).Scan(&bulk); err != nil {
		t.Fatal(err)
	}
	if bulk != inserted {
		t.Errorf("the rollups of UsageRollup differ from those InsertUsage kept")
	}
}

// TestUsagePartitions: partitions are created ahead, records of a month
// without one land in the DEFAULT partition and stay readable, and dropping
// old usage removes whole months, their rollups included, so that
// statistics still match the records.
func TestUsagePartitions(t *testing.T) {
	ctx := t.Context()
	s, url := openStoreURL(t)
	from, to := storetest.SeedVariedUsage(t, s) // 2025-03-31 19:00 to 2025-04-03 23:00
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(table string) int64 {
		t.Helper()
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The test database was migrated before 2025's months had partitions.
	if n := count("usage_records_default"); n != 650 {
		t.Fatalf("usage_records_default holds %d records, want 650", n)
	}
	// A month whose records are in the DEFAULT partition is skipped; later
	// ones are created, once.
	may := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	if n, err := s.EnsureUsagePartitions(ctx, from, may); err != nil || n != 1 {
		t.Fatalf("EnsureUsagePartitions = %d, %v; want 1 (May only)", n, err)
	}
	if n, err := s.EnsureUsagePartitions(ctx, from, may); err != nil || n != 0 {
		t.Fatalf("EnsureUsagePartitions again = %d, %v; want 0", n, err)
	}
	if count("usage_records_p202505") != 0 {
		t.Fatal("new partition not empty")
	}
	// Dropping before 2025-04-03 keeps April whole and drops March's
	// records (in the DEFAULT partition) and rollup hours.
	if _, err := s.DropUsageBefore(ctx, to); err != nil {
		t.Fatal(err)
	}
	var march int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM usage_records WHERE received_at < '2025-04-01'`).Scan(&march); err != nil || march != 0 {
		t.Fatalf("%d records of March left (%v)", march, err)
	}
	if n := count("usage_records"); n == 0 {
		t.Fatal("April's records were dropped too")
	}
	storetest.CompareStats(t, s, s, postgres.WithoutRollup(s), from, to)
	// Months with partitions are dropped whole.
	if _, err := s.DropUsageBefore(ctx, may.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('usage_records_p202505') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("partition of May 2025 still exists (%v)", err)
	}
}

// rollupDigest is a digest of every row of both rollups.
const rollupDigest = `SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM (
	SELECT * FROM usage_rollup UNION ALL SELECT false, hour, process_id, profile_id, 0, model_name, provider_name,
		currency, token_type_id::text, false, requests, errors, tokens, cost_micros, 0, 0, 0, hour
	FROM usage_token_rollup) x`

// openStoreURL is openStore that also returns the database's URL.
func openStoreURL(t *testing.T) (*postgres.Store, string) {
	t.Helper()
	url := pgtest.NewMigratedDatabase(t)
	s, err := postgres.Open(t.Context(), postgres.Config{URL: url, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, url
}
