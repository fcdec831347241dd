package postgres

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/logos-llm/logos/store"
)

// PostgreSQL error codes the store maps to sentinel errors.
const (
	codeUniqueViolation     = "23505"
	codeCheckViolation      = "23514"
	codeNotNullViolation    = "23502"
	codeForeignKeyViolation = "23503"
	codeDeadlockDetected    = "40P01"
	codeSerialization       = "40001"
	classDataException      = "22"
)

// mapErr wraps err with the operation op ("create user 3") and maps database
// errors to the sentinel errors of package store:
//
//   - no rows: store.ErrNotFound
//   - unique violation: store.ErrConflict
//   - check, not-null and foreign-key violations and data exceptions (invalid
//     text encoding, out-of-range numbers): store.ErrInvalid
//
// For constraint errors the PostgreSQL error itself is not wrapped: its Detail
// may quote the refused row, including secrets such as provider credentials.
// Only the constraint or column name and the SQLSTATE are kept.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	switch {
	case pgErr.Code == codeUniqueViolation:
		return fmt.Errorf("postgres: %s: %w: constraint %s (SQLSTATE %s)", op, store.ErrConflict, pgErr.ConstraintName, pgErr.Code)
	case pgErr.Code == codeCheckViolation, pgErr.Code == codeForeignKeyViolation:
		return fmt.Errorf("postgres: %s: %w: constraint %s (SQLSTATE %s)", op, store.ErrInvalid, pgErr.ConstraintName, pgErr.Code)
	case pgErr.Code == codeNotNullViolation:
		return fmt.Errorf("postgres: %s: %w: column %s.%s must be set (SQLSTATE %s)", op, store.ErrInvalid, pgErr.TableName, pgErr.ColumnName, pgErr.Code)
	case strings.HasPrefix(pgErr.Code, classDataException):
		// The message of a data exception may quote the value, so only its
		// kind is reported.
		return fmt.Errorf("postgres: %s: %w: %s (SQLSTATE %s)", op, store.ErrInvalid, dataException(pgErr.Code), pgErr.Code)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// dataException names the data exceptions a store call may cause.
func dataException(code string) string {
	switch code {
	case "22021":
		return "text is not valid UTF-8 or contains a NUL character"
	case "22003":
		return "number out of range"
	case "22P02", "22P05":
		return "invalid input value"
	case "22001":
		return "value too long"
	case "22007", "22008":
		return "invalid date or time"
	}
	return "invalid data"
}

// isRetryable reports whether err is a transient conflict with a concurrent
// transaction after which the whole transaction may simply be run again.
func isRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case codeDeadlockDetected, codeSerialization, codeForeignKeyViolation:
		return true
	}
	return false
}

// invalidf returns an error wrapping store.ErrInvalid for a value refused
// before it reached the database.
func invalidf(op, format string, args ...any) error {
	return fmt.Errorf("postgres: %s: %w: %s", op, store.ErrInvalid, fmt.Sprintf(format, args...))
}

// int32s converts Go ints to INTEGER columns, remembering the first value
// that does not fit.
type int32s struct {
	err error
}

// conv returns v as int32, or 0 after recording an error if v is out of range.
func (c *int32s) conv(field string, v int) int32 {
	if v < math.MinInt32 || v > math.MaxInt32 {
		if c.err == nil {
			c.err = fmt.Errorf("%w: %s %d is out of range", store.ErrInvalid, field, v)
		}
		return 0
	}
	return int32(v)
}

// check returns the recorded range error, wrapped with op, or nil.
func (c *int32s) check(op string) error {
	if c.err != nil {
		return fmt.Errorf("postgres: %s: %w", op, c.err)
	}
	return nil
}
