package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres/internal/pgdb"
)

var _ store.BudgetStore = (*Store)(nil)

// checkBudget refuses a budget the schema would refuse, before it reaches the
// database, so the error names the field.
func checkBudget(op string, b store.Budget) error {
	switch {
	case !b.Owner().Valid():
		return invalidf(op, "budget needs exactly one of process id and user id")
	case b.LimitMicros <= 0:
		return invalidf(op, "budget limit %d is not positive", b.LimitMicros)
	case len(b.Currency) != 3:
		return invalidf(op, "currency %q is not a three-letter code", b.Currency)
	case !b.Period.Valid():
		return invalidf(op, "unknown budget period %q", b.Period)
	}
	return nil
}

// SetBudget implements [store.BudgetStore] with one upsert on the owner.
func (s *Store) SetBudget(ctx context.Context, b store.Budget) (store.Budget, error) {
	op := fmt.Sprintf("set budget of process %d / user %d", b.ProcessID, b.UserID)
	if err := checkBudget(op, b); err != nil {
		return store.Budget{}, err
	}
	starts := b.StartsAt
	if starts.IsZero() {
		starts = store.DefaultBudgetAnchor
	}
	var (
		row pgdb.Budget
		err error
	)
	if b.ProcessID != 0 {
		row, err = s.q.SetProcessBudget(ctx, pgdb.SetProcessBudgetParams{
			ProcessID: nullID(b.ProcessID), LimitMicros: b.LimitMicros, Currency: b.Currency,
			Period: string(b.Period), StartsAt: nullTime(starts),
		})
	} else {
		row, err = s.q.SetUserBudget(ctx, pgdb.SetUserBudgetParams{
			UserID: nullID(b.UserID), LimitMicros: b.LimitMicros, Currency: b.Currency,
			Period: string(b.Period), StartsAt: nullTime(starts),
		})
	}
	if err != nil {
		return store.Budget{}, mapErr(op, err)
	}
	return budgetFromRow(row), nil
}

// DeleteBudget implements [store.BudgetStore].
func (s *Store) DeleteBudget(ctx context.Context, id int64) error {
	op := fmt.Sprintf("delete budget %d", id)
	n, err := s.q.DeleteBudget(ctx, id)
	if err != nil {
		return mapErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	return nil
}

// ListBudgets implements [store.BudgetStore].
func (s *Store) ListBudgets(ctx context.Context) ([]store.Budget, error) {
	rows, err := s.q.ListBudgets(ctx)
	if err != nil {
		return nil, mapErr("list budgets", err)
	}
	return convertAll(rows, budgetFromRow), nil
}

// SpentMicros implements [store.BudgetStore] with one aggregate query.
func (s *Store) SpentMicros(ctx context.Context, owner store.BudgetOwner, currency string, since time.Time) (int64, error) {
	op := fmt.Sprintf("sum spending of process %d / user %d", owner.ProcessID, owner.UserID)
	if !owner.Valid() {
		return 0, invalidf(op, "need exactly one of process id and user id")
	}
	from := nullTime(since)
	if since.IsZero() {
		from = pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	}
	var (
		n   int64
		err error
	)
	if owner.ProcessID != 0 {
		n, err = s.q.ProcessSpentMicros(ctx, pgdb.ProcessSpentMicrosParams{ProcessID: nullID(owner.ProcessID), Currency: currency, Since: from})
	} else {
		n, err = s.q.UserSpentMicros(ctx, pgdb.UserSpentMicrosParams{UserID: nullID(owner.UserID), Currency: currency, Since: from})
	}
	if err != nil {
		return 0, mapErr(op, err)
	}
	return n, nil
}

// budgetFromRow converts a stored budget.
func budgetFromRow(r pgdb.Budget) store.Budget {
	return store.Budget{
		ID:          r.ID,
		ProcessID:   fromNullID(r.ProcessID),
		UserID:      fromNullID(r.UserID),
		LimitMicros: r.LimitMicros,
		Currency:    r.Currency,
		Period:      store.BudgetPeriod(r.Period),
		StartsAt:    fromTime(r.StartsAt),
		CreatedAt:   fromTime(r.CreatedAt),
		UpdatedAt:   fromTime(r.UpdatedAt),
	}
}
