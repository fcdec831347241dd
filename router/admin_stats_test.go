package router

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/logos-llm/logos/store"
)

// statsEnv is an identity env with usage of two processes: the root (admin)
// process and alice's, a plain user's.
type statsEnv struct {
	*identityEnv
	alicePID int64
	aliceKey string
	day      time.Time // the records' day, a UTC midnight
}

// newStatsEnv stores 12 records of the root process (9 successes, 3 errors,
// model "big") and 3 of alice's (model "small") on one day, each with 10
// prompt and 5 completion tokens and a cost of 100 µEUR.
func newStatsEnv(t *testing.T) *statsEnv {
	e := &statsEnv{identityEnv: newIdentityEnv(t)}
	e.alicePID, e.aliceKey = e.user("alice", store.RoleUser)
	e.keys = append(e.keys, e.aliceKey)
	e.day = time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
	var recs []store.UsageRecord
	add := func(id string, pid int64, model string, at time.Time, o store.Outcome) {
		recs = append(recs, store.UsageRecord{
			RequestID: id, ProcessID: pid, ModelName: model, ProviderName: "prov", Operation: "chat/completions",
			ReceivedAt: at, ForwardedAt: at.Add(time.Second), CompletedAt: at.Add(3 * time.Second),
			StatusCode: 200, Outcome: o, Priority: 5, LogLevel: store.LogBilling, ColdStart: id == "root-0",
			Tokens:     []store.TokenCount{{Type: "prompt_tokens", Count: 10}, {Type: "completion_tokens", Count: 5}},
			CostMicros: 100, Currency: "EUR",
		})
	}
	for i := range 12 {
		o := store.OutcomeSuccess
		if i%4 == 3 {
			o = store.OutcomeError
		}
		add(fmt.Sprintf("root-%d", i), e.rootPID, "big", e.day.Add(time.Duration(i)*time.Hour), o)
	}
	for i := range 3 {
		add(fmt.Sprintf("alice-%d", i), e.alicePID, "small", e.day.Add(time.Duration(i)*time.Hour+30*time.Minute), store.OutcomeSuccess)
	}
	if _, err := e.st.InsertUsage(e.ctx, recs); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *statsEnv) dayRange() map[string]any {
	return map[string]any{"from": e.day.Format(time.DateOnly), "to": e.day.AddDate(0, 0, 1).Format(time.RFC3339)}
}

func TestUsageStatsScoping(t *testing.T) {
	e := newStatsEnv(t)
	body := e.dayRange()
	body["group_by"] = []string{"process", "model"}

	m := e.ok("usage_stats", e.rootKey, body)
	want := []any{
		map[string]any{"process_id": float64(e.rootPID), "model": "big", "requests": 12.0, "errors": 3.0, "tokens": 180.0, "cost_micros": 1200.0, "currency": "EUR"},
		map[string]any{"process_id": float64(e.alicePID), "model": "small", "requests": 3.0, "errors": 0.0, "tokens": 45.0, "cost_micros": 300.0, "currency": "EUR"},
	}
	if d := cmp.Diff(want, m["buckets"]); d != "" {
		t.Errorf("admin usage_stats (-want +got):\n%s", d)
	}

	// alice sees her own process only, whatever she groups by.
	m = e.ok("usage_stats", e.aliceKey, body)
	if d := cmp.Diff(want[1:], m["buckets"]); d != "" {
		t.Errorf("alice's usage_stats (-want +got):\n%s", d)
	}
	body["process_id"] = e.rootPID
	e.fail("usage_stats", e.aliceKey, body, http.StatusForbidden, "process_id", "forbidden")
	body["process_id"] = e.alicePID
	e.ok("usage_stats", e.aliceKey, body)
	// The admin may narrow to one process.
	m = e.ok("usage_stats", e.rootKey, body)
	if d := cmp.Diff(want[1:], m["buckets"]); d != "" {
		t.Errorf("admin usage_stats of alice (-want +got):\n%s", d)
	}

	e.fail("usage_stats", "", body, http.StatusUnauthorized, "", "missing_api_key")
	e.fail("usage_stats", e.rootKey, map[string]any{"interval": "week"}, http.StatusBadRequest, "interval", "invalid_value")
	e.fail("usage_stats", e.rootKey, map[string]any{"group_by": []string{"planet"}}, http.StatusBadRequest, "group_by", "invalid_value")
	e.fail("usage_stats", e.rootKey, map[string]any{"from": "yesterday"}, http.StatusBadRequest, "from", "invalid_value")
	e.fail("usage_stats", e.rootKey, map[string]any{"from": "2025-02-01", "to": "2025-01-01"}, http.StatusBadRequest, "to", "invalid_value")
	e.fail("usage_stats", e.rootKey, map[string]any{"from": "2024-01-01", "to": "2025-01-01", "interval": "hour"}, http.StatusBadRequest, "interval", "invalid_value")
}

