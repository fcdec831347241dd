// Package pgtest gives tests fresh PostgreSQL databases.
//
// Tests find the server through the LOGOS_TEST_POSTGRES_URL environment
// variable (for example
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable). When it is
// unset, tests that need PostgreSQL are skipped; when it is set but the server
// cannot be reached, they fail, so that CI notices a missing database.
//
// Every database pgtest creates is dropped by a t.Cleanup. Databases left
// behind by a test binary that was killed are dropped a day later by the first
// pgtest user that notices them.
//
// NewMigratedDatabase clones a template database that holds the migrated
// schema. The template is named after a hash of the embedded migrations
// (logos_tmpl_<hash>), so every test binary of every run with the same
// migrations shares it: it is created once, under an advisory lock, and then
// kept as a cache; it does not accept connections, so nothing changes it. A
// template is dropped once no test has used it for a day (when its migrations
// changed), so at most one template per schema version in use exists.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/logos-llm/logos/db"
	"github.com/logos-llm/logos/store/postgres"
)

// EnvURL names the environment variable that holds the URL of the PostgreSQL
// server tests use. Its database is used for administration only: tests get
// databases of their own.
const EnvURL = "LOGOS_TEST_POSTGRES_URL"

// Prefixes of the databases pgtest creates.
const (
	testPrefix     = "logos_test_"
	templatePrefix = "logos_tmpl_"
	buildSuffix    = "_build"
	// commentPrefix starts the comment of every database pgtest creates; the
	// RFC 3339 time it was created or last used follows.
	commentPrefix = "logos pgtest, last used "
	// staleAfter is how long an unused pgtest database survives. Tests never
	// run this long, so an older test database was left behind by a killed
	// test binary, and an older template belongs to outdated migrations.
	staleAfter = 24 * time.Hour
	// lockKey is the advisory lock (in the administration database) that
	// serialises template creation and garbage collection across processes.
	lockKey int64 = 0x6c6f676f73746d70 // "logostmp"
	// opTimeout bounds each administrative step.
	opTimeout = 2 * time.Minute
)

// reachable remembers the URLs whose server answered once in this process.
var reachable sync.Map

// template remembers the template database this process ensured.
var template struct {
	mu   sync.Mutex
	name string // empty until ensured
}

// URL returns the value of LOGOS_TEST_POSTGRES_URL. It skips t if the variable
// is unset and fails t if the server cannot be reached.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		t.Skip("PostgreSQL tests skipped: set " + EnvURL + ", e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	}
	if _, ok := reachable.Load(u); ok {
		return u
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("pgtest: %s is set but PostgreSQL is unreachable: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("pgtest: %s is set but PostgreSQL does not answer: %v", EnvURL, err)
	}
	reachable.Store(u, true)
	return u
}

// NewDatabase creates a fresh, empty database with a unique name, registers a
// cleanup on t that drops it (closing any connections left open), and returns
// its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	u, err := createDatabase(t, URL(t), "")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// NewMigratedDatabase is NewDatabase with the schema already migrated: it
// clones a shared template database (see the package documentation), which is
// faster than migrating every database.
func NewMigratedDatabase(t testing.TB) string {
	t.Helper()
	admin := URL(t)
	for attempt := 1; ; attempt++ {
		tmpl, err := ensureTemplate(admin)
		if err != nil {
			t.Fatalf("pgtest: migrated template: %v", err)
		}
		u, err := createDatabase(t, admin, tmpl)
		if err == nil {
			return u
		}
		if attempt == 1 && isCode(err, "3D000") {
			// The template is gone: another process dropped it as stale (its
			// clock must be far off). Make it again.
			forgetTemplate(tmpl)
			continue
		}
		t.Fatalf("pgtest: %v", err)
	}
}

// createDatabase creates a uniquely named database, a copy of tmpl if it is
// not empty, registers its cleanup and returns its URL.
func createDatabase(t testing.TB, admin, tmpl string) (string, error) {
	t.Helper()
	name := testPrefix + randomHex(t)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	sql := "CREATE DATABASE " + ident(name)
	if tmpl != "" {
		sql += " TEMPLATE " + ident(tmpl)
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	t.Cleanup(func() { dropDatabase(t, admin, name) })
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+ident(name)+" IS "+literal(comment(time.Now()))); err != nil {
		return "", fmt.Errorf("comment on database %s: %w", name, err)
	}
	return withDatabase(admin, name)
}

// dropDatabase drops name, closing connections that are still open.
func dropDatabase(t testing.TB, admin, name string) {
	t.Helper()
	// t.Context is already cancelled when cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Errorf("pgtest: drop database %s: connect: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		t.Errorf("pgtest: drop database %s: %v", name, err)
	}
}

