package router

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/catalog"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/store"
)

// Limits of the statistics endpoints.
const (
	// defaultStatsRange is the range of a query without "from".
	defaultStatsRange = 30 * 24 * time.Hour
	// maxStatsRangeDays bounds the range of every statistics query (usage_stats,
	// request_event_stats, usage_csv).
	maxStatsRangeDays = 400
	maxStatsRange     = maxStatsRangeDays * 24 * time.Hour
	// maxSeriesPoints bounds the points of one time series: request_event_stats'
	// target_buckets and the buckets it fills, and usage_stats' hourly buckets
	// (2,000 hours is about 83 days).
	maxSeriesPoints = 2000
	// latestRequests is how many records latest_requests returns.
	latestRequests = 10
	// defaultTargetBuckets is request_event_stats' default target_buckets.
	defaultTargetBuckets = 120
)

// eventBucketSizes are the bucket widths (s) request_event_stats chooses from.
var eventBucketSizes = []int64{60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400}

// adminStatsRoutes registers the usage, cost and monitoring statistics
// endpoints. All are scoped: an admin sees every process, anyone else only its
// own, and a non-admin naming another process or user gets 403. Every figure
// is aggregated by the store (store.UsageStatsStore); a store without it
// answers 501.
//
//   - POST usage_stats: totals or time series of usage and cost.
//   - GET/POST usage_csv: the usage records of a range as a CSV stream.
//   - POST latest_requests: the 10 newest requests.
//   - POST request_event_stats: the original's dashboard summary (spec §7.4).
//
// generalstats lives with the identity endpoints. scheduler_state and
// get_ollama_vram_stats need the scheduler and the provider monitor and are
// not served here.
func (h *Handler) adminStatsRoutes() {
	x := statsAPI{h}
	h.adminRoute("usage_stats", false, false, x.usageStats)
	h.adminRoute("latest_requests", false, false, x.latestRequests)
	h.adminRoute("request_event_stats", false, false, x.requestEventStats)
	h.mux.HandleFunc("GET /logosdb/usage_csv", x.usageCSV)
	h.mux.HandleFunc("POST /logosdb/usage_csv", x.usageCSV)
}

// statsAPI implements the statistics endpoints.
type statsAPI struct{ *Handler }

// stats returns the store's statistics interface, or a 501.
func (x statsAPI) stats() (store.UsageStatsStore, *oaierr.Error) {
	s, ok := x.cfg.Store.(store.UsageStatsStore)
	if !ok {
		return nil, oaierr.New(http.StatusNotImplemented, "This store does not provide usage statistics").WithCode("not_implemented")
	}
	return s, nil
}

// scope returns the process a caller may query: an admin any (0 = all, or
// the one asked for), anyone else only its own; asking for another is 403.
func scope(c principal, processID int64) (int64, *oaierr.Error) {
	if c.Admin {
		return processID, nil
	}
	if processID != 0 && processID != c.Process.ID {
		return 0, oaierr.New(http.StatusForbidden, "Only an admin may query another process's statistics").WithParam("process_id").WithCode("forbidden")
	}
	return c.Process.ID, nil
}

// parseStatsTime parses a time with catalog.ParseTimeAsWritten (RFC 3339,
// a date at UTC midnight, and the catalogue's other ISO 8601 forms), in UTC;
// empty is the zero time.
func parseStatsTime(field, s string) (time.Time, *oaierr.Error) {
	if strings.TrimSpace(s) == "" {
		return time.Time{}, nil
	}
	t, err := catalog.ParseTimeAsWritten(s)
	if err != nil {
		return time.Time{}, invalid(field, "must be an RFC 3339 time or a date (YYYY-MM-DD)")
	}
	return t.UTC(), nil
}

// statsRange resolves from/to: to defaults to now, from to 30 days before to.
func statsRange(from, to string) (time.Time, time.Time, *oaierr.Error) {
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
		f = t.Add(-defaultStatsRange)
	}
	if t.Before(f) {
		return time.Time{}, time.Time{}, invalid("to", "must not be before from")
	}
	if e := checkStatsRange("from", f, t); e != nil {
		return time.Time{}, time.Time{}, e
	}
	return f, t, nil
}

