package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/pipeline/budget"
	"github.com/logos-llm/logos/pipeline/ratelimit"
	"github.com/logos-llm/logos/store"
)

// statusClientClosed is recorded when the client went away (nginx's 499).
const statusClientClosed = 499

// exchange is one authenticated request. It accumulates the request's usage
// record and hands it to the usage sink exactly once, in End.
type exchange struct {
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
	// held is a whole answer's last byte, written by End as soon as the
	// usage record is handed over: before the metrics and the trace, which
	// the client need not wait for.
	held *holdLastByte
	// checkOnly makes admit stop before budgets and rate limits (Check).
	checkOnly bool
	// resource is set when Logos chose the model (resource mode).
	resource *resourceInfo
	// retry is what the request keeps between upstream attempts (retry.go).
	retry retryState
	// tr is the request's trace spans; nil when tracing is off (trace.go).
	tr *reqTrace
}

type ratedKey struct {
	key    string
	limits ratelimit.Limits
}

// begin starts the record of an authenticated request.
func (p *Pipeline) begin(c Caller, r *http.Request, rt *Route, tr *reqTrace) *exchange {
	now := p.cfg.Now()
	p.inFlight.Add(1)
	p.cfg.Metrics.RequestBegan()
	x := &exchange{p: p, caller: c, start: now, tr: tr}
	x.rec = store.UsageRecord{
		RequestID:       rt.RequestID,
		ClientRequestID: rt.ClientRequestID,
		ProcessID:       c.Process.ID,
		Operation:       rt.Operation,
		ReceivedAt:      now,
		ClientIP:        clientIP(r, p.cfg.TrustedProxies),
		LogLevel:        c.Process.LogLevel,
		Priority:        c.Process.Priority,
		Outcome:         store.OutcomeRejected,
	}
	if c.Profile != nil {
		x.rec.ProfileID = c.Profile.ID
	}
	if x.full() {
		x.rec.RequestHeaders = redactHeaders(r.Header)
	}
	return x
}

func (x *exchange) full() bool { return x.rec.LogLevel == store.LogFull }

// setRequestBody keeps the client's body in the record at log level FULL,
// without the fields only Logos reads (see storedPayload).
func (x *exchange) setRequestBody(body []byte) {
	if x.full() && len(body) > 0 {
		x.rec.RequestPayload = storedPayload(body)
	}
}

// storedPayload returns body as a FULL record keeps it: a JSON object without
// its Logos fields (logos_key, use_profile, timeout_s, logos_*, in any
// letter case and however escaped, as Go's decoder would match them),
// re-encoded only when one was removed. A body that is not a JSON object is
// kept unless it mentions "logos" in any case: then it may hold a key that
// cannot be cut out, and nothing is kept.
func storedPayload(body []byte) []byte {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		if bytes.Contains(bytes.ToLower(body), []byte("logos")) {
			return nil
		}
		return body
	}
	removed := false
	for k := range fields {
		if isLogosField(strings.ToLower(k)) {
			delete(fields, k)
			removed = true
		}
	}
	if !removed {
		return body
	}
	out, err := marshalNoEscape(fields)
	if err != nil {
		return nil
	}
	return out
}

// failed records that the request was refused or failed with e.
func (x *exchange) failed(e *oaierr.Error) {
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
func (x *exchange) End() {
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
		us := x.tr.usage()
		err := x.p.cfg.Usage.Write(context.Background(), x.rec)
		if x.held != nil {
			_ = x.held.release()
		}
		if err != nil {
			x.p.log.Error("usage record not written", "request_id", x.rec.RequestID, "client_request_id", x.rec.ClientRequestID, "err", err)
		}
		x.tr.finish(us, &x.rec, err)
		x.p.cfg.Metrics.ObserveRequest(x.rec)
		x.p.inFlight.Add(-1)
	})
}

// price fills in the cost of the record's tokens at the prices valid when the
// request arrived, so later price changes never rewrite it.
func (x *exchange) price() {
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

// clientIP returns the address a record names as the client's: the direct
// peer's, or, when the peer is a trusted proxy, the last address in
// X-Forwarded-For that is not itself a trusted proxy (the earlier ones are
// whatever the client chose to send).
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(trusted) == 0 || !isTrusted(host, trusted) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if !isTrusted(hop, trusted) {
			return hop
		}
		host = hop
	}
	return host
}

func isTrusted(addr string, trusted []netip.Prefix) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// sensitiveHeader reports whether a header may carry a credential.
func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"auth", "cookie", "key", "secret", "token", "password", "credential"} {
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
