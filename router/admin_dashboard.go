package router

import (
	"cmp"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/store"
)

// Limits of the request and latency endpoints the dashboard reads. They keep
// every answer small: a few hundred rows, at most maxLatencyBuckets points
// per series.
const (
	// defaultListRange is list_requests' range without "from".
	defaultListRange = 24 * time.Hour
	// maxListRange bounds the range list_requests and latency_stats scan.
	maxListRange = 92 * 24 * time.Hour
	// defaultListLimit and maxListLimit bound list_requests' rows.
	defaultListLimit = 100
	maxListLimit     = 500
	// maxLatencyBuckets bounds the points of a latency_stats series.
	maxLatencyBuckets = 1000
	// defaultLatencyBuckets is latency_stats' default target_buckets.
	defaultLatencyBuckets = 120
)

// adminDashboardRoutes registers the read-only endpoints the dashboard needs
// beyond the statistics endpoints. All are scoped like those: an admin sees
// every process, any other key only its own, and naming another process is
// 403.
//
//   - POST list_requests: the newest usage records of a range, filtered.
//   - POST get_request: one usage record with its payloads when stored.
//   - POST latency_stats: TTFT and latency percentiles per time bucket.
//   - POST get_prices: the prices in force.
func (h *Handler) adminDashboardRoutes() {
	x := statsAPI{h}
	h.adminRoute("list_requests", false, false, x.listRequests)
	h.adminRoute("get_request", false, false, x.getRequest)
	h.adminRoute("latency_stats", false, false, x.latencyStats)
	h.adminRoute("get_prices", false, false, x.getPrices)
}

// requestSummary is one row of list_requests.
type requestSummary struct {
	RequestID    string  `json:"request_id"`
	ProcessID    int64   `json:"process_id"`
	Model        string  `json:"model"`
	Provider     string  `json:"provider"`
	Operation    string  `json:"operation"`
	Stream       bool    `json:"stream"`
	ReceivedAt   string  `json:"received_at"`
	StatusCode   int     `json:"status_code"`
	Outcome      string  `json:"outcome"`
	TTFTMs       *int64  `json:"ttft_ms"`
	LatencyMs    *int64  `json:"latency_ms"`
	QueueMs      int64   `json:"queue_ms"`
	Tokens       int64   `json:"tokens"`
	CostMicros   int64   `json:"cost_micros"`
	Currency     string  `json:"currency"`
	ColdStart    bool    `json:"cold_start"`
	ErrorMessage string  `json:"error_message"`
	LogLevel     string  `json:"log_level"`
	Cost         float64 `json:"cost"`
}

// ttft and latency return a record's time to first token and total latency
// since receipt, and whether it has them.
func ttft(r store.UsageRecord) (time.Duration, bool) {
	if r.FirstTokenAt.IsZero() || r.ReceivedAt.IsZero() {
		return 0, false
	}
	return r.FirstTokenAt.Sub(r.ReceivedAt), true
}

func latency(r store.UsageRecord) (time.Duration, bool) {
	if r.CompletedAt.IsZero() || r.ReceivedAt.IsZero() {
		return 0, false
	}
	return r.CompletedAt.Sub(r.ReceivedAt), true
}

func summarize(r store.UsageRecord) requestSummary {
	s := requestSummary{
		RequestID: r.RequestID, ProcessID: r.ProcessID, Model: r.ModelName, Provider: r.ProviderName,
		Operation: r.Operation, Stream: r.Stream, ReceivedAt: r.ReceivedAt.UTC().Format(time.RFC3339Nano),
		StatusCode: r.StatusCode, Outcome: string(r.Outcome), QueueMs: r.QueueWait.Milliseconds(),
		CostMicros: r.CostMicros, Currency: r.Currency, ColdStart: r.ColdStart, ErrorMessage: r.ErrorMessage,
		LogLevel: string(r.LogLevel), Cost: float64(r.CostMicros) / 1e6,
	}
	if d, ok := ttft(r); ok {
		ms := d.Milliseconds()
		s.TTFTMs = &ms
	}
	if d, ok := latency(r); ok {
		ms := d.Milliseconds()
		s.LatencyMs = &ms
	}
	for _, t := range r.Tokens {
		s.Tokens += t.Count
	}
	return s
}

