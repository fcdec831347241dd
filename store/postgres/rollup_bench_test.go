package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

// BenchmarkUsageRollup sums 100,000 records of 40 processes and 10 models
// over two months into rollup rows and builds the upserts' parameters:
// what logos-bench fill does per record and at the end.
func BenchmarkUsageRollup(b *testing.B) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	recs := make([]store.UsageRecord, 100_000)
	for i := range recs {
		at := t0.Add(time.Duration(i) * 52 * time.Second)
		recs[i] = store.UsageRecord{
			RequestID: fmt.Sprint(i), ProcessID: int64(i%40 + 1), ModelName: fmt.Sprintf("model-%d", i%10),
			ProviderName: "provider", Outcome: store.OutcomeSuccess, ReceivedAt: at, ForwardedAt: at, CompletedAt: at.Add(time.Second),
			CostMicros: 10, Currency: "EUR", LogLevel: store.LogBilling,
			Tokens: []store.TokenCount{{Type: "prompt_tokens", Count: 100}, {Type: "completion_tokens", Count: 20}},
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		u := NewUsageRollup()
		for _, r := range recs {
			u.Add(r)
		}
		rp, tp := u.set.params()
		if len(rp.Hours) == 0 || len(tp.Hours) == 0 {
			b.Fatal("no rows")
		}
	}
}
