package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres/internal/pgdb"
)

var _ store.RateLimitStore = (*Store)(nil)

// checkRateArgs refuses an empty key or a zero window before they reach the
// database.
func checkRateArgs(op, key string, window time.Time) error {
	switch {
	case key == "":
		return invalidf(op, "empty rate-limit key")
	case window.IsZero():
		return invalidf(op, "zero window start")
	}
	return nil
}

// ClaimPermits implements [store.RateLimitStore] with one upsert, whose row
// lock serialises concurrent claims on the same window, also from other
// replicas.
func (s *Store) ClaimPermits(ctx context.Context, key string, window time.Time, want, limit int64) (int64, store.RateUsage, error) {
	const op = "claim rate permits"
	if err := checkRateArgs(op, key, window); err != nil {
		return 0, store.RateUsage{}, err
	}
	if want < 1 || limit < 0 {
		return 0, store.RateUsage{}, invalidf(op, "want %d, limit %d: want must be at least 1 and limit at least 0", want, limit)
	}
	row, err := s.q.ClaimRatePermits(ctx, pgdb.ClaimRatePermitsParams{
		Key:         key,
		WindowStart: nullTime(window),
		Want:        want,
		Lim:         limit,
	})
	if err != nil {
		return 0, store.RateUsage{}, mapErr(op, err)
	}
	return row.LastGrant, store.RateUsage{Requests: row.Requests, Tokens: row.Tokens}, nil
}

// AddTokens implements [store.RateLimitStore].
func (s *Store) AddTokens(ctx context.Context, key string, window time.Time, n int64) (store.RateUsage, error) {
	const op = "add rate tokens"
	if err := checkRateArgs(op, key, window); err != nil {
		return store.RateUsage{}, err
	}
	if n < 0 {
		return store.RateUsage{}, invalidf(op, "negative token count %d", n)
	}
	row, err := s.q.AddRateTokens(ctx, pgdb.AddRateTokensParams{Key: key, WindowStart: nullTime(window), N: n})
	if err != nil {
		return store.RateUsage{}, mapErr(op, err)
	}
	return store.RateUsage{Requests: row.Requests, Tokens: row.Tokens}, nil
}

// WindowUsage implements [store.RateLimitStore].
func (s *Store) WindowUsage(ctx context.Context, key string, window time.Time) (store.RateUsage, error) {
	const op = "read rate window"
	if err := checkRateArgs(op, key, window); err != nil {
		return store.RateUsage{}, err
	}
	row, err := s.q.GetRateWindow(ctx, pgdb.GetRateWindowParams{Key: key, WindowStart: nullTime(window)})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.RateUsage{}, nil
	}
	if err != nil {
		return store.RateUsage{}, mapErr(op, err)
	}
	return store.RateUsage{Requests: row.Requests, Tokens: row.Tokens}, nil
}

// DeleteRateWindowsBefore implements [store.RateLimitStore].
func (s *Store) DeleteRateWindowsBefore(ctx context.Context, t time.Time) (int64, error) {
	n, err := s.q.DeleteRateWindowsBefore(ctx, nullTime(t))
	if err != nil {
		return 0, mapErr(fmt.Sprintf("delete rate windows before %s", t.UTC().Format(time.RFC3339)), err)
	}
	return n, nil
}
