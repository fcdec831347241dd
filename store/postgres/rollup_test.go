package postgres_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	const digest = `SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM (
		SELECT * FROM usage_rollup UNION ALL SELECT false, hour, process_id, profile_id, 0, model_name, provider_name,
			currency, token_type_id::text, false, requests, errors, tokens, cost_micros, 0, 0, 0, hour
		FROM usage_token_rollup) x`
	if err := conn.QueryRow(ctx, digest).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT logos_rebuild_usage_rollup('-infinity', 'infinity')`); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, digest).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Errorf("rollups after a rebuild differ from those InsertUsage kept")
	}
	storetest.CompareStats(t, s, s, postgres.WithoutRollup(s), from, to)
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
