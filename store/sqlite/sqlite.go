// Package sqlite is the embedded default store of Logos: a store.Store on a
// single SQLite file, using the pure Go driver modernc.org/sqlite.
//
// The database runs in WAL mode. All writes go through one writer connection
// whose transactions begin IMMEDIATE, so writers queue in Go instead of
// failing with SQLITE_BUSY; reads use a separate pool of query-only
// connections and never wait on the writer. The schema is applied from the
// embedded goose migrations when the store is opened.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/logos-llm/logos/db"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

var _ store.Store = (*Store)(nil)

// busyTimeout is how long a connection waits for a lock held by another
// connection (another process or replica on the same file) before failing.
const busyTimeout = 10 * time.Second

// writerCacheKiB is the page cache of the writer connection in KiB, about
// SQLite's default (2,000 KiB), as the readers have.
const writerCacheKiB = 2048

// minReaders is the smallest size of the read pool.
const minReaders = 4

// Config configures Open.
type Config struct {
	// Path is the database file, created if it does not exist, e.g. "logos.db".
	// Required; there is no default. It is a plain file path, not a "file:"
	// URI; in-memory databases (":memory:") are not supported because the
	// writer and the readers use separate connections.
	Path string
	// SkipMigrations skips applying the embedded migrations on Open. Defaults to
	// false: migrations are applied.
	SkipMigrations bool
	// Logger receives the store's log records. Defaults to slog.Default() when nil.
	Logger *slog.Logger
}

// validate reports the first invalid field of c.
func (c Config) validate() error {
	switch {
	case c.Path == "":
		return errors.New("sqlite: Config.Path is required")
	case c.Path == ":memory:" || strings.HasPrefix(c.Path, "file:"):
		return fmt.Errorf("sqlite: Config.Path %q: must be a file path (in-memory databases and URIs are not supported)", c.Path)
	}
	return nil
}

// Store is a store.Store on one SQLite file. It is safe for concurrent use.
type Store struct {
	writer *sql.DB // exactly one connection; every write goes through it
	reader *sql.DB // query-only connections for reads
	w      *sqlitedb.Queries
	r      *sqlitedb.Queries
	log    *slog.Logger

	// prepared holds statements prepared once on the writer connection and
	// reused by every usage batch, so that a batch does not parse its
	// statements again (for the 32-column usage insert that costs as much
	// as a dozen rows).
	prepared preparedStmts
	// tokenTypes caches token type ids by name (string to int64). Token
	// types are never deleted; an id is cached once the transaction that
	// found or created it has committed.
	tokenTypes sync.Map

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the database at cfg.Path, applies the
// embedded migrations unless cfg.SkipMigrations is set, and returns the store.
// Close it when done.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}

	if err := createPrivate(cfg.Path, log); err != nil {
		return nil, err
	}
	writer, err := sql.Open("sqlite", dsn(cfg.Path, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// Connecting runs the DSN pragmas, which switch the file to WAL before any
	// reader connects.
	if err := writer.PingContext(ctx); err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("sqlite: connect to %s: %w", cfg.Path, err)
	}

	if !cfg.SkipMigrations {
		if err := migrate(ctx, writer, log); err != nil {
			_ = writer.Close()
			return nil, err
		}
	}

	readers := max(minReaders, runtime.GOMAXPROCS(0))
	reader, err := sql.Open("sqlite", dsn(cfg.Path, false))
	if err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)
	reader.SetConnMaxLifetime(0)
	reader.SetConnMaxIdleTime(0)
	if err := reader.PingContext(ctx); err != nil {
		_ = reader.Close()
		_ = writer.Close()
		return nil, fmt.Errorf("sqlite: connect reader to %s: %w", cfg.Path, err)
	}

	log.Debug("sqlite store opened", "path", cfg.Path, "readers", readers)
	return &Store{
		writer: writer,
		reader: reader,
		w:      sqlitedb.New(ctxDB{db: writer, writer: writer}),
		r:      sqlitedb.New(ctxDB{db: reader, writer: writer}),
		log:    log,
	}, nil
}

// fileMode is the mode of a database file Open creates. SQLite gives the
// file's -wal and -shm files the database file's mode.
const fileMode = 0o600

// createPrivate creates the database file at path with fileMode (whatever the
// process umask, which can only remove bits) if it does not exist, so that
// the database and its WAL and shared-memory files are readable by the owner
// only. An existing file's mode is left alone (an operator may have chosen
// it); a warning is logged when group or others may read it.
func createPrivate(path string, log *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return fmt.Errorf("sqlite: create %s: %w", path, err)
		}
		return nil
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("sqlite: the database file may be read by other users; consider chmod 600", "path", path, "mode", fi.Mode().Perm().String())
	}
	return nil
}

// dsn returns the data source name of a writer or reader connection to path.
// Pragmas are set per connection through the DSN so that every connection the
// pools open is configured the same way.
func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Statement journals (needed for statement rollback inside a transaction)
	// and temporary tables stay in memory instead of temporary files.
	q.Add("_pragma", "temp_store(MEMORY)")
	if writer {
		q.Add("_pragma", "journal_mode(WAL)")
		// The writer's page cache (in KiB when negative) stays small. Usage
		// inserts append (request ids and times are ordered), so they touch
		// only the right edge of each btree; a bigger cache only holds pages
		// written earlier, and costs twice its size in memory (the driver's
		// allocator gives each 4 KiB page and its header an 8 KiB slot).
		// At 1M records, inserts cost the same CPU with 2 MiB as with 32 MiB,
		// which took 45 MB more memory (BenchmarkInsertUsageLargeDB).
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", writerCacheKiB))
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	// The driver cuts the query off a plain file name at the first '?', so a
	// path containing one is escaped as a file: URI instead.
	if strings.ContainsAny(path, "?#%") {
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}
	return path + "?" + q.Encode()
}

// migrate applies the embedded goose migrations on the writer connection.
func migrate(ctx context.Context, writer *sql.DB, log *slog.Logger) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, writer, db.SQLiteMigrations())
	if err != nil {
		return fmt.Errorf("sqlite: load migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: apply migrations: %w", err)
	}
	for _, r := range results {
		log.Info("sqlite migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Ping reports whether the database can be read.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.r.CountInstances(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes the read pool and the writer connection. It is safe to call
// more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = errors.Join(s.prepared.close(), s.reader.Close(), s.writer.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// writeTx runs fn in one IMMEDIATE transaction on the writer connection and
// commits if fn returns nil.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if tx := txOf(ctx, s.writer); tx != nil {
		return savepoint(ctx, tx, fn) // inside InTx: part of its transaction
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin write transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// readTx runs fn in one read transaction on the read pool, so that everything
// fn reads comes from the same snapshot.
func (s *Store) readTx(ctx context.Context, fn func(q *sqlitedb.Queries) error) error {
	if tx := txOf(ctx, s.writer); tx != nil {
		return fn(s.r.WithTx(tx)) // inside InTx: read its writes
	}
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(s.r.WithTx(tx))
}
