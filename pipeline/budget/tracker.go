package budget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logos-llm/logos/pipeline/billing"
	"github.com/logos-llm/logos/store"
)

// Defaults of the Config fields.
const (
	DefaultRefreshInterval = 5 * time.Second
	DefaultStoreTimeout    = 5 * time.Second
	DefaultEstimateWindow  = 20
)

// ErrOverBudget is returned (wrapped in an [*OverBudgetError]) by Admit when
// a request would run over a budget. Test for it with errors.Is.
var ErrOverBudget = errors.New("budget: over budget")

// OverBudgetError describes the budget a request would run over.
type OverBudgetError struct {
	Budget store.Budget
	// PeriodStart and PeriodEnd bound the budget's current period.
	PeriodStart, PeriodEnd time.Time
	// SpentMicros is what the period has spent (completed requests),
	// InFlightMicros what the requests in flight reserved, EstimateMicros the
	// refused request's estimate.
	SpentMicros, InFlightMicros, EstimateMicros int64
}

// Error names the owner, the limit, the period and the spending.
func (e *OverBudgetError) Error() string {
	owner := fmt.Sprintf("process %d", e.Budget.ProcessID)
	if e.Budget.UserID != 0 {
		owner = fmt.Sprintf("user %d", e.Budget.UserID)
	}
	return fmt.Sprintf("%v: budget of %s is %s %s per %s (period %s to %s): spent %s, in flight %s, this request's estimate %s",
		ErrOverBudget, owner, billing.FormatMicros(e.Budget.LimitMicros), e.Budget.Currency, e.Budget.Period,
		e.PeriodStart.Format(time.RFC3339), e.PeriodEnd.Format(time.RFC3339),
		billing.FormatMicros(e.SpentMicros), billing.FormatMicros(e.InFlightMicros), billing.FormatMicros(e.EstimateMicros))
}

// Unwrap returns ErrOverBudget.
func (e *OverBudgetError) Unwrap() error { return ErrOverBudget }

// Config configures New.
type Config struct {
	// Store holds the budgets and the usage records. Required.
	Store store.BudgetStore
	// Now tells the time. Defaults to time.Now.
	Now func() time.Time
	// Logger receives refresh failures. Defaults to slog.Default().
	Logger *slog.Logger
	// RefreshInterval is how often Run reloads the budgets and re-reads their
	// spend. Defaults to DefaultRefreshInterval.
	RefreshInterval time.Duration
	// StoreTimeout bounds each store call. Defaults to DefaultStoreTimeout.
	StoreTimeout time.Duration
	// EstimateWindow is how many completed costs per process EstimateFor
	// averages. Defaults to DefaultEstimateWindow.
	EstimateWindow int
	// DefaultEstimateMicros is what EstimateFor suggests for a process
	// without completed costs. Zero by default.
	DefaultEstimateMicros int64
}

// Tracker admits requests against the budgets of their process and user. It
// is safe for concurrent use.
type Tracker struct {
	cfg Config

	reload sync.Mutex // serialises Refresh

	mu        sync.Mutex // guards the fields below; never held with a scope's mu
	loaded    bool
	byProcess map[int64]*scope
	byUser    map[int64]*scope
	history   map[int64]*costRing
}

// scope is the state of one budget in its current period.
type scope struct {
	mu       sync.Mutex
	budget   store.Budget
	start    time.Time // current period; zero until first used
	end      time.Time
	gen      uint64 // changes with the period: older reservations are dropped
	known    bool   // spent has been read from the store for this period
	spent    int64  // completed spending of the period
	inflight int64  // estimates of the admitted, uncompleted requests
}