// checkStatsRange refuses a range longer than maxStatsRangeDays; field names
// the start field of the request.
func checkStatsRange(field string, from, to time.Time) *oaierr.Error {
	if to.Sub(from) > maxStatsRange {
		return invalid(field, fmt.Sprintf("gives a range longer than the limit of %d days", maxStatsRangeDays))
	}
	return nil
}

// bucketCount returns how many buckets of width seconds, aligned to the Unix
// epoch, [from, to) touches.
func bucketCount(from, to time.Time, width int64) int64 {
	if !to.After(from) {
		return 0
	}
	return floorDiv(to.Add(-time.Nanosecond).Unix(), width) - floorDiv(from.Unix(), width) + 1
}

// usageStats answers usage totals or a time series.
//
//	{from?, to?, group_by?: ["process"|"profile"|"user"|"model"|"provider"|"token_type"],
//	 interval?: ""|"hour"|"day", process_id?, user_id?}
//	→ {"from","to","group_by","interval","buckets":[{start?, process_id?, profile_id?,
//	   user_id?, model?, provider?, token_type?, requests, errors, tokens, cost_micros, currency}]}
//
// Only the grouped keys appear in a bucket; "start" only with an interval.
func (x statsAPI) usageStats(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		From      string   `json:"from"`
		To        string   `json:"to"`
		GroupBy   []string `json:"group_by"`
		Interval  string   `json:"interval"`
		ProcessID int64    `json:"process_id"`
		UserID    int64    `json:"user_id"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	ss, e := x.stats()
	if e != nil {
		return 0, nil, e
	}
	q := store.UsageQuery{Interval: store.Interval(strings.ToLower(strings.TrimSpace(req.Interval))), UserID: req.UserID}
	if !q.Interval.Valid() {
		return 0, nil, invalid("interval", `must be "", "hour" or "day"`)
	}
	for _, g := range req.GroupBy {
		d := store.Dimension(strings.ToLower(strings.TrimSpace(g)))
		if !d.Valid() {
			return 0, nil, invalid("group_by", `must list only "process", "profile", "user", "model", "provider" and "token_type"`)
		}
		if !slices.Contains(q.GroupBy, d) {
			q.GroupBy = append(q.GroupBy, d)
		}
	}
	if q.From, q.To, e = statsRange(req.From, req.To); e != nil {
		return 0, nil, e
	}
	if q.Interval == store.IntervalHour && bucketCount(q.From, q.To, 3600) > maxSeriesPoints {
		return 0, nil, invalid("interval", fmt.Sprintf("hour allows at most %d buckets (about %d days)", maxSeriesPoints, maxSeriesPoints/24))
	}
	if q.ProcessID, e = scope(a.caller, req.ProcessID); e != nil {
		return 0, nil, e
	}
	if !a.caller.Admin && req.UserID != 0 && req.UserID != a.caller.User.ID {
		return 0, nil, oaierr.New(http.StatusForbidden, "Only an admin may query another user's statistics").WithParam("user_id").WithCode("forbidden")
	}
	buckets, err := ss.UsageTotals(a.ctx, q)
	if err != nil {
		return 0, nil, x.storeError(err, "usage query", "")
	}
	out := make([]map[string]any, len(buckets))
	for i, b := range buckets {
		m := map[string]any{
			"requests": b.Requests, "errors": b.Errors, "tokens": b.Tokens,
			"cost_micros": b.CostMicros, "currency": b.Currency,
		}
		if q.Interval != store.IntervalNone {
			m["start"] = b.Start.Format(time.RFC3339)
		}
		for _, d := range q.GroupBy {
			switch d {
			case store.DimProcess:
				m["process_id"] = b.Key.ProcessID
			case store.DimProfile:
				m["profile_id"] = b.Key.ProfileID
			case store.DimUser:
				m["user_id"] = b.Key.UserID
			case store.DimModel:
				m["model"] = b.Key.Model
			case store.DimProvider:
				m["provider"] = b.Key.Provider
			case store.DimTokenType:
				m["token_type"] = b.Key.TokenType
			}
		}
		out[i] = m
	}
	groupBy := make([]string, len(q.GroupBy))
	for i, d := range q.GroupBy {
		groupBy[i] = string(d)
	}
	return http.StatusOK, map[string]any{
		"from": q.From.Format(time.RFC3339Nano), "to": q.To.Format(time.RFC3339Nano),
		"group_by": groupBy, "interval": string(q.Interval), "buckets": out,
	}, nil
}

// latestRequests answers the 10 newest requests of the caller's scope (all
// processes for an admin) in the original's shape. Fields our records do not
// carry are derived: enqueue_ts is the receive time, scheduled_ts the
// forwarding time, priorities are the request's, queue_depth_at_enqueue is 0.
func (x statsAPI) latestRequests(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		ProcessID int64 `json:"process_id"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	pid, e := scope(a.caller, req.ProcessID)
	if e != nil {
		return 0, nil, e
	}
	recs, err := x.db.ListUsage(a.ctx, store.UsageFilter{ProcessID: pid, Limit: latestRequests})
	if err != nil {
		return 0, nil, x.storeError(err, "usage records", "")
	}
	out := make([]map[string]any, len(recs))
	for i, r := range recs {
		var duration, total, queue any
		if !r.CompletedAt.IsZero() {
			total = r.CompletedAt.Sub(r.ReceivedAt).Seconds()
			if !r.ForwardedAt.IsZero() {
				duration = r.CompletedAt.Sub(r.ForwardedAt).Seconds()
			}
		}
		if !r.ForwardedAt.IsZero() {
			queue = r.ForwardedAt.Sub(r.ReceivedAt).Seconds()
		}
		out[i] = map[string]any{
			"request_id":              r.RequestID,
			"model_name":              r.ModelName,
			"provider_name":           r.ProviderName,
			"status":                  string(r.Outcome),
			"timestamp":               isoOrNil(r.ReceivedAt),
			"duration":                duration,
			"cold_start":              r.ColdStart,
			"enqueue_ts":              isoOrNil(r.ReceivedAt),
			"scheduled_ts":            isoOrNil(r.ForwardedAt),
			"request_complete_ts":     isoOrNil(r.CompletedAt),
			"queue_seconds":           queue,
			"total_seconds":           total,
			"initial_priority":        r.Priority,
			"policy_id":               idOrNil(r.PolicyID),
			"classified_by":           r.ClassifiedBy,
			"classification_us":       r.ClassificationTime.Microseconds(),
			"classification":          rawOrNil(r.Classification),
			"priority_when_scheduled": r.Priority,
			"queue_depth_at_enqueue":  0,
			"error_message":           r.ErrorMessage,
			"attempts":                r.Attempts,
		}
	}
	return http.StatusOK, map[string]any{"requests": out}, nil
}

