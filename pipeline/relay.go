package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/pipeline/billing"
	"github.com/logos-llm/logos/pipeline/meter"
	"github.com/logos-llm/logos/store"
)

// relayError passes an upstream error on with its status, as an OpenAI-format
// error (keeping the provider's own OpenAI-shaped body), with its rate-limit
// headers.
func (x *exchange) relayError(w http.ResponseWriter, req *Request, resp *http.Response) {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	status, verbatim, e := upstreamError(resp.StatusCode, body)
	for k, vs := range resp.Header {
		lk := strings.ToLower(k)
		switch {
		case lk == "retry-after" || lk == "retry-after-ms":
			w.Header()[k] = vs
		case strings.HasPrefix(lk, "x-ratelimit-") && len(w.Header().Values(k)) == 0:
			// Logos's own limits, when the key has some, win.
			w.Header()[k] = vs
		}
	}
	x.rec.StatusCode = status
	x.rec.ErrorMessage = e.Message
	x.rec.Outcome = store.OutcomeError
	x.rec.CompletedAt = x.p.cfg.Now()
	if x.full() {
		x.rec.ResponsePayload = body
		x.rec.ResponseHeaders = redactHeaders(resp.Header)
	}
	if verbatim && !req.Native {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	e.Status = status
	writeError(w, e, req.Native)
}

// upstreamError maps an upstream error response to the status and error the
// client gets. An OpenAI-shaped body ({"error":{"message":...}}) is kept
// verbatim unless its status had to be corrected.
func upstreamError(status int, body []byte) (int, bool, *oaierr.Error) {
	var env struct {
		Error json.RawMessage `json:"error"`
		Msg   string          `json:"message"`
	}
	msg := ""
	verbatim := false
	upstreamCode := ""
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 {
		var obj struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		}
		var str string
		switch {
		case json.Unmarshal(env.Error, &obj) == nil && obj.Message != "":
			// Complete OpenAI errors pass verbatim; others (Azure's lack a
			// type) are normalised, keeping their message and code.
			msg, verbatim = obj.Message, obj.Type != ""
			if c, ok := obj.Code.(string); ok {
				upstreamCode = c
			}
		case json.Unmarshal(env.Error, &str) == nil:
			msg = str
		}
	} else if env.Msg != "" {
		msg = env.Msg
	}
	if msg == "" {
		msg = strings.TrimSpace(string(body))
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
	}
	e := oaierr.New(status, msg).WithCode(first(upstreamCode, "upstream_error"))
	if status >= 500 && contextLengthMessage(msg) {
		// vLLM and others answer 500 for context overflow; SDKs would retry it.
		status = http.StatusBadRequest
		e.Status = status
		e.Code = "context_length_exceeded"
		verbatim = false
	}
	return status, verbatim, e
}