func TestUsageStatsSeries(t *testing.T) {
	e := newStatsEnv(t)
	body := e.dayRange()
	body["interval"] = "hour"
	body["group_by"] = []string{"token_type"}
	m := e.ok("usage_stats", e.aliceKey, body)
	buckets := m["buckets"].([]any)
	if len(buckets) != 6 {
		t.Fatalf("hourly token-type buckets of alice = %v, want 3 hours × 2 types", buckets)
	}
	first := buckets[0].(map[string]any)
	want := map[string]any{"start": e.day.Format(time.RFC3339), "token_type": "completion_tokens", "requests": 1.0,
		"errors": 0.0, "tokens": 5.0, "cost_micros": 0.0, "currency": "EUR"}
	if d := cmp.Diff(want, first); d != "" {
		t.Errorf("first bucket (-want +got):\n%s", d)
	}
	if m["interval"] != "hour" || cmp.Diff([]any{"token_type"}, m["group_by"]) != "" {
		t.Errorf("echoed query = %v", m)
	}
}

func TestLatestRequests(t *testing.T) {
	e := newStatsEnv(t)
	m := e.ok("latest_requests", e.rootKey, nil)
	reqs := m["requests"].([]any)
	if len(reqs) != latestRequests {
		t.Fatalf("admin latest_requests = %d, want %d", len(reqs), latestRequests)
	}
	newest := reqs[0].(map[string]any)
	if newest["request_id"] != "root-11" || newest["status"] != "error" || newest["duration"] != 2.0 ||
		newest["queue_seconds"] != 1.0 || newest["total_seconds"] != 3.0 || newest["model_name"] != "big" {
		t.Errorf("newest request = %v", newest)
	}
	for _, k := range []string{"request_id", "model_name", "provider_name", "status", "timestamp", "duration", "cold_start",
		"enqueue_ts", "scheduled_ts", "request_complete_ts", "queue_seconds", "total_seconds", "initial_priority",
		"priority_when_scheduled", "queue_depth_at_enqueue", "error_message"} {
		if _, ok := newest[k]; !ok {
			t.Errorf("latest_requests entry lacks %q", k)
		}
	}
	m = e.ok("latest_requests", e.aliceKey, nil)
	var ids []string
	for _, r := range m["requests"].([]any) {
		ids = append(ids, r.(map[string]any)["request_id"].(string))
	}
	if d := cmp.Diff([]string{"alice-2", "alice-1", "alice-0"}, ids); d != "" {
		t.Errorf("alice's latest_requests (-want +got):\n%s", d)
	}
	e.fail("latest_requests", e.aliceKey, map[string]any{"process_id": e.rootPID}, http.StatusForbidden, "process_id", "forbidden")
}

