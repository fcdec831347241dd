package logos_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/core"
	"github.com/logos-llm/logos/scheduler/logos"
)

// BenchmarkAcquireRelease is scheduler/fcfs's benchmark of the same name
// on the logos policy behind the production adapter: the per-request cost
// of the scheduler itself, to compare before making logos logosd's
// default.
func BenchmarkAcquireRelease(b *testing.B) {
	newAdapter := func(b *testing.B) *core.Adapter {
		a := core.NewAdapter(logos.New(logos.Config{}), core.AdapterConfig{})
		b.Cleanup(func() { _ = a.Close() })
		return a
	}
	cand := func(capacity int) scheduler.Candidate {
		return scheduler.Candidate{DeploymentID: 1, ModelID: 10, ProviderID: 100, Capacity: capacity}
	}
	b.Run("uncontended", func(b *testing.B) {
		s := newAdapter(b)
		j := scheduler.Job{RequestID: "bench", Priority: scheduler.PriorityNormal, Candidates: []scheduler.Candidate{cand(0)}}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			l, err := s.Acquire(ctx, j)
			if err != nil {
				b.Fatal(err)
			}
			l.Release(scheduler.Outcome{})
		}
	})
	b.Run("contended", func(b *testing.B) {
		// Capacity 4 shared by 64 goroutines (SetParallelism × GOMAXPROCS).
		s := newAdapter(b)
		j := scheduler.Job{RequestID: "bench", Priority: scheduler.PriorityNormal, Candidates: []scheduler.Candidate{cand(4)}}
		ctx := context.Background()
		b.ReportAllocs()
		b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l, err := s.Acquire(ctx, j)
				if err != nil {
					b.Error(err)
					return
				}
				l.Release(scheduler.Outcome{})
			}
		})
	})
}
