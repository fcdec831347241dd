package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
	"github.com/logos-llm/logos/store/storetest"
)

// quietLogger discards the store's diagnostics.
var quietLogger = slog.New(slog.DiscardHandler)

// openStore returns a store on a fresh migrated database, closed when t ends.
func openStore(t testing.TB) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{URL: pgtest.NewMigratedDatabase(t), Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// open is openStore as the conformance suite wants it.
func open(t testing.TB) store.Store { return openStore(t) }

// TestConformance runs the store conformance suite, each test on a fresh
// migrated database.
func TestPostgresConformance(t *testing.T) { storetest.Run(t, open) }

// BenchmarkUsageWriter measures the batching usage writer (batches of 500)
// on this store and reports records per second.
func BenchmarkUsageWriter(b *testing.B) { storetest.BenchmarkUsageWriter(b, open) }

// BenchmarkInsertUsage measures InsertUsage alone with batches of 500 records,
// as the batching writer sends them, and reports records per second.
func BenchmarkInsertUsage(b *testing.B) {
	s := openStore(b)
	ctx := b.Context()
	f := newFixture(b, s)
	const batchSize = 500
	base := time.Now()
	n := 0
	b.ResetTimer()
	for b.Loop() {
		batch := make([]store.UsageRecord, batchSize)
		for i := range batch {
			batch[i] = benchRecord(f, fmt.Sprintf("bench-%d", n), base.Add(time.Duration(n)*time.Millisecond))
			n++
		}
		if _, err := s.InsertUsage(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// benchRecord returns a realistic BILLING-level record of f's catalogue.
func benchRecord(f fixture, requestID string, at time.Time) store.UsageRecord {
	return store.UsageRecord{
		RequestID:      requestID,
		ProcessID:      f.process.ID,
		ProfileID:      f.profile.ID,
		ModelID:        f.model.ID,
		ProviderID:     f.provider.ID,
		DeploymentID:   f.deployment.ID,
		PolicyID:       f.policy.ID,
		ModelName:      f.model.Name,
		ProviderName:   f.provider.Name,
		Operation:      "chat/completions",
		Stream:         true,
		ReceivedAt:     at,
		ForwardedAt:    at.Add(2 * time.Millisecond),
		FirstTokenAt:   at.Add(80 * time.Millisecond),
		CompletedAt:    at.Add(900 * time.Millisecond),
		StatusCode:     200,
		Outcome:        store.OutcomeSuccess,
		ClientIP:       "10.0.0.7",
		Priority:       5,
		QueueWait:      1500 * time.Microsecond,
		LogLevel:       store.LogBilling,
		Classification: []byte(`{"policy":"default","score":0.82}`),
		Tokens: []store.TokenCount{
			{Type: "prompt_tokens", Count: 812, CostMicros: 406},
			{Type: "completion_tokens", Count: 133, CostMicros: 199},
			{Type: "prompt_cached_tokens", Count: 512, CostMicros: 26},
		},
		CostMicros: 631,
		Currency:   "EUR",
	}
}