// ensureTemplate returns the name of the migrated template, creating it if no
// process has yet. It is called once per process (later calls return the
// remembered name); it also refreshes the template's last-use time and drops
// stale pgtest databases.
func ensureTemplate(admin string) (string, error) {
	template.mu.Lock()
	defer template.mu.Unlock()
	if template.name != "" {
		return template.name, nil
	}
	hash, err := migrationsHash()
	if err != nil {
		return "", err
	}
	name := templatePrefix + hash
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	// Closing the connection also releases the advisory lock.
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return "", fmt.Errorf("lock: %w", err)
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look up %s: %w", name, err)
	}
	if !exists {
		if err := buildTemplate(ctx, conn, admin, name); err != nil {
			return "", err
		}
	}
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+ident(name)+" IS "+literal(comment(time.Now()))); err != nil {
		return "", fmt.Errorf("comment on %s: %w", name, err)
	}
	if err := collectGarbage(ctx, conn, name); err != nil {
		return "", err
	}
	template.name = name
	return name, nil
}

// forgetTemplate makes the next ensureTemplate check the template again.
func forgetTemplate(name string) {
	template.mu.Lock()
	defer template.mu.Unlock()
	if template.name == name {
		template.name = ""
	}
}

// buildTemplate creates and migrates the template under a temporary name and
// renames it when it is complete, so a crash never leaves a half-migrated
// template behind. The caller holds the advisory lock.
func buildTemplate(ctx context.Context, conn *pgx.Conn, admin, name string) error {
	build := name + buildSuffix
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(build)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop leftover %s: %w", build, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(build)); err != nil {
		return fmt.Errorf("create %s: %w", build, err)
	}
	u, err := withDatabase(admin, build)
	if err != nil {
		return err
	}
	s, err := postgres.Open(ctx, postgres.Config{URL: u, MaxConns: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("migrate %s: %w", build, err)
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("close %s: %w", build, err)
	}
	for _, sql := range []string{
		"ALTER DATABASE " + ident(build) + " RENAME TO " + ident(name),
		// Nobody may connect, so nobody can change the template or keep it
		// busy while it is cloned.
		"ALTER DATABASE " + ident(name) + " ALLOW_CONNECTIONS false",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("finish %s: %w", name, err)
		}
	}
	return nil
}

// collectGarbage drops pgtest databases other than keep that have not been
// used for staleAfter: test databases of killed test binaries and templates of
// outdated migrations, as well as unfinished templates (their builder held the
// advisory lock, which the caller holds now, so they are abandoned).
func collectGarbage(ctx context.Context, conn *pgx.Conn, keep string) error {
	rows, err := conn.Query(ctx, `
		SELECT datname, COALESCE(shobj_description(oid, 'pg_database'), '')
		FROM pg_database
		WHERE (starts_with(datname, $1) OR starts_with(datname, $2)) AND datname <> $3`,
		testPrefix, templatePrefix, keep)
	if err != nil {
		return fmt.Errorf("list pgtest databases: %w", err)
	}
	type database struct{ name, comment string }
	dbs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (database, error) {
		var d database
		err := row.Scan(&d.name, &d.comment)
		return d, err
	})
	if err != nil {
		return fmt.Errorf("list pgtest databases: %w", err)
	}
	now := time.Now()
	for _, d := range dbs {
		used, ours := parseComment(d.comment)
		switch {
		case strings.HasPrefix(d.name, templatePrefix) && strings.HasSuffix(d.name, buildSuffix):
			// An unfinished template: its builder died.
		case ours && now.Sub(used) > staleAfter:
			// Unused for too long.
		default:
			// In use, or not made by pgtest.
			continue
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(d.name)+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop stale %s: %w", d.name, err)
		}
	}
	return nil
}

// comment returns the comment pgtest puts on its databases.
func comment(used time.Time) string {
	return commentPrefix + used.UTC().Format(time.RFC3339)
}

// parseComment returns the last-use time recorded in a pgtest comment.
func parseComment(c string) (time.Time, bool) {
	rest, found := strings.CutPrefix(c, commentPrefix)
	if !found {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, rest)
	return t, err == nil
}

// migrationsHash returns a short hash of the names and contents of the
// embedded PostgreSQL migrations.
func migrationsHash() (string, error) {
	fsys := db.PostgresMigrations()
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return "", fmt.Errorf("list migrations: %w", err)
	}
	if len(names) == 0 {
		return "", errors.New("no embedded migrations")
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return "", fmt.Errorf("read migration %s: %w", n, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// withDatabase returns connection string u with its database replaced by name.
func withDatabase(u, name string) (string, error) {
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		parsed, err := url.Parse(u)
		if err != nil {
			// Do not echo u: it may hold a password.
			return "", fmt.Errorf("parse %s: %w", EnvURL, errors.Unwrap(err))
		}
		parsed.Path = "/" + name
		parsed.RawPath = ""
		return parsed.String(), nil
	}
	// Keyword/value form: a later keyword overrides an earlier one.
	return u + " dbname=" + name, nil
}

// randomHex returns 16 random hex digits.
func randomHex(t testing.TB) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("pgtest: random name: %v", err)
	}
	return hex.EncodeToString(b[:])
}

// ident quotes a database name.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// literal quotes a string literal.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// isCode reports whether err is a PostgreSQL error with that SQLSTATE.
func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}
