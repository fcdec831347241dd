package live

import (
	"net/http"
	"time"

	"github.com/logos-llm/logos/providers"
)

// ObserveResponse folds an upstream response's rate-limit headers into the
// state of the deployment that answered. It is called on the request path
// with every upstream response: it does nothing for providers that do not
// implement providers.RateLimitReader, and otherwise updates the
// deployment's state in place (no allocation once the deployment is known).
func (m *Monitor) ObserveResponse(deploymentID, providerID int64, providerName string, p providers.Provider, status int, h http.Header) {
	rr, ok := p.(providers.RateLimitReader)
	if !ok {
		return
	}
	m.rlMu.RLock()
	e := m.rl[deploymentID]
	m.rlMu.RUnlock()
	if e == nil {
		// Only a response with rate-limit data creates an entry.
		rl := providers.UnknownRateLimit()
		if !rr.ReadRateLimit(status, h, m.cfg.Now(), &rl) {
			return
		}
		m.rlMu.Lock()
		if e = m.rl[deploymentID]; e == nil {
			m.rl[deploymentID] = &rateEntry{providerID: providerID, providerName: providerName, rl: rl}
			m.rlMu.Unlock()
			return
		}
		m.rlMu.Unlock()
	}
	e.mu.Lock()
	rr.ReadRateLimit(status, h, m.cfg.Now(), &e.rl)
	e.mu.Unlock()
}

// RateLimit returns a deployment's rate-limit state; false when no response
// of it carried rate-limit data, or the last one is older than the
// RateLimitTTL and names no retry or reset time still ahead (unknown).
func (m *Monitor) RateLimit(deploymentID int64) (providers.RateLimit, bool) {
	m.rlMu.RLock()
	e := m.rl[deploymentID]
	m.rlMu.RUnlock()
	if e == nil {
		return providers.RateLimit{}, false
	}
	e.mu.Lock()
	rl := e.rl
	e.mu.Unlock()
	return rl, m.fresh(&rl, m.cfg.Now())
}

// fresh reports whether rl is still to be believed at now.
func (m *Monitor) fresh(rl *providers.RateLimit, now time.Time) bool {
	if now.Sub(rl.UpdatedAt) <= m.cfg.RateLimitTTL {
		return true
	}
	return now.Before(rl.RetryAfter) || now.Before(rl.ResetRequests) || now.Before(rl.ResetTokens)
}

// RateLimited reports whether a deployment's upstream asked, at now, not to
// be called (a 429 whose retry time has not passed, or nothing remaining
// before a reset still ahead). Unknown is never rate limited.
func (m *Monitor) RateLimited(deploymentID int64, now time.Time) bool {
	rl, ok := m.RateLimit(deploymentID)
	return ok && rl.Exhausted(now)
}
