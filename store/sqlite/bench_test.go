package sqlite_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

// BenchmarkInsertUsage measures InsertUsage directly with batches of 500
// billing records (two token counts each, no payloads), the size the batching
// writer produces under load.
func BenchmarkInsertUsage(b *testing.B) {
	benchmarkInsertUsage(b, 500, nil)
}

// BenchmarkInsertUsageSmall is BenchmarkInsertUsage with batches of 64, the
// writer's former MinBatch (it is 256 now: per record, 64 cost more).
func BenchmarkInsertUsageSmall(b *testing.B) {
	benchmarkInsertUsage(b, 64, nil)
}

// BenchmarkInsertUsageSingle is BenchmarkInsertUsage with one record per
// call, what the writer stores when requests arrive one at a time.
func BenchmarkInsertUsageSingle(b *testing.B) {
	benchmarkInsertUsage(b, 1, nil)
}

// BenchmarkInsertUsageFull is BenchmarkInsertUsage with FULL-level records
// carrying about 2 KB of payloads and headers each.
func BenchmarkInsertUsageFull(b *testing.B) {
	payload := json.RawMessage(fmt.Sprintf(`{"model":"llama3","messages":[{"role":"user","content":%q}]}`, strings.Repeat("Hello there! ", 80)))
	benchmarkInsertUsage(b, 500, payload)
}

func benchmarkInsertUsage(b *testing.B, batchSize int, payload json.RawMessage) {
	s := openTemp(b)
	c := newCatalog(b, s)
	ctx := b.Context()
	batch := make([]store.UsageRecord, batchSize)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			r := c.record(fmt.Sprintf("bench-%d", n), t0.Add(time.Duration(n)*time.Millisecond))
			if payload != nil {
				r.LogLevel = store.LogFull
				r.RequestPayload, r.ResponsePayload = payload, payload
				r.RequestHeaders = json.RawMessage(`{"Content-Type":["application/json"]}`)
			}
			batch[i] = r
			n++
		}
		got, err := s.InsertUsage(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		if got != batchSize {
			b.Fatalf("InsertUsage stored %d, want %d", got, batchSize)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