// rawOrNil returns m as it is stored (a JSON document), or nil when empty.
func rawOrNil(m json.RawMessage) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// isoOrNil formats t as RFC 3339, or nil for the zero time.
func isoOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// requestEventStats answers the original's dashboard summary (spec §7.4) from
// the usage records of the caller's scope:
//
//	{start_date?, end_date?, target_buckets?=120, process_id?}
//
// The window is [end − 30 days, end) unless start_date is given, end
// defaulting to now; the bucket width is the entry of eventBucketSizes nearest
// to max(window/target_buckets, 60 s). The event time is the receive time.
// "unknown" counts cancelled and rejected requests. avgVram (MiB) and the
// queue depths come from the provider snapshots (see snapshotFigures).
func (x statsAPI) requestEventStats(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		StartDate     string `json:"start_date"`
		EndDate       string `json:"end_date"`
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
	start, e := parseStatsTime("start_date", req.StartDate)
	if e != nil {
		return 0, nil, e
	}
	end, e := parseStatsTime("end_date", req.EndDate)
	if e != nil {
		return 0, nil, e
	}
	if end.IsZero() {
		end = time.Now().UTC()
	}
	if start.IsZero() {
		start = end.Add(-defaultStatsRange)
	}
	if start.After(end) {
		return 0, nil, invalid("start_date", "must not be after end_date")
	}
	if e := checkStatsRange("start_date", start, end); e != nil {
		return 0, nil, e
	}
	target := req.TargetBuckets
	if target <= 0 {
		target = defaultTargetBuckets
	}
	if target > maxSeriesPoints {
		return 0, nil, invalid("target_buckets", fmt.Sprintf("must be at most %d (the limit of points per series)", maxSeriesPoints))
	}
	pid, e := scope(a.caller, req.ProcessID)
	if e != nil {
		return 0, nil, e
	}
	bucket := eventBucketSeconds(start, end, target)
	st, err := ss.RequestStats(a.ctx, store.RequestStatsQuery{From: start, To: end, ProcessID: pid, BucketSeconds: bucket})
	if err != nil {
		return 0, nil, x.storeError(err, "request statistics", "")
	}
	out := eventStatsJSON(st, start, end, bucket)
	if e := x.snapshotFigures(a.ctx, out, start, end, bucket); e != nil {
		return 0, nil, e
	}
	return http.StatusOK, out, nil
}

