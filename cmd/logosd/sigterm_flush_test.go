package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
)

// TestSIGTERMStoresTheUsageBatchInFlight stops logosd while its usage
// insert waits on a lock in PostgreSQL (as a slow database under load
// makes it wait), and the database answers shortly after: every answered
// request has its usage record in the database when logosd has exited, so
// logos-bench, which counts after the exit, finds as many as it sent. The
// stop used to cancel that insert and leave the batch behind.
func TestSIGTERMStoresTheUsageBatchInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds logosd")
	}
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	key := "lg-root-" + strings.Repeat("s", 40)
	up := providertest.NewOpenAI(t, providertest.Options{})
	c := startChild(t, []string{"--database-url", dbURL, "--usage-log", filepath.Join(t.TempDir(), "usage-log"), "--shutdown-timeout", "30s"}, "LOGOS_ROOT_KEY="+key)
	st, err := postgres.Open(ctx, postgres.Config{URL: dbURL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seedStore(t, st, up)
	waitModel(t, c.url, key)

	// The lock holds every insert into usage_records until it is released.
	locker, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "LOCK TABLE usage_records IN SHARE MODE"); err != nil {
		t.Fatal(err)
	}

	var ids []string
	for range 20 {
		req, _ := http.NewRequest("POST", c.url+"/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		ids = append(ids, resp.Header.Get("X-Logos-Request-ID"))
	}

	// Wait until logosd's insert waits on the lock.
	watcher, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := watcher.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no usage insert waits on the lock:\n%s", c.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("logosd did not stop:\n%s", c.stderr.String())
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("logosd exited with %d:\n%s", code, c.stderr.String())
	}

	recs, err := st.ListUsage(ctx, store.UsageFilter{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	have := make(map[string]bool, len(recs))
	for _, r := range recs {
		have[r.RequestID] = true
	}
	missing := 0
	for _, id := range ids {
		if !have[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d answered requests have no usage record after logosd exited:\n%s", missing, len(ids), c.stderr.String())
	}
}
