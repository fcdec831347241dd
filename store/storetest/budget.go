package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

// RunBudget runs the conformance tests of [store.BudgetStore] against the
// store returned by open, which must implement it. Like [Run], every test is
// a subtest with a fresh store from open.
func RunBudget(t *testing.T, open func(t testing.TB) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, bs store.BudgetStore)
	}{
		{"SetUpsertsPerOwner", testBudgetUpsert},
		{"DeleteAndCascade", testBudgetDelete},
		{"Invalid", testBudgetInvalid},
		{"SpentMicros", testBudgetSpent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			bs, ok := s.(store.BudgetStore)
			if !ok {
				t.Fatalf("%T does not implement store.BudgetStore", s)
			}
			tc.fn(t, s, bs)
		})
	}
}

// budgetStart is a monthly anchor used by the budget tests.
var budgetStart = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func testBudgetUpsert(t *testing.T, s store.Store, bs store.BudgetStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	pb := must(bs.SetBudget(ctx, store.Budget{ProcessID: f.Process.ID, LimitMicros: 50_000_000, Currency: "EUR", Period: store.PeriodMonth, StartsAt: budgetStart}))(t)
	if pb.ID == 0 || pb.ProcessID != f.Process.ID || pb.UserID != 0 || pb.LimitMicros != 50_000_000 ||
		pb.Currency != "EUR" || pb.Period != store.PeriodMonth || !pb.StartsAt.Equal(budgetStart) ||
		pb.CreatedAt.IsZero() || pb.UpdatedAt.IsZero() {
		t.Errorf("SetBudget returned %+v", pb)
	}
	ub := must(bs.SetBudget(ctx, store.Budget{UserID: f.User.ID, LimitMicros: 7, Currency: "USD", Period: store.PeriodDay}))(t)
	if ub.UserID != f.User.ID || ub.ProcessID != 0 || !ub.StartsAt.Equal(store.DefaultBudgetAnchor) {
		t.Errorf("user budget %+v; want owner user %d and the default anchor", ub, f.User.ID)
	}
	// A second SetBudget for the same owner replaces the first in place.
	pb2 := must(bs.SetBudget(ctx, store.Budget{ProcessID: f.Process.ID, LimitMicros: 9, Currency: "USD", Period: store.PeriodWeek, StartsAt: budgetStart.AddDate(0, 0, 3)}))(t)
	if pb2.ID != pb.ID || pb2.LimitMicros != 9 || pb2.Currency != "USD" || pb2.Period != store.PeriodWeek || !pb2.StartsAt.Equal(budgetStart.AddDate(0, 0, 3)) {
		t.Errorf("replacing budget %d gave %+v", pb.ID, pb2)
	}
	list := must(bs.ListBudgets(ctx))(t)
	if len(list) != 2 || list[0].ID != pb.ID || list[1].ID != ub.ID || list[0].LimitMicros != 9 || list[1].Currency != "USD" {
		t.Errorf("ListBudgets = %+v; want the replaced process budget and the user budget", list)
	}
}

func testBudgetDelete(t *testing.T, s store.Store, bs store.BudgetStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	pb := must(bs.SetBudget(ctx, store.Budget{ProcessID: f.Process.ID, LimitMicros: 1, Currency: "EUR", Period: store.PeriodMonth}))(t)
	must(bs.SetBudget(ctx, store.Budget{UserID: f.User.ID, LimitMicros: 1, Currency: "EUR", Period: store.PeriodMonth}))(t)
	noErr(t, bs.DeleteBudget(ctx, pb.ID))
	if err := bs.DeleteBudget(ctx, pb.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteBudget = %v; want ErrNotFound", err)
	}
	if list := must(bs.ListBudgets(ctx))(t); len(list) != 1 || list[0].UserID != f.User.ID {
		t.Errorf("after delete: %+v", list)
	}
	// Deleting the owner deletes its budget.
	noErr(t, s.DeleteProcess(ctx, f.Process.ID))
	must(bs.SetBudget(ctx, store.Budget{ProcessID: f.Process2.ID, LimitMicros: 1, Currency: "EUR", Period: store.PeriodMonth}))(t)
	noErr(t, s.DeleteProcess(ctx, f.Process2.ID))
	if list := must(bs.ListBudgets(ctx))(t); len(list) != 1 || list[0].UserID != f.User.ID {
		t.Errorf("after deleting the processes: %+v; want the user budget only", list)
	}
}

