package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // the driver the store uses

	"github.com/logos-llm/logos/db"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite"
)

// TestMigrationsDownAndUp: every migration can be rolled back and applied
// again on a database holding usage, and the usage survives the round trip.
func TestMigrationsDownAndUp(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "logos.db")
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	c := newCatalog(t, s)
	rec := c.record("req-migrate", t0)
	if _, err := s.InsertUsage(ctx, []store.UsageRecord{rec}); err != nil {
		t.Fatal(err)
	}
	before := must(s.GetUsage(ctx, rec.RequestID))(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	conn, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p, err := goose.NewProvider(goose.DialectSQLite3, conn, db.SQLiteMigrations())
	if err != nil {
		t.Fatal(err)
	}
	latest, err := p.GetDBVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Back to the first schema, which keeps the usage tables, then up again.
	if _, err := p.DownTo(ctx, 1); err != nil {
		t.Fatalf("migrating down to 1: %v", err)
	}
	var tokens int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM usage_tokens").Scan(&tokens); err != nil || tokens != len(rec.Tokens) {
		t.Fatalf("usage_tokens rows at version 1 = %d (%v), want %d", tokens, err, len(rec.Tokens))
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("migrating up again: %v", err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != latest {
		t.Fatalf("version after the round trip = %d (%v), want %d", v, err, latest)
	}

	s = openAt(t, path)
	after := must(s.GetUsage(ctx, rec.RequestID))(t)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("usage record after migrating down and up (-before +after):\n%s", diff)
	}
}
