package pipeline

import (
	"net/http"
	"strconv"
	"time"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/scheduler"
)

// This file holds what the pipeline does with the scheduler's lifecycle
// information (issue 21): the tier and ETTFT response headers of a lease,
// and the time to first token and rate-limit state reported back in the
// lease's Outcome. forward.go calls leaseHeaders and completeOutcome.

// leaseHeaders sets X-Logos-Tier (warm, sleeping, cold or cloud) when the
// scheduler named the tier of the granted lane, and X-Logos-Ettft-Ms when
// it estimated the time to first token at arrival.
func leaseHeaders(w http.ResponseWriter, l *scheduler.Lease) {
	info := l.Info()
	if info.Tier != "" {
		w.Header().Set("X-Logos-Tier", info.Tier)
	}
	if info.ETTFTKnown {
		w.Header().Set("X-Logos-Ettft-Ms", strconv.FormatInt(info.ETTFT.Milliseconds(), 10))
	}
}

// rateLimitReporter is implemented by a Config.RateLimits that can tell a
// deployment's rate-limit state (package live does).
type rateLimitReporter interface {
	RateLimit(deploymentID int64) (providers.RateLimit, bool)
}

// completeOutcome adds the time to first token (first upstream byte after
// forwarding) and the deployment's rate-limit state to o.
func (x *exchange) completeOutcome(o *scheduler.Outcome, deploymentID int64) {
	if f, s := x.rec.FirstTokenAt, x.rec.ForwardedAt; !f.IsZero() && !s.IsZero() && f.After(s) {
		o.TTFT = f.Sub(s)
	}
	rr, ok := x.p.cfg.RateLimits.(rateLimitReporter)
	if !ok {
		return
	}
	rl, ok := rr.RateLimit(deploymentID)
	if !ok {
		return
	}
	o.RateLimit = upstreamLimit(rl, x.p.cfg.Now())
}

// upstreamLimit converts a provider's rate-limit state at now.
func upstreamLimit(rl providers.RateLimit, now time.Time) scheduler.UpstreamLimit {
	u := scheduler.UpstreamLimit{Known: true, RemainingRequests: rl.RemainingRequests, RemainingTokens: rl.RemainingTokens}
	if !rl.Exhausted(now) {
		return u
	}
	u.Limited = true
	if now.Before(rl.RetryAfter) {
		u.RetryAt = rl.RetryAfter
	}
	if rl.RemainingRequests == 0 && now.Before(rl.ResetRequests) && rl.ResetRequests.After(u.RetryAt) {
		u.RetryAt = rl.ResetRequests
	}
	if rl.RemainingTokens == 0 && now.Before(rl.ResetTokens) && rl.ResetTokens.After(u.RetryAt) {
		u.RetryAt = rl.ResetTokens
	}
	return u
}
