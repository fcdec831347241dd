package store

import (
	"context"
	"time"
)

// RateUsage is what one rate-limit window has counted so far.
type RateUsage struct {
	// Requests is the number of request permits claimed in the window (by
	// every replica sharing the store), never more than the limit the claims
	// named.
	Requests int64
	// Tokens is the number of tokens recorded in the window.
	Tokens int64
}

// RateLimitStore keeps the shared counters of the rate limiter (package
// ratelimit): per key (an opaque string such as "process:42") and per window
// (the start time of a fixed window, e.g. of a minute) it counts the request
// permits claimed and the tokens recorded. Every replica sharing the database
// counts in the same rows, which makes a limit hold across replicas.
//
// It is not part of [Store]; the stores that implement it (store/sqlite and
// store/postgres) are found by a type assertion. Windows are compared exactly,
// at microsecond precision, so callers pass the same truncated start time
// for the same window. All methods are safe for concurrent use, also by
// several store instances (replicas) on one database.
type RateLimitStore interface {
	// ClaimPermits atomically adds up to want request permits to the window,
	// never taking its count beyond limit, and returns how many it granted
	// (0 ≤ granted ≤ want; fewer than want only when the window reached
	// limit) together with the window's counts after the claim. The window
	// is created on first use. want must be at least 1 and limit at least 0,
	// else ErrInvalid.
	ClaimPermits(ctx context.Context, key string, window time.Time, want, limit int64) (granted int64, usage RateUsage, err error)
	// AddTokens atomically adds n (≥ 0, else ErrInvalid) tokens to the window,
	// creating it if needed, and returns its counts afterwards.
	AddTokens(ctx context.Context, key string, window time.Time, n int64) (RateUsage, error)
	// WindowUsage returns the window's counts; a window nobody used counts
	// zero (no error).
	WindowUsage(ctx context.Context, key string, window time.Time) (RateUsage, error)
	// DeleteRateWindowsBefore deletes every window that starts before t and
	// returns how many it deleted.
	DeleteRateWindowsBefore(ctx context.Context, t time.Time) (int64, error)
}
