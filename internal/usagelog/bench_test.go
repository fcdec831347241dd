package usagelog_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logos-llm/logos/internal/usagelog"
	"github.com/logos-llm/logos/store"
)

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type nopStore struct{}

func (nopStore) InsertUsage(_ context.Context, recs []store.UsageRecord) (int, error) {
	return len(recs), nil
}

// benchRecord is a BILLING record as a chat completion leaves it.
func benchRecord(i int64) store.UsageRecord {
	now := time.Now()
	return store.UsageRecord{
		RequestID: fmt.Sprintf("01JZ%022d", i), ProcessID: 1, ProfileID: 1, ModelID: 1, ProviderID: 1, DeploymentID: 1,
		ModelName: "gpt-4o-mini", ProviderName: "openai", Operation: "chat/completions",
		ReceivedAt: now, ForwardedAt: now, FirstTokenAt: now, CompletedAt: now,
		StatusCode: 200, Outcome: store.OutcomeSuccess, ClientIP: "127.0.0.1", Priority: 5, LogLevel: store.LogBilling,
		Tokens:     []store.TokenCount{{Type: "input", Count: 12, CostMicros: 2}, {Type: "output", Count: 40, CostMicros: 24}},
		CostMicros: 26, Currency: "USD",
	}
}

// BenchmarkWriterPath measures what recording one request costs on the
// request path: the "started" marker and the record handed to the writer,
// without a log (memory only) and with one. The store is a no-op, so the
// figures are the writer's and the log's own cost (including, with a log,
// reading the batches back and committing them in the background).
func BenchmarkWriterPath(b *testing.B) {
	for _, withLog := range []bool{false, true} {
		name := "memory"
		if withLog {
			name = "log"
		}
		for _, par := range []bool{false, true} {
			n := name
			if par {
				n += "/parallel"
			}
			b.Run(n, func(b *testing.B) {
				cfg := store.UsageWriterConfig{Inserter: nopStore{}}
				var l *usagelog.Log
				if withLog {
					var err error
					if l, err = usagelog.Open(usagelog.Config{Dir: b.TempDir()}); err != nil {
						b.Fatal(err)
					}
					cfg.Log = l
				}
				w, err := store.NewUsageWriter(cfg)
				if err != nil {
					b.Fatal(err)
				}
				var seq atomic.Int64
				one := func() {
					r := benchRecord(seq.Add(1))
					if err := w.Started(&r); err != nil {
						b.Fatal(err)
					}
					if err := w.Write(context.Background(), r); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				cpu0 := cpuTime()
				b.ResetTimer()
				if par {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							one()
						}
					})
				} else {
					for b.Loop() {
						one()
					}
				}
				if err := w.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
				if l != nil {
					_ = l.Close()
				}
			})
		}
	}
}
