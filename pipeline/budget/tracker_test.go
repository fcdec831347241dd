package budget

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

// fakeStore is an in-memory BudgetStore that counts its spend reads.
type fakeStore struct {
	mu      sync.Mutex
	budgets []store.Budget
	spent   map[store.BudgetOwner]int64
	since   map[store.BudgetOwner]time.Time // the since of the last read
	reads   int
	fail    error
}

func newFakeStore(budgets ...store.Budget) *fakeStore {
	return &fakeStore{budgets: budgets, spent: map[store.BudgetOwner]int64{}, since: map[store.BudgetOwner]time.Time{}}
}

func (f *fakeStore) SetBudget(_ context.Context, b store.Budget) (store.Budget, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.budgets {
		if f.budgets[i].Owner() == b.Owner() {
			b.ID = f.budgets[i].ID
			f.budgets[i] = b
			return b, nil
		}
	}
	b.ID = int64(len(f.budgets) + 1)
	f.budgets = append(f.budgets, b)
	return b, nil
}

func (f *fakeStore) DeleteBudget(_ context.Context, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.budgets {
		if f.budgets[i].ID == id {
			f.budgets = append(f.budgets[:i], f.budgets[i+1:]...)
			return nil
		}
	}
	return store.ErrNotFound
}

func (f *fakeStore) ListBudgets(context.Context) ([]store.Budget, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	return append([]store.Budget(nil), f.budgets...), nil
}

func (f *fakeStore) SpentMicros(_ context.Context, o store.BudgetOwner, _ string, since time.Time) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, f.fail
	}
	f.reads++
	f.since[o] = since
	return f.spent[o], nil
}

func (f *fakeStore) setSpent(o store.BudgetOwner, v int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spent[o] = v
}

func (f *fakeStore) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var t0 = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

func newTestTracker(t *testing.T, fs *fakeStore) (*Tracker, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: t0}
	tr, err := New(Config{Store: fs, Now: clock.Now, EstimateWindow: 3, DefaultEstimateMicros: 7})
	if err != nil {
		t.Fatal(err)
	}
	return tr, clock
}

func admitOK(t *testing.T, tr *Tracker, pid, uid, est int64) Reservation {
	t.Helper()
	r, err := tr.Admit(t.Context(), pid, uid, est)
	if err != nil {
		t.Fatalf("Admit(%d, %d, %d): %v", pid, uid, est, err)
	}
	return r
}

func admitOver(t *testing.T, tr *Tracker, pid, uid, est int64) *OverBudgetError {
	t.Helper()
	_, err := tr.Admit(t.Context(), pid, uid, est)
	var ob *OverBudgetError
	if !errors.Is(err, ErrOverBudget) || !errors.As(err, &ob) {
		t.Fatalf("Admit(%d, %d, %d) = %v; want ErrOverBudget", pid, uid, est, err)
	}
	return ob
}

func TestAdmitReservesAndCompletes(t *testing.T) {
	fs := newFakeStore(store.Budget{ID: 1, ProcessID: 10, LimitMicros: 100, Currency: "EUR", Period: store.PeriodMonth})
	fs.setSpent(store.BudgetOwner{ProcessID: 10}, 60)
	tr, _ := newTestTracker(t, fs)

	r1 := admitOK(t, tr, 10, 0, 20) // 60 + 20
	r2 := admitOK(t, tr, 10, 0, 20) // 60 + 40: exactly the limit
	ob := admitOver(t, tr, 10, 0, 1)
	if ob.SpentMicros != 60 || ob.InFlightMicros != 40 || ob.EstimateMicros != 1 || ob.Budget.ID != 1 {
		t.Errorf("error %+v", ob)
	}
	if want := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC); !ob.PeriodStart.Equal(want) || !ob.PeriodEnd.Equal(want.AddDate(0, 1, 0)) {
		t.Errorf("period %s – %s; want March", ob.PeriodStart, ob.PeriodEnd)
	}
	for _, s := range []string{"process 10", "0.0001 EUR per month", "spent 0.00006", "in flight 0.00004", "2026-03-01T00:00:00Z"} {
		if !strings.Contains(ob.Error(), s) {
			t.Errorf("error text %q lacks %q", ob.Error(), s)
		}
	}
	// Other processes have no budget.
	admitOK(t, tr, 11, 0, 1000).Complete(1000)

	r1.Complete(5) // 65 spent, 20 in flight
	r1.Complete(50)
	admitOK(t, tr, 10, 0, 15).Complete(15) // 80 spent
	r2.Complete(0)                         // a failed request frees its reservation
	admitOK(t, tr, 10, 0, 20)              // 100 in total
	admitOver(t, tr, 10, 0, 0)             // used up: even a free estimate is refused
	if n := fs.readCount(); n != 1 {
		t.Errorf("store read %d times; want once (the first admission)", n)
	}
	Reservation{}.Complete(5) // the zero Reservation is inert
}

