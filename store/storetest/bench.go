package storetest

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

// BenchmarkUsageWriter measures how fast the store returned by open takes
// usage records through a [store.UsageWriter] with batches of 500: a few
// goroutines write b.N realistic BILLING-level records (unique request ids,
// three token types each, no payloads), the writer is flushed, and the store
// must then hold exactly b.N records. It reports records/s.
//
// open is called once per benchmark run and must return a fresh, empty,
// migrated store, as for [Run].
func BenchmarkUsageWriter(b *testing.B, open func(t testing.TB) store.Store) {
	s := open(b)
	ctx := b.Context()
	f := newFixture(b, s)
	w, err := store.NewUsageWriter(store.UsageWriterConfig{Inserter: s, BatchSize: 500})
	if err != nil {
		b.Fatalf("NewUsageWriter: %v", err)
	}
	// Cleanups run last in, first out: the writer stops before the store closes.
	b.Cleanup(func() { _ = w.Close(ctx) })

	var seq atomic.Int64
	base := time.Now().UTC()
	b.SetParallelism(2) // 2×GOMAXPROCS writers, as concurrent requests would be
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			if err := w.Write(ctx, benchRecord(f, n, base)); err != nil {
				b.Errorf("Write: %v", err)
				return
			}
		}
	})
	if err := w.Flush(ctx); err != nil {
		b.Fatalf("Flush: %v", err)
	}
	b.StopTimer()

	if err := w.Close(ctx); err != nil {
		b.Fatalf("Close: %v", err)
	}
	n, err := s.CountUsage(ctx, store.UsageFilter{})
	if err != nil {
		b.Fatalf("CountUsage: %v", err)
	}
	if n != int64(b.N) {
		b.Fatalf("CountUsage = %d after writing and flushing %d records", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// benchClassification is a typical classification summary.
var benchClassification = json.RawMessage(`{"policy":"fx-policy","privacy":"LOCAL","candidates":2}`)

// benchRecord returns the n-th record of the benchmark: a realistic
// BILLING-level record of a streamed chat completion in f's catalogue.
func benchRecord(f fixture, n int64, base time.Time) store.UsageRecord {
	received := base.Add(time.Duration(n) * time.Millisecond)
	prompt, completion := 200+n%1000, 50+n%300
	return store.UsageRecord{
		RequestID:      fmt.Sprintf("bench-%016x", n),
		ProcessID:      f.Process.ID,
		ProfileID:      f.Profile.ID,
		ModelID:        f.Model.ID,
		ProviderID:     f.Provider.ID,
		DeploymentID:   f.Deployment.ID,
		PolicyID:       f.Policy.ID,
		ModelName:      f.Model.Name,
		ProviderName:   f.Provider.Name,
		Operation:      "chat/completions",
		Stream:         true,
		ReceivedAt:     received,
		ForwardedAt:    received.Add(3 * time.Millisecond),
		FirstTokenAt:   received.Add(180 * time.Millisecond),
		CompletedAt:    received.Add(2 * time.Second),
		StatusCode:     200,
		Outcome:        store.OutcomeSuccess,
		ClientIP:       "10.1.2.3",
		Priority:       5,
		QueueWait:      2500 * time.Microsecond,
		LogLevel:       store.LogBilling,
		Classification: benchClassification,
		Tokens: []store.TokenCount{
			{Type: "prompt_tokens", Count: prompt, CostMicros: prompt * 3},
			{Type: "completion_tokens", Count: completion, CostMicros: completion * 15},
			{Type: "prompt_cached_tokens", Count: prompt / 2, CostMicros: prompt / 2},
		},
		CostMicros: prompt*3 + completion*15 + prompt/2,
		Currency:   "EUR",
	}
}
