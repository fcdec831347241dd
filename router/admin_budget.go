package router

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/catalog"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/pipeline/billing"
	"github.com/logos-llm/logos/store"
)

// adminBudgetRoutes registers the budget endpoints:
//
//   - set_budget (admin): creates or replaces the budget of a process or of
//     a user (covering all the user's processes).
//   - get_budgets: an admin sees every budget; anyone else the budgets of
//     their own process and of its user. Each comes with what its current
//     period has spent.
//
// Amounts are decimal strings in currency units ("50.00"). They need a store
// that implements store.BudgetStore; otherwise they answer 501.
func (h *Handler) adminBudgetRoutes() {
	x := budgetAPI{h}
	h.adminRoute("set_budget", true, true, x.setBudget)
	h.adminRoute("get_budgets", false, false, x.getBudgets)
}

// budgetAPI implements the budget endpoints.
type budgetAPI struct{ *Handler }

// budgetJSON is a budget as the endpoints show it.
type budgetJSON struct {
	ID          int64  `json:"budget-id"`
	ProcessID   int64  `json:"process_id,omitempty"`
	UserID      int64  `json:"user_id,omitempty"`
	Limit       string `json:"limit"`
	LimitMicros int64  `json:"limit_micros"`
	Currency    string `json:"currency"`
	Period      string `json:"period"`
	StartsAt    string `json:"starts_at"`
	PeriodStart string `json:"period_start,omitempty"`
	PeriodEnd   string `json:"period_end,omitempty"`
	Spent       string `json:"spent,omitempty"`
	SpentMicros *int64 `json:"spent_micros,omitempty"`
}

// toBudgetJSON converts b; with spent set it also shows the current period.
func toBudgetJSON(b store.Budget, now time.Time, spent *int64) budgetJSON {
	out := budgetJSON{
		ID: b.ID, ProcessID: b.ProcessID, UserID: b.UserID,
		Limit: billing.FormatMicros(b.LimitMicros), LimitMicros: b.LimitMicros,
		Currency: b.Currency, Period: string(b.Period), StartsAt: b.StartsAt.UTC().Format(time.RFC3339),
	}
	if spent != nil {
		start, end := b.PeriodAt(now)
		out.PeriodStart, out.PeriodEnd = start.Format(time.RFC3339), end.Format(time.RFC3339)
		out.Spent, out.SpentMicros = billing.FormatMicros(*spent), spent
	}
	return out
}

// budgets returns the store's BudgetStore, or the 501 for a store without.
func (x budgetAPI) budgets() (store.BudgetStore, *oaierr.Error) {
	bs, ok := x.cfg.Store.(store.BudgetStore)
	if !ok {
		return nil, oaierr.New(http.StatusNotImplemented, "This store does not support budgets").WithCode("not_supported")
	}
	return bs, nil
}

// setBudget creates or replaces a budget.
//
//	{process_id | user_id, limit: "50.00", currency: "EUR", period: "day"|"week"|"month",
//	 starts_at?: RFC 3339} → {"result":"Set budget","budget-id", "budget": {...}}
func (x budgetAPI) setBudget(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		ProcessID int64  `json:"process_id"`
		UserID    int64  `json:"user_id"`
		Limit     string `json:"limit"`
		Currency  string `json:"currency"`
		Period    string `json:"period"`
		StartsAt  string `json:"starts_at"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	bs, e := x.budgets()
	if e != nil {
		return 0, nil, e
	}
	b := store.Budget{Period: store.BudgetPeriod(req.Period), Currency: strings.ToUpper(req.Currency)}
	switch {
	case req.ProcessID == 0 && req.UserID == 0:
		return 0, nil, oaierr.New(http.StatusBadRequest, `One of the fields "process_id" and "user_id" is required`).WithParam("process_id").WithCode("missing_field")
	case req.ProcessID != 0 && req.UserID != 0:
		return 0, nil, invalid("user_id", `must not be set together with "process_id"`)
	case req.ProcessID < 0:
		return 0, nil, x.catalogError(catalog.CheckID("process_id", req.ProcessID))
	case req.UserID < 0:
		return 0, nil, x.catalogError(catalog.CheckID("user_id", req.UserID))
	case req.Limit == "":
		return 0, nil, missing("limit")
	case req.Currency == "":
		return 0, nil, missing("currency")
	case req.Period == "":
		return 0, nil, missing("period")
	case !b.Period.Valid():
		return 0, nil, invalid("period", `must be "day", "week" or "month"`)
	}
	if !catalog.IsCurrency(b.Currency) {
		return 0, nil, invalid("currency", "must be a three-letter ISO 4217 code")
	}
	limit, err := catalog.ParseMicros(req.Limit)
	if err != nil || limit <= 0 {
		return 0, nil, invalid("limit", `must be a positive decimal amount with at most six decimals, e.g. "50.00"`)
	}
	b.LimitMicros = limit
	if req.StartsAt != "" {
		// The catalogue's grammar (RFC 3339, dates, ...), with the year
		// limits this field always had.
		t, err := catalog.ParseTimeAsWritten(req.StartsAt)
		if err != nil || t.Year() < 1 || t.Year() > 9999 {
			return 0, nil, invalid("starts_at", "must be an RFC 3339 time")
		}
		b.StartsAt = t
	}
	if req.ProcessID != 0 {
		if _, err := x.db.GetProcess(a.ctx, req.ProcessID); err != nil {
			return 0, nil, x.storeError(err, fmt.Sprintf("process %d", req.ProcessID), "process_id")
		}
		b.ProcessID = req.ProcessID
	} else {
		if _, err := x.db.GetUser(a.ctx, req.UserID); err != nil {
			return 0, nil, x.storeError(err, fmt.Sprintf("user %d", req.UserID), "user_id")
		}
		b.UserID = req.UserID
	}
	stored, err := bs.SetBudget(a.ctx, b)
	if err != nil {
		return 0, nil, x.storeError(err, "budget", "")
	}
	return http.StatusOK, result("Set budget", "budget-id", stored.ID, "budget", toBudgetJSON(stored, time.Time{}, nil)), nil
}

// getBudgets lists budgets with their current spending: every budget for an
// admin, else those of the caller's process and of its user.
//
//	{} → {"budgets": [{budget-id, process_id|user_id, limit, limit_micros, currency, period,
//	      starts_at, period_start, period_end, spent, spent_micros}]}
func (x budgetAPI) getBudgets(a *adminRequest) (int, any, *oaierr.Error) {
	bs, e := x.budgets()
	if e != nil {
		return 0, nil, e
	}
	all, err := bs.ListBudgets(a.ctx)
	if err != nil {
		return 0, nil, x.storeError(err, "budgets", "")
	}
	now := time.Now()
	out := []budgetJSON{}
	for _, b := range all {
		own := b.ProcessID == a.caller.Process.ID || (b.UserID != 0 && b.UserID == a.caller.Process.UserID)
		if !a.caller.Admin && !own {
			continue
		}
		start, _ := b.PeriodAt(now)
		spent, err := bs.SpentMicros(a.ctx, b.Owner(), b.Currency, start)
		if err != nil {
			return 0, nil, x.storeError(err, fmt.Sprintf("spending of budget %d", b.ID), "")
		}
		out = append(out, toBudgetJSON(b, now, &spent))
	}
	return http.StatusOK, map[string]any{"budgets": out}, nil
}
