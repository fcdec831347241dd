package router

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

// TestStatsPointLimit reproduces the memory exhaustion of issue 25 item 2:
// request_event_stats with a year and 100,000,000 target buckets from a
// user's key filled one point per minute. It is refused with a 400 naming the
// limit; the limits hold at their edges.
func TestStatsPointLimit(t *testing.T) {
	e := newStatsEnv(t)
	for _, key := range []string{e.aliceKey, e.rootKey} {
		e.fail("request_event_stats", key, map[string]any{"start_date": "2025-12-05", "end_date": "2026-12-05", "target_buckets": 100000000},
			http.StatusBadRequest, "target_buckets", "invalid_value")
	}
	_, m := e.post("request_event_stats", e.aliceKey, map[string]any{"start_date": "2025-12-05", "end_date": "2026-12-05", "target_buckets": maxSeriesPoints + 1})
	if msg := m["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "2000") {
		t.Errorf("the error does not name the limit: %q", msg)
	}

	// At the edge: 2,000 buckets over 400 days give at most 2,000 points.
	end := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	start := end.AddDate(0, 0, -maxStatsRangeDays)
	m = e.ok("request_event_stats", e.aliceKey, map[string]any{"start_date": start.Format(time.DateOnly), "end_date": end.Format(time.DateOnly), "target_buckets": maxSeriesPoints})
	series := m["stats"].(map[string]any)["timeSeries"].([]any)
	if len(series) == 0 || len(series) > maxSeriesPoints {
		t.Errorf("%d points for target_buckets %d over %d days", len(series), maxSeriesPoints, maxStatsRangeDays)
	}
	// One day with 2,000 target buckets: the nearest width (60 s) gives
	// 1,440 points, within the limit.
	m = e.ok("request_event_stats", e.aliceKey, map[string]any{"start_date": "2026-12-04", "end_date": "2026-12-05", "target_buckets": maxSeriesPoints})
	if n := len(m["stats"].(map[string]any)["timeSeries"].([]any)); n != 1440 {
		t.Errorf("one day in minutes: %d points, want 1440", n)
	}
	// A range one second over 400 days is refused, for every ranged endpoint.
	long := map[string]any{"start_date": start.Add(-time.Second).Format(time.RFC3339), "end_date": end.Format(time.RFC3339)}
	e.fail("request_event_stats", e.aliceKey, long, http.StatusBadRequest, "start_date", "invalid_value")
	longFT := map[string]any{"from": start.Add(-time.Second).Format(time.RFC3339), "to": end.Format(time.RFC3339)}
	e.fail("usage_stats", e.aliceKey, longFT, http.StatusBadRequest, "from", "invalid_value")
	e.ok("usage_stats", e.aliceKey, map[string]any{"from": start.Format(time.RFC3339), "to": end.Format(time.RFC3339), "interval": "day"})
	e.fail("usage_stats", e.aliceKey, map[string]any{"from": "1900-01-01", "to": "9999-12-31", "interval": "day"}, http.StatusBadRequest, "from", "invalid_value")
	status, out := e.raw("usage_csv", e.aliceKey, identityJSON(longFT))
	if status != http.StatusBadRequest || !strings.Contains(string(out), "400 days") {
		t.Errorf("usage_csv over 400 days: %d %s", status, out)
	}
	// Hourly usage series: 2,000 whole hours pass, 2,001 do not.
	hours := map[string]any{"from": end.Add(-maxSeriesPoints * time.Hour).Format(time.RFC3339), "to": end.Format(time.RFC3339), "interval": "hour"}
	e.ok("usage_stats", e.aliceKey, hours)
	hours["from"] = end.Add(-(maxSeriesPoints + 1) * time.Hour).Format(time.RFC3339)
	e.fail("usage_stats", e.aliceKey, hours, http.StatusBadRequest, "interval", "invalid_value")
}

// TestEventBucketSecondsWithinLimit checks that the chosen width never gives
// more than maxSeriesPoints points for any allowed range and target.
func TestEventBucketSecondsWithinLimit(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
	for _, days := range []float64{0.01, 0.5, 1, 1.4, 2, 3, 7, 31, 92, 100, 365, maxStatsRangeDays} {
		end := start.Add(time.Duration(days * 24 * float64(time.Hour)))
		for _, target := range []int{1, 2, 120, 999, 1000, 1001, 1500, maxSeriesPoints} {
			b := eventBucketSeconds(start, end, target)
			if n := bucketCount(start, end, b); n > maxSeriesPoints {
				t.Errorf("%v days, target %d: width %d s gives %d points", days, target, b, n)
			}
		}
	}
}

// countingBody counts the bytes read from a body of n 'x' bytes.
type countingBody struct {
	left int64
	read atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	n = min(n, b.left)
	for i := range n {
		p[i] = 'x'
	}
	b.left -= n
	b.read.Add(n)
	return int(n), nil
}

func (b *countingBody) Close() error { return nil }

// TestAdminBodyReadAfterAuth reproduces issue 25 item 3: a 60 MB POST to
// get_role without a valid key was read whole before the 401. Now a header
// key is checked first and nothing is read; without any key at most
// adminBodyLimit is read.
func TestAdminBodyReadAfterAuth(t *testing.T) {
	e := newIdentityEnv(t)
	_, userKey := e.user("alice", store.RoleUser)
	const size = 60 << 20
	send := func(name, key string, length int64) (int, int64) {
		body := &countingBody{left: size}
		req := httptest.NewRequest(http.MethodPost, "/logosdb/"+name, nil)
		req.Body, req.ContentLength = body, length
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		return rec.Code, body.read.Load()
	}
	cases := []struct {
		name, endpoint, key string
		length              int64
		status              int
		maxRead             int64
	}{
		{"wrong key", "get_role", "lg-nobody-0123456789abcdefghij", size, http.StatusUnauthorized, 0},
		{"wrong key, unknown length", "get_role", "lg-nobody-0123456789abcdefghij", -1, http.StatusUnauthorized, 0},
		{"no key", "get_role", "", size, http.StatusRequestEntityTooLarge, 0},
		{"no key, unknown length", "get_role", "", -1, http.StatusRequestEntityTooLarge, adminBodyLimit + 64<<10},
		{"user key", "get_role", userKey, size, http.StatusRequestEntityTooLarge, 0},
		{"user key on import", "import", userKey, -1, http.StatusRequestEntityTooLarge, adminBodyLimit + 64<<10},
		{"no key on import", "import", "", -1, http.StatusRequestEntityTooLarge, adminBodyLimit + 64<<10},
		{"wrong key on usage_csv", "usage_csv", "lg-nobody-0123456789abcdefghij", size, http.StatusUnauthorized, 0},
		{"no key on usage_csv", "usage_csv", "", -1, http.StatusRequestEntityTooLarge, adminBodyLimit + 64<<10},
	}
	for _, c := range cases {
		status, read := send(c.endpoint, c.key, c.length)
		if status != c.status || read > c.maxRead {
			t.Errorf("%s: status %d, %d bytes read; want %d, at most %d read", c.name, status, read, c.status, c.maxRead)
		}
	}

	// An admin may import more than adminBodyLimit (the key in a header).
	doc := map[string]any{"version": 1, "pad": strings.Repeat("p", 2*adminBodyLimit)}
	b, _ := json.Marshal(doc)
	req := httptest.NewRequest(http.MethodPost, "/logosdb/import", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+e.rootKey)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code == http.StatusRequestEntityTooLarge || rec.Code == http.StatusUnauthorized {
		t.Errorf("admin import of %d bytes: %d %s", len(b), rec.Code, rec.Body)
	}
}