func testBudgetInvalid(t *testing.T, s store.Store, bs store.BudgetStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	ok := store.Budget{ProcessID: f.Process.ID, LimitMicros: 1, Currency: "EUR", Period: store.PeriodMonth}
	for name, mod := range map[string]func(b *store.Budget){
		"no owner":        func(b *store.Budget) { b.ProcessID = 0 },
		"two owners":      func(b *store.Budget) { b.UserID = f.User.ID },
		"missing process": func(b *store.Budget) { b.ProcessID = 1 << 40 },
		"missing user":    func(b *store.Budget) { b.ProcessID, b.UserID = 0, 1<<40 },
		"zero limit":      func(b *store.Budget) { b.LimitMicros = 0 },
		"negative limit":  func(b *store.Budget) { b.LimitMicros = -5 },
		"currency":        func(b *store.Budget) { b.Currency = "EURO" },
		"period":          func(b *store.Budget) { b.Period = "year" },
	} {
		b := ok
		mod(&b)
		if _, err := bs.SetBudget(ctx, b); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: SetBudget = %v; want ErrInvalid", name, err)
		}
	}
	if list := must(bs.ListBudgets(ctx))(t); len(list) != 0 {
		t.Errorf("refused budgets were stored: %+v", list)
	}
	if _, err := bs.SpentMicros(ctx, store.BudgetOwner{}, "EUR", budgetStart); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SpentMicros without owner = %v; want ErrInvalid", err)
	}
}

func testBudgetSpent(t *testing.T, s store.Store, bs store.BudgetStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	// A second process of the same user, and one of another user.
	p3 := must(s.CreateProcess(ctx, newProcess("fx-process3", f.User.ID, 0)))(t)
	other := must(s.CreateUser(ctx, store.User{Username: "fx-other", Role: store.RoleUser}))(t)
	p4 := must(s.CreateProcess(ctx, newProcess("fx-process4", other.ID, 0)))(t)
	var records []store.UsageRecord
	add := func(pid int64, at time.Time, cost int64, currency string) {
		r := newUsage(fmt.Sprintf("spend-%d", len(records)), at)
		r.ProcessID, r.CostMicros, r.Currency = pid, cost, currency
		records = append(records, r)
	}
	add(f.Process.ID, budgetStart.Add(-time.Microsecond), 1000, "EUR") // before the period
	add(f.Process.ID, budgetStart, 1, "EUR")                           // at its start: counted
	add(f.Process.ID, budgetStart.Add(time.Hour), 20, "EUR")
	add(f.Process.ID, budgetStart.Add(time.Hour), 300, "USD") // another currency
	add(p3.ID, budgetStart.Add(2*time.Hour), 4000, "EUR")
	add(f.Process2.ID, budgetStart.Add(2*time.Hour), 50000, "EUR") // a service's process
	add(p4.ID, budgetStart.Add(2*time.Hour), 600000, "EUR")        // another user's
	insert(t, s, len(records), records...)

	for _, tc := range []struct {
		owner    store.BudgetOwner
		currency string
		since    time.Time
		want     int64
	}{
		{store.BudgetOwner{ProcessID: f.Process.ID}, "EUR", budgetStart, 21},
		{store.BudgetOwner{ProcessID: f.Process.ID}, "EUR", time.Time{}, 1021},
		{store.BudgetOwner{ProcessID: f.Process.ID}, "USD", budgetStart, 300},
		{store.BudgetOwner{ProcessID: f.Process.ID}, "EUR", budgetStart.Add(3 * time.Hour), 0},
		{store.BudgetOwner{ProcessID: f.Process2.ID}, "EUR", budgetStart, 50000},
		{store.BudgetOwner{UserID: f.User.ID}, "EUR", budgetStart, 4021},
		{store.BudgetOwner{UserID: f.User.ID}, "GBP", budgetStart, 0},
		{store.BudgetOwner{UserID: other.ID}, "EUR", budgetStart, 600000},
		{store.BudgetOwner{ProcessID: 1 << 40}, "EUR", budgetStart, 0},
	} {
		got, err := bs.SpentMicros(ctx, tc.owner, tc.currency, tc.since)
		if err != nil || got != tc.want {
			t.Errorf("SpentMicros(%+v, %s, %s) = %d, %v; want %d", tc.owner, tc.currency, tc.since, got, err, tc.want)
		}
	}
}