// dashboardRange resolves from/to for the dashboard endpoints: to defaults
// to now, from to def before to, and the range may span at most maxListRange.
func dashboardRange(from, to string, def time.Duration) (time.Time, time.Time, *oaierr.Error) {
	f, e := parseStatsTime("from", from)
	if e != nil {
		return time.Time{}, time.Time{}, e
	}
	t, e := parseStatsTime("to", to)
	if e != nil {
		return time.Time{}, time.Time{}, e
	}
	if t.IsZero() {
		t = time.Now().UTC()
	}
	if f.IsZero() {
		f = t.Add(-def)
	}
	if t.Before(f) {
		return time.Time{}, time.Time{}, invalid("to", "must not be before from")
	}
	if t.Sub(f) > maxListRange {
		return time.Time{}, time.Time{}, invalid("from", "must be at most 92 days before to")
	}
	return f, t, nil
}

// listRequests answers the newest records of the caller's scope in a range:
//
//	{from?, to? (default the last 24 h, at most 92 days), process_id?, model?, provider?,
//	 outcome?, status_code?, limit? (default 100, at most 500)}
//	→ {"from","to","requests":[{request_id, process_id, model, provider, operation, stream,
//	   received_at, status_code, outcome, ttft_ms, latency_ms, queue_ms, tokens, cost_micros,
//	   cost, currency, cold_start, error_message, log_level}], "truncated": bool}
//
// Rows are newest first; truncated says older matching rows were left out.
// Payloads and headers are never part of a row (see get_request).
func (x statsAPI) listRequests(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		From       string `json:"from"`
		To         string `json:"to"`
		ProcessID  int64  `json:"process_id"`
		Model      string `json:"model"`
		Provider   string `json:"provider"`
		Outcome    string `json:"outcome"`
		StatusCode int    `json:"status_code"`
		Limit      int    `json:"limit"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	ss, e := x.stats()
	if e != nil {
		return 0, nil, e
	}
	f := store.UsageFilter{}
	if f.From, f.To, e = dashboardRange(req.From, req.To, defaultListRange); e != nil {
		return 0, nil, e
	}
	if f.ProcessID, e = scope(a.caller, req.ProcessID); e != nil {
		return 0, nil, e
	}
	outcome := store.Outcome(strings.ToLower(strings.TrimSpace(req.Outcome)))
	if outcome != "" && !outcome.Valid() {
		return 0, nil, invalid("outcome", `must be "success", "error", "timeout", "cancelled" or "rejected"`)
	}
	limit := req.Limit
	switch {
	case limit == 0:
		limit = defaultListLimit
	case limit < 0 || limit > maxListLimit:
		return 0, nil, invalid("limit", "must be between 1 and 500")
	}
	// ScanUsage reads oldest first in pages; a ring of the newest limit
	// matches bounds the memory.
	ring := make([]requestSummary, 0, limit)
	next, matched := 0, 0
	err := ss.ScanUsage(a.ctx, f, func(r store.UsageRecord) error {
		if (req.Model != "" && r.ModelName != req.Model) || (req.Provider != "" && r.ProviderName != req.Provider) ||
			(outcome != "" && r.Outcome != outcome) || (req.StatusCode != 0 && r.StatusCode != req.StatusCode) {
			return nil
		}
		matched++
		if len(ring) < limit {
			ring = append(ring, summarize(r))
			return nil
		}
		ring[next] = summarize(r)
		next = (next + 1) % limit
		return nil
	})
	if err != nil {
		return 0, nil, x.storeError(err, "usage records", "")
	}
	out := make([]requestSummary, 0, len(ring))
	out = append(out, ring[next:]...)
	out = append(out, ring[:next]...)
	slices.Reverse(out)
	return http.StatusOK, map[string]any{
		"from": f.From.Format(time.RFC3339Nano), "to": f.To.Format(time.RFC3339Nano),
		"requests": out, "truncated": matched > len(out),
	}, nil
}

// getRequest answers one usage record of the caller's scope:
//
//	{request_id} → {"request": {summary fields..., client_request_id, profile_id, model_id,
//	   provider_id, deployment_id, policy_id, forwarded_at, first_token_at, completed_at, priority,
//	   client_ip, classification, token_counts:[{type,count,cost_micros}], request_payload, response_payload,
//	   request_headers, response_headers}}
//
// Payloads and headers are present only when the record stored them (log
// level FULL); headers were redacted before they were stored, so credentials
// are never part of them. A record of another process is 404 for a
// non-admin, exactly like one that does not exist.
func (x statsAPI) getRequest(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		RequestID string `json:"request_id"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	if req.RequestID == "" {
		return 0, nil, missing("request_id")
	}
	notFound := oaierr.New(http.StatusNotFound, "Request not found").WithParam("request_id").WithCode("not_found")
	r, err := x.db.GetUsage(a.ctx, req.RequestID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound
	}
	if err != nil {
		return 0, nil, x.storeError(err, "usage record", "request_id")
	}
	if !a.caller.Admin && r.ProcessID != a.caller.Process.ID {
		return 0, nil, notFound
	}
	tokens := make([]map[string]any, len(r.Tokens))
	for i, t := range r.Tokens {
		tokens[i] = map[string]any{"type": t.Type, "count": t.Count, "cost_micros": t.CostMicros}
	}
	b, _ := json.Marshal(summarize(r))
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	for k, v := range map[string]any{
		"client_request_id": r.ClientRequestID, "profile_id": r.ProfileID, "model_id": r.ModelID,
		"provider_id": r.ProviderID, "deployment_id": r.DeploymentID, "policy_id": r.PolicyID,
		"forwarded_at": isoOrNil(r.ForwardedAt), "first_token_at": isoOrNil(r.FirstTokenAt),
		"completed_at": isoOrNil(r.CompletedAt), "priority": r.Priority, "client_ip": r.ClientIP,
		"classification": rawOrNil(r.Classification), "token_counts": tokens,
		"request_payload": rawOrNil(r.RequestPayload), "response_payload": rawOrNil(r.ResponsePayload),
		"request_headers": rawOrNil(r.RequestHeaders), "response_headers": rawOrNil(r.ResponseHeaders),
		"attempts": r.Attempts,
	} {
		out[k] = v
	}
	return http.StatusOK, map[string]any{"request": out}, nil
}

