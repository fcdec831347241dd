package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

var _ store.Transactor = (*Store)(nil)

// InTx runs fn in one IMMEDIATE transaction on the writer connection. The
// store fn receives reads and writes through that transaction; its own
// transactions (writeTx, readTx) become part of it.
func (s *Store) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	if s.tx != nil {
		return fn(s) // already inside a transaction
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		q := s.w.WithTx(tx)
		return fn(&Store{writer: s.writer, reader: s.reader, w: q, r: q, log: s.log, tx: tx})
	})
	if err != nil {
		return fmt.Errorf("sqlite: transaction: %w", err)
	}
	return nil
}

// txQueries returns the queries of the store's transaction when it is the
// store of an InTx call, and ok false otherwise.
func (s *Store) txQueries() (q *sqlitedb.Queries, ok bool) {
	if s.tx == nil {
		return nil, false
	}
	return s.w, true
}

// savepoint runs fn under a savepoint of the store's InTx transaction, so
// that a nested write transaction that fails undoes only itself.
func (s *Store) savepoint(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if _, err := s.tx.ExecContext(ctx, "SAVEPOINT nested"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(s.tx); err != nil {
		_, _ = s.tx.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO nested")
		_, _ = s.tx.ExecContext(context.WithoutCancel(ctx), "RELEASE nested")
		return err
	}
	if _, err := s.tx.ExecContext(ctx, "RELEASE nested"); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}