// New returns a Tracker. It reads nothing yet: budgets are loaded by the first
// Admit, Refresh or Run.
func New(cfg Config) (*Tracker, error) {
	if cfg.Store == nil {
		return nil, errors.New("budget: Config.Store is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = DefaultStoreTimeout
	}
	if cfg.EstimateWindow <= 0 {
		cfg.EstimateWindow = DefaultEstimateWindow
	}
	if cfg.DefaultEstimateMicros < 0 {
		return nil, fmt.Errorf("budget: negative Config.DefaultEstimateMicros %d", cfg.DefaultEstimateMicros)
	}
	return &Tracker{
		cfg:       cfg,
		byProcess: map[int64]*scope{},
		byUser:    map[int64]*scope{},
		history:   map[int64]*costRing{},
	}, nil
}

// Run refreshes the budgets and their spend every RefreshInterval until ctx
// is done. Failures are logged; the previous state stays in use.
func (t *Tracker) Run(ctx context.Context) {
	tick := time.NewTicker(t.cfg.RefreshInterval)
	defer tick.Stop()
	for {
		if err := t.Refresh(ctx); err != nil && ctx.Err() == nil {
			t.cfg.Logger.WarnContext(ctx, "budget refresh failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Refresh reloads the budgets from the store and re-reads the spend of each
// one's current period. Call it after a budget changed for the change to apply
// at once. It returns the first error; budgets whose spend could not be read
// keep their previous state.
func (t *Tracker) Refresh(ctx context.Context) error {
	t.reload.Lock()
	defer t.reload.Unlock()
	if err := t.loadBudgets(ctx); err != nil {
		return err
	}
	t.mu.Lock()
	scopes := make([]*scope, 0, len(t.byProcess)+len(t.byUser))
	for _, m := range []map[int64]*scope{t.byProcess, t.byUser} {
		for _, sc := range m {
			scopes = append(scopes, sc)
		}
	}
	t.mu.Unlock()
	var first error
	for _, sc := range scopes {
		if err := t.refreshSpent(ctx, sc); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// loadBudgets replaces the budget maps with the store's budgets, keeping the
// state of every budget whose currency, period and anchor did not change.
func (t *Tracker) loadBudgets(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, t.cfg.StoreTimeout)
	defer cancel()
	list, err := t.cfg.Store.ListBudgets(sctx)
	if err != nil {
		return fmt.Errorf("budget: load budgets: %w", err)
	}
	t.mu.Lock()
	old := make(map[int64]*scope, len(t.byProcess)+len(t.byUser))
	for _, m := range []map[int64]*scope{t.byProcess, t.byUser} {
		for _, sc := range m {
			old[sc.budget.ID] = sc // budget is only replaced under reload
		}
	}
	t.mu.Unlock()
	byProcess, byUser := map[int64]*scope{}, map[int64]*scope{}
	for _, b := range list {
		sc := old[b.ID]
		if sc != nil {
			sc.mu.Lock()
			same := sc.budget.Currency == b.Currency && sc.budget.Period == b.Period &&
				sc.budget.StartsAt.Equal(b.StartsAt) && sc.budget.Owner() == b.Owner()
			if same {
				sc.budget = b // a new limit applies to the running period
			}
			sc.mu.Unlock()
			if !same {
				sc = nil
			}
		}
		if sc == nil {
			sc = &scope{budget: b}
		}
		if b.ProcessID != 0 {
			byProcess[b.ProcessID] = sc
		} else {
			byUser[b.UserID] = sc
		}
	}
	t.mu.Lock()
	t.byProcess, t.byUser, t.loaded = byProcess, byUser, true
	t.mu.Unlock()
	return nil
}

// refreshSpent re-reads a budget's spend. The store's sum replaces the local
// one when it is larger (other replicas spent); a smaller one means local
// completions are not yet in the store, and the local total is kept.
func (t *Tracker) refreshSpent(ctx context.Context, sc *scope) error {
	sc.mu.Lock()
	t.roll(sc)
	b, start, gen := sc.budget, sc.start, sc.gen
	sc.mu.Unlock()
	spent, err := t.readSpent(ctx, b, start)
	if err != nil {
		return err
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.gen == gen {
		if !sc.known || spent > sc.spent {
			sc.spent = spent
		}
		sc.known = true
	}
	return nil
}

// readSpent reads what a budget's owner spent since start.
func (t *Tracker) readSpent(ctx context.Context, b store.Budget, start time.Time) (int64, error) {
	sctx, cancel := context.WithTimeout(ctx, t.cfg.StoreTimeout)
	defer cancel()
	spent, err := t.cfg.Store.SpentMicros(sctx, b.Owner(), b.Currency, start)
	if err != nil {
		return 0, fmt.Errorf("budget: read spend of budget %d: %w", b.ID, err)
	}
	return spent, nil
}

// roll moves sc to the period containing now if it is not there yet, which
// forgets the spend and the reservations of the previous period. sc.mu is
// held.
func (t *Tracker) roll(sc *scope) {
	now := t.cfg.Now()
	if !sc.start.IsZero() && !now.Before(sc.start) && now.Before(sc.end) {
		return
	}
	sc.start, sc.end = sc.budget.PeriodAt(now)
	sc.gen++
	sc.known, sc.spent, sc.inflight = false, 0, 0
}

// Admit reserves estimateMicros (clamped to ≥ 0) against the budgets of the
// process and of its owning user (userID 0 for a service's process). It
// returns an error wrapping ErrOverBudget (an [*OverBudgetError]) when the
// spending plus the estimate would exceed either budget or either budget is
// already used up. Every admitted request must be completed with
// [Reservation.Complete]. Other errors come from the store, read only on the
// first admission of a budget's period; the caller may fail open on them.
func (t *Tracker) Admit(ctx context.Context, processID, userID, estimateMicros int64) (Reservation, error) {
	estimateMicros = max(estimateMicros, 0)
	t.mu.Lock()
	loaded := t.loaded
	t.mu.Unlock()
	if !loaded {
		t.reload.Lock()
		t.mu.Lock()
		loaded = t.loaded
		t.mu.Unlock()
		var err error
		if !loaded {
			err = t.loadBudgets(ctx)
		}
		t.reload.Unlock()
		if err != nil {
			return Reservation{}, err
		}
	}
	t.mu.Lock()
	var scopes []*scope // the process's first: the lock order
	if sc := t.byProcess[processID]; sc != nil {
		scopes = append(scopes, sc)
	}
	if sc := t.byUser[userID]; sc != nil && userID != 0 {
		scopes = append(scopes, sc)
	}
	t.mu.Unlock()

	for _, sc := range scopes {
		sc.mu.Lock()
		defer sc.mu.Unlock()
	}
	for _, sc := range scopes {
		t.roll(sc)
		if !sc.known {
			spent, err := t.readSpent(ctx, sc.budget, sc.start)
			if err != nil {
				return Reservation{}, err
			}
			sc.spent, sc.known = spent, true
		}
		used := sc.spent + sc.inflight
		if used >= sc.budget.LimitMicros || estimateMicros > sc.budget.LimitMicros-used {
			return Reservation{}, &OverBudgetError{
				Budget: sc.budget, PeriodStart: sc.start, PeriodEnd: sc.end,
				SpentMicros: sc.spent, InFlightMicros: sc.inflight, EstimateMicros: estimateMicros,
			}
		}
	}
	r := &reservation{t: t, processID: processID, estimate: estimateMicros}
	for _, sc := range scopes {
		sc.inflight += estimateMicros
		r.holds = append(r.holds, hold{sc: sc, gen: sc.gen})
	}
	return Reservation{r: r}, nil
}

// Reservation is an admitted request's claim on its budgets. The zero
// Reservation holds nothing; Complete on it does nothing.
type Reservation struct{ r *reservation }

type reservation struct {
	t         *Tracker
	processID int64
	estimate  int64
	holds     []hold
	done      atomic.Bool
}

// hold is a reservation on one budget in one period.
type hold struct {
	sc  *scope
	gen uint64
}

// EstimateMicros returns what the reservation reserved.
func (r Reservation) EstimateMicros() int64 {
	if r.r == nil {
		return 0
	}
	return r.r.estimate
}

// Complete replaces the reservation with the request's actual cost (clamped to
// ≥ 0; 0 for a request that cost nothing) in the spending of its budgets,
// unless their period has ended since (the cost then belongs to the past
// period). A positive cost also feeds EstimateFor. Only the first call counts.
func (r Reservation) Complete(actualMicros int64) {
	if r.r == nil || !r.r.done.CompareAndSwap(false, true) {
		return
	}
	actualMicros = max(actualMicros, 0)
	for _, h := range r.r.holds {
		h.sc.mu.Lock()
		if h.sc.gen == h.gen {
			h.sc.inflight -= r.r.estimate
			h.sc.spent += actualMicros
		}
		h.sc.mu.Unlock()
	}
	if actualMicros > 0 {
		r.r.t.recordCost(r.r.processID, actualMicros)
	}
}

// EstimateFor suggests an estimate for the next request of a process: the
// average of its last EstimateWindow positive completed costs, or
// DefaultEstimateMicros if it has none.
func (t *Tracker) EstimateFor(processID int64) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h := t.history[processID]; h != nil && h.n > 0 {
		return h.average()
	}
	return t.cfg.DefaultEstimateMicros
}

// recordCost adds a completed cost to the process's moving average.
func (t *Tracker) recordCost(processID, cost int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.history[processID]
	if h == nil {
		h = &costRing{costs: make([]int64, t.cfg.EstimateWindow)}
		t.history[processID] = h
	}
	h.add(cost)
}

// costRing holds the last len(costs) costs of a process.
type costRing struct {
	costs []int64
	next  int // where the next cost goes
	n     int // how many costs are held
}

func (c *costRing) add(cost int64) {
	c.costs[c.next] = cost
	c.next = (c.next + 1) % len(c.costs)
	c.n = min(c.n+1, len(c.costs))
}

// average returns the rounded-up mean of the held costs, so that an estimate
// does not fall short by rounding. Costs are summed as float64 when the
// int64 sum could overflow.
func (c *costRing) average() int64 {
	var sum int64
	for _, v := range c.costs[:c.n] {
		if sum > (1<<63-1)-v {
			var f float64
			for _, w := range c.costs[:c.n] {
				f += float64(w)
			}
			return int64(f / float64(c.n))
		}
		sum += v
	}
	return (sum + int64(c.n) - 1) / int64(c.n)
}
