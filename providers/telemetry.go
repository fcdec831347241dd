package providers

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Optional capabilities. A Provider builds requests and nothing more; the
// capabilities below are found by type assertion, so a provider kind that
// cannot report them simply does not implement them.

// StatePoller is implemented by providers that can read an upstream's
// runtime state (Ollama's /api/ps, vLLM's /metrics). It is called by
// background pollers, never on the request path.
type StatePoller interface {
	// PollState reads the current state of the upstream behind t, using
	// o's monitoring URL and options. It returns ErrUnsupported when o
	// does not allow polling (no monitoring URL where one is required).
	// Errors never contain t.Credential.
	PollState(ctx context.Context, client *http.Client, t Target, o PollOptions) (State, error)
}

// PollOptions are a provider's monitoring settings.
type PollOptions struct {
	// AdminURL is the monitoring URL: Ollama's server (for /api/ps and
	// /api/tags), vLLM's /metrics URL.
	AdminURL string
	// SleepMode says the server supports sleeping (vLLM's /is_sleeping).
	SleepMode bool
}

// RateLimitReader is implemented by providers whose responses carry rate-limit
// headers (OpenAI, Azure OpenAI). ReadRateLimit is called with every upstream
// response on the request path, so it must be cheap and must not allocate.
type RateLimitReader interface {
	// ReadRateLimit updates rl from a response's status and headers at now
	// and reports whether the response carried any rate-limit information.
	ReadRateLimit(status int, h http.Header, now time.Time, rl *RateLimit) bool
}

// Sleep is whether a server's models are asleep (vLLM sleep mode).
type Sleep int8

// Sleep states.
const (
	SleepUnknown Sleep = iota // not reported
	Awake
	Asleep
)

// String returns "unknown", "awake" or "asleep".
func (s Sleep) String() string {
	switch s {
	case Awake:
		return "awake"
	case Asleep:
		return "asleep"
	}
	return "unknown"
}

// State is one reading of an upstream's runtime state. Every figure has a
// flag saying whether the upstream reported it: missing data is unknown,
// never "busy".
type State struct {
	// Loaded lists the models in memory (Ollama /api/ps); LoadedKnown says
	// the list was read (an empty known list means none is loaded).
	Loaded      []LoadedModel
	LoadedKnown bool
	// VRAMUsedBytes is the sum of the loaded models' VRAM, when LoadedKnown.
	VRAMUsedBytes int64
	// Available lists the models the server can load (Ollama /api/tags);
	// nil when unknown.
	Available []string
	// Running and Waiting are the requests running and queued in the
	// server (vLLM), when QueueKnown.
	Running, Waiting int
	QueueKnown       bool
	// KVCacheUsage is the fraction (0..1) of the KV cache in use (vLLM),
	// when KVCacheKnown.
	KVCacheUsage float64
	KVCacheKnown bool
	// Sleep is the server's sleep state (vLLM /is_sleeping).
	Sleep Sleep
}

// FindLoaded returns the entry of Loaded for model that has not expired at
// now, and whether there is one. Names compare as Ollama's do: a name
// without a tag is the ":latest" one, and either the entry's Name or its
// Model may match. An entry whose ExpiresAt has passed is not loaded even if
// the last poll still listed it. An empty model is never loaded (an entry
// without a Model would otherwise match it).
func (s State) FindLoaded(model string, now time.Time) (LoadedModel, bool) {
	if model == "" {
		return LoadedModel{}, false
	}
	want := ollamaName(model)
	for _, m := range s.Loaded {
		expired := !m.ExpiresAt.IsZero() && m.ExpiresAt.Before(now)
		if !expired && (ollamaName(m.Name) == want || ollamaName(m.Model) == want) {
			return m, true
		}
	}
	return LoadedModel{}, false
}

// ollamaName normalises an Ollama model name: "llama3" is "llama3:latest".
func ollamaName(n string) string {
	if n != "" && !strings.Contains(n, ":") {
		return n + ":latest"
	}
	return n
}