func TestUserBudgetCoversItsProcesses(t *testing.T) {
	fs := newFakeStore(
		store.Budget{ID: 1, UserID: 3, LimitMicros: 100, Currency: "EUR", Period: store.PeriodDay},
		store.Budget{ID: 2, ProcessID: 10, LimitMicros: 1000, Currency: "EUR", Period: store.PeriodDay},
	)
	fs.setSpent(store.BudgetOwner{UserID: 3}, 50)
	tr, _ := newTestTracker(t, fs)
	admitOK(t, tr, 10, 3, 30)
	admitOK(t, tr, 11, 3, 20)
	ob := admitOver(t, tr, 12, 3, 1)
	if ob.Budget.UserID != 3 || !strings.Contains(ob.Error(), "user 3") {
		t.Errorf("refused by %+v; want the user's budget", ob.Budget)
	}
	// A refusal by the user's budget reserves nothing on the process's.
	admitOK(t, tr, 10, 0, 970)
	admitOver(t, tr, 10, 0, 1)
}

func TestPeriodRollsOver(t *testing.T) {
	fs := newFakeStore(store.Budget{ID: 1, ProcessID: 10, LimitMicros: 100, Currency: "EUR", Period: store.PeriodDay})
	fs.setSpent(store.BudgetOwner{ProcessID: 10}, 100)
	tr, clock := newTestTracker(t, fs)
	admitOver(t, tr, 10, 0, 1)
	old := admitOver(t, tr, 10, 0, 1)
	if !old.PeriodStart.Equal(time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("period start %s", old.PeriodStart)
	}
	clock.set(t0.Add(12 * time.Hour)) // the next day, midnight
	fs.setSpent(store.BudgetOwner{ProcessID: 10}, 0)
	r := admitOK(t, tr, 10, 0, 100)
	if got := fs.since[store.BudgetOwner{ProcessID: 10}]; !got.Equal(time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("spend read since %s; want the new day", got)
	}
	clock.set(t0.Add(36 * time.Hour))
	r.Complete(100) // belongs to the past period: not counted in the new one
	admitOK(t, tr, 10, 0, 100)
}