// eventBucketSeconds chooses the bucket width for [start, end): the size
// nearest to the wanted one, or, if that gives more than maxSeriesPoints
// buckets, the smallest size that does not. Within maxStatsRange the largest
// size (a day) always does.
func eventBucketSeconds(start, end time.Time, target int) int64 {
	want := max(end.Sub(start).Seconds()/float64(target), 60)
	best := eventBucketSizes[0]
	for _, s := range eventBucketSizes {
		if math.Abs(float64(s)-want) < math.Abs(float64(best)-want) {
			best = s
		}
	}
	for _, s := range eventBucketSizes {
		if bucketCount(start, end, best) <= maxSeriesPoints {
			break
		}
		if s > best {
			best = s
		}
	}
	return best
}

// avg returns sum/n, or 0 when n is 0.
func avg(sum float64, n int64) float64 {
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// eventStatsJSON renders RequestStats in the shape of spec §7.4, gap-filling
// the time series over [start, end).
func eventStatsJSON(st store.RequestStats, start, end time.Time, bucket int64) map[string]any {
	t := st.Totals()
	models := make([]map[string]any, len(st.Models))
	for i, m := range st.Models {
		id, name := m.ModelID, m.ModelName
		if id == 0 {
			id = -1
		}
		if name == "" {
			name = "Model " + strconv.FormatInt(id, 10)
		}
		models[i] = map[string]any{
			"modelId": id, "modelName": name, "providerName": m.ProviderName,
			"requestCount": m.Requests, "avgQueueSeconds": avg(m.QueueSeconds, m.Requests),
			"avgRunSeconds": avg(m.RunSeconds, m.Runs), "coldStarts": m.ColdStarts,
			"warmStarts": m.Requests - m.ColdStarts, "errorCount": m.Errors,
		}
	}
	// Gap-fill: one point per bucket from the one holding start to the one
	// holding the last instant before end.
	byStart := make(map[int64]store.RequestPoint, len(st.Series))
	for _, p := range st.Series {
		byStart[p.Start.Unix()] = p
	}
	series := []map[string]any{}
	first := floorDiv(start.Unix(), bucket) * bucket
	last := floorDiv(end.Add(-time.Nanosecond).Unix(), bucket) * bucket
	for b := first; b <= last && end.After(start); b += bucket {
		p := byStart[b]
		series = append(series, map[string]any{
			"timestamp": b * 1000, "label": "", "cloud": p.CloudRequests, "local": p.Requests - p.CloudRequests,
			"total": p.Requests, "avgRunSeconds": avg(p.RunSeconds, p.Runs), "avgVram": 0,
		})
	}
	var lastEvent any
	if !st.LastReceivedAt.IsZero() {
		lastEvent = st.LastReceivedAt.Format(time.RFC3339Nano)
	}
	return map[string]any{
		"range":         map[string]any{"start": start.Format(time.RFC3339Nano), "end": end.Format(time.RFC3339Nano)},
		"bucketSeconds": bucket,
		"stats": map[string]any{
			"lastEventTs": lastEvent,
			"totals": map[string]any{
				"requests": t.Requests, "cloudRequests": t.CloudRequests, "localRequests": t.Requests - t.CloudRequests,
				"coldStarts": t.ColdStarts, "warmStarts": t.Requests - t.ColdStarts,
				"avgQueueSeconds": avg(t.QueueSeconds, t.Requests), "avgRunSeconds": avg(t.RunSeconds, t.Runs),
			},
			"statusCounts":   map[string]any{"success": t.Success, "error": t.Error, "timeout": t.Timeout, "unknown": t.Other},
			"modelBreakdown": models,
			"timeSeries":     series,
			"queueDepth":     map[string]any{"avgEnqueueDepth": 0, "avgScheduleDepth": 0, "p95EnqueueDepth": 0, "p95ScheduleDepth": 0},
			"runtimeByColdStart": []map[string]any{
				{"type": "cold", "avgRunSeconds": avg(t.ColdRunSeconds, t.ColdRuns), "count": t.ColdStarts},
				{"type": "warm", "avgRunSeconds": avg(t.RunSeconds-t.ColdRunSeconds, t.Runs-t.ColdRuns), "count": t.Requests - t.ColdStarts},
			},
		},
	}
}

// floorDiv divides rounding towards negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// usageCSV streams the usage records of a range as CSV: GET with the key in
// a header and from, to, process_id as query parameters, or POST with a JSON
// body {logos_key?, from?, to?, process_id?}. Scoping is as for usage_stats.
// The columns are store.UsageCSVHeader with one column per token type, by
// name. Errors after the first row can only cut the stream short; they are
// logged.
func (x statsAPI) usageCSV(w http.ResponseWriter, r *http.Request) {
	var (
		req struct {
			From      string `json:"from"`
			To        string `json:"to"`
			ProcessID int64  `json:"process_id"`
		}
		caller principal
		e      *oaierr.Error
	)
	if r.Method == http.MethodPost {
		var body []byte
		caller, body, e = x.adminAuth(w, r, func(principal) int64 { return adminBodyLimit })
		if e == nil {
			e = decodeObject(body, &req)
		}
		if e != nil {
			oaierr.Write(w, e)
			return
		}
	} else {
		v := r.URL.Query()
		req.From, req.To = v.Get("from"), v.Get("to")
		if s := v.Get("process_id"); s != "" {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				oaierr.Write(w, invalid("process_id", "must be an integer"))
				return
			}
			req.ProcessID = id
		}
		if caller, e = x.principal(r.Context(), logosKey(r)); e != nil {
			oaierr.Write(w, e)
			return
		}
	}
	ctx := r.Context()
	e = x.writeUsageCSV(ctx, w, caller, req.From, req.To, req.ProcessID)
	if e != nil {
		oaierr.Write(w, e)
	}
}

// writeUsageCSV checks the request and streams the CSV; it returns an error
// only before anything was written.
func (x statsAPI) writeUsageCSV(ctx context.Context, w http.ResponseWriter, caller principal, from, to string, processID int64) *oaierr.Error {
	ss, e := x.stats()
	if e != nil {
		return e
	}
	f := store.UsageFilter{}
	if f.From, f.To, e = statsRange(from, to); e != nil {
		return e
	}
	if f.ProcessID, e = scope(caller, processID); e != nil {
		return e
	}
	types, err := x.db.ListTokenTypes(ctx)
	if err != nil {
		return x.storeError(err, "token types", "")
	}
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = t.Name
	}
	slices.Sort(names)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="usage-%s-%s.csv"`,
		f.From.Format("20060102T150405Z"), f.To.Format("20060102T150405Z")))
	w.WriteHeader(http.StatusOK)
	if err := store.WriteUsageCSV(ctx, w, ss, f, names); err != nil {
		x.log.Error("usage csv: export cut short", "process_id", f.ProcessID, "err", err)
	}
	return nil
}

// idOrNil returns id, or nil for 0 (no id).
func idOrNil(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
