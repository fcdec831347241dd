package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
)

// Shape of the data BenchmarkUsageStats1M seeds.
const (
	benchRecords   = 1_000_000
	benchProcesses = 20
	benchModels    = 10
	benchProviders = 3
	benchDays      = 60
)

// BenchmarkUsageStats1M seeds 1,000,000 usage records (2,000,000 token
// counts) spread evenly over 60 days, 20 processes, 10 models and 3
// providers, then times UsageTotals over the last 30 days (half the records):
// totals by model, a daily time series by process, and one process's totals.
// Seeding is done by INSERT ... SELECT FROM generate_series and is not timed;
// each record's total_tokens is the sum of its two token counts (both derived
// from the g of its request id "bench-<g>"), as InsertUsage would store it.
func BenchmarkUsageStats1M(b *testing.B) {
	url := pgtest.NewMigratedDatabase(b)
	s, err := postgres.Open(b.Context(), postgres.Config{URL: url, Logger: quietLogger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	ctx := b.Context()

	u := must(s.CreateUser(ctx, store.User{Username: "bench", Role: store.RoleUser}))(b)
	var processIDs, profileIDs, modelIDs, providerIDs []int64
	var modelNames, providerNames []string
	for i := range benchProcesses {
		p := must(s.CreateProcess(ctx, store.Process{Name: fmt.Sprintf("bench-p%02d", i), KeyHash: hash(fmt.Sprint("bench", i)), UserID: u.ID}))(b)
		pr := must(s.CreateProfile(ctx, store.Profile{Name: "default", ProcessID: p.ID}))(b)
		processIDs, profileIDs = append(processIDs, p.ID), append(profileIDs, pr.ID)
	}
	for i := range benchModels {
		m := must(s.CreateModel(ctx, store.Model{Name: fmt.Sprintf("bench-model-%d", i)}))(b)
		modelIDs, modelNames = append(modelIDs, m.ID), append(modelNames, m.Name)
	}
	for i := range benchProviders {
		p := must(s.CreateProvider(ctx, store.Provider{Name: fmt.Sprintf("bench-provider-%d", i), Kind: store.KindOpenAI}))(b)
		providerIDs, providerNames = append(providerIDs, p.ID), append(providerNames, p.Name)
	}
	for _, tt := range []string{"prompt_tokens", "completion_tokens"} {
		must(s.EnsureTokenType(ctx, tt))(b)
	}

	end := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	start := end.AddDate(0, 0, -benchDays)
	step := time.Duration(benchDays) * 24 * time.Hour / benchRecords

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	seedStart := time.Now()
	if _, err := conn.Exec(ctx, `SELECT logos_ensure_usage_partitions($1, $2)`, start, end); err != nil {
		b.Fatalf("partitions: %v", err)
	}
	if _, err := conn.Exec(ctx, `
		INSERT INTO usage_records (request_id, process_id, profile_id, model_id, provider_id,
			model_name, provider_name, operation, received_at, forwarded_at, completed_at,
			status_code, outcome, queue_wait_us, cold_start, cost_micros, currency, total_tokens)
		SELECT 'bench-' || g,
			($1::bigint[])[1 + g % $7], ($2::bigint[])[1 + g % $7],
			($3::bigint[])[1 + g % $8], ($4::bigint[])[1 + g % $9],
			($5::text[])[1 + g % $8], ($6::text[])[1 + g % $9],
			'chat/completions', t, t + interval '20 ms', t + interval '800 ms',
			CASE WHEN g % 50 = 0 THEN 502 ELSE 200 END,
			CASE WHEN g % 50 = 0 THEN 'error' ELSE 'success' END,
			g % 1000, g % 97 = 0, 100 + g % 900, 'EUR',
			(200 + g % 800) + (50 + g % 300)
		FROM generate_series(1, $10::bigint) AS g,
			LATERAL (SELECT $11::timestamptz + g * $12::bigint * interval '1 microsecond' AS t) AS ts`,
		processIDs, profileIDs, modelIDs, providerIDs, modelNames, providerNames,
		benchProcesses, benchModels, benchProviders, benchRecords, start, step.Microseconds()); err != nil {
		b.Fatalf("seed records: %v", err)
	}
	if _, err := conn.Exec(ctx, `
		INSERT INTO usage_tokens (usage_id, token_type_id, count, cost_micros, received_at)
		SELECT r.id, tt.id, CASE tt.name WHEN 'prompt_tokens' THEN 200 + g % 800 ELSE 50 + g % 300 END, 0, r.received_at
		FROM usage_records r CROSS JOIN token_types tt,
			LATERAL (SELECT substr(r.request_id, 7)::bigint AS g) AS n`); err != nil {
		b.Fatalf("seed tokens: %v", err)
	}
	// Records inserted by SQL bypass InsertUsage, which keeps the rollups.
	if _, err := conn.Exec(ctx, `SELECT logos_rebuild_usage_rollup('-infinity', 'infinity')`); err != nil {
		b.Fatalf("rollup: %v", err)
	}
	// What autovacuum would have done by the time anyone asks.
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE usage_records, usage_tokens, usage_rollup, usage_token_rollup`); err != nil {
		b.Fatalf("vacuum: %v", err)
	}
	b.Logf("seeded %d records and %d token counts in %v", benchRecords, 2*benchRecords, time.Since(seedStart).Round(time.Millisecond))

	month := store.UsageQuery{From: end.AddDate(0, 0, -30), To: end}
	cases := []struct {
		name    string
		q       store.UsageQuery
		buckets int
	}{
		{"TotalsByModel30d", with(month, func(q *store.UsageQuery) { q.GroupBy = []store.Dimension{store.DimModel} }), benchModels},
		{"DailyByProcess30d", with(month, func(q *store.UsageQuery) {
			q.GroupBy, q.Interval = []store.Dimension{store.DimProcess}, store.IntervalDay
		}), 30 * benchProcesses},
		{"OneProcess30d", with(month, func(q *store.UsageQuery) { q.ProcessID = processIDs[3] }), 1},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				got, err := s.UsageTotals(ctx, c.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != c.buckets {
					b.Fatalf("%d buckets, want %d", len(got), c.buckets)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		})
	}
}

// with returns a copy of q changed by fn.
func with(q store.UsageQuery, fn func(*store.UsageQuery)) store.UsageQuery {
	q.GroupBy = append([]store.Dimension(nil), q.GroupBy...)
	fn(&q)
	return q
}
