package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres/internal/pgdb"
)

var _ store.Transactor = (*Store)(nil)

// InTx runs fn in one read-committed transaction. The store fn receives runs
// every statement in that transaction, each under a savepoint of its own: a
// statement that fails (a unique violation answered as store.ErrConflict)
// undoes only itself, as outside a transaction, and fn may go on. The
// store's own transactions (Bootstrap, LoadCatalog) become savepoints.
func (s *Store) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	if s.tx != nil {
		return fn(s) // already inside a transaction
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(&Store{pool: s.pool, q: pgdb.New(savepointDB{tx}), log: s.log, tx: tx}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", mapErr("transaction", err))
	}
	return nil
}

// savepointDB runs each statement of a transaction under a savepoint, so
// that a failed statement does not abort the transaction.
type savepointDB struct{ tx pgx.Tx }

// Exec runs one statement under a savepoint.
func (d savepointDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	sp, err := d.tx.Begin(ctx)
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

// Query runs a query without a savepoint: the stores' queries returning
// rows only read.
func (d savepointDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return d.tx.Query(ctx, sql, args...)
}

// QueryRow runs one statement (an INSERT ... RETURNING among them) under a
// savepoint that its Scan releases or rolls back.
func (d savepointDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	sp, err := d.tx.Begin(ctx)
	if err != nil {
		return errRow{err}
	}
	return savepointRow{ctx: ctx, sp: sp, row: sp.QueryRow(ctx, sql, args...)}
}

// savepointRow is the row of savepointDB.QueryRow.
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