func contextLengthMessage(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{"maximum context length", "context length", "context_length_exceeded", "context window", "too many tokens"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// relay streams a successful upstream answer to the client. Its frame is on
// the stack during the first flush, net/http's deepest point (see forward),
// so the options are built and the outcome recorded in other functions.
func (x *exchange) relay(w http.ResponseWriter, r *http.Request, req *Request, resp *http.Response, injected bool) {
	if responseFormat(resp, req) == meter.FormatJSON {
		x.relayWhole(w, r, req, resp, injected)
		return
	}
	s := x.newStream(w, r, req, resp, injected)
	err := meter.RelayTo(&s.res, &s.dw, resp.Body, &s.opts)
	x.relayed(w, r, req, resp, &s.dw, &s.res, err)
	s.dw.clearDeadline()
}

// stream is what relaying a stream needs, in one heap object rather than
// in relay's frame: relay stays on the stack of an open stream for its
// whole life, and a few hundred bytes there decide whether each stream's
// goroutine stack stays at 8 KiB.
type stream struct {
	dw   deferredWriter
	opts meter.Options
	res  meter.Result
}

// newStream is not inlined: its temporaries would be on relay's frame.
//
//go:noinline
func (x *exchange) newStream(w http.ResponseWriter, r *http.Request, req *Request, resp *http.Response, injected bool) *stream {
	return &stream{
		dw:   deferredWriter{w: w, status: resp.StatusCode, timeout: x.p.cfg.WriteTimeout},
		opts: x.relayOptions(w, r, req, resp, injected),
	}
}

// relayWhole relays a non-streaming answer: it reads the body completely
// (up to MaxResponseBytes) before the status is sent, so that an upstream
// breaking off mid-body becomes a 502 the client can retry, and the usage
// is parsed from the complete body.
func (x *exchange) relayWhole(w http.ResponseWriter, r *http.Request, req *Request, resp *http.Response, injected bool) {
	body, first, err := readWhole(resp, x.p.cfg.MaxResponseBytes, x.p.cfg.Now)
	if err != nil {
		x.rec.CompletedAt = x.p.cfg.Now()
		x.rec.FirstTokenAt = first
		if r.Context().Err() != nil {
			x.fail(w, req, oaierr.New(statusClientClosed, "Client closed the request"))
			return
		}
		x.p.log.Warn("upstream answer broke off", "request_id", x.rec.RequestID, "provider", x.rec.ProviderName, "err", err)
		x.fail(w, req, oaierr.New(http.StatusBadGateway, "The provider's response broke off before it was complete: "+err.Error()).WithCode("upstream_error"))
		return
	}
	dw := &deferredWriter{w: w, status: resp.StatusCode, timeout: x.p.cfg.WriteTimeout}
	defer dw.clearDeadline()
	// The answer's last byte is held back (and nothing flushed) until the
	// usage record is handed over: with a usage log, a client that has the
	// whole answer has its record on disk, even if Logos dies right after.
	hw := &holdLastByte{w: dw}
	res, err := meter.Relay(hw, body, x.relayOptions(w, r, req, resp, injected))
	if !first.IsZero() {
		res.FirstByteAt = first
	}
	x.relayed(w, r, req, resp, dw, &res, err)
	x.held = hw
	x.End()          // writes the held byte once the record is handed over
	_ = hw.release() // in case End ran before (it runs once)
}

// holdLastByte passes writes on but for the last byte written, which
// release writes. It does not flush.
type holdLastByte struct {
	w    io.Writer
	b    [1]byte
	held bool
}

func (h *holdLastByte) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := h.release(); err != nil {
		return 0, err
	}
	if n, err := h.w.Write(p[:len(p)-1]); err != nil {
		return n, err
	}
	h.b[0], h.held = p[len(p)-1], true
	return len(p), nil
}

// release writes the held byte, if any.
func (h *holdLastByte) release() error {
	if !h.held {
		return nil
	}
	h.held = false
	_, err := h.w.Write(h.b[:])
	return err
}

// readWhole reads resp's body to its end and returns it as a reader, with
// the time its first byte arrived. The buffer is sized from Content-Length
// when there is one, and grows in steps otherwise. A body longer than limit
// is not held: the reader then returns what was read followed by the rest
// of the body as it arrives.
func readWhole(resp *http.Response, limit int64, now func() time.Time) (io.Reader, time.Time, error) {
	size := int64(4 << 10)
	if resp.ContentLength >= 0 {
		size = resp.ContentLength + 1 // room to see io.EOF without growing
	}
	buf := make([]byte, 0, min(size, limit))
	var first time.Time
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= limit {
				return io.MultiReader(bytes.NewReader(buf), resp.Body), first, nil
			}
			buf = append(buf, 0)[:len(buf)]
			buf = buf[:len(buf):min(cap(buf), int(limit))]
		}
		n, err := resp.Body.Read(buf[len(buf):cap(buf)])
		if n > 0 && first.IsZero() {
			first = now()
		}
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return bytes.NewReader(buf), first, nil
		}
		if err != nil {
			return nil, first, err
		}
	}
}