// latencyHist is a fixed-size histogram of durations with logarithmic bins
// (each 10% wider than the last, from 1 ms to about 3 hours), so percentiles
// of any number of requests take constant memory and are off by at most 10%.
type latencyHist struct {
	n    int64
	bins [latencyBins]int32
}

const (
	latencyBins   = 170
	latencyGrowth = 1.1
)

func latencyBin(d time.Duration) int {
	ms := float64(d) / float64(time.Millisecond)
	if ms <= 1 {
		return 0
	}
	return min(int(math.Ceil(math.Log(ms)/math.Log(latencyGrowth))), latencyBins-1)
}

func (h *latencyHist) add(d time.Duration) {
	h.n++
	h.bins[latencyBin(d)]++
}

// quantile returns the upper bound in ms of the bin holding quantile q, or
// nil without data.
func (h *latencyHist) quantile(q float64) any {
	if h == nil || h.n == 0 {
		return nil
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.bins {
		seen += int64(c)
		if seen >= rank {
			return math.Round(math.Pow(latencyGrowth, float64(i))*10) / 10
		}
	}
	return nil
}

// latencyStats answers TTFT and latency percentiles over time:
//
//	{from?, to? (default the last 24 h, at most 92 days), target_buckets? (default 120, at
//	 most 1000), process_id?}
//	→ {"from","to","bucket_seconds","series":[{start, requests, errors, ttft_p50_ms,
//	   ttft_p95_ms, latency_p50_ms, latency_p95_ms}]}
//
// The bucket width is the entry of request_event_stats' sizes nearest to
// range/target_buckets; every bucket of the range is present (gap-filled).
// Latency is from receipt to completion, TTFT from receipt to the first
// token; both count only requests that have them. Percentiles come from
// histograms with bins 10% wide and are the upper bound of their bin.
func (x statsAPI) latencyStats(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		From          string `json:"from"`
		To            string `json:"to"`
		TargetBuckets int    `json:"target_buckets"`
		ProcessID     int64  `json:"process_id"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	ss, e := x.stats()
	if e != nil {
		return 0, nil, e
	}
	f := store.UsageFilter{}
	if f.From, f.To, e = dashboardRange(req.From, req.To, defaultListRange); e != nil {
		return 0, nil, e
	}
	if f.ProcessID, e = scope(a.caller, req.ProcessID); e != nil {
		return 0, nil, e
	}
	target := req.TargetBuckets
	switch {
	case target == 0:
		target = defaultLatencyBuckets
	case target < 0 || target > maxLatencyBuckets:
		return 0, nil, invalid("target_buckets", "must be between 1 and 1000")
	}
	bucket := eventBucketSeconds(f.From, f.To, target)
	first := floorDiv(f.From.Unix(), bucket) * bucket
	last := floorDiv(f.To.Add(-time.Nanosecond).Unix(), bucket) * bucket
	for (last-first)/bucket+1 > maxLatencyBuckets {
		// The nearest size can be finer than asked; widen until it fits.
		i := slices.Index(eventBucketSizes, bucket)
		if i < 0 || i+1 >= len(eventBucketSizes) {
			break
		}
		bucket = eventBucketSizes[i+1]
		first = floorDiv(f.From.Unix(), bucket) * bucket
		last = floorDiv(f.To.Add(-time.Nanosecond).Unix(), bucket) * bucket
	}
	type agg struct {
		requests, errors int64
		ttft, lat        latencyHist
	}
	byStart := map[int64]*agg{}
	err := ss.ScanUsage(a.ctx, f, func(r store.UsageRecord) error {
		b := floorDiv(r.ReceivedAt.Unix(), bucket) * bucket
		g := byStart[b]
		if g == nil {
			g = &agg{}
			byStart[b] = g
		}
		g.requests++
		if r.Outcome != store.OutcomeSuccess {
			g.errors++
		}
		if d, ok := ttft(r); ok {
			g.ttft.add(d)
		}
		if d, ok := latency(r); ok {
			g.lat.add(d)
		}
		return nil
	})
	if err != nil {
		return 0, nil, x.storeError(err, "usage records", "")
	}
	series := []map[string]any{}
	for b := first; b <= last && f.To.After(f.From); b += bucket {
		g := byStart[b]
		if g == nil {
			g = &agg{}
		}
		series = append(series, map[string]any{
			"start": time.Unix(b, 0).UTC().Format(time.RFC3339), "requests": g.requests, "errors": g.errors,
			"ttft_p50_ms": g.ttft.quantile(0.5), "ttft_p95_ms": g.ttft.quantile(0.95),
			"latency_p50_ms": g.lat.quantile(0.5), "latency_p95_ms": g.lat.quantile(0.95),
		})
	}
	return http.StatusOK, map[string]any{
		"from": f.From.Format(time.RFC3339Nano), "to": f.To.Format(time.RFC3339Nano),
		"bucket_seconds": bucket, "series": series,
	}, nil
}

// getPrices answers the prices in force now, newest first per token type,
// model and provider:
//
//	{} → {"prices":[{token_type, model_id, model, provider_id, provider, per_million,
//	      micros_per_million, currency, valid_from}]}
//
// A non-admin sees the prices of the models it may use and those for any
// model.
func (x statsAPI) getPrices(a *adminRequest) (int, any, *oaierr.Error) {
	if e := a.decode(&struct{}{}); e != nil {
		return 0, nil, e
	}
	prices, err := x.db.ListPrices(a.ctx)
	if err != nil {
		return 0, nil, x.storeError(err, "prices", "")
	}
	types, err := x.db.ListTokenTypes(a.ctx)
	if err != nil {
		return 0, nil, x.storeError(err, "token types", "")
	}
	_, models, providers, e := monitorAPI{Handler: x.Handler}.catalogNames(a.ctx)
	if e != nil {
		return 0, nil, e
	}
	var allowed map[int64]bool
	if !a.caller.Admin {
		if allowed, e = catalogAPI(x).callerModels(a.ctx, a.caller); e != nil {
			return 0, nil, e
		}
	}
	typeNames := make(map[int64]string, len(types))
	for _, t := range types {
		typeNames[t.ID] = t.Name
	}
	// In force: for each (type, model, provider, currency) the newest price
	// whose valid_from has passed.
	now := time.Now()
	type key struct {
		typ, model, provider int64
		currency             string
	}
	best := map[key]store.Price{}
	for _, p := range prices {
		if p.ValidFrom.After(now) || (allowed != nil && p.ModelID != 0 && !allowed[p.ModelID]) {
			continue
		}
		k := key{p.TokenTypeID, p.ModelID, p.ProviderID, p.Currency}
		if old, ok := best[k]; !ok || p.ValidFrom.After(old.ValidFrom) {
			best[k] = p
		}
	}
	keep := make([]store.Price, 0, len(best))
	for _, p := range best {
		keep = append(keep, p)
	}
	slices.SortFunc(keep, func(a, b store.Price) int {
		if c := strings.Compare(typeNames[a.TokenTypeID], typeNames[b.TokenTypeID]); c != 0 {
			return c
		}
		if c := cmp.Compare(a.ModelID, b.ModelID); c != 0 {
			return c
		}
		return cmp.Compare(a.ProviderID, b.ProviderID)
	})
	out := make([]map[string]any, len(keep))
	for i, p := range keep {
		out[i] = map[string]any{
			"token_type": typeNames[p.TokenTypeID], "model_id": p.ModelID, "model": models[p.ModelID],
			"provider_id": p.ProviderID, "provider": providers[p.ProviderID],
			"per_million": float64(p.MicrosPerMillion) / 1e6, "micros_per_million": p.MicrosPerMillion,
			"currency": p.Currency, "valid_from": p.ValidFrom.UTC().Format(time.RFC3339),
		}
	}
	return http.StatusOK, map[string]any{"prices": out}, nil
}
