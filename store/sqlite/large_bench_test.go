//go:build linux

package sqlite

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

// BenchmarkInsertUsageLargeDB measures usage inserts (batches of 500 billing
// records with ordered request ids, as logosd makes them) into a database
// that already holds many records, with the writer's page cache at the
// default size and at larger ones. It reports the process's CPU time per
// record and its peak RSS, since a page cache is paid for in memory.
//
// It is opt-in, because filling the database takes about a minute:
// LOGOS_BENCH_LARGE_DB names a database file, filled with
// LOGOS_BENCH_LARGE_N records (default 1,000,000) when it does not exist and
// reused otherwise; each run works on a copy. Run one cache size per process
// so that the peak RSS is its own:
//
//	LOGOS_BENCH_LARGE_DB=/tmp/large.db go test -run '^$' -bench 'LargeDB/cache=2048KiB' -benchtime 200x ./store/sqlite/
func BenchmarkInsertUsageLargeDB(b *testing.B) {
	src := os.Getenv("LOGOS_BENCH_LARGE_DB")
	if src == "" {
		b.Skip("set LOGOS_BENCH_LARGE_DB to a database file to run")
	}
	n := 1_000_000
	if v := os.Getenv("LOGOS_BENCH_LARGE_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("LOGOS_BENCH_LARGE_N: %v", err)
		}
	}
	if _, err := os.Stat(src); err != nil {
		fillLarge(b, src, n)
	}
	for _, kib := range []int{writerCacheKiB, 8192, 32768} {
		b.Run(fmt.Sprintf("cache=%dKiB", kib), func(b *testing.B) {
			s := openCopy(b, src)
			if _, err := s.writer.ExecContext(b.Context(), fmt.Sprintf("PRAGMA cache_size=-%d", kib)); err != nil {
				b.Fatal(err)
			}
			rec := largeRecords(b, s)
			batch := make([]store.UsageRecord, 500)
			i := n
			cpu0 := cpuTime(b)
			for b.Loop() {
				for j := range batch {
					batch[j] = rec(i)
					i++
				}
				if _, err := s.InsertUsage(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(i-n), "cpu-ns/record")
			var ru syscall.Rusage
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB") // Linux reports KiB
		})
	}
}

// fillLarge creates the database at path with n usage records.
func fillLarge(b *testing.B, path string, n int) {
	ctx := b.Context()
	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	u := made(s.CreateUser(ctx, store.User{Username: "u", Role: store.RoleUser}))(b)
	p := made(s.CreateProcess(ctx, store.Process{Name: "p", KeyHash: []byte("hash-p"), UserID: u.ID}))(b)
	made(s.CreateProfile(ctx, store.Profile{Name: "default", ProcessID: p.ID}))(b)
	pr := made(s.CreateProvider(ctx, store.Provider{Name: "ollama", Kind: store.KindOllama, BaseURL: "http://localhost:11434"}))(b)
	m := made(s.CreateModel(ctx, store.Model{Name: "llama3"}))(b)
	made(s.CreateDeployment(ctx, store.Deployment{ModelID: m.ID, ProviderID: pr.ID}))(b)
	rec := largeRecords(b, s)
	batch := make([]store.UsageRecord, 500)
	for i := 0; i < n; i += len(batch) {
		for j := range batch {
			batch[j] = rec(i + j)
		}
		if _, err := s.InsertUsage(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// openCopy opens a copy of the database at src.
func openCopy(b *testing.B, src string) *Store {
	dst := filepath.Join(b.TempDir(), "logos.db")
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	s, err := Open(b.Context(), Config{Path: dst})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// largeRecords returns a function making the i-th record of the catalog in
// s: request ids and times ordered by i, like logosd's.
func largeRecords(b *testing.B, s *Store) func(i int) store.UsageRecord {
	var process, profile, model, provider, deployment int64
	err := s.writer.QueryRowContext(b.Context(), `SELECT (SELECT id FROM processes), (SELECT id FROM profiles),
		(SELECT id FROM models), (SELECT id FROM providers), (SELECT id FROM deployments)`).
		Scan(&process, &profile, &model, &provider, &deployment)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)
	return func(i int) store.UsageRecord {
		return store.UsageRecord{
			RequestID: fmt.Sprintf("%012x%020d", i, i), ProcessID: process, ProfileID: profile,
			ModelID: model, ProviderID: provider, DeploymentID: deployment,
			ModelName: "llama3", ProviderName: "ollama", Operation: "chat/completions",
			ReceivedAt: t0.Add(time.Duration(i) * time.Millisecond), StatusCode: 200,
			Outcome: store.OutcomeSuccess, LogLevel: store.LogBilling, Priority: 5,
			Tokens: []store.TokenCount{
				{Type: "prompt_tokens", Count: 15, CostMicros: 30},
				{Type: "completion_tokens", Count: 10, CostMicros: 40},
			},
			CostMicros: 70, Currency: "EUR",
		}
	}
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// made returns a function that fails b if err is not nil and returns v
// otherwise: made(s.CreateUser(ctx, u))(b).
func made[T any](v T, err error) func(*testing.B) T {
	return func(b *testing.B) T {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
}
