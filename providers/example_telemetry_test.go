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

// A model is warm on an Ollama server when /api/ps lists it and its expiry
// has not passed; a name without a tag is the ":latest" one.
func ExampleState_FindLoaded() {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	st := providers.State{LoadedKnown: true, Loaded: []providers.LoadedModel{
		{Name: "llama3:latest", SizeVRAM: 5 << 30, ExpiresAt: now.Add(4 * time.Minute)},
		{Name: "qwen2.5:7b", ExpiresAt: now.Add(-time.Second)},
	}}
	m, ok := st.FindLoaded("llama3", now)
	fmt.Println(ok, m.SizeVRAM>>20, "MiB")
	_, ok = st.FindLoaded("qwen2.5:7b", now)
	fmt.Println(ok)
	// Output:
	// true 5120 MiB
	// false
}
