package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logos-llm/logos/store"
)

var _ store.Transactor = (*Store)(nil)

// txKey is the context key of the transaction InTx runs fn in.
type txKey struct{}

// ctxTx is the transaction of a context, with the pool it belongs to.
type ctxTx struct {
	pool *pgxpool.Pool
	tx   pgx.Tx
}

// txOf returns the transaction of ctx begun by InTx on pool, or nil.
func txOf(ctx context.Context, pool *pgxpool.Pool) pgx.Tx {
	if t, ok := ctx.Value(txKey{}).(*ctxTx); ok && t.pool == pool {
		return t.tx
	}
	return nil
}

// InTx runs fn in one read-committed transaction; every statement made with
// fn's context runs in it, each under a savepoint of its own, so that a
// statement that fails (a unique violation answered as store.ErrConflict)
// undoes only itself and fn may go on, as outside a transaction. The
// store's own transactions (Bootstrap, LoadCatalog) become savepoints.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if txOf(ctx, s.pool) != nil {
		return fn(ctx) // already inside a transaction
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(context.WithValue(ctx, txKey{}, &ctxTx{pool: s.pool, tx: tx})); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", mapErr("transaction", err))
	}
	return nil
}

// begin begins a transaction on the pool, or a savepoint of the
// transaction of ctx when InTx began one.
func (s *Store) begin(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	if tx := txOf(ctx, s.pool); tx != nil {
		return tx.Begin(ctx)
	}
	return s.pool.BeginTx(ctx, opts)
}

// ctxDB runs the statements of the pool in the transaction of the context
// when InTx began one, each under a savepoint, so that the store's methods
// need not know whether they run in one.
type ctxDB struct{ pool *pgxpool.Pool }

// Exec implements pgdb.DBTX.
func (d ctxDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tx := txOf(ctx, d.pool)
	if tx == nil {
		return d.pool.Exec(ctx, sql, args...)
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := sp.Exec(ctx, sql, args...)
	if err != nil {
		_ = sp.Rollback(context.WithoutCancel(ctx))
		return tag, err
	}
	return tag, sp.Commit(ctx)
}

// Query implements pgdb.DBTX. In a transaction it runs without a
// savepoint: the store's queries returning rows only read.
func (d ctxDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if tx := txOf(ctx, d.pool); tx != nil {
		return tx.Query(ctx, sql, args...)
	}
	return d.pool.Query(ctx, sql, args...)
}

// QueryRow implements pgdb.DBTX. In a transaction the statement (an
// INSERT ... RETURNING among them) runs under a savepoint that Scan
// releases or rolls back.
func (d ctxDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	tx := txOf(ctx, d.pool)
	if tx == nil {
		return d.pool.QueryRow(ctx, sql, args...)
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return errRow{err}
	}
	return savepointRow{ctx: ctx, sp: sp, row: sp.QueryRow(ctx, sql, args...)}
}

// savepointRow is the row of ctxDB.QueryRow in a transaction.
type savepointRow struct {
	ctx context.Context
	sp  pgx.Tx
	row pgx.Row
}

// Scan scans the row and ends its savepoint.
func (r savepointRow) Scan(dest ...any) error {
	if err := r.row.Scan(dest...); err != nil {
		_ = r.sp.Rollback(context.WithoutCancel(r.ctx))
		return err
	}
	return r.sp.Commit(r.ctx)
}

// errRow is a row that fails with err.
type errRow struct{ err error }

// Scan returns the error.
func (r errRow) Scan(...any) error { return r.err }
