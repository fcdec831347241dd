package pgtest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logos-llm/logos/store/postgres"
)

// databaseOf returns the database name in connection URL u.
func databaseOf(t *testing.T, u string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(parsed.Path, "/")
}

// exists reports whether database name exists.
func exists(t *testing.T, admin, name string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// tableCount returns the number of tables in the public schema of u.
func tableCount(t *testing.T, u string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDatabasesAreFreshAndDropped(t *testing.T) {
	admin := URL(t)
	var mu sync.Mutex
	var all []string
	t.Run("create", func(t *testing.T) {
		for i := range 3 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel() // creating concurrently shares one template
				empty, migrated := NewDatabase(t), NewMigratedDatabase(t)
				mu.Lock()
				all = append(all, empty, migrated)
				mu.Unlock()
				for _, u := range []string{empty, migrated} {
					if name := databaseOf(t, u); !strings.HasPrefix(name, testPrefix) || !exists(t, admin, name) {
						t.Errorf("database %q is not an existing pgtest database", name)
					}
				}
				if n := tableCount(t, empty); n != 0 {
					t.Errorf("NewDatabase: %d tables, want none", n)
				}
				if n := tableCount(t, migrated); n < 10 {
					t.Errorf("NewMigratedDatabase: %d tables, want the schema", n)
				}
				// Each database is independent of the others.
				conn, err := pgx.Connect(t.Context(), migrated)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(context.Background())
				var n int
				if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM token_types").Scan(&n); err != nil || n != 0 {
					t.Errorf("token types in a fresh database: %d, %v; want 0", n, err)
				}
				if _, err := conn.Exec(t.Context(), "INSERT INTO token_types (name) VALUES ('only-here')"); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
	seen := map[string]bool{}
	for _, u := range all {
		name := databaseOf(t, u)
		if seen[name] {
			t.Errorf("database name %s was handed out twice", name)
		}
		seen[name] = true
		if exists(t, admin, name) {
			t.Errorf("database %s still exists after its test ended", name)
		}
	}
	if len(seen) != 6 {
		t.Errorf("got %d databases, want 6", len(seen))
	}
}

func TestTemplateIsProtected(t *testing.T) {
	admin := URL(t)
	NewMigratedDatabase(t) // ensures the template
	hash, err := migrationsHash()
	if err != nil {
		t.Fatal(err)
	}
	name := templatePrefix + hash
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var allow bool
	var comment string
	err = conn.QueryRow(ctx, "SELECT datallowconn, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", name).Scan(&allow, &comment)
	if err != nil {
		t.Fatalf("template %s: %v", name, err)
	}
	if allow {
		t.Errorf("template %s accepts connections", name)
	}
	if used, ok := parseComment(comment); !ok || time.Since(used) > time.Hour {
		t.Errorf("template comment %q, want a recent last-use time", comment)
	}
}

func TestCollectGarbage(t *testing.T) {
	admin := URL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	// Closed after the databases are dropped (cleanups run last in, first out).
	t.Cleanup(func() { conn.Close(ctx) })
	suffix := randomHex(t)
	stale, fresh, foreign := testPrefix+"gc_stale_"+suffix, testPrefix+"gc_fresh_"+suffix, testPrefix+"gc_foreign_"+suffix
	for name, c := range map[string]string{
		stale:   comment(time.Now().Add(-staleAfter - time.Hour)),
		fresh:   comment(time.Now()),
		foreign: "somebody else's database",
	} {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(name)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)); err != nil {
				t.Error(err)
			}
		})
		if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+ident(name)+" IS "+literal(c)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		t.Fatal(err)
	}
	err = collectGarbage(ctx, conn, "")
	if _, uerr := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", lockKey); uerr != nil {
		t.Error(uerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{stale: false, fresh: true, foreign: true} {
		if got := exists(t, admin, name); got != want {
			t.Errorf("after garbage collection, %s exists = %v, want %v", name, got, want)
		}
	}
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p%40ss@h:5432/postgres?sslmode=disable": "postgres://u:p%40ss@h:5432/x?sslmode=disable",
		"postgresql://h/":                   "postgresql://h/x",
		"host=h user=u dbname=postgres":     "host=h user=u dbname=postgres dbname=x",
		"postgres://h:5432?sslmode=disable": "postgres://h:5432/x?sslmode=disable",
	} {
		got, err := withDatabase(in, "x")
		if err != nil || got != want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", in, got, err, want)
		}
		if cfg, err := pgx.ParseConfig(got); err != nil || cfg.Database != "x" {
			t.Errorf("withDatabase(%q) = %q connects to database %v (%v), want x", in, got, cfg, err)
		}
	}
	if _, err := withDatabase("postgres://u:secret@%zz/db", "x"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("withDatabase of a bad URL: %v, want an error without the password", err)
	}
}

// BenchmarkNewMigratedDatabase measures cloning the migrated template.
func BenchmarkNewMigratedDatabase(b *testing.B) {
	for b.Loop() {
		NewMigratedDatabase(b)
	}
}

// BenchmarkNewDatabaseAndMigrate measures the alternative to a template:
// creating an empty database and migrating it.
func BenchmarkNewDatabaseAndMigrate(b *testing.B) {
	for b.Loop() {
		s, err := postgres.Open(b.Context(), postgres.Config{URL: NewDatabase(b), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
