package pipeline

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/scheduler"
)

func TestLeaseHeaders(t *testing.T) {
	w := httptest.NewRecorder()
	leaseHeaders(w, scheduler.NewLeaseInfo(scheduler.Candidate{}, scheduler.LeaseInfo{Tier: scheduler.TierSleeping, ETTFT: 2400 * time.Millisecond, ETTFTKnown: true}, nil))
	if got := w.Header().Get("X-Logos-Tier"); got != "sleeping" {
		t.Errorf("X-Logos-Tier = %q", got)
	}
	if got := w.Header().Get("X-Logos-Ettft-Ms"); got != "2400" {
		t.Errorf("X-Logos-Ettft-Ms = %q", got)
	}
	w = httptest.NewRecorder()
	leaseHeaders(w, scheduler.NewLease(scheduler.Candidate{}, 0, false, nil))
	if len(w.Header()) != 0 {
		t.Errorf("a lease without lifecycle information set %v", w.Header())
	}
}

func TestUpstreamLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	rl := providers.UnknownRateLimit()
	rl.RemainingRequests, rl.RemainingTokens, rl.ResetRequests = 0, 500, now.Add(6*time.Minute)
	u := upstreamLimit(rl, now)
	if !u.Known || !u.Limited || !u.RetryAt.Equal(now.Add(6*time.Minute)) || u.RemainingTokens != 500 {
		t.Errorf("no request left: %+v", u)
	}
	rl = providers.UnknownRateLimit()
	rl.RetryAfter = now.Add(3 * time.Second)
	if u := upstreamLimit(rl, now); !u.Limited || !u.RetryAt.Equal(rl.RetryAfter) || u.RemainingRequests != -1 {
		t.Errorf("429: %+v", u)
	}
	if u := upstreamLimit(rl, now.Add(4*time.Second)); u.Limited {
		t.Errorf("after the retry time: %+v", u)
	}
}
