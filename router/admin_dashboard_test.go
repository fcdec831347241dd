package router

import (
	"net/http"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

func TestListRequestsScopingAndFilters(t *testing.T) {
	e := newStatsEnv(t)
	body := e.dayRange()

	m := e.ok("list_requests", e.rootKey, body)
	rows := m["requests"].([]any)
	if len(rows) != 15 || m["truncated"] != false {
		t.Fatalf("admin sees %d rows (truncated %v), want 15", len(rows), m["truncated"])
	}
	if first := rows[0].(map[string]any); first["request_id"] != "root-11" || first["latency_ms"] != 3000.0 || first["tokens"] != 15.0 {
		t.Errorf("newest row = %v, want root-11 with latency 3000 ms and 15 tokens", first)
	}

	// alice sees only her process, also when she names another.
	m = e.ok("list_requests", e.aliceKey, body)
	for _, r := range m["requests"].([]any) {
		if pid := r.(map[string]any)["process_id"].(float64); int64(pid) != e.alicePID {
			t.Fatalf("alice saw a record of process %v", pid)
		}
	}
	if n := len(m["requests"].([]any)); n != 3 {
		t.Errorf("alice sees %d rows, want 3", n)
	}
	other := e.dayRange()
	other["process_id"] = e.rootPID
	e.fail("list_requests", e.aliceKey, other, http.StatusForbidden, "process_id", "forbidden")

	// Filters and the limit.
	f := e.dayRange()
	f["outcome"] = "error"
	if n := len(e.ok("list_requests", e.rootKey, f)["requests"].([]any)); n != 3 {
		t.Errorf("outcome=error: %d rows, want 3", n)
	}
	f = e.dayRange()
	f["model"], f["limit"] = "big", 5
	m = e.ok("list_requests", e.rootKey, f)
	if rows := m["requests"].([]any); len(rows) != 5 || m["truncated"] != true || rows[4].(map[string]any)["request_id"] != "root-7" {
		t.Errorf("model=big limit=5: %v truncated %v", rows, m["truncated"])
	}
	f["limit"] = 501
	e.fail("list_requests", e.rootKey, f, http.StatusBadRequest, "limit", "invalid_value")
	f = e.dayRange()
	f["outcome"] = "bogus"
	e.fail("list_requests", e.rootKey, f, http.StatusBadRequest, "outcome", "invalid_value")
	e.fail("list_requests", e.rootKey, map[string]any{"from": "2020-01-01", "to": "2021-01-01"}, http.StatusBadRequest, "from", "invalid_value")
}

func TestGetRequestScopingAndPayloads(t *testing.T) {
	e := newStatsEnv(t)
	at := time.Now().UTC().Add(-time.Minute)
	rec := store.UsageRecord{
		RequestID: "full-1", ProcessID: e.alicePID, ModelName: "small", ProviderName: "prov", Operation: "chat/completions",
		ReceivedAt: at, FirstTokenAt: at.Add(200 * time.Millisecond), CompletedAt: at.Add(time.Second), StatusCode: 200,
		Outcome: store.OutcomeSuccess, LogLevel: store.LogFull,
		RequestPayload: []byte(`{"messages":[{"role":"user","content":"hi"}]}`), ResponsePayload: []byte(`{"id":"x"}`),
		RequestHeaders: []byte(`{"authorization":"[REDACTED]"}`),
	}
	if _, err := e.st.InsertUsage(e.ctx, []store.UsageRecord{rec}); err != nil {
		t.Fatal(err)
	}
	r := e.ok("get_request", e.aliceKey, map[string]any{"request_id": "full-1"})["request"].(map[string]any)
	if r["ttft_ms"] != 200.0 || r["request_payload"] == nil || r["request_headers"].(map[string]any)["authorization"] != "[REDACTED]" {
		t.Errorf("alice's FULL record = %v", r)
	}
	// A BILLING record has no payloads.
	r = e.ok("get_request", e.rootKey, map[string]any{"request_id": "root-1"})["request"].(map[string]any)
	if r["request_payload"] != nil || r["response_payload"] != nil {
		t.Errorf("BILLING record has payloads: %v", r)
	}
	// alice cannot open root's record: 404 like a missing one.
	e.fail("get_request", e.aliceKey, map[string]any{"request_id": "root-1"}, http.StatusNotFound, "request_id", "not_found")
	e.fail("get_request", e.aliceKey, map[string]any{"request_id": "nope"}, http.StatusNotFound, "request_id", "not_found")
	e.fail("get_request", e.aliceKey, map[string]any{}, http.StatusBadRequest, "request_id", "missing_field")
}

func TestLatencyStats(t *testing.T) {
	e := newStatsEnv(t)
	body := e.dayRange()
	body["target_buckets"] = 24
	m := e.ok("latency_stats", e.rootKey, body)
	if m["bucket_seconds"] != 3600.0 {
		t.Fatalf("bucket_seconds = %v, want 3600", m["bucket_seconds"])
	}
	series := m["series"].([]any)
	if len(series) != 24 {
		t.Fatalf("%d points, want 24 (gap-filled)", len(series))
	}
	p0 := series[0].(map[string]any)
	// Bucket 0 holds root-0 and alice-0, both 3 s: the bin holding 3000 ms
	// has an upper bound within 10% above it.
	if p0["requests"] != 2.0 || p0["latency_p50_ms"].(float64) < 3000 || p0["latency_p50_ms"].(float64) > 3300 || p0["ttft_p50_ms"] != nil {
		t.Errorf("first bucket = %v", p0)
	}
	if p := series[3].(map[string]any); p["errors"] != 1.0 {
		t.Errorf("bucket 3 = %v, want 1 error", p)
	}
	if p := series[20].(map[string]any); p["requests"] != 0.0 || p["latency_p95_ms"] != nil {
		t.Errorf("empty bucket = %v", p)
	}
	// alice's scope: only her 3 records.
	m = e.ok("latency_stats", e.aliceKey, body)
	var n float64
	for _, p := range m["series"].([]any) {
		n += p.(map[string]any)["requests"].(float64)
	}
	if n != 3 {
		t.Errorf("alice's series counts %v requests, want 3", n)
	}
	body["process_id"] = e.rootPID
	e.fail("latency_stats", e.aliceKey, body, http.StatusForbidden, "process_id", "forbidden")
	body = e.dayRange()
	body["target_buckets"] = 5000
	e.fail("latency_stats", e.rootKey, body, http.StatusBadRequest, "target_buckets", "invalid_value")
}

func TestLatencyHistQuantile(t *testing.T) {
	var h latencyHist
	for i := 1; i <= 100; i++ {
		h.add(time.Duration(i) * 10 * time.Millisecond)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 500}, {0.95, 950}} {
		got := h.quantile(c.q).(float64)
		if got < c.want || got > c.want*1.1 {
			t.Errorf("q%v = %v, want within 10%% above %v", c.q, got, c.want)
		}
	}
	if (&latencyHist{}).quantile(0.5) != nil {
		t.Error("empty histogram has a quantile")
	}
}

func TestGetPrices(t *testing.T) {
	e := newStatsEnv(t)
	e.ok("add_billing", e.rootKey, map[string]any{"type_name": "prompt_tokens", "type_cost": 0.001, "valid_from": "2020-01-01T00:00:00Z"})
	e.ok("add_billing", e.rootKey, map[string]any{"type_name": "prompt_tokens", "type_cost": 0.002, "valid_from": "2021-01-01T00:00:00Z"})
	e.ok("add_billing", e.rootKey, map[string]any{"type_name": "prompt_tokens", "type_cost": 0.009, "valid_from": "2999-01-01T00:00:00Z"})
	prices := e.ok("get_prices", e.aliceKey, map[string]any{})["prices"].([]any)
	if len(prices) != 1 {
		t.Fatalf("prices = %v, want the one in force", prices)
	}
	if p := prices[0].(map[string]any); p["per_million"] != 2.0 || p["token_type"] != "prompt_tokens" || p["currency"] != "EUR" {
		t.Errorf("price in force = %v, want 2 EUR per million prompt tokens", p)
	}
}
