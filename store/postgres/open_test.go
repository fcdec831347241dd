package postgres_test

import (
	"context"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/logos-llm/logos/db"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
)

// embeddedVersions returns the versions of the embedded migrations. They
// need not be consecutive: branches number their migrations apart.
func embeddedVersions(t *testing.T) []int64 {
	t.Helper()
	names, err := fs.Glob(db.PostgresMigrations(), "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded migrations: %v (%d files)", err, len(names))
	}
	var out []int64
	for _, n := range names {
		v, err := strconv.ParseInt(strings.SplitN(n, "_", 2)[0], 10, 64)
		if err != nil {
			t.Fatalf("migration %s: %v", n, err)
		}
		out = append(out, v)
	}
	return out
}

// schemaVersions returns how often each applied version is recorded in the
// goose version table.
func schemaVersions(t *testing.T, url string) map[int64]int {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT version_id FROM goose_db_version WHERE is_applied AND version_id > 0")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int64]int)
	for _, v := range versions {
		out[v]++
	}
	return out
}

func TestOpenConcurrentlyMigratesOnce(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const openers = 2
	stores := make([]*postgres.Store, openers)
	errs := make([]error, openers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range openers {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.Open(t.Context(), postgres.Config{URL: url, Logger: quietLogger})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	want := embeddedVersions(t)
	versions := schemaVersions(t, url)
	for _, v := range want {
		if versions[v] != 1 {
			t.Errorf("migration %d recorded %d times, want once (all: %v)", v, versions[v], versions)
		}
	}
	if len(versions) != len(want) {
		t.Errorf("applied versions %v, want %v", versions, want)
	}
	for i, s := range stores {
		if ok, err := s.Initialized(t.Context()); err != nil || ok {
			t.Errorf("store %d: Initialized = %v, %v; want false, nil", i, ok, err)
		}
	}
}

func TestOpenAgainIsNoOp(t *testing.T) {
	url := pgtest.NewMigratedDatabase(t)
	for range 2 {
		s, err := postgres.Open(t.Context(), postgres.Config{URL: url, MaxConns: 2, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Error(err)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
	versions := schemaVersions(t, url)
	want := embeddedVersions(t)
	for _, v := range want {
		if versions[v] != 1 {
			t.Errorf("applied versions %v, want %v once each", versions, want)
		}
	}
	if len(versions) != len(want) {
		t.Errorf("applied versions %v, want %v once each", versions, want)
	}
}

func TestOpenSkipMigrations(t *testing.T) {
	url := pgtest.NewDatabase(t)
	s, err := postgres.Open(t.Context(), postgres.Config{URL: url, SkipMigrations: true, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Initialized(t.Context()); err == nil {
		t.Error("Initialized on an unmigrated database succeeded, want an error")
	}
}

func TestOpenRefusesBadConfig(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	for name, cfg := range map[string]postgres.Config{
		"empty URL":         {},
		"negative MaxConns": {URL: url, MaxConns: -1},
		"bad URL":           {URL: "postgres://%zz"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := postgres.Open(ctx, cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
		})
	}
}

func TestOpenUnreachable(t *testing.T) {
	pgtest.URL(t) // only meaningful where PostgreSQL tests run at all
	for _, skip := range []bool{false, true} {
		_, err := postgres.Open(t.Context(), postgres.Config{
			URL:            "postgres://nobody:s3cret-pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=2",
			SkipMigrations: skip,
			Logger:         quietLogger,
		})
		if err == nil {
			t.Fatal("Open succeeded, want an error")
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("error %q contains the password", err)
		}
	}
}