// LoadedModel is a model loaded in an upstream's memory.
type LoadedModel struct {
	Name     string `json:"name"`
	Model    string `json:"model,omitempty"`
	Size     int64  `json:"size"`
	SizeVRAM int64  `json:"size_vram"`
	// ExpiresAt is when the server unloads the model unless it is used;
	// zero when not reported or unreadable.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// RateLimit is what an upstream's rate-limit headers said, per deployment.
// A negative count and a zero time mean unknown.
type RateLimit struct {
	LimitRequests, LimitTokens         int64
	RemainingRequests, RemainingTokens int64
	// ResetRequests and ResetTokens are when the remaining counts are
	// replenished (from x-ratelimit-reset-*).
	ResetRequests, ResetTokens time.Time
	// RetryAfter is until when the upstream asked not to be called (a 429's
	// Retry-After, or the reset it names); zero if it did not.
	RetryAfter time.Time
	// UpdatedAt is when a response last carried rate-limit information.
	UpdatedAt time.Time
}

// UnknownRateLimit returns a RateLimit with every figure unknown.
func UnknownRateLimit() RateLimit {
	return RateLimit{LimitRequests: -1, LimitTokens: -1, RemainingRequests: -1, RemainingTokens: -1}
}

// Exhausted reports whether, at now, the upstream asked to be left alone
// (a 429 whose retry time has not passed) or said no request remains
// before a reset still ahead. Unknown figures never exhaust.
func (rl *RateLimit) Exhausted(now time.Time) bool {
	if now.Before(rl.RetryAfter) {
		return true
	}
	if rl.RemainingRequests == 0 && now.Before(rl.ResetRequests) {
		return true
	}
	return rl.RemainingTokens == 0 && now.Before(rl.ResetTokens)
}

// Canonical header names, so that lookups index the map directly.
const (
	hLimitRequests     = "X-Ratelimit-Limit-Requests"
	hLimitTokens       = "X-Ratelimit-Limit-Tokens"
	hRemainingRequests = "X-Ratelimit-Remaining-Requests"
	hRemainingTokens   = "X-Ratelimit-Remaining-Tokens"
	hResetRequests     = "X-Ratelimit-Reset-Requests"
	hResetTokens       = "X-Ratelimit-Reset-Tokens"
	hRetryAfter        = "Retry-After"
	hRetryAfterMs      = "Retry-After-Ms"
)

// ReadRateLimitHeaders is the RateLimitReader shared by OpenAI and Azure:
// it reads x-ratelimit-{limit,remaining}-{requests,tokens} (integers),
// x-ratelimit-reset-{requests,tokens} (Go-style durations such as "6m0s",
// "1s", "20ms", or plain seconds) and, on a 429, Retry-After-Ms or
// Retry-After (seconds or an HTTP date). A 429 without either is taken to
// last until the nearest known reset, or one second. Values it cannot read
// are left as they were. It does not allocate.
func ReadRateLimitHeaders(status int, h http.Header, now time.Time, rl *RateLimit) bool {
	seen := false
	readInt := func(name string, dst *int64) {
		if v, ok := headerValue(h, name); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
				*dst, seen = n, true
			}
		}
	}
	readReset := func(name string, dst *time.Time) {
		if v, ok := headerValue(h, name); ok {
			if d, ok := ParseResetDuration(v); ok {
				*dst, seen = now.Add(d), true
			}
		}
	}
	readInt(hLimitRequests, &rl.LimitRequests)
	readInt(hLimitTokens, &rl.LimitTokens)
	readInt(hRemainingRequests, &rl.RemainingRequests)
	readInt(hRemainingTokens, &rl.RemainingTokens)
	readReset(hResetRequests, &rl.ResetRequests)
	readReset(hResetTokens, &rl.ResetTokens)
	if status == http.StatusTooManyRequests {
		seen = true
		rl.RetryAfter = retryAfter(h, now, rl)
	}
	if seen {
		rl.UpdatedAt = now
	}
	return seen
}

// retryAfter returns until when a 429 asks not to be called.
func retryAfter(h http.Header, now time.Time, rl *RateLimit) time.Time {
	if v, ok := headerValue(h, hRetryAfterMs); ok {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms >= 0 {
			return now.Add(time.Duration(ms * float64(time.Millisecond)))
		}
	}
	if v, ok := headerValue(h, hRetryAfter); ok {
		v = strings.TrimSpace(v)
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
			return now.Add(time.Duration(s) * time.Second)
		}
		if t, err := http.ParseTime(v); err == nil {
			return t
		}
	}
	// No usable Retry-After: wait for the nearest reset still ahead.
	var next time.Time
	for _, t := range [2]time.Time{rl.ResetRequests, rl.ResetTokens} {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if next.IsZero() {
		next = now.Add(time.Second)
	}
	return next
}

// ParseResetDuration reads a rate-limit reset: a Go-style duration ("6m0s",
// "1s", "20ms", "1h2m3.5s") as OpenAI sends, or a plain number of seconds
// ("10", "0.5"). Negative values are refused.
func ParseResetDuration(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if plainNumber(v) {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, false
		}
		return time.Duration(f * float64(time.Second)), true
	}
	if !durationLike(v) {
		return 0, false
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}

// plainNumber reports whether v is digits with at most one decimal point,
// checked first so that durations never reach strconv (whose errors allocate).
func plainNumber(v string) bool {
	dot := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '.' && !dot:
			dot = true
		case c < '0' || c > '9':
			return false
		}
	}
	return v != "."
}

// durationLike reports whether v could be a non-negative Go duration (a
// digit first, then digits, dots and unit letters), so that most garbage is
// refused before time.ParseDuration, whose errors allocate.
func durationLike(v string) bool {
	if v == "" || v[0] < '0' || v[0] > '9' {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9', c == '.', c == 'h', c == 'm', c == 's', c == 'n', c == 'u', c >= 0x80: // µ is two bytes >= 0x80
		default:
			return false
		}
	}
	return true
}

// headerValue returns the first value of the canonical header name.
func headerValue(h http.Header, name string) (string, bool) {
	if vs := h[name]; len(vs) > 0 {
		return vs[0], true
	}
	return "", false
}
