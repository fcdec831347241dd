package postgres_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/logos-llm/logos/db"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
)

// TestMigrationsDownAndUp: the migrations since the first schema can be
// rolled back and applied again on a database holding usage, the usage
// survives the round trip, and deleting a referenced row clears the usage
// record's id both with the foreign keys of the old schema and with the
// triggers that replaced them.
func TestMigrationsDownAndUp(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewMigratedDatabase(t)
	openAt := func() *postgres.Store {
		s, err := postgres.Open(ctx, postgres.Config{URL: url, Logger: quietLogger, SkipMigrations: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := openAt()
	f := newFixture(t, s)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	keep := benchRecord(f, "req-keep", at)
	gone := must(s.CreateModel(ctx, store.Model{Name: "short-lived"}))(t)
	orphan := benchRecord(f, "req-orphan", at.Add(time.Second))
	orphan.ModelID = gone.ID
	if n, err := s.InsertUsage(ctx, []store.UsageRecord{keep, orphan}); err != nil || n != 2 {
		t.Fatalf("InsertUsage = %d, %v", n, err)
	}
	before := must(s.GetUsage(ctx, keep.RequestID))(t)
	s.Close()

	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	conn := stdlib.OpenDB(*cfg)
	defer conn.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, conn, db.PostgresMigrations(), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	latest, err := p.GetDBVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 1); err != nil {
		t.Fatalf("migrating down to 1: %v", err)
	}
	// The first schema's foreign key clears the id of a deleted model.
	if _, err := conn.ExecContext(ctx, "DELETE FROM models WHERE id = $1", gone.ID); err != nil {
		t.Fatalf("deleting a referenced model at version 1: %v", err)
	}
	if id := usageModelID(t, ctx, conn, orphan.RequestID); id.Valid {
		t.Errorf("model id of the orphaned record at version 1 = %d, want NULL", id.Int64)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("migrating up again: %v", err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != latest {
		t.Fatalf("version after the round trip = %d (%v), want %d", v, err, latest)
	}

	s = openAt()
	defer s.Close()
	if diff := cmp.Diff(before, must(s.GetUsage(ctx, keep.RequestID))(t)); diff != "" {
		t.Errorf("usage record after migrating down and up (-before +after):\n%s", diff)
	}
	// And so does the trigger of the current schema, through the store.
	if err := s.DeleteModel(ctx, f.model.ID); err != nil {
		t.Fatal(err)
	}
	if id := usageModelID(t, ctx, conn, keep.RequestID); id.Valid {
		t.Errorf("model id after DeleteModel = %d, want NULL", id.Int64)
	}
}

func usageModelID(t *testing.T, ctx context.Context, conn *sql.DB, requestID string) sql.NullInt64 {
	t.Helper()
	var id sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT model_id FROM usage_records WHERE request_id = $1", requestID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
