package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/logos-llm/logos/store"
)

// Window is the length of a rate-limit window. Windows are fixed and aligned
// to the minutes of the clock, so every replica (with a synchronised clock)
// counts in the same window.
const Window = time.Minute

// Defaults of the Config fields.
const (
	DefaultFlushInterval   = time.Second
	DefaultRefreshInterval = time.Second
	DefaultStoreTimeout    = 2 * time.Second
	DefaultFailOpenBackoff = 5 * time.Second
	DefaultRetention       = time.Hour
	DefaultCleanupInterval = 10 * time.Minute
)

// chunkDivisor sets the largest claim: a replica claims at most
// limit/chunkDivisor permits at once (more only for requests already waiting),
// so a limit needs about chunkDivisor database writes per window and replica.
const chunkDivisor = 20

// Config configures New.
type Config struct {
	// Store holds the shared counters. Required. Every replica must use the
	// same database for a limit to hold across them.
	Store store.RateLimitStore
	// Now tells the time. Defaults to time.Now. Replicas' clocks should be
	// synchronised (NTP): a replica whose clock is off by s seconds counts
	// the first or last s seconds of each minute in a neighbouring window.
	Now func() time.Time
	// Logger receives store failures and cleanup results. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// FlushInterval is how long recorded tokens are batched before they are
	// added to the store. Defaults to DefaultFlushInterval.
	FlushInterval time.Duration
	// RefreshInterval is the longest a replica trusts its view of a window's
	// tokens (which includes other replicas' tokens) before it reads the
	// window again at an admission. Claims and flushes refresh the view as
	// well. Defaults to DefaultRefreshInterval.
	RefreshInterval time.Duration
	// StoreTimeout bounds each store call. Defaults to DefaultStoreTimeout.
	StoreTimeout time.Duration
	// FailOpenBackoff is how long a key admits without asking the store
	// after a store call failed. Defaults to DefaultFailOpenBackoff.
	FailOpenBackoff time.Duration
	// Retention is how long windows are kept in the store; older ones are
	// deleted every CleanupInterval. Defaults to DefaultRetention and
	// DefaultCleanupInterval.
	Retention       time.Duration
	CleanupInterval time.Duration
}

// Limiter enforces per-key request and token limits per minute across every
// replica that shares its store.
//
// Requests are admitted from permits the limiter claims from the store in
// chunks (one atomic upsert per chunk, see store.RateLimitStore.ClaimPermits),
// so the request path touches the database only when the replica's permits
// run out: about 20 times per window and key, plus once for each burst of
// waiting requests. Permits a replica claimed but did not use are lost when
// the window ends, so a key may be admitted up to (chunk-1)×replicas fewer
// requests than its limit in a window where demand stops just below it; the
// limit itself is never exceeded. Near the limit the chunks shrink to single
// permits. Concurrent requests of one key share one claim.
//
// Tokens are counted after completion (RecordTokens), batched and added to
// the store in the background; a request is refused while the window's
// tokens (as last seen, plus this replica's unflushed ones) have reached the
// limit. Token limits are therefore soft: requests admitted before the limit
// was reached may overshoot it.
//
// Fail open: when the store cannot be reached, requests are admitted (the
// error is logged and returned) and the key does not ask the store again for
// FailOpenBackoff. A broken database thus disables rate limiting rather than
// the gateway.
//
// Windows are fixed minutes, so up to twice a limit may be admitted across
// the boundary of two windows (at the end of one and the start of the next).
//
// A Limiter is safe for concurrent use. Close it to flush recorded tokens and
// stop its goroutine.
type Limiter struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	keys    map[string]*keyState
	pending map[windowKey]int64 // tokens recorded, not yet added to the store
	timer   *time.Timer         // armed while pending is not empty
	closed  bool
	pruned  time.Time // window of the last prune of keys
	cleaned time.Time // time of the last store cleanup

	flushNow chan struct{} // wakes run to flush; buffered, never closed
	tidyNow  chan struct{} // wakes run to housekeep; buffered, never closed
	closing  chan struct{} // closed by Close
	stopped  chan struct{} // closed when run returns
}

// windowKey names one window of one key.
type windowKey struct {
	key    string
	window time.Time
}