// relayOptions returns the metering options for resp and sets the client's
// response headers from it.
func (x *exchange) relayOptions(w http.ResponseWriter, r *http.Request, req *Request, resp *http.Response, injected bool) meter.Options {
	format := responseFormat(resp, req)
	opts := meter.Options{Format: format, DropInjectedUsage: injected, Now: x.p.cfg.Now}
	if wantsCost(r.Header) {
		opts.AddToUsage = x.costMembers
	}
	// A body that gets cost members is longer than the upstream said.
	copyResponseHeaders(w.Header(), resp.Header, format == meter.FormatJSON && opts.AddToUsage == nil)
	if x.full() {
		opts.CaptureLimit = x.p.cfg.CaptureLimit
	}
	return opts
}

// relayed records the outcome of a relay and, when the upstream broke off
// before any byte reached the client, writes the error.
func (x *exchange) relayed(w http.ResponseWriter, r *http.Request, req *Request, resp *http.Response, dw *deferredWriter, res *meter.Result, err error) {
	x.rec.CompletedAt = x.p.cfg.Now()
	x.rec.FirstTokenAt = res.FirstByteAt
	x.rec.Tokens = tokenCounts(res.Usage)
	if x.full() {
		x.rec.ResponsePayload = res.Captured
		x.rec.ResponseHeaders = redactHeaders(resp.Header)
	}
	switch {
	// A client that hung up after the end of the answer reached it, before
	// the upstream closed the stream (OpenAI's clients stop reading at
	// "data: [DONE]"), lost nothing: the request succeeded.
	case err == nil, res.SawDone && r.Context().Err() != nil && !errors.Is(err, meter.ErrClient):
		if !dw.started {
			dw.start()
		}
		x.rec.StatusCode = resp.StatusCode
		x.rec.Outcome = store.OutcomeSuccess
	case r.Context().Err() != nil || errors.Is(err, meter.ErrClient):
		x.rec.StatusCode = statusClientClosed
		x.rec.Outcome = store.OutcomeCancelled
		x.rec.ErrorMessage = "client closed the connection during the response"
	default:
		x.rec.Outcome = store.OutcomeError
		x.rec.ErrorMessage = err.Error()
		if !dw.started {
			// Nothing was sent yet: the client gets a real error status
			// rather than a 200 with an empty body.
			x.rec.StatusCode = http.StatusBadGateway
			writeError(w, oaierr.New(http.StatusBadGateway, "The provider's response broke off before any data").WithCode("upstream_error"), req.Native)
			return
		}
		x.rec.StatusCode = resp.StatusCode
	}
}

func (x *exchange) totalTokens() int64 {
	var n int64
	for _, t := range x.rec.Tokens {
		if t.Type == "prompt_tokens" || t.Type == "completion_tokens" {
			n += t.Count
		}
	}
	return n
}

