package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

var _ store.RateLimitStore = (*Store)(nil)

// checkRateArgs refuses an empty key or a window that cannot be stored.
func checkRateArgs(key string, window time.Time) error {
	switch {
	case key == "":
		return fmt.Errorf("empty rate-limit key: %w", store.ErrInvalid)
	case window.IsZero():
		return fmt.Errorf("zero window start: %w", store.ErrInvalid)
	}
	return checkTime("window start", window)
}

// rateWindowTx creates the window's row if needed and then runs update, all in
// one IMMEDIATE write transaction, which serialises it against every other
// writer of the file (other store instances included).
func (s *Store) rateWindowTx(ctx context.Context, key, window string, update func(q *sqlitedb.Queries) error) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		q := s.w.WithTx(tx)
		if err := q.EnsureRateWindow(ctx, sqlitedb.EnsureRateWindowParams{Key: key, WindowStart: window}); err != nil {
			return fmt.Errorf("create window: %w", err)
		}
		return update(q)
	})
}

// ClaimPermits implements [store.RateLimitStore].
func (s *Store) ClaimPermits(ctx context.Context, key string, window time.Time, want, limit int64) (int64, store.RateUsage, error) {
	const op = "claim rate permits"
	if err := checkRateArgs(key, window); err != nil {
		return 0, store.RateUsage{}, mapErr(op, err)
	}
	if want < 1 || limit < 0 {
		return 0, store.RateUsage{}, mapErr(op, fmt.Errorf("want %d, limit %d: want must be at least 1 and limit at least 0: %w", want, limit, store.ErrInvalid))
	}
	ws := formatTime(window)
	var row sqlitedb.ClaimRatePermitsRow
	err := s.rateWindowTx(ctx, key, ws, func(q *sqlitedb.Queries) error {
		var err error
		row, err = q.ClaimRatePermits(ctx, sqlitedb.ClaimRatePermitsParams{Want: want, Lim: limit, Key: key, WindowStart: ws})
		return err
	})
	if err != nil {
		return 0, store.RateUsage{}, mapErr(op, err)
	}
	return row.LastGrant, store.RateUsage{Requests: row.Requests, Tokens: row.Tokens}, nil
}

// AddTokens implements [store.RateLimitStore].
func (s *Store) AddTokens(ctx context.Context, key string, window time.Time, n int64) (store.RateUsage, error) {
	const op = "add rate tokens"
	if err := checkRateArgs(key, window); err != nil {
		return store.RateUsage{}, mapErr(op, err)
	}
	if n < 0 {
		return store.RateUsage{}, mapErr(op, fmt.Errorf("negative token count %d: %w", n, store.ErrInvalid))
	}
	ws := formatTime(window)
	var row sqlitedb.AddRateTokensRow
	err := s.rateWindowTx(ctx, key, ws, func(q *sqlitedb.Queries) error {
		var err error
		row, err = q.AddRateTokens(ctx, sqlitedb.AddRateTokensParams{N: n, Key: key, WindowStart: ws})
		return err
	})
	if err != nil {
		return store.RateUsage{}, mapErr(op, err)
	}
	return store.RateUsage{Requests: row.Requests, Tokens: row.Tokens}, nil
}

// WindowUsage implements [store.RateLimitStore]. It reads from the query-only
// pool, so it never waits for the writer.
func (s *Store) WindowUsage(ctx context.Context, key string, window time.Time) (store.RateUsage, error) {
	const op = "read rate window"
	if err := checkRateArgs(key, window); err != nil {
		return store.RateUsage{}, mapErr(op, err)
	}
	row, err := s.r.GetRateWindow(ctx, sqlitedb.GetRateWindowParams{Key: key, WindowStart: formatTime(window)})
	if errors.Is(err, sql.ErrNoRows) {
		return store.RateUsage{}, nil
	}
	if err != nil {
		return store.RateUsage{}, mapErr(op, err)
	}
	return store.RateUsage{Requests: row.Requests, Tokens: row.Tokens}, nil
}

// DeleteRateWindowsBefore implements [store.RateLimitStore].
func (s *Store) DeleteRateWindowsBefore(ctx context.Context, t time.Time) (int64, error) {
	op := fmt.Sprintf("delete rate windows before %s", t.UTC().Format(time.RFC3339))
	if err := checkTime("time", t); err != nil {
		return 0, mapErr(op, err)
	}
	n, err := s.w.DeleteRateWindowsBefore(ctx, formatTime(t))
	if err != nil {
		return 0, mapErr(op, err)
	}
	return n, nil
}