func TestRequestEventStats(t *testing.T) {
	e := newStatsEnv(t)
	body := map[string]any{"start_date": e.day.Format(time.RFC3339), "end_date": e.day.AddDate(0, 0, 1).Format(time.RFC3339)}
	m := e.ok("request_event_stats", e.rootKey, body)
	if m["bucketSeconds"] != 900.0 { // 86400/120 = 720 s, nearest 900
		t.Errorf("bucketSeconds = %v, want 900", m["bucketSeconds"])
	}
	st := m["stats"].(map[string]any)
	wantTotals := map[string]any{"requests": 15.0, "cloudRequests": 0.0, "localRequests": 15.0, "coldStarts": 1.0,
		"warmStarts": 14.0, "avgQueueSeconds": 0.0, "avgRunSeconds": 2.0}
	if d := cmp.Diff(wantTotals, st["totals"]); d != "" {
		t.Errorf("totals (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]any{"success": 12.0, "error": 3.0, "timeout": 0.0, "unknown": 0.0}, st["statusCounts"]); d != "" {
		t.Errorf("statusCounts (-want +got):\n%s", d)
	}
	models := st["modelBreakdown"].([]any)
	if len(models) != 2 || models[0].(map[string]any)["modelName"] != "big" || models[0].(map[string]any)["modelId"] != -1.0 ||
		models[0].(map[string]any)["errorCount"] != 3.0 {
		t.Errorf("modelBreakdown = %v", models)
	}
	series := st["timeSeries"].([]any)
	if len(series) != 96 {
		t.Fatalf("timeSeries has %d points, want 96 (gap-filled 15-minute buckets of a day)", len(series))
	}
	total := 0.0
	for i, p := range series {
		pt := p.(map[string]any)
		if pt["timestamp"] != float64(e.day.Add(time.Duration(i)*15*time.Minute).UnixMilli()) {
			t.Fatalf("point %d at %v", i, pt["timestamp"])
		}
		total += pt["total"].(float64)
	}
	if total != 15 || series[0].(map[string]any)["total"] != 1.0 || series[2].(map[string]any)["total"] != 1.0 {
		t.Errorf("series totals: sum %v, first %v, third %v", total, series[0], series[2])
	}
	if st["lastEventTs"] != e.day.Add(11*time.Hour).Format(time.RFC3339Nano) {
		t.Errorf("lastEventTs = %v", st["lastEventTs"])
	}

	m = e.ok("request_event_stats", e.aliceKey, body)
	if got := m["stats"].(map[string]any)["totals"].(map[string]any)["requests"]; got != 3.0 {
		t.Errorf("alice's requests = %v, want 3", got)
	}
	body["start_date"], body["end_date"] = body["end_date"], body["start_date"]
	e.fail("request_event_stats", e.rootKey, body, http.StatusBadRequest, "start_date", "invalid_value")
}

// csvCall calls usage_csv and returns the status, Content-Type and body.
func (e *statsEnv) csvCall(method, target, key, body string) (int, string, string) {
	e.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec.Code, rec.Header().Get("Content-Type"), rec.Body.String()
}

func TestUsageCSV(t *testing.T) {
	e := newStatsEnv(t)
	from, to := e.day.Format(time.DateOnly), e.day.AddDate(0, 0, 1).Format(time.DateOnly)

	status, ct, body := e.csvCall(http.MethodGet, "/logosdb/usage_csv?from="+from+"&to="+to, e.rootKey, "")
	if status != http.StatusOK || ct != "text/csv; charset=utf-8" {
		t.Fatalf("GET usage_csv: %d %q: %s", status, ct, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 16 {
		t.Fatalf("admin CSV has %d rows, want header + 15", len(rows))
	}
	if d := cmp.Diff(store.UsageCSVHeader([]string{"completion_tokens", "prompt_tokens"}), rows[0]); d != "" {
		t.Errorf("header (-want +got):\n%s", d)
	}
	if rows[1][0] != "root-0" || rows[1][len(rows[1])-2] != "5" || rows[1][len(rows[1])-1] != "10" {
		t.Errorf("first row = %v", rows[1])
	}

	// POST with the key in the body; alice gets her own rows only.
	status, _, body = e.csvCall(http.MethodPost, "/logosdb/usage_csv", "",
		fmt.Sprintf(`{"logos_key":%q,"from":%q,"to":%q}`, e.aliceKey, from, to))
	rows, _ = csv.NewReader(strings.NewReader(body)).ReadAll()
	if status != http.StatusOK || len(rows) != 4 || rows[1][0] != "alice-0" {
		t.Errorf("alice's CSV: %d %v", status, rows)
	}
	status, _, _ = e.csvCall(http.MethodGet, fmt.Sprintf("/logosdb/usage_csv?process_id=%d", e.rootPID), e.aliceKey, "")
	if status != http.StatusForbidden {
		t.Errorf("alice asking for root's CSV: %d, want 403", status)
	}
	status, _, _ = e.csvCall(http.MethodGet, "/logosdb/usage_csv", "", "")
	if status != http.StatusUnauthorized {
		t.Errorf("CSV without a key: %d, want 401", status)
	}
	status, _, _ = e.csvCall(http.MethodGet, "/logosdb/usage_csv?from=soon", e.rootKey, "")
	if status != http.StatusBadRequest {
		t.Errorf("CSV with a bad from: %d, want 400", status)
	}
}

// TestStatsTimeGrammar pins the time grammar of the statistics' ranges
// (catalog.ParseTimeAsWritten): everything it accepted before it shared the
// catalogue's grammar (RFC 3339 to the nanosecond in any zone and year the
// layout holds, dates), and the catalogue's other forms.
func TestStatsTimeGrammar(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		// Accepted before.
		{"2026-01-01T00:00:00Z", utc(2026, 1, 1, 0, 0, 0, 0), true},
		{"2026-01-01T02:00:00.123456789+02:00", utc(2026, 1, 1, 0, 0, 0, 123456789), true},
		{"0000-01-01T00:00:00Z", utc(0, 1, 1, 0, 0, 0, 0), true},
		{"9999-12-31T23:00:00-05:00", utc(10000, 1, 1, 4, 0, 0, 0), true},
		{"2026-03-01", utc(2026, 3, 1, 0, 0, 0, 0), true},
		{"0000-01-01", utc(0, 1, 1, 0, 0, 0, 0), true},
		{" 2026-03-01 ", utc(2026, 3, 1, 0, 0, 0, 0), true},
		{"", time.Time{}, true},
		// The catalogue's other forms.
		{"2026-01-01T08:30", utc(2026, 1, 1, 8, 30, 0, 0), true},
		{"2026-01-01 08:30:15+01:00", utc(2026, 1, 1, 7, 30, 15, 0), true},
		// Refused.
		{"yesterday", time.Time{}, false},
		{"2026-13-01", time.Time{}, false},
		{"1767225600", time.Time{}, false},
	} {
		got, e := parseStatsTime("from", tc.in)
		if (e == nil) != tc.ok || !got.Equal(tc.want) || (e == nil && got.Location() != time.UTC) {
			t.Errorf("parseStatsTime(%q) = %v, %v; want %v, ok %v", tc.in, got, e, tc.want, tc.ok)
		}
		if e != nil && e.Param != "from" {
			t.Errorf("parseStatsTime(%q): error names %q, want from", tc.in, e.Param)
		}
	}
}
