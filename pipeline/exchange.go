package pipeline

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/logos-llm/logos/budget"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/ratelimit"
	"github.com/logos-llm/logos/store"
)

// statusClientClosed is recorded when the client went away (nginx's 499).
const statusClientClosed = 499

// Exchange is one authenticated request. It accumulates the request's usage
// record and hands it to the usage sink exactly once, in End.
type Exchange struct {
	p      *Pipeline
	caller Caller
	rec    store.UsageRecord
	start  time.Time
	once   sync.Once
	// rated are the rate-limit keys this request was admitted under; its
	// tokens are counted against them when it ends.
	rated []ratedKey
	// spend is the request's hold on its budgets, settled with its cost.
	spend budget.Reservation
}

type ratedKey struct {
	key    string
	limits ratelimit.Limits
}

// Begin starts the record of an authenticated request.
func (p *Pipeline) Begin(c Caller, r *http.Request, requestID, operation string) *Exchange {
	now := p.cfg.Now()
	p.inFlight.Add(1)
	p.cfg.Metrics.RequestBegan()
	x := &Exchange{p: p, caller: c, start: now}
	x.rec = store.UsageRecord{
		RequestID:  requestID,
		ProcessID:  c.Process.ID,
		Operation:  operation,
		ReceivedAt: now,
		ClientIP:   clientIP(r),
		LogLevel:   c.Process.LogLevel,
		Priority:   c.Process.Priority,
		Outcome:    store.OutcomeRejected,
	}
	if c.Profile != nil {
		x.rec.ProfileID = c.Profile.ID
	}
	if x.full() {
		x.rec.RequestHeaders = redactHeaders(r.Header)
	}
	return x
}

func (x *Exchange) full() bool { return x.rec.LogLevel == store.LogFull }

// Caller returns the authenticated caller.
func (x *Exchange) Caller() Caller { return x.caller }

// SetRequestBody keeps the client's body in the record at log level FULL.
func (x *Exchange) SetRequestBody(body []byte) {
	if x.full() && len(body) > 0 {
		x.rec.RequestPayload = body
	}
}

// Fail records that the request was refused or failed with e.
func (x *Exchange) Fail(e *oaierr.Error) {
	x.rec.StatusCode = e.Status
	x.rec.ErrorMessage = e.Message
	switch {
	case e.Status == statusClientClosed:
		x.rec.Outcome = store.OutcomeCancelled
	case e.Code == codeQueueTimeout || e.Status == http.StatusGatewayTimeout:
		x.rec.Outcome = store.OutcomeTimeout
	case x.rec.ForwardedAt.IsZero():
		x.rec.Outcome = store.OutcomeRejected
	default:
		x.rec.Outcome = store.OutcomeError
	}
}

// End completes the record and hands it to the usage sink. Only the first call
// has an effect. It blocks only while the sink applies backpressure.
func (x *Exchange) End() {
	x.once.Do(func() {
		if x.rec.CompletedAt.IsZero() {
			x.rec.CompletedAt = x.p.cfg.Now()
		}
		if x.rec.StatusCode == 0 {
			// Nothing failed and nothing was forwarded: answered by Logos.
			x.rec.StatusCode = http.StatusOK
			x.rec.Outcome = store.OutcomeSuccess
		}
		x.price()
		x.spend.Complete(x.rec.CostMicros)
		if n := x.totalTokens(); n > 0 {
			for _, k := range x.rated {
				x.p.cfg.Limiter.RecordTokens(k.key, k.limits, n)
			}
		}
		// The record must outlive the request: a client that disconnected
		// still leaves it.
		if err := x.p.cfg.Usage.Write(context.Background(), x.rec); err != nil {
			x.p.log.Error("usage record not written", "request_id", x.rec.RequestID, "err", err)
		}
		x.p.cfg.Metrics.ObserveRequest(x.rec)
		x.p.inFlight.Add(-1)
	})
}

// price fills in the cost of the record's tokens at the prices valid when the
// request arrived, so later price changes never rewrite it.
func (x *Exchange) price() {
	if len(x.rec.Tokens) == 0 {
		return
	}
	priced, total, currency, err := x.caller.Catalog.Prices().Cost(x.rec.ReceivedAt, x.rec.ModelID, x.rec.ProviderID, x.rec.Tokens)
	if err != nil {
		// Recorded unpriced: the tokens are kept, so it can be priced later.
		x.p.log.Warn("usage record left unpriced", "request_id", x.rec.RequestID, "err", err)
		return
	}
	x.rec.Tokens, x.rec.CostMicros, x.rec.Currency = priced, total, currency
}

// Record returns a copy of the record as it stands (for tests and hooks).
func (x *Exchange) Record() store.UsageRecord { return x.rec }

func clientIP(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		if ip := strings.TrimSpace(first); ip != "" {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// sensitiveHeader reports whether a header may carry a credential.
func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"authorization", "cookie", "key", "secret", "token", "password"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// redactHeaders returns headers as a JSON object with credentials replaced.
func redactHeaders(h http.Header) json.RawMessage {
	out := make(map[string]string, len(h))
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if sensitiveHeader(k) {
			out[strings.ToLower(k)] = "[REDACTED]"
			continue
		}
		out[strings.ToLower(k)] = strings.Join(h[k], ", ")
	}
	b, _ := json.Marshal(out)
	return b
}
