package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos/pipeline/jobs"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
	"github.com/logos-llm/logos/store/sqlite"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// queueStore is what the tests need of a store.
type queueStore interface {
	store.Store
	store.JobQueue
}

// stores runs fn against a fresh SQLite store and, when
// LOGOS_TEST_POSTGRES_URL is set, a fresh PostgreSQL one.
func stores(t *testing.T, fn func(t *testing.T, s queueStore, processID int64)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "logos.db"), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		fn(t, s, newProcess(t, s))
	})
	t.Run("postgres", func(t *testing.T) {
		u := pgtest.NewMigratedDatabase(t)
		s, err := postgres.Open(t.Context(), postgres.Config{URL: u, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		fn(t, s, newProcess(t, s))
	})
}

func newProcess(t *testing.T, s store.Store) int64 {
	t.Helper()
	res, err := s.Bootstrap(t.Context(), store.BootstrapParams{AdminUsername: "admin", ProcessName: "root", ProfileName: "root", KeyHash: []byte("hash"), KeyPrefix: "lg-"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Process.ID
}

func submit(t *testing.T, s store.JobQueue, processID int64, n int) []store.Job {
	t.Helper()
	out := make([]store.Job, n)
	for i := range out {
		j, err := s.CreateJob(t.Context(), store.Job{ProcessID: processID, RequestPayload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = j
	}
	return out
}

// waitFor polls until every job has left pending and running, or fails t.
func waitFor(t *testing.T, s store.JobQueue, ids []int64, done func(store.Job) bool) []store.Job {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := make([]store.Job, 0, len(ids))
		all := true
		for _, id := range ids {
			j, err := s.GetJob(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if !done(j) {
				all = false
			}
			out = append(out, j)
		}
		if all {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not done in time: %+v", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func finished(j store.Job) bool { return j.Status.Finished() }

func ids(js []store.Job) []int64 {
	out := make([]int64, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}

func newRunner(t *testing.T, cfg jobs.Config) *jobs.Runner {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	r, err := jobs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func TestRunnerRunsEveryJobOnce(t *testing.T) {
	stores(t, func(t *testing.T, s queueStore, pid int64) {
		js := submit(t, s, pid, 30)
		var mu sync.Mutex
		runs := map[int64]int{}
		var inFlight, peak atomic.Int64
		exec := func(ctx context.Context, j store.Job, reached jobs.Reached) jobs.Outcome {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			reqID := fmt.Sprintf("req-%d", j.ID)
			if err := reached(ctx, reqID); err != nil {
				t.Errorf("reached: %v", err)
			}
			mu.Lock()
			runs[j.ID]++
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
			if j.ID%5 == 0 {
				return jobs.Outcome{StatusCode: 500, Body: []byte(`{"error":{"message":"boom","type":"api_error"}}`), RequestID: reqID}
			}
			return jobs.Outcome{StatusCode: 200, Body: []byte(`{"ok":true}`), RequestID: reqID}
		}
		// Two runners, as two replicas.
		newRunner(t, jobs.Config{Queue: s, Exec: exec, MaxInFlight: 3, Owner: "a"})
		newRunner(t, jobs.Config{Queue: s, Exec: exec, MaxInFlight: 3, Owner: "b"})
		got := waitFor(t, s, ids(js), finished)
		for _, j := range got {
			if runs[j.ID] != 1 {
				t.Errorf("job %d ran %d times", j.ID, runs[j.ID])
			}
			if j.RequestID != fmt.Sprintf("req-%d", j.ID) || j.ReachedUpstreamAt.IsZero() {
				t.Errorf("job %d: request id %q, reached %v", j.ID, j.RequestID, j.ReachedUpstreamAt)
			}
			switch {
			case j.ID%5 == 0:
				if j.Status != store.JobFailed || j.StatusCode != 500 || j.ErrorMessage != "boom" {
					t.Errorf("job %d = %s %d %q, want failed 500 boom", j.ID, j.Status, j.StatusCode, j.ErrorMessage)
				}
			default:
				if j.Status != store.JobSucceeded || j.StatusCode != 200 || string(j.ResultPayload) != `{"ok": true}` && string(j.ResultPayload) != `{"ok":true}` {
					t.Errorf("job %d = %s %d %s", j.ID, j.Status, j.StatusCode, j.ResultPayload)
				}
			}
		}
		if p := peak.Load(); p > 6 {
			t.Errorf("peak in flight %d, want at most 6 (two runners of 3)", p)
		}
	})
}

func TestRunnerBoundsInFlight(t *testing.T) {
	stores(t, func(t *testing.T, s queueStore, pid int64) {
		js := submit(t, s, pid, 6)
		release := make(chan struct{})
		var inFlight, peak atomic.Int64
		r := newRunner(t, jobs.Config{Queue: s, MaxInFlight: 2, Exec: func(ctx context.Context, j store.Job, reached jobs.Reached) jobs.Outcome {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-release
			return jobs.Outcome{StatusCode: 200, Body: []byte(`{}`)}
		}})
		deadline := time.Now().Add(10 * time.Second)
		for r.InFlight() < 2 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // a third claim would happen now
		running, _ := s.ListJobs(t.Context(), store.JobFilter{Status: store.JobRunning})
		if len(running) != 2 || r.InFlight() != 2 {
			t.Errorf("%d jobs running, %d in flight, want 2", len(running), r.InFlight())
		}
		close(release)
		waitFor(t, s, ids(js), finished)
		if peak.Load() != 2 {
			t.Errorf("peak in flight %d, want 2", peak.Load())
		}
	})
}

// TestRunnerRecovers runs jobs a dead replica left behind: one that had not
// reached the upstream is run, one that had is failed and never run again.
func TestRunnerRecovers(t *testing.T) {
	stores(t, func(t *testing.T, s queueStore, pid int64) {
		js := submit(t, s, pid, 2)
		ctx := t.Context()
		notSent, err := s.ClaimJob(ctx, "dead", 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		sent, err := s.ClaimJob(ctx, "dead", 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.MarkJobUpstream(ctx, sent.ID, "dead", "req-dead"); err != nil {
			t.Fatal(err)
		}
		var runs sync.Map
		newRunner(t, jobs.Config{Queue: s, Lease: time.Second, Exec: func(ctx context.Context, j store.Job, reached jobs.Reached) jobs.Outcome {
			n, _ := runs.LoadOrStore(j.ID, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
			if err := reached(ctx, "req-new"); err != nil {
				return jobs.Outcome{StatusCode: 503}
			}
			return jobs.Outcome{StatusCode: 200, Body: []byte(`{"ok":1}`), RequestID: "req-new"}
		}})
		got := waitFor(t, s, ids(js), finished)
		if got[0].Status != store.JobSucceeded || got[0].Attempts != 2 || got[0].RequestID != "req-new" {
			t.Errorf("job that had not reached the upstream = %+v, want succeeded on attempt 2", got[0])
		}
		if got[1].Status != store.JobFailed || got[1].StatusCode != 500 || got[1].ErrorMessage != jobs.AbandonedMessage || got[1].RequestID != "req-dead" {
			t.Errorf("job that had reached the upstream = %+v, want failed with AbandonedMessage", got[1])
		}
		if _, ran := runs.Load(sent.ID); ran {
			t.Error("a job that had reached the upstream ran again")
		}
		if n, _ := runs.Load(notSent.ID); n == nil || n.(*atomic.Int32).Load() != 1 {
			t.Error("the job that had not reached the upstream did not run exactly once")
		}
	})
}

// TestRunnerCancel cancels running jobs: through the store only (another
// replica answered DELETE), noticed at lease renewal, and locally.
func TestRunnerCancel(t *testing.T) {
	stores(t, func(t *testing.T, s queueStore, pid int64) {
		js := submit(t, s, pid, 2)
		started := make(chan int64, 2)
		var ctxErrs atomic.Int32
		r := newRunner(t, jobs.Config{Queue: s, Lease: time.Second, Exec: func(ctx context.Context, j store.Job, reached jobs.Reached) jobs.Outcome {
			if err := reached(ctx, "r"); err != nil {
				return jobs.Outcome{StatusCode: 499}
			}
			started <- j.ID
			<-ctx.Done()
			ctxErrs.Add(1)
			return jobs.Outcome{StatusCode: 499, Body: []byte(`{"error":{"message":"Client closed the request"}}`)}
		}})
		a, b := <-started, <-started
		if _, err := s.CancelJob(t.Context(), a, "cancelled by the client"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CancelJob(t.Context(), b, "cancelled by the client"); err != nil {
			t.Fatal(err)
		}
		if !r.Cancel(b) {
			t.Error("Cancel of a running job reported false")
		}
		got := waitFor(t, s, ids(js), finished)
		deadline := time.Now().Add(5 * time.Second)
		for r.InFlight() > 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if r.InFlight() != 0 || ctxErrs.Load() != 2 {
			t.Errorf("in flight %d, cancelled contexts %d; want 0 and 2", r.InFlight(), ctxErrs.Load())
		}
		for _, j := range got {
			if j.Status != store.JobCancelled {
				t.Errorf("job %d is %s, want cancelled", j.ID, j.Status)
			}
		}
		if r.Cancel(a) {
			t.Error("Cancel of a job no longer running reported true")
		}
	})
}

// TestRunnerClose interrupts running jobs: one not yet sent goes back to
// pending, one sent is failed.
func TestRunnerClose(t *testing.T) {
	stores(t, func(t *testing.T, s queueStore, pid int64) {
		js := submit(t, s, pid, 2)
		started := make(chan struct{}, 2)
		r, err := jobs.New(jobs.Config{Queue: s, Logger: quiet, PollInterval: 10 * time.Millisecond, Exec: func(ctx context.Context, j store.Job, reached jobs.Reached) jobs.Outcome {
			if j.ID == js[1].ID {
				if err := reached(ctx, "sent"); err != nil {
					t.Errorf("reached: %v", err)
				}
			}
			started <- struct{}{}
			<-ctx.Done()
			return jobs.Outcome{StatusCode: 499}
		}})
		if err != nil {
			t.Fatal(err)
		}
		<-started
		<-started
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := r.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want a deadline error", err)
		}
		if r.InFlight() != 0 {
			t.Errorf("%d jobs in flight after Close", r.InFlight())
		}
		a, _ := s.GetJob(t.Context(), js[0].ID)
		b, _ := s.GetJob(t.Context(), js[1].ID)
		if a.Status != store.JobPending || a.LeaseOwner != "" {
			t.Errorf("unsent job after Close = %+v, want pending", a)
		}
		if b.Status != store.JobFailed || b.ErrorMessage != jobs.ShutdownMessage {
			t.Errorf("sent job after Close = %+v, want failed with ShutdownMessage", b)
		}
	})
}

func TestRunnerRetention(t *testing.T) {
	stores(t, func(t *testing.T, s queueStore, pid int64) {
		js := submit(t, s, pid, 3)
		var now atomic.Pointer[time.Time]
		t0 := time.Now()
		now.Store(&t0)
		r := newRunner(t, jobs.Config{Queue: s, Retention: time.Hour, Now: func() time.Time { return *now.Load() },
			Exec: func(ctx context.Context, j store.Job, reached jobs.Reached) jobs.Outcome {
				return jobs.Outcome{StatusCode: 200, Body: []byte(`{}`)}
			}})
		waitFor(t, s, ids(js), finished)
		if n, err := r.DeleteExpired(t.Context()); err != nil || n != 0 {
			t.Errorf("DeleteExpired within retention = %d, %v; want 0", n, err)
		}
		later := t0.Add(time.Hour + time.Minute)
		now.Store(&later)
		if n, err := r.DeleteExpired(t.Context()); err != nil || n != 3 {
			t.Errorf("DeleteExpired after retention = %d, %v; want 3", n, err)
		}
		for _, j := range js {
			if _, err := s.GetJob(t.Context(), j.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetJob of expired job %d: %v, want ErrNotFound", j.ID, err)
			}
		}
	})
}
