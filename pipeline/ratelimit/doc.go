// Package ratelimit enforces per-key request and token limits per minute as
// one limit across every replica that shares a database.
//
// A Limiter admits a request before it is forwarded and records its tokens
// after it ends. Windows are fixed, aligned to the clock's minutes, and
// counted in the Store's shared counters (store.RateLimitStore); a replica
// claims permits from the current window in small chunks and batches token
// counts, so admission does not write to the database per request. Limits
// come from a process's settings (ParseLimits), globally and per model. The
// Decision of an admission carries the x-ratelimit-* headers and, when a
// request is refused, its Retry-After. When the database cannot be reached
// the limiter fails open and logs it.
package ratelimit
