package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

var _ store.BudgetStore = (*Store)(nil)

// checkBudget refuses a budget the schema would refuse, before it reaches the
// database, so the error names the field.
func checkBudget(b store.Budget) error {
	switch {
	case !b.Owner().Valid():
		return fmt.Errorf("budget needs exactly one of process id and user id: %w", store.ErrInvalid)
	case b.LimitMicros <= 0:
		return fmt.Errorf("budget limit %d is not positive: %w", b.LimitMicros, store.ErrInvalid)
	case len(b.Currency) != 3:
		return fmt.Errorf("currency %q is not a three-letter code: %w", b.Currency, store.ErrInvalid)
	case !b.Period.Valid():
		return fmt.Errorf("unknown budget period %q: %w", b.Period, store.ErrInvalid)
	}
	return checkTime("budget start", b.StartsAt)
}

// SetBudget implements [store.BudgetStore] with one upsert on the owner.
func (s *Store) SetBudget(ctx context.Context, b store.Budget) (store.Budget, error) {
	op := fmt.Sprintf("set budget of process %d / user %d", b.ProcessID, b.UserID)
	if err := checkBudget(b); err != nil {
		return store.Budget{}, mapErr(op, err)
	}
	starts := formatTime(orDefault(b.StartsAt, store.DefaultBudgetAnchor))
	ts := formatTime(now())
	var (
		row sqlitedb.Budget
		err error
	)
	if b.ProcessID != 0 {
		row, err = s.w.SetProcessBudget(ctx, sqlitedb.SetProcessBudgetParams{
			ProcessID: nullID(b.ProcessID), LimitMicros: b.LimitMicros, Currency: b.Currency,
			Period: string(b.Period), StartsAt: starts, Now: ts,
		})
	} else {
		row, err = s.w.SetUserBudget(ctx, sqlitedb.SetUserBudgetParams{
			UserID: nullID(b.UserID), LimitMicros: b.LimitMicros, Currency: b.Currency,
			Period: string(b.Period), StartsAt: starts, Now: ts,
		})
	}
	if err != nil {
		return store.Budget{}, mapErr(op, err)
	}
	var d decoder
	out := budgetFromRow(&d, row)
	return out, mapErr(op, d.err)
}

// DeleteBudget implements [store.BudgetStore].
func (s *Store) DeleteBudget(ctx context.Context, id int64) error {
	return mapErr(fmt.Sprintf("delete budget %d", id), notFoundIfNone(s.w.DeleteBudget(ctx, id)))
}

// ListBudgets implements [store.BudgetStore].
func (s *Store) ListBudgets(ctx context.Context) ([]store.Budget, error) {
	rows, err := s.r.ListBudgets(ctx)
	if err != nil {
		return nil, mapErr("list budgets", err)
	}
	var d decoder
	out := make([]store.Budget, 0, len(rows))
	for _, r := range rows {
		out = append(out, budgetFromRow(&d, r))
	}
	if d.err != nil {
		return nil, mapErr("list budgets", d.err)
	}
	return out, nil
}

// SpentMicros implements [store.BudgetStore] with one aggregate query on the
// query-only pool.
func (s *Store) SpentMicros(ctx context.Context, owner store.BudgetOwner, currency string, since time.Time) (int64, error) {
	op := fmt.Sprintf("sum spending of process %d / user %d", owner.ProcessID, owner.UserID)
	if !owner.Valid() {
		return 0, mapErr(op, fmt.Errorf("need exactly one of process id and user id: %w", store.ErrInvalid))
	}
	if err := checkTime("since", since); err != nil {
		return 0, mapErr(op, err)
	}
	from := formatTime(since)
	if since.IsZero() {
		from = ""
	}
	var (
		n   int64
		err error
	)
	if owner.ProcessID != 0 {
		n, err = s.r.ProcessSpentMicros(ctx, sqlitedb.ProcessSpentMicrosParams{ProcessID: nullID(owner.ProcessID), Currency: currency, Since: from})
	} else {
		n, err = s.r.UserSpentMicros(ctx, sqlitedb.UserSpentMicrosParams{UserID: nullID(owner.UserID), Currency: currency, Since: from})
	}
	if err != nil {
		return 0, mapErr(op, err)
	}
	return n, nil
}

// budgetFromRow converts a stored budget.
func budgetFromRow(d *decoder, r sqlitedb.Budget) store.Budget {
	return store.Budget{
		ID:          r.ID,
		ProcessID:   fromNullID(r.ProcessID),
		UserID:      fromNullID(r.UserID),
		LimitMicros: r.LimitMicros,
		Currency:    r.Currency,
		Period:      store.BudgetPeriod(r.Period),
		StartsAt:    d.time("starts_at", r.StartsAt),
		CreatedAt:   d.time("created_at", r.CreatedAt),
		UpdatedAt:   d.time("updated_at", r.UpdatedAt),
	}
}