// keyState is a replica's view of a key's current window; l.mu guards it.
type keyState struct {
	window     time.Time
	permits    int64         // claimed for this window and not yet used
	exhausted  bool          // the store refused permits: the window is full
	requests   int64         // the window's request count as last seen
	tokens     int64         // the window's tokens as last seen in the store
	tokensAt   time.Time     // when tokens was seen; zero: never
	unflushed  int64         // tokens recorded here and not yet in the store
	claim      chan struct{} // closed when the claim in flight ends; nil if none
	waiting    int64         // requests that waited for a claim and still need a permit
	refreshing bool          // a token read is in flight
	failUntil  time.Time     // admit without the store until then
}

// New returns a Limiter on cfg.Store and starts its background goroutine.
func New(cfg Config) (*Limiter, error) {
	if cfg.Store == nil {
		return nil, errors.New("ratelimit: Config.Store is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	defaults := []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&cfg.FlushInterval, DefaultFlushInterval},
		{&cfg.RefreshInterval, DefaultRefreshInterval},
		{&cfg.StoreTimeout, DefaultStoreTimeout},
		{&cfg.FailOpenBackoff, DefaultFailOpenBackoff},
		{&cfg.Retention, DefaultRetention},
		{&cfg.CleanupInterval, DefaultCleanupInterval},
	}
	for _, d := range defaults {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	l := &Limiter{
		cfg:      cfg,
		log:      log,
		keys:     make(map[string]*keyState),
		pending:  make(map[windowKey]int64),
		flushNow: make(chan struct{}, 1),
		tidyNow:  make(chan struct{}, 1),
		closing:  make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go l.run()
	return l, nil
}

// windowOf returns the start of the window holding t.
func windowOf(t time.Time) time.Time { return t.UTC().Truncate(Window) }

// stateLocked returns key's state for window, starting it afresh when the
// window changed; l.mu must be held.
func (l *Limiter) stateLocked(key string, window time.Time) *keyState {
	st, ok := l.keys[key]
	if !ok {
		st = &keyState{window: window}
		l.keys[key] = st
		signal(l.tidyNow)
		return st
	}
	if st.window.Before(window) {
		// Permits left from the previous window are lost. A claim still in
		// flight for it finds the window changed and discards its result;
		// its waiters wake, loop and see the new window.
		*st = keyState{window: window, failUntil: st.failUntil}
		signal(l.tidyNow)
	}
	return st
}

// signal wakes run through c without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// flushSoon is the flush timer's function.
func (l *Limiter) flushSoon() { signal(l.flushNow) }

// Admit decides whether a request of key may proceed under limits and, if
// so, counts it against the request limit. Keys with no limits are admitted
// without any bookkeeping.
//
// A store failure does not refuse requests: the Decision admits, and err
// reports the failure (already logged). If ctx ends while the request waits
// for another request's claim, Admit returns a refusing Decision and ctx's
// error. Otherwise err is nil.
func (l *Limiter) Admit(ctx context.Context, key string, limits Limits) (Decision, error) {
	if limits.IsZero() {
		return Decision{Allowed: true}, nil
	}
	for {
		now := l.cfg.Now()
		window := windowOf(now)
		reset := window.Add(Window).Sub(now)

		l.mu.Lock()
		st := l.stateLocked(key, window)
		failing := now.Before(st.failUntil)
		// A claim refreshes the token view too, so read it only when no
		// claim is due.
		claimDue := limits.RequestsPerMinute > 0 && st.permits == 0 && !st.exhausted
		var refreshErr error
		if limits.TokensPerMinute > 0 && !claimDue && !failing && !st.refreshing && now.Sub(st.tokensAt) >= l.cfg.RefreshInterval {
			refreshErr = l.refreshTokensLocked(ctx, key, st, window)
			failing = now.Before(st.failUntil)
		}
		d := Decision{Allowed: true}
		if limits.TokensPerMinute > 0 {
			// The view only grows within a window, so it refuses rightly
			// even while the store fails.
			used := st.tokens + st.unflushed
			d.Tokens = Quota{Limit: limits.TokensPerMinute, Remaining: max(limits.TokensPerMinute-used, 0), Reset: reset}
			if used >= limits.TokensPerMinute {
				d.Allowed, d.RetryAfter = false, reset
				d.Requests = requestQuota(limits, st, reset)
				l.mu.Unlock()
				return d, refreshErr
			}
		}
		if limits.RequestsPerMinute <= 0 {
			l.mu.Unlock()
			return d, refreshErr
		}
		switch {
		case st.permits > 0:
			st.permits--
		case st.exhausted:
			d.Allowed, d.RetryAfter = false, reset
		case failing:
			// Fail open: admit without counting.
		case st.claim != nil:
			// Share the claim in flight, then try again.
			done := st.claim
			st.waiting++
			l.mu.Unlock()
			var err error
			select {
			case <-done:
			case <-ctx.Done():
				err = fmt.Errorf("ratelimit: admit %s: %w", key, ctx.Err())
			}
			l.mu.Lock()
			if st.window.Equal(window) && st.waiting > 0 {
				st.waiting--
			}
			l.mu.Unlock()
			if err != nil {
				return Decision{}, err
			}
			continue
		default:
			err := l.claimLocked(ctx, key, st, window, limits.RequestsPerMinute)
			l.mu.Unlock()
			if err != nil {
				return Decision{Allowed: true, Tokens: d.Tokens}, err
			}
			continue
		}
		d.Requests = requestQuota(limits, st, reset)
		l.mu.Unlock()
		return d, refreshErr
	}
}

// requestQuota describes the request limit as st sees it; l.mu must be held.
func requestQuota(limits Limits, st *keyState, reset time.Duration) Quota {
	if limits.RequestsPerMinute <= 0 {
		return Quota{}
	}
	return Quota{
		Limit:     limits.RequestsPerMinute,
		Remaining: min(max(limits.RequestsPerMinute-st.requests+st.permits, 0), limits.RequestsPerMinute),
		Reset:     reset,
	}
}

// claimLocked claims permits for st's window from the store. It is called
// with l.mu held, releases it for the store call and holds it again when it
// returns. Requests that arrive meanwhile wait on st.claim.
func (l *Limiter) claimLocked(ctx context.Context, key string, st *keyState, window time.Time, limit int64) error {
	done := make(chan struct{})
	st.claim = done
	// The base chunk, smaller near the limit (as last seen) so that few
	// permits are left unused when demand stops, but at least enough for
	// the requests already waiting.
	chunk := max(limit/chunkDivisor, 1)
	if left := limit - st.requests; left < 4*chunk {
		chunk = max(left/4, 1)
	}
	want := max(chunk, st.waiting+1)
	l.mu.Unlock()

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.cfg.StoreTimeout)
	granted, usage, err := l.cfg.Store.ClaimPermits(cctx, key, window, want, limit)
	cancel()

	l.mu.Lock()
	if st.claim == done {
		st.claim = nil
	}
	close(done)
	if err != nil {
		st.failUntil = l.cfg.Now().Add(l.cfg.FailOpenBackoff)
		l.log.WarnContext(ctx, "ratelimit: claiming permits failed; admitting without a limit",
			slog.String("key", key), slog.Duration("for", l.cfg.FailOpenBackoff), slog.Any("error", err))
		return fmt.Errorf("ratelimit: admit %s: %w", key, err)
	}
	if !st.window.Equal(window) {
		// The window ended during the claim; its permits are worthless.
		return nil
	}
	st.permits += granted
	st.requests = max(st.requests, usage.Requests)
	if granted < want {
		st.exhausted = true
	}
	if usage.Tokens >= st.tokens {
		st.tokens, st.tokensAt = usage.Tokens, l.cfg.Now()
	}
	return nil
}

// refreshTokensLocked reads the window's tokens from the store. It is called
// with l.mu held, releases it for the store call and holds it again when it
// returns. Other requests do not wait for it; they use the view they have.
func (l *Limiter) refreshTokensLocked(ctx context.Context, key string, st *keyState, window time.Time) error {
	st.refreshing = true
	l.mu.Unlock()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.cfg.StoreTimeout)
	usage, err := l.cfg.Store.WindowUsage(cctx, key, window)
	cancel()
	l.mu.Lock()
	if !st.window.Equal(window) {
		return nil
	}
	st.refreshing = false
	if err != nil {
		st.failUntil = l.cfg.Now().Add(l.cfg.FailOpenBackoff)
		l.log.WarnContext(ctx, "ratelimit: reading tokens failed; admitting without a limit",
			slog.String("key", key), slog.Duration("for", l.cfg.FailOpenBackoff), slog.Any("error", err))
		return fmt.Errorf("ratelimit: admit %s: %w", key, err)
	}
	st.tokens, st.tokensAt = max(st.tokens, usage.Tokens), l.cfg.Now()
	st.requests = max(st.requests, usage.Requests)
	return nil
}

// RecordTokens counts n tokens used by a completed request of key against the
// current window. It never blocks on the store: the counts are batched and
// added in the background every FlushInterval. Keys without a token limit and
// calls after Close are ignored.
func (l *Limiter) RecordTokens(key string, limits Limits, n int64) {
	if n <= 0 || limits.TokensPerMinute <= 0 {
		return
	}
	window := windowOf(l.cfg.Now())
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	st := l.stateLocked(key, window)
	st.unflushed += n
	l.pending[windowKey{key, window}] += n
	l.armLocked()
}

// armLocked starts the flush timer unless it runs; l.mu must be held.
func (l *Limiter) armLocked() {
	if l.timer == nil && !l.closed {
		l.timer = time.AfterFunc(l.cfg.FlushInterval, l.flushSoon)
	}
}

// run flushes tokens when the flush timer fires and cleans up when a window
// starts, until Close.
func (l *Limiter) run() {
	defer close(l.stopped)
	for {
		select {
		case <-l.closing:
			return
		case <-l.flushNow:
			// Failures are logged, and the tokens kept for a retry.
			_ = l.Flush(context.Background())
		case <-l.tidyNow:
			l.housekeep()
		}
	}
}

// Flush adds the tokens recorded so far to the store now. Tokens it could not
// add are kept for the next flush while their window lasts (and dropped,
// with a log record, once it ended); the error reports the failures.
func (l *Limiter) Flush(ctx context.Context) error {
	l.mu.Lock()
	batch := l.pending
	l.pending = make(map[windowKey]int64)
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.mu.Unlock()

	var errs []error
	for wk, n := range batch {
		cctx, cancel := context.WithTimeout(ctx, l.cfg.StoreTimeout)
		usage, err := l.cfg.Store.AddTokens(cctx, wk.key, wk.window, n)
		cancel()
		l.mu.Lock()
		st := l.keys[wk.key]
		current := st != nil && st.window.Equal(wk.window)
		switch {
		case err != nil && current && !l.closed:
			l.pending[wk] += n
			l.armLocked()
		case current:
			st.unflushed -= n
			if err == nil && usage.Tokens >= st.tokens {
				st.tokens, st.tokensAt = usage.Tokens, l.cfg.Now()
			}
		}
		l.mu.Unlock()
		if err != nil {
			l.log.WarnContext(ctx, "ratelimit: recording tokens failed",
				slog.String("key", wk.key), slog.Int64("tokens", n), slog.Bool("kept", current), slog.Any("error", err))
			errs = append(errs, fmt.Errorf("ratelimit: record %d tokens of %s: %w", n, wk.key, err))
		}
	}
	return errors.Join(errs...)
}

// housekeep forgets the state of keys whose window has passed (once per
// window) and deletes old windows from the store (every CleanupInterval).
func (l *Limiter) housekeep() {
	now := l.cfg.Now()
	window := windowOf(now)
	l.mu.Lock()
	if l.pruned.Before(window) {
		l.pruned = window
		for key, st := range l.keys {
			if st.window.Before(window) && st.claim == nil && st.unflushed == 0 && !st.refreshing {
				delete(l.keys, key)
			}
		}
	}
	clean := now.Sub(l.cleaned) >= l.cfg.CleanupInterval
	if clean {
		l.cleaned = now
	}
	l.mu.Unlock()
	if !clean {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.StoreTimeout)
	defer cancel()
	n, err := l.cfg.Store.DeleteRateWindowsBefore(ctx, window.Add(-l.cfg.Retention))
	if err != nil {
		l.log.Warn("ratelimit: deleting old windows failed", slog.Any("error", err))
		return
	}
	if n > 0 {
		l.log.Debug("ratelimit: deleted old windows", slog.Int64("windows", n))
	}
}

// Close stops the background goroutine and flushes the recorded tokens. Later
// RecordTokens calls are ignored; Admit keeps working. If ctx ends first,
// Close returns its error.
func (l *Limiter) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.mu.Unlock()
	close(l.closing)
	select {
	case <-l.stopped:
	case <-ctx.Done():
		return fmt.Errorf("ratelimit: close: %w", ctx.Err())
	}
	return l.Flush(ctx)
}
