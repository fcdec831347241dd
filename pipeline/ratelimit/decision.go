package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// Quota describes one limit (requests or tokens) of a key at admission.
type Quota struct {
	// Limit is the limit per minute; 0 means no limit (and no headers).
	Limit int64
	// Remaining estimates how much of the limit is left in the current
	// window, after this request. It counts permits that replicas claimed
	// but have not used yet as used, and it may miss other replicas'
	// admissions since this replica last talked to the database.
	Remaining int64
	// Reset is the time until the window ends and the full limit is
	// available again.
	Reset time.Duration
}

// Decision is the outcome of [Limiter.Admit].
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// RetryAfter is, for a refused request, the time until capacity
	// returns (the end of the current window); 0 when allowed.
	RetryAfter time.Duration
	// Requests and Tokens describe the two limits.
	Requests, Tokens Quota
}

// Header names set by [Decision.SetHeaders], as OpenAI sends them.
const (
	HeaderLimitRequests     = "X-Ratelimit-Limit-Requests"
	HeaderRemainingRequests = "X-Ratelimit-Remaining-Requests"
	HeaderResetRequests     = "X-Ratelimit-Reset-Requests"
	HeaderLimitTokens       = "X-Ratelimit-Limit-Tokens"
	HeaderRemainingTokens   = "X-Ratelimit-Remaining-Tokens"
	HeaderResetTokens       = "X-Ratelimit-Reset-Tokens"
	HeaderRetryAfter        = "Retry-After"
)

// SetHeaders sets the OpenAI-style rate-limit headers for every limit d has
// (x-ratelimit-limit-*, x-ratelimit-remaining-* and x-ratelimit-reset-*, the
// reset as a Go duration rounded up to whole seconds, such as "12s" or
// "1m0s"), and Retry-After (whole seconds, rounded up) on a refusal.
func (d Decision) SetHeaders(h http.Header) {
	set := func(q Quota, limit, remaining, reset string) {
		if q.Limit <= 0 {
			return
		}
		h.Set(limit, strconv.FormatInt(q.Limit, 10))
		h.Set(remaining, strconv.FormatInt(q.Remaining, 10))
		h.Set(reset, ceilSeconds(q.Reset).String())
	}
	set(d.Requests, HeaderLimitRequests, HeaderRemainingRequests, HeaderResetRequests)
	set(d.Tokens, HeaderLimitTokens, HeaderRemainingTokens, HeaderResetTokens)
	if !d.Allowed {
		secs := max(int64(ceilSeconds(d.RetryAfter)/time.Second), 1)
		h.Set(HeaderRetryAfter, strconv.FormatInt(secs, 10))
	}
}

// Merge combines the decisions for two keys of one request (a process's and
// its model's): it admits only if both do, waits for the later of their
// retry times, and reports for each kind of limit the more restrictive quota
// (the smaller remainder).
func (d Decision) Merge(o Decision) Decision {
	out := Decision{
		Allowed:  d.Allowed && o.Allowed,
		Requests: tighter(d.Requests, o.Requests),
		Tokens:   tighter(d.Tokens, o.Tokens),
	}
	if !d.Allowed {
		out.RetryAfter = d.RetryAfter
	}
	if !o.Allowed {
		out.RetryAfter = max(out.RetryAfter, o.RetryAfter)
	}
	return out
}

// tighter returns the quota with less remaining; a quota without a limit
// loses to any with one.
func tighter(a, b Quota) Quota {
	switch {
	case a.Limit <= 0:
		return b
	case b.Limit <= 0:
		return a
	case b.Remaining < a.Remaining, b.Remaining == a.Remaining && b.Limit < a.Limit:
		return b
	}
	return a
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + time.Second - 1) / time.Second * time.Second
}
