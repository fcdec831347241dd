package pipeline

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/providers"
)

// execute sends the request upstream and relays the answer.
func (x *exchange) execute(w http.ResponseWriter, r *http.Request, req *Request, dep *Deployment) {
	upReq, inject, ok := x.upstreamRequest(w, r, req, dep)
	if !ok {
		return
	}
	if e := x.beforeForward(r.Context()); e != nil {
		x.fail(w, req, e)
		return
	}
	x.rec.ForwardedAt = x.p.cfg.Now()
	x.tr.startUpstream(upReq, req, dep, x.rec.Attempts+1)
	resp, err := x.send(upReq, dep) // retry hook: Client.Do with the attempt timeout
	x.tr.upstreamAnswered(resp, err)
	if err != nil {
		x.attemptFailed(w, r, req, err, dep) // retry hook
		return
	}
	defer resp.Body.Close()
	if obs := x.p.cfg.Upstream; obs != nil {
		prov, _ := x.p.cfg.Providers.Lookup(string(dep.Provider.Kind))
		obs.ObserveResponse(dep.ID, dep.Provider.ID, dep.Provider.Name, prov, resp.StatusCode, resp.Header)
	}
	if x.retryAnswer(resp, dep) { // retry hook: a 5xx or 429 another deployment may answer
		return
	}
	x.setOverhead(w)

	if resp.StatusCode >= 400 {
		x.relayError(w, req, resp)
		return
	}
	x.relay(w, r, req, resp, inject)
}

// upstreamRequest builds the provider's request for req and reports whether
// stream usage was asked for on the client's behalf. When it reports false it
// has written the error.
func (x *exchange) upstreamRequest(w http.ResponseWriter, r *http.Request, req *Request, dep *Deployment) (*http.Request, bool, bool) {
	prov, _ := x.p.cfg.Providers.Lookup(string(dep.Provider.Kind))
	upstreamModel := dep.UpstreamModel
	if upstreamModel == "" {
		upstreamModel = dep.Model.Name
	}
	inject := req.Stream && !req.Native && (req.Operation == "chat/completions" || req.Operation == "completions") && !clientAskedUsage(req.Fields)
	body, err := rewriteBody(req, upstreamModel, inject)
	if err != nil {
		x.fail(w, req, oaierr.New(http.StatusBadRequest, "Request body could not be rewritten").WithCode("invalid_json"))
		return nil, false, false
	}
	target := providers.Target{
		Kind:          string(dep.Provider.Kind),
		BaseURL:       dep.Provider.BaseURL,
		Endpoint:      dep.Endpoint,
		UpstreamModel: upstreamModel,
		APIVersion:    first(dep.APIVersion, dep.Provider.APIVersion),
		AuthHeader:    dep.Provider.AuthHeader,
		AuthFormat:    dep.Provider.AuthFormat,
		Credential:    first(dep.Credential, dep.Provider.Credential),
	}
	upReq, err := prov.NewRequest(r.Context(), target, providers.Call{
		Operation: req.Operation,
		Method:    req.Method,
		Body:      body,
		Header:    forwardHeaders(r.Header),
		Query:     req.Query,
	})
	if err != nil {
		x.p.log.Error("building upstream request failed", "request_id", x.rec.RequestID, "provider", dep.Provider.Name, "err", err)
		x.fail(w, req, oaierr.New(http.StatusBadGateway, "The provider cannot serve this operation").WithCode("upstream_error"))
		return nil, false, false
	}
	return upReq, inject, true
}

func (x *exchange) transportError(ctx context.Context, err error, dep *Deployment) *oaierr.Error {
	if ctx.Err() != nil {
		return oaierr.New(statusClientClosed, "Client closed the request")
	}
	detail := withoutURL(err)
	x.p.log.Warn("upstream request failed", "request_id", x.rec.RequestID, "provider", dep.Provider.Name, "err", detail)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return oaierr.New(http.StatusGatewayTimeout, "The provider did not answer in time").WithCode("upstream_timeout")
	}
	// The detail names the upstream's address; it stays in the log.
	return oaierr.New(http.StatusBadGateway, "Could not reach the provider").WithCode("upstream_unreachable")
}

// forwardedRequestHeaders are the client request headers sent upstream, by
// canonical name, and forwardedHeaderPrefixes add the OpenAI SDKs' telemetry
// headers. Every other header is dropped: credentials (the provider's own are
// set by the provider), billing selectors such as OpenAI-Organization and
// OpenAI-Project (the gateway's account decides those), X-Forwarded-*,
// Forwarded, method overrides, cookies, Logos's own headers and any header
// the client names in Connection. Content-Type and Content-Length are set by
// Logos. README.md lists them; keep the two in step.
var forwardedRequestHeaders = map[string]bool{
	"Accept": true, "Accept-Language": true, "User-Agent": true, "Openai-Beta": true, "Idempotency-Key": true,
}

var forwardedHeaderPrefixes = []string{"X-Stainless-"}

// forwardHeaders returns the client headers sent upstream: those on the
// allowlist (forwardedRequestHeaders, forwardedHeaderPrefixes) that the
// Connection header does not name.
func forwardHeaders(h http.Header) http.Header {
	out := make(http.Header, 4)
	for k, vs := range h {
		ck := http.CanonicalHeaderKey(k)
		if !forwardedRequestHeaders[ck] && !hasAnyPrefix(ck, forwardedHeaderPrefixes) {
			continue
		}
		if connectionNames(h, ck) {
			continue
		}
		out[ck] = vs
	}
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// connectionNames reports whether the Connection header of h names the
// header name (canonical): such headers are for this hop only.
func connectionNames(h http.Header, name string) bool {
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				return true
			}
		}
	}
	return false
}

// setOverhead sets X-Logos-Overhead-Ms: the time Logos spent on the request
// before forwarding it (authentication, body checks, routing, scheduling
// decisions; not the queue wait nor the upstream's time), in milliseconds. It
// is set when the upstream answers, before the response starts.
func (x *exchange) setOverhead(w http.ResponseWriter) {
	d := max(x.rec.ForwardedAt.Sub(x.rec.ReceivedAt)-x.rec.QueueWait, 0)
	x.p.cfg.Metrics.ObserveOverhead(d)
	w.Header().Set("X-Logos-Overhead-Ms", strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64))
}

// withoutURL returns err without the *url.Error around it: that error's
// message carries the upstream URL, whose base or query can hold a
// credential, so it stays out of client messages, logs and traces.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
