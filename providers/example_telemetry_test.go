package providers_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/logos-llm/logos/providers"
)

// A response's rate-limit headers become a deployment's state; a 429 with
// Retry-After marks it exhausted until then.
func ExampleReadRateLimitHeaders() {
	now := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	h := http.Header{}
	h.Set("x-ratelimit-remaining-requests", "0")
	h.Set("x-ratelimit-reset-requests", "6m0s")
	h.Set("Retry-After", "20")

	rl := providers.UnknownRateLimit()
	providers.ReadRateLimitHeaders(http.StatusTooManyRequests, h, now, &rl)
	fmt.Println(rl.RemainingRequests, rl.ResetRequests.Sub(now), rl.RetryAfter.Sub(now))
	fmt.Println(rl.Exhausted(now.Add(time.Minute)), rl.Exhausted(now.Add(7*time.Minute)))
	// Output:
	// 0 6m0s 20s
	// true false
}
