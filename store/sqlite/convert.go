package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/logos-llm/logos/store"
)

// timeLayout is how every time is stored: fixed-width RFC 3339 in UTC with
// exactly six fractional digits, so that text order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// timeMax sorts after every formatted time; it is the upper bound of an open
// time range.
const timeMax = "~"

// now returns the current time as stored: UTC, truncated to microseconds.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// formatTime formats t for storage, truncated to microseconds.
func formatTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(timeLayout)
}

// nullTime formats t for a nullable column: the zero time is NULL.
func nullTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: formatTime(t), Valid: true}
}

// checkTime reports store.ErrInvalid if t cannot be stored in the fixed-width
// format (years 1 to 9999). The zero time is valid; it means "unset".
func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%s: year %d out of range: %w", field, y, store.ErrInvalid)
	}
	return nil
}

// nullID maps a zero id to NULL.
func nullID(id int64) sql.NullInt64 {
	return sql.NullInt64{Int64: id, Valid: id != 0}
}

// idOf maps NULL to the zero id.
func idOf(n sql.NullInt64) int64 {
	if !n.Valid {
		return 0
	}
	return n.Int64
}

// boolInt stores a boolean as 0 or 1.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// jsonArg sanitizes a JSON value for a nullable column: nil is NULL.
func jsonArg(b json.RawMessage) sql.NullString {
	clean := store.SanitizeJSON(b)
	if clean == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: string(clean), Valid: true}
}

// jsonArgOr sanitizes a JSON value for a NOT NULL column, storing def for nil.
func jsonArgOr(b json.RawMessage, def string) string {
	clean := store.SanitizeJSON(b)
	if clean == nil {
		return def
	}
	return string(clean)
}

// jsonOf maps a nullable JSON column to a raw message: NULL is nil.
func jsonOf(n sql.NullString) json.RawMessage {
	if !n.Valid {
		return nil
	}
	return json.RawMessage(n.String)
}

// orDefault returns v, or def if v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// decoder converts stored values to domain values, remembering the first
// malformed one so that a row conversion reports a single error.
type decoder struct {
	err error
}

// time parses a stored time.
func (d *decoder) time(column, s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if d.err == nil {
			d.err = fmt.Errorf("malformed time in column %s: %w", column, err)
		}
		return time.Time{}
	}
	return t.UTC()
}

// nullTime parses a stored nullable time; NULL is the zero time.
func (d *decoder) nullTime(column string, n sql.NullString) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return d.time(column, n.String)
}