func tokenCounts(u meter.Tokens) []store.TokenCount {
	if len(u) == 0 {
		return nil
	}
	out := make([]store.TokenCount, 0, len(u))
	for k, v := range u {
		out = append(out, store.TokenCount{Type: k, Count: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

func responseFormat(resp *http.Response, req *Request) meter.Format {
	f := meter.FormatForContentType(resp.Header.Get("Content-Type"))
	if f == meter.FormatJSON && req.Native && req.Stream {
		// Ollama streams NDJSON whatever its Content-Type says.
		return meter.FormatNDJSON
	}
	return f
}

// hopHeaders are connection-level headers never forwarded in either direction.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Proxy-Connection": true,
}

// copyResponseHeaders copies upstream response headers to the client, except
// connection headers (and those Connection names), Set-Cookie, and headers Logos has set itself (its request id and its
// own rate-limit headers win over the provider account's). The upstream's
// request id is kept as X-Upstream-Request-Id.
func copyResponseHeaders(dst, src http.Header, keepLength bool) {
	for k, vs := range src {
		switch {
		case hopHeaders[k], k == "Set-Cookie", k == "Set-Cookie2", connectionNames(src, k):
			// Cookies are the provider account's session, not the client's.
		case len(dst.Values(k)) > 0 && !strings.EqualFold(k, "X-Request-Id"):
		case k == "Content-Length" && !keepLength:
		case strings.EqualFold(k, "X-Request-Id"):
			dst["X-Upstream-Request-Id"] = vs
		default:
			dst[k] = vs
		}
	}
}

// deferredWriter delays the response status until the first byte of the body,
// so an upstream that fails before sending anything still gets a real error
// status instead of a 200 with an empty body. With a timeout it keeps the
// connection's write deadline at least timeout (and at most 17/16 of it)
// ahead of every write, so a client that stops reading is cut off after
// about timeout instead of holding its deployment slot.
type deferredWriter struct {
	w       http.ResponseWriter
	status  int
	started bool
	timeout time.Duration
	rc      *http.ResponseController
	// until is the write deadline set, zero if none is. It is moved only
	// when less than timeout is left, so a stream of small events costs one
	// clock read per write rather than a deadline change (a runtime timer
	// update and locks in net/http and the poller) per write.
	until time.Time
}

func (d *deferredWriter) start() {
	d.started = true
	d.w.WriteHeader(d.status)
}

// renew makes sure the write deadline is at least timeout ahead of now:
// when less is left, it moves it to timeout plus a sixteenth ahead.
func (d *deferredWriter) renew() {
	if d.timeout <= 0 {
		return
	}
	now := time.Now()
	if d.until.Sub(now) > d.timeout {
		return
	}
	if d.rc == nil {
		d.rc = http.NewResponseController(d.w)
	}
	until := now.Add(d.timeout + d.timeout/16)
	if d.rc.SetWriteDeadline(until) == nil {
		d.until = until
	}
}

// clearDeadline removes the write deadline, so the next request on a
// keep-alive connection does not inherit it.
func (d *deferredWriter) clearDeadline() {
	if !d.until.IsZero() {
		_ = d.rc.SetWriteDeadline(time.Time{})
		d.until = time.Time{}
	}
}

func (d *deferredWriter) Write(p []byte) (int, error) {
	if !d.started {
		d.start()
	}
	d.renew()
	return d.w.Write(p)
}

// FlushError flushes what was written to the client, once the response has
// started, and reports a failure (the relay then stops at once rather than
// at its next write). The relay finds it before Flush: it is called from
// the deepest point of a stream's stack, so it calls the ResponseWriter's
// own FlushError directly.
func (d *deferredWriter) FlushError() error {
	if !d.started {
		return nil
	}
	switch f := d.w.(type) {
	case interface{ FlushError() error }:
		return f.FlushError()
	case http.Flusher:
		f.Flush()
		return nil
	}
	return flushUnwrapped(d.w)
}

// flushUnwrapped flushes a ResponseWriter that wraps a flushable one.
func flushUnwrapped(w http.ResponseWriter) error {
	err := http.NewResponseController(w).Flush()
	if errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	return err
}

// Flush implements http.Flusher.
func (d *deferredWriter) Flush() { _ = d.FlushError() }

// wantsCost reports whether the client asked for usage.cost in the response
// (header Logos-Include-Cost: true).
func wantsCost(h http.Header) bool {
	v := strings.ToLower(strings.TrimSpace(header(h, "Logos-Include-Cost", "logos_include_cost")))
	return v == "true" || v == "1" || v == "yes"
}

// costMembers prices usage the relay found and returns the JSON members
// "cost" (in currency units) and "cost_currency" to add to it, or nil when
// nothing is priced.
func (x *exchange) costMembers(u meter.Tokens) []byte {
	_, total, currency, err := x.caller.Catalog.Prices().Cost(x.rec.ReceivedAt, x.rec.ModelID, x.rec.ProviderID, tokenCounts(u))
	if err != nil || currency == "" {
		return nil
	}
	cur, _ := json.Marshal(currency)
	return fmt.Appendf(nil, `"cost":%s,"cost_currency":%s`, billing.FormatMicros(total), cur)
}
