// Package postgres is the PostgreSQL implementation of [store.Store].
//
// All SQL lives in db/queries/postgres and is called through the sqlc-generated
// package internal/pgdb; this package converts rows to domain records and
// database errors to the sentinel errors of package store. Open applies the
// embedded goose migrations (db.PostgresMigrations) under a PostgreSQL advisory
// lock, so replicas that start at the same time against one database migrate it
// exactly once.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/logos-llm/logos/db"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres/internal/pgdb"
)

// Config configures Open.
type Config struct {
	// URL is the connection string, as a URL
	// ("postgres://user@host:5432/logos?sslmode=disable") or in keyword/value
	// form ("host=... dbname=..."). Required; there is no default.
	URL string
	// SkipMigrations disables applying the embedded migrations in Open.
	// Defaults to false: Open migrates the database to the newest version.
	SkipMigrations bool
	// MaxConns is the largest number of pooled connections. Defaults to 0,
	// which keeps the pool's default (pgxpool: the larger of 4 and the number
	// of CPUs, or pool_max_conns from URL). Negative values are refused.
	MaxConns int32
	// Logger receives migration and other diagnostics. Defaults to nil, which
	// means slog.Default().
	Logger *slog.Logger
}

// Store is a [store.Store] backed by a PostgreSQL connection pool. It is safe
// for concurrent use.
type Store struct {
	pool      *pgxpool.Pool
	q         *pgdb.Queries
	log       *slog.Logger
	closeOnce sync.Once
	// noRollup makes the statistics read only the records (tests compare
	// both ways).
	noRollup bool
}

var _ store.Store = (*Store)(nil)

// migrationLockRetries bounds how long Open waits for another process's
// migration: the advisory lock is retried every second up to this many times.
const migrationLockRetries = 300

// Open connects to the database at cfg.URL, applies pending migrations unless
// cfg.SkipMigrations is set, and checks that the database is reachable.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("postgres: open: Config.URL is empty")
	}
	if cfg.MaxConns < 0 {
		return nil, fmt.Errorf("postgres: open: Config.MaxConns is %d, want 0 (default) or more", cfg.MaxConns)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	poolCfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// pgconn redacts the password in parse errors.
		return nil, fmt.Errorf("postgres: open: parse URL: %w", err)
	}
	if cfg.MaxConns > 0 {
		poolCfg.MaxConns = cfg.MaxConns
	}
	if !cfg.SkipMigrations {
		if err := migrate(ctx, poolCfg.ConnConfig.Copy(), log); err != nil {
			return nil, err
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: create pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: ping: %w", err)
	}
	return &Store{pool: pool, q: pgdb.New(ctxDB{pool}), log: log}, nil
}

// migrate applies the embedded migrations on a database/sql connection that
// it closes before returning. A session-level advisory lock (held by goose for
// the whole run) serialises concurrent migrators of the same database.
func migrate(ctx context.Context, connCfg *pgx.ConnConfig, log *slog.Logger) error {
	sqlDB := stdlib.OpenDB(*connCfg)
	defer sqlDB.Close()
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, migrationLockRetries))
	if err != nil {
		return fmt.Errorf("postgres: migrate: create locker: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, db.PostgresMigrations(),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	for _, r := range results {
		log.InfoContext(ctx, "postgres: migration applied",
			slog.Int64("version", r.Source.Version),
			slog.Duration("duration", r.Duration))
	}
	return nil
}

// Ping reports whether the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the connection pool, waiting for acquired connections to be
// released. Calling it again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// inTx runs fn in a transaction with the given options, committing if fn
// returns nil and rolling back otherwise.
func (s *Store) inTx(ctx context.Context, opts pgx.TxOptions, fn func(q *pgdb.Queries) error) error {
	return s.inTxWith(ctx, opts, func(q *pgdb.Queries, _ pgx.Tx) error { return fn(q) })
}

// inTxWith is inTx for a fn that also needs the transaction itself (to send
// a pgx.Batch on it).
func (s *Store) inTxWith(ctx context.Context, opts pgx.TxOptions, fn func(q *pgdb.Queries, tx pgx.Tx) error) error {
	tx, err := s.begin(ctx, opts) // a savepoint inside InTx
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		// After a commit this is a no-op; its error only matters when the
		// transaction is already broken, and fn's error says why.
		_ = tx.Rollback(context.WithoutCancel(ctx))
	}()
	if err := fn(s.q.WithTx(tx), tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
