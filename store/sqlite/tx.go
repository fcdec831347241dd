package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/logos-llm/logos/store"
)

var _ store.Transactor = (*Store)(nil)

// txKey is the context key of the transaction InTx runs fn in.
type txKey struct{}

// ctxTx is the transaction of a context, with the writer it belongs to.
type ctxTx struct {
	writer *sql.DB
	tx     *sql.Tx
}

// txOf returns the transaction of ctx begun by InTx on the store whose
// writer is writer, or nil.
func txOf(ctx context.Context, writer *sql.DB) *sql.Tx {
	if t, ok := ctx.Value(txKey{}).(*ctxTx); ok && t.writer == writer {
		return t.tx
	}
	return nil
}

// InTx runs fn in one IMMEDIATE transaction on the writer connection; every
// query made with fn's context, reads included, runs in it.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if txOf(ctx, s.writer) != nil {
		return fn(ctx) // already inside a transaction
	}
	// fn's error is returned as it is; writeTx wraps its own.
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		return fn(context.WithValue(ctx, txKey{}, &ctxTx{writer: s.writer, tx: tx}))
	})
}

// savepoint runs fn under a savepoint of tx, so that a nested write
// transaction that fails undoes only itself.
func savepoint(ctx context.Context, tx *sql.Tx, fn func(tx *sql.Tx) error) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT nested"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(tx); err != nil {
		_, _ = tx.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO nested")
		_, _ = tx.ExecContext(context.WithoutCancel(ctx), "RELEASE nested")
		return err
	}
	if _, err := tx.ExecContext(ctx, "RELEASE nested"); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// ctxDB runs the queries of a pool (the writer or the readers) in the
// transaction of the context when InTx began one, so that the store's
// methods need not know whether they run in one.
type ctxDB struct {
	db     *sql.DB
	writer *sql.DB
}

// conn returns the transaction of ctx, or the pool.
func (d ctxDB) conn(ctx context.Context) interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	PrepareContext(context.Context, string) (*sql.Stmt, error)
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
} {
	if tx := txOf(ctx, d.writer); tx != nil {
		return tx
	}
	return d.db
}

// ExecContext implements sqlitedb.DBTX.
func (d ctxDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return d.conn(ctx).ExecContext(ctx, q, args...)
}

// PrepareContext implements sqlitedb.DBTX.
func (d ctxDB) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return d.conn(ctx).PrepareContext(ctx, q)
}

// QueryContext implements sqlitedb.DBTX.
func (d ctxDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return d.conn(ctx).QueryContext(ctx, q, args...)
}

// QueryRowContext implements sqlitedb.DBTX.
func (d ctxDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return d.conn(ctx).QueryRowContext(ctx, q, args...)
}
