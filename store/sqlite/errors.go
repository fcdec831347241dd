package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/logos-llm/logos/store"
)

// mapErr adds the operation to err and maps it to the store's sentinel errors:
// no rows is store.ErrNotFound, a UNIQUE or PRIMARY KEY violation is
// store.ErrConflict, and a CHECK, NOT NULL or FOREIGN KEY violation is
// store.ErrInvalid. The driver error stays in the chain. SQLite's constraint
// messages name columns, never values, so no secret can leak through them.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrInvalid) {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	if sentinel := constraintSentinel(err); sentinel != nil {
		return fmt.Errorf("sqlite: %s: %w: %w", op, sentinel, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// constraintSentinel returns the sentinel error for a constraint violation, or
// nil if err is not one.
func constraintSentinel(err error) error {
	var se *sqlite3.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch se.Code() {
	case sqlite3lib.SQLITE_CONSTRAINT_UNIQUE, sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY:
		return store.ErrConflict
	case sqlite3lib.SQLITE_CONSTRAINT_CHECK, sqlite3lib.SQLITE_CONSTRAINT_NOTNULL, sqlite3lib.SQLITE_CONSTRAINT_FOREIGNKEY:
		return store.ErrInvalid
	}
	return nil
}

// notFoundIfNone returns store.ErrNotFound when a statement affected no row.
func notFoundIfNone(n int64, err error) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