func TestRefreshSeesOtherReplicasAndNewLimits(t *testing.T) {
	fs := newFakeStore(store.Budget{ID: 1, ProcessID: 10, LimitMicros: 100, Currency: "EUR", Period: store.PeriodMonth})
	tr, _ := newTestTracker(t, fs)
	admitOK(t, tr, 10, 0, 10).Complete(10)
	// The store lags behind the local completion: the local total stays.
	if err := tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	admitOK(t, tr, 10, 0, 90).Complete(0)
	admitOver(t, tr, 10, 0, 91)
	// Another replica spent 70: the store's larger sum wins.
	fs.setSpent(store.BudgetOwner{ProcessID: 10}, 80)
	if err := tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ob := admitOver(t, tr, 10, 0, 21); ob.SpentMicros != 80 {
		t.Errorf("spent %d after refresh; want 80", ob.SpentMicros)
	}
	// A raised limit applies to the running period at the next refresh.
	if _, err := fs.SetBudget(t.Context(), store.Budget{ProcessID: 10, LimitMicros: 200, Currency: "EUR", Period: store.PeriodMonth}); err != nil {
		t.Fatal(err)
	}
	held := admitOK(t, tr, 10, 0, 20)
	if err := tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	admitOK(t, tr, 10, 0, 100)
	admitOver(t, tr, 10, 0, 1) // 80 + 20 + 100: the reservation survived the reload
	held.Complete(20)
	// A deleted budget stops applying.
	if err := fs.DeleteBudget(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if err := tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	admitOK(t, tr, 10, 0, 1000)
}

func TestStoreFailures(t *testing.T) {
	fs := newFakeStore(store.Budget{ID: 1, ProcessID: 10, LimitMicros: 100, Currency: "EUR", Period: store.PeriodMonth})
	boom := errors.New("boom")
	fs.fail = boom
	tr, _ := newTestTracker(t, fs)
	if _, err := tr.Admit(t.Context(), 10, 0, 1); !errors.Is(err, boom) || errors.Is(err, ErrOverBudget) {
		t.Errorf("Admit with a failing store = %v", err)
	}
	if err := tr.Refresh(t.Context()); !errors.Is(err, boom) {
		t.Errorf("Refresh = %v", err)
	}
	fs.mu.Lock()
	fs.fail = nil
	fs.mu.Unlock()
	admitOK(t, tr, 10, 0, 1)
	if _, err := New(Config{}); err == nil {
		t.Error("New without a store succeeded")
	}
}

func TestEstimateFor(t *testing.T) {
	tr, _ := newTestTracker(t, newFakeStore())
	if got := tr.EstimateFor(10); got != 7 {
		t.Errorf("EstimateFor without history = %d; want the default 7", got)
	}
	for _, c := range []int64{10, 20, 0, 31} { // zero costs are not averaged
		admitOK(t, tr, 10, 0, 1).Complete(c)
	}
	if got := tr.EstimateFor(10); got != 21 { // ceil(61/3)
		t.Errorf("EstimateFor = %d; want 21", got)
	}
	admitOK(t, tr, 10, 0, 1).Complete(40) // the window of 3 drops 10
	if got := tr.EstimateFor(10); got != 31 {
		t.Errorf("EstimateFor = %d; want 31", got)
	}
	if got := tr.EstimateFor(11); got != 7 {
		t.Errorf("EstimateFor of another process = %d; want 7", got)
	}
}

func TestRunRefreshes(t *testing.T) {
	fs := newFakeStore(store.Budget{ID: 1, ProcessID: 10, LimitMicros: 100, Currency: "EUR", Period: store.PeriodMonth})
	tr, err := New(Config{Store: fs, RefreshInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for fs.readCount() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if n := fs.readCount(); n < 3 {
		t.Errorf("Run read the spend %d times", n)
	}
}

func TestPeriodAt(t *testing.T) {
	at := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		b          store.Budget
		start, end time.Time
	}{
		{store.Budget{Period: store.PeriodMonth}, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{store.Budget{Period: store.PeriodWeek}, time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC)},
		{store.Budget{Period: store.PeriodDay}, time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC)},
		{store.Budget{Period: store.PeriodMonth, StartsAt: time.Date(2027, 1, 20, 6, 0, 0, 0, time.UTC)},
			time.Date(2026, 2, 20, 6, 0, 0, 0, time.UTC), time.Date(2026, 3, 20, 6, 0, 0, 0, time.UTC)},
		{store.Budget{Period: store.PeriodDay, StartsAt: time.Date(2030, 1, 1, 13, 0, 0, 0, time.UTC)},
			time.Date(2026, 3, 14, 13, 0, 0, 0, time.UTC), time.Date(2026, 3, 15, 13, 0, 0, 0, time.UTC)},
	} {
		start, end := tc.b.PeriodAt(at)
		if !start.Equal(tc.start) || !end.Equal(tc.end) {
			t.Errorf("%s from %s: period %s – %s; want %s – %s", tc.b.Period, tc.b.StartsAt, start, end, tc.start, tc.end)
		}
	}
}
