package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

func openInternal(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{Path: filepath.Join(t.TempDir(), "logos.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func pragma(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestConnectionSettings(t *testing.T) {
	s := openInternal(t)
	for _, c := range []struct {
		db   *sql.DB
		name string
		want string
	}{
		{s.writer, "journal_mode", "wal"},
		{s.writer, "foreign_keys", "1"},
		{s.writer, "synchronous", "1"},
		{s.writer, "busy_timeout", "10000"},
		{s.writer, "query_only", "0"},
		{s.writer, "cache_size", fmt.Sprint(-writerCacheKiB)},
		{s.reader, "journal_mode", "wal"},
		{s.reader, "query_only", "1"},
		{s.reader, "busy_timeout", "10000"},
	} {
		if got := pragma(t, c.db, c.name); got != c.want {
			t.Errorf("PRAGMA %s = %q, want %q", c.name, got, c.want)
		}
	}
	if n := s.writer.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer allows %d connections, want 1", n)
	}
	if n := s.reader.Stats().MaxOpenConnections; n < minReaders {
		t.Errorf("reader allows %d connections, want at least %d", n, minReaders)
	}
	if _, err := s.reader.ExecContext(t.Context(), "DELETE FROM users"); err == nil {
		t.Error("a reader connection could write")
	}
}

func TestStoredTimeFormat(t *testing.T) {
	ctx := t.Context()
	s := openInternal(t)
	if _, err := s.Bootstrap(ctx, store.BootstrapParams{AdminUsername: "a", ProcessName: "r", ProfileName: "d", KeyHash: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, store.User{Username: "u"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.CreateProcess(ctx, store.Process{Name: "p", KeyHash: []byte("h"), UserID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 6_999, time.FixedZone("X", -7*3600))
	if err := s.RevokeProcessKey(ctx, p.ID, at); err != nil {
		t.Fatal(err)
	}
	var revoked, created, boot string
	if err := s.reader.QueryRowContext(ctx, "SELECT revoked_at, created_at FROM processes WHERE id = ?", p.ID).Scan(&revoked, &created); err != nil {
		t.Fatal(err)
	}
	if err := s.reader.QueryRowContext(ctx, "SELECT bootstrapped FROM instance").Scan(&boot); err != nil {
		t.Fatal(err)
	}
	if revoked != "2025-01-02T10:04:05.000006Z" {
		t.Errorf("revoked_at stored as %q, want 2025-01-02T10:04:05.000006Z", revoked)
	}
	format := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)
	for _, v := range []string{created, boot} {
		if !format.MatchString(v) {
			t.Errorf("time stored as %q, want the fixed-width format", v)
		}
	}
}

func TestWrapMapsErrors(t *testing.T) {
	ctx := t.Context()
	s := openInternal(t)
	_, err := s.writer.ExecContext(ctx, "INSERT INTO instance (id) VALUES (1)")
	if err != nil {
		t.Fatal(err)
	}
	_, pk := s.writer.ExecContext(ctx, "INSERT INTO instance (id) VALUES (1)")
	_, unique := s.writer.ExecContext(ctx, "INSERT INTO users (username) VALUES ('a'), ('a')")
	_, check := s.writer.ExecContext(ctx, "INSERT INTO users (username, role) VALUES ('b', 'root')")
	_, notNull := s.writer.ExecContext(ctx, "INSERT INTO processes (name, key_hash, user_id) VALUES ('p', NULL, 1)")
	_, fk := s.writer.ExecContext(ctx, "INSERT INTO profiles (name, process_id) VALUES ('p', 42)")
	for _, c := range []struct {
		err  error
		want error
	}{
		{pk, store.ErrConflict},
		{unique, store.ErrConflict},
		{check, store.ErrInvalid},
		{notNull, store.ErrInvalid},
		{fk, store.ErrInvalid},
		{sql.ErrNoRows, store.ErrNotFound},
		{fmt.Errorf("x: %w", store.ErrNotFound), store.ErrNotFound},
	} {
		got := mapErr("op", c.err)
		if !errors.Is(got, c.want) {
			t.Errorf("mapErr(%v) = %v, want %v", c.err, got, c.want)
		}
		if c.err != sql.ErrNoRows && !errors.Is(got, c.err) {
			t.Errorf("mapErr(%v) = %v lost the cause", c.err, got)
		}
	}
	other := errors.New("disk on fire")
	got := mapErr("op", other)
	if !errors.Is(got, other) || errors.Is(got, store.ErrInvalid) || errors.Is(got, store.ErrConflict) || errors.Is(got, store.ErrNotFound) {
		t.Errorf("mapErr(other) = %v", got)
	}
	if mapErr("op", nil) != nil {
		t.Error("mapErr(nil) != nil")
	}
}

func TestDSN(t *testing.T) {
	for path, want := range map[string]string{
		"logos.db":        "logos.db?",
		"/var/lib/a b.db": "/var/lib/a b.db?",
		"/tmp/x?y.db":     "file:/tmp/x%3Fy.db?",
		"rel/50%.db":      "file:rel/50%25.db?",
	} {
		got := dsn(path, false)
		if len(got) < len(want) || got[:len(want)] != want {
			t.Errorf("dsn(%q) = %q, want prefix %q", path, got, want)
		}
	}
}

func TestPositional(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"-- name: Q :exec\nINSERT INTO t (a, b) VALUES (?1, (SELECT id FROM u WHERE id = ?2))",
			"-- name: Q :exec\nINSERT INTO t (a, b) VALUES (?, (SELECT id FROM u WHERE id = ?))"},
		{"SELECT ?1, '?2', \"?3\", ?2 -- ?4\n/* ?5 */", "SELECT ?, '?2', \"?3\", ? -- ?4\n/* ?5 */"},
		{"SELECT 'it''s ?9', ?1", "SELECT 'it''s ?9', ?"},
		{"SELECT 1", "SELECT 1"},
		// Anything else keeps its numbers: reused, out of order, skipped,
		// unnumbered, mixed with named parameters, unterminated quotes.
		{"SELECT ?1, ?1", "SELECT ?1, ?1"},
		{"SELECT ?2, ?1", "SELECT ?2, ?1"},
		{"SELECT ?1, ?3", "SELECT ?1, ?3"},
		{"SELECT ?10", "SELECT ?10"},
		{"SELECT ?, ?", "SELECT ?, ?"},
		{"SELECT ?1, :name", "SELECT ?1, :name"},
		{"SELECT ?1, 'open", "SELECT ?1, 'open"},
		{"SELECT ?1 /* open", "SELECT ?1 /* open"},
	} {
		if got := positional(c.in); got != c.want {
			t.Errorf("positional(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
