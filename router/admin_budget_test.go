package router

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

// newBudgetEnv is an identity environment whose handler serves the budget
// endpoints (registered here as long as routes does not register them).
func newBudgetEnv(t *testing.T) *identityEnv {
	t.Helper()
	e := newIdentityEnv(t)
	if _, pattern := e.h.mux.Handler(httptest.NewRequest(http.MethodPost, "/logosdb/set_budget", nil)); pattern == "/" {
		e.h.adminBudgetRoutes()
	}
	return e
}

func TestBudgetSetAndGet(t *testing.T) {
	e := newBudgetEnv(t)
	pid, key := e.user("alice", store.RoleUser)
	p, err := e.st.GetProcess(e.ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey := e.user("bob", store.RoleUser)

	m := e.ok("set_budget", e.rootKey, map[string]any{"process_id": pid, "limit": "50.00", "currency": "eur", "period": "month"})
	id := e.id(m, "budget-id")
	if b := m["budget"].(map[string]any); b["limit"] != "50.00" || b["limit_micros"] != float64(50_000_000) || b["currency"] != "EUR" || b["starts_at"] != "2001-01-01T00:00:00Z" {
		t.Errorf("set_budget answered %v", m)
	}
	// Setting again replaces it.
	m = e.ok("set_budget", e.rootKey, map[string]any{"process_id": pid, "limit": "20.5", "currency": "EUR", "period": "week"})
	if e.id(m, "budget-id") != id {
		t.Errorf("replacing gave a new budget: %v", m)
	}
	e.ok("set_budget", e.rootKey, map[string]any{"user_id": p.UserID, "limit": "100", "currency": "USD", "period": "day", "starts_at": "2026-01-01T06:00:00Z"})
	e.ok("set_budget", e.rootKey, map[string]any{"process_id": e.rootPID, "limit": "1", "currency": "EUR", "period": "day"})

	// Spending of the current period shows.
	if _, err := e.st.InsertUsage(e.ctx, []store.UsageRecord{{
		RequestID: "r1", ProcessID: pid, ReceivedAt: time.Now(), StatusCode: 200, Outcome: store.OutcomeSuccess,
		LogLevel: store.LogBilling, CostMicros: 1_250_000, Currency: "EUR",
	}}); err != nil {
		t.Fatal(err)
	}
	all := e.ok("get_budgets", e.rootKey, map[string]any{})["budgets"].([]any)
	if len(all) != 3 {
		t.Fatalf("admin sees %d budgets: %v", len(all), all)
	}
	own := e.ok("get_budgets", key, map[string]any{})["budgets"].([]any)
	if len(own) != 2 {
		t.Fatalf("alice sees %d budgets: %v", len(own), own)
	}
	pb := own[0].(map[string]any)
	if pb["process_id"] != float64(pid) || pb["spent"] != "1.25" || pb["spent_micros"] != float64(1_250_000) || pb["limit"] != "20.50" || pb["period"] != "week" || pb["period_start"] == "" {
		t.Errorf("alice's process budget %v", pb)
	}
	if ub := own[1].(map[string]any); ub["user_id"] != float64(p.UserID) || ub["spent"] != "0.00" || ub["currency"] != "USD" || ub["starts_at"] != "2026-01-01T06:00:00Z" {
		t.Errorf("alice's user budget %v", ub)
	}
	if none := e.ok("get_budgets", otherKey, map[string]any{})["budgets"].([]any); len(none) != 0 {
		t.Errorf("bob sees %v", none)
	}
}

func TestBudgetErrors(t *testing.T) {
	e := newBudgetEnv(t)
	pid, key := e.user("alice", store.RoleUser)
	ok := func() map[string]any {
		return map[string]any{"process_id": pid, "limit": "5", "currency": "EUR", "period": "month"}
	}
	with := func(k string, v any) map[string]any {
		m := ok()
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	e.fail("set_budget", "", ok(), http.StatusUnauthorized, "", "missing_api_key")
	e.fail("set_budget", "lg-wrong", ok(), http.StatusUnauthorized, "", "invalid_api_key")
	e.fail("get_budgets", "", map[string]any{}, http.StatusUnauthorized, "", "missing_api_key")
	e.fail("set_budget", key, ok(), http.StatusForbidden, "", "admin_required")
	e.fail("set_budget", e.rootKey, with("process_id", 1<<40), http.StatusNotFound, "process_id", "not_found")
	e.fail("set_budget", e.rootKey, map[string]any{"user_id": 1 << 40, "limit": "5", "currency": "EUR", "period": "day"}, http.StatusNotFound, "user_id", "not_found")
	for _, tc := range []struct {
		body        map[string]any
		param, code string
	}{
		{with("process_id", nil), "process_id", "missing_field"},
		{with("user_id", 1), "user_id", "invalid_value"},
		{with("process_id", -3), "process_id", "invalid_value"},
		{with("process_id", "seven"), "process_id", ""},
		{with("limit", nil), "limit", "missing_field"},
		{with("limit", "0"), "limit", "invalid_value"},
		{with("limit", "-5"), "limit", "invalid_value"},
		{with("limit", "5.1234567"), "limit", "invalid_value"},
		{with("limit", "five"), "limit", "invalid_value"},
		{with("limit", 5), "limit", ""},
		{with("currency", nil), "currency", "missing_field"},
		{with("currency", "EURO"), "currency", "invalid_value"},
		{with("currency", "E1R"), "currency", "invalid_value"},
		{with("period", nil), "period", "missing_field"},
		{with("period", "year"), "period", "invalid_value"},
		{with("starts_at", "yesterday"), "starts_at", "invalid_value"},
	} {
		e.fail("set_budget", e.rootKey, tc.body, http.StatusBadRequest, tc.param, tc.code)
	}
	if got := e.ok("get_budgets", e.rootKey, map[string]any{})["budgets"].([]any); len(got) != 0 {
		t.Errorf("refused budgets were stored: %v", got)
	}
}

// TestBudgetStartsAtGrammar pins the grammar of starts_at
// (catalog.ParseTimeAsWritten with years 1 to 9999 as written): the RFC 3339
// times it accepted before it shared the catalogue's grammar, and the
// catalogue's other forms (dates, times without a zone taken as UTC).
func TestBudgetStartsAtGrammar(t *testing.T) {
	e := newBudgetEnv(t)
	pid, _ := e.user("alice", store.RoleUser)
	for _, tc := range []struct{ in, want string }{
		{"2026-01-01T06:00:00Z", "2026-01-01T06:00:00Z"},
		{"2026-01-01T07:00:00.5+01:00", "2026-01-01T06:00:00Z"},
		{"2026-01-01", "2026-01-01T00:00:00Z"},
		{"2026-01-01T06:30", "2026-01-01T06:30:00Z"},
		{" 2026-01-01 06:30:00Z ", "2026-01-01T06:30:00Z"},
	} {
		b := e.ok("set_budget", e.rootKey, map[string]any{"process_id": pid, "limit": "5", "currency": "EUR", "period": "month", "starts_at": tc.in})
		if got := b["budget"].(map[string]any)["starts_at"]; got != tc.want {
			t.Errorf("starts_at %q is answered as %v, want %s", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{"yesterday", "0000-01-01T00:00:00Z", "2026-01-01T00:00:00+25:00"} {
		e.fail("set_budget", e.rootKey, map[string]any{"process_id": pid, "limit": "5", "currency": "EUR", "period": "month", "starts_at": in},
			http.StatusBadRequest, "starts_at", "invalid_value")
	}
}
