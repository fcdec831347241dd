package fcfs_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/fcfs"
)

func BenchmarkAcquireRelease(b *testing.B) {
	b.Run("uncontended", func(b *testing.B) {
		s := newScheduler(b, fcfs.Config{})
		j := job("bench", scheduler.PriorityNormal, 0, cand(1, 0))
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
		s := newScheduler(b, fcfs.Config{})
		j := job("bench", scheduler.PriorityNormal, 0, cand(1, 4))
		ctx := context.Background()
		b.ReportAllocs()
		b.SetParallelism(max(1, 64/runtimeProcs()))
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

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
