package providers_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/logos-llm/logos/providers"
)

var now = time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestReadRateLimitHeaders(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		h      http.Header
		seen   bool
		want   providers.RateLimit
	}{
		{
			// As OpenAI sends them (lower-case on the wire).
			name: "openai", status: 200,
			h: hdr("x-ratelimit-limit-requests", "10000", "x-ratelimit-limit-tokens", "30000000",
				"x-ratelimit-remaining-requests", "9999", "x-ratelimit-remaining-tokens", "29999980",
				"x-ratelimit-reset-requests", "6m0s", "x-ratelimit-reset-tokens", "20ms"),
			seen: true,
			want: providers.RateLimit{LimitRequests: 10000, LimitTokens: 30000000, RemainingRequests: 9999, RemainingTokens: 29999980,
				ResetRequests: now.Add(6 * time.Minute), ResetTokens: now.Add(20 * time.Millisecond), UpdatedAt: now},
		},
		{
			name: "openai compound reset", status: 200,
			h:    hdr("x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "1h2m3.5s", "x-ratelimit-reset-tokens", "1s"),
			seen: true,
			want: providers.RateLimit{LimitRequests: -1, LimitTokens: -1, RemainingRequests: 0, RemainingTokens: -1,
				ResetRequests: now.Add(time.Hour + 2*time.Minute + 3500*time.Millisecond), ResetTokens: now.Add(time.Second), UpdatedAt: now},
		},
		{
			// Azure OpenAI: remaining counts only, seconds without a unit.
			name: "azure", status: 200,
			h:    hdr("x-ratelimit-remaining-requests", "59", "x-ratelimit-remaining-tokens", "59000", "x-ratelimit-reset-requests", "10"),
			seen: true,
			want: providers.RateLimit{LimitRequests: -1, LimitTokens: -1, RemainingRequests: 59, RemainingTokens: 59000,
				ResetRequests: now.Add(10 * time.Second), UpdatedAt: now},
		},
		{
			name: "azure 429 retry-after-ms", status: 429,
			h:    hdr("retry-after-ms", "1500", "retry-after", "2", "x-ratelimit-remaining-requests", "0"),
			seen: true,
			want: providers.RateLimit{LimitRequests: -1, LimitTokens: -1, RemainingRequests: 0, RemainingTokens: -1,
				RetryAfter: now.Add(1500 * time.Millisecond), UpdatedAt: now},
		},
		{
			name: "429 retry-after seconds", status: 429, h: hdr("Retry-After", "20"), seen: true,
			want: providers.RateLimit{LimitRequests: -1, LimitTokens: -1, RemainingRequests: -1, RemainingTokens: -1,
				RetryAfter: now.Add(20 * time.Second), UpdatedAt: now},
		},
		{
			name: "429 retry-after date", status: 429, h: hdr("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), seen: true,
			want: providers.RateLimit{LimitRequests: -1, LimitTokens: -1, RemainingRequests: -1, RemainingTokens: -1,
				RetryAfter: now.Add(90 * time.Second), UpdatedAt: now},
		},
		{
			name: "429 without retry-after waits for the reset", status: 429,
			h: hdr("x-ratelimit-reset-tokens", "3s", "x-ratelimit-reset-requests", "6m0s"), seen: true,
			want: providers.RateLimit{LimitRequests: -1, LimitTokens: -1, RemainingRequests: -1, RemainingTokens: -1,
				ResetRequests: now.Add(6 * time.Minute), ResetTokens: now.Add(3 * time.Second), RetryAfter: now.Add(3 * time.Second), UpdatedAt: now},
		},
		{
			name: "bare 429", status: 429, h: hdr(), seen: true,
			want: providers.RateLimit{LimitRequests: -1, LimitTokens: -1, RemainingRequests: -1, RemainingTokens: -1,
				RetryAfter: now.Add(time.Second), UpdatedAt: now},
		},
		{
			name: "garbage is ignored", status: 200,
			h:    hdr("x-ratelimit-remaining-requests", "lots", "x-ratelimit-reset-requests", "-1s", "x-ratelimit-limit-tokens", "-5", "x-ratelimit-reset-tokens", "."),
			want: providers.UnknownRateLimit(),
		},
		{name: "none", status: 200, h: hdr("content-type", "application/json"), want: providers.UnknownRateLimit()},
	} {
		rl := providers.UnknownRateLimit()
		if seen := providers.ReadRateLimitHeaders(tc.status, tc.h, now, &rl); seen != tc.seen {
			t.Errorf("%s: seen = %v, want %v", tc.name, seen, tc.seen)
		}
		if d := cmp.Diff(tc.want, rl); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}

func TestRateLimitExhausted(t *testing.T) {
	rl := providers.UnknownRateLimit()
	if rl.Exhausted(now) {
		t.Error("unknown rate limit is exhausted; unknown must never mean busy")
	}
	providers.ReadRateLimitHeaders(429, hdr("Retry-After", "5"), now, &rl)
	if !rl.Exhausted(now.Add(4*time.Second)) || rl.Exhausted(now.Add(5*time.Second)) {
		t.Error("a 429 with Retry-After: 5 should exhaust for exactly 5 s")
	}
	rl = providers.UnknownRateLimit()
	providers.ReadRateLimitHeaders(200, hdr("x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "2s"), now, &rl)
	if !rl.Exhausted(now.Add(time.Second)) || rl.Exhausted(now.Add(2*time.Second)) {
		t.Error("no remaining requests should exhaust until the reset")
	}
	rl = providers.UnknownRateLimit()
	providers.ReadRateLimitHeaders(200, hdr("x-ratelimit-remaining-requests", "1", "x-ratelimit-reset-requests", "2s"), now, &rl)
	if rl.Exhausted(now) {
		t.Error("one remaining request is not exhausted (pitfall 22: the threshold is 0)")
	}
}

func TestParseResetDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"6m0s": 6 * time.Minute, "1s": time.Second, "20ms": 20 * time.Millisecond, " 7 ": 7 * time.Second,
		"0.5": 500 * time.Millisecond, "0s": 0, "1m30.25s": 90*time.Second + 250*time.Millisecond,
	} {
		if got, ok := providers.ParseResetDuration(in); !ok || got != want {
			t.Errorf("ParseResetDuration(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-1", "-1s", "soon", ".", "1.2.3"} {
		if got, ok := providers.ParseResetDuration(in); ok {
			t.Errorf("ParseResetDuration(%q) = %v, want refused", in, got)
		}
	}
}

// BenchmarkReadRateLimitHeaders measures the per-response cost on the
// request path: an OpenAI response with all six headers.
func BenchmarkReadRateLimitHeaders(b *testing.B) {
	h := hdr("x-ratelimit-limit-requests", "10000", "x-ratelimit-limit-tokens", "30000000",
		"x-ratelimit-remaining-requests", "9999", "x-ratelimit-remaining-tokens", "29999980",
		"x-ratelimit-reset-requests", "6m0s", "x-ratelimit-reset-tokens", "20ms",
		"Content-Type", "application/json", "X-Request-Id", "req_123")
	rl := providers.UnknownRateLimit()
	b.ReportAllocs()
	for b.Loop() {
		providers.ReadRateLimitHeaders(200, h, now, &rl)
	}
}

func TestReadRateLimitHeadersDoesNotAllocate(t *testing.T) {
	h := hdr("x-ratelimit-remaining-requests", "9999", "x-ratelimit-reset-requests", "6m0s", "x-ratelimit-reset-tokens", "oops")
	rl := providers.UnknownRateLimit()
	if n := testing.AllocsPerRun(100, func() { providers.ReadRateLimitHeaders(200, h, now, &rl) }); n != 0 {
		t.Errorf("ReadRateLimitHeaders allocates %v times per call, want 0", n)
	}
}

func TestStateFindLoaded(t *testing.T) {
	st := providers.State{LoadedKnown: true, Loaded: []providers.LoadedModel{
		{Name: "llama3:latest", Model: "llama3:latest", SizeVRAM: 1},
		{Name: "qwen2.5:7b", SizeVRAM: 2, ExpiresAt: now.Add(time.Minute)},
		{Name: "gone:latest", SizeVRAM: 3, ExpiresAt: now.Add(-time.Second)},
		{Name: "alias", Model: "mistral:7b", SizeVRAM: 4},
	}}
	for _, tc := range []struct {
		model string
		want  int64 // SizeVRAM of the entry found; 0: none
	}{
		{"llama3", 1},        // no tag is :latest
		{"llama3:latest", 1}, // exact
		{"llama3:8b", 0},     // another tag
		{"qwen2.5:7b", 2},    // expires later
		{"qwen2.5", 0},       // :latest is not :7b
		{"gone", 0},          // expired, though listed
		{"mistral:7b", 4},    // matched by Model
		{"alias:latest", 4},  // Name without a tag is :latest
		{"", 0},              // never, though qwen2.5:7b has no Model
	} {
		m, ok := st.FindLoaded(tc.model, now)
		if ok != (tc.want != 0) || m.SizeVRAM != tc.want {
			t.Errorf("FindLoaded(%q) = %+v, %v; want size %d", tc.model, m, ok, tc.want)
		}
	}
}
