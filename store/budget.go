package store

import (
	"context"
	"time"
)

// BudgetPeriod is the length of a budget's spending period.
type BudgetPeriod string

// Budget periods. Periods are aligned to a budget's StartsAt in UTC: a
// period begins at StartsAt plus a whole number of days, weeks or calendar
// months.
const (
	PeriodDay   BudgetPeriod = "day"
	PeriodWeek  BudgetPeriod = "week"
	PeriodMonth BudgetPeriod = "month"
)

// Valid reports whether p is a known period.
func (p BudgetPeriod) Valid() bool {
	return p == PeriodDay || p == PeriodWeek || p == PeriodMonth
}

// DefaultBudgetAnchor is the StartsAt stored for a budget that names none:
// 2001-01-01T00:00Z, a Monday, so days start at midnight UTC, weeks on
// Mondays and months on the 1st.
var DefaultBudgetAnchor = time.Date(2001, time.January, 1, 0, 0, 0, 0, time.UTC)

// BudgetOwner names whose spending a budget limits: exactly one of ProcessID
// (one process) and UserID (every process the user owns) is set.
type BudgetOwner struct {
	ProcessID int64
	UserID    int64
}

// Valid reports whether exactly one owner id is set (and positive).
func (o BudgetOwner) Valid() bool {
	return (o.ProcessID > 0) != (o.UserID > 0) && o.ProcessID >= 0 && o.UserID >= 0
}

// Budget is a spending limit per period of a process or of a user.
type Budget struct {
	ID int64
	// ProcessID or UserID is the owner; exactly one is set. An owner has at
	// most one budget.
	ProcessID int64
	UserID    int64
	// LimitMicros is the most that may be spent per period, in millionths of
	// Currency (> 0).
	LimitMicros int64
	// Currency is an ISO 4217 code ("EUR"). Only usage records priced in it
	// count against the budget.
	Currency string
	Period   BudgetPeriod
	// StartsAt anchors the periods (see BudgetPeriod). Zero is stored as
	// DefaultBudgetAnchor.
	StartsAt  time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Owner returns the budget's owner.
func (b Budget) Owner() BudgetOwner { return BudgetOwner{ProcessID: b.ProcessID, UserID: b.UserID} }

// PeriodAt returns the period [start, end) that contains t. Periods before
// StartsAt are counted backwards from it, so every time has a period. A
// monthly anchor on a day after the 28th follows time.AddDate's
// normalisation (the 31st of January plus one month is the 3rd of March).
func (b Budget) PeriodAt(t time.Time) (start, end time.Time) {
	anchor := b.StartsAt
	if anchor.IsZero() {
		anchor = DefaultBudgetAnchor
	}
	anchor, t = anchor.UTC(), t.UTC()
	switch b.Period {
	case PeriodMonth:
		k := (t.Year()-anchor.Year())*12 + int(t.Month()) - int(anchor.Month())
		for anchor.AddDate(0, k, 0).After(t) {
			k--
		}
		for !anchor.AddDate(0, k+1, 0).After(t) {
			k++
		}
		return anchor.AddDate(0, k, 0), anchor.AddDate(0, k+1, 0)
	default:
		days := 1
		if b.Period == PeriodWeek {
			days = 7
		}
		d := time.Duration(days) * 24 * time.Hour
		k := t.Sub(anchor) / d
		if t.Before(anchor.Add(k * d)) {
			k--
		}
		return anchor.Add(k * d), anchor.Add((k + 1) * d)
	}
}

// BudgetStore keeps spending budgets and sums what their owners spent (package
// budget enforces them).
//
// It is not part of [Store]; the stores that implement it (store/sqlite and
// store/postgres) are found by a type assertion. All methods are safe for
// concurrent use.
type BudgetStore interface {
	// SetBudget creates the owner's budget or replaces its limit, currency,
	// period and anchor, and returns it as stored. ErrInvalid if the owner is
	// not exactly one existing process or user, the limit is not positive,
	// the currency is not three letters or the period unknown.
	SetBudget(ctx context.Context, b Budget) (Budget, error)
	// DeleteBudget deletes a budget; ErrNotFound if there is none with id.
	DeleteBudget(ctx context.Context, id int64) error
	// ListBudgets returns every budget ordered by id.
	ListBudgets(ctx context.Context) ([]Budget, error)
	// SpentMicros returns the summed CostMicros of the usage records in
	// currency received at or after since: of the owner's process, or of
	// every process the owner user owns now. ErrInvalid if owner is not
	// valid; an owner without records spent zero.
	SpentMicros(ctx context.Context, owner BudgetOwner, currency string, since time.Time) (int64, error)
}
