package budget_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos/pipeline/budget"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
	"github.com/logos-llm/logos/store/sqlite"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// budgetStore is a store that keeps budgets.
type budgetStore interface {
	store.Store
	store.BudgetStore
}

func openSQLite(t *testing.T) budgetStore {
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "logos.db"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openPostgres(t *testing.T) budgetStore {
	s, err := postgres.Open(context.Background(), postgres.Config{URL: pgtest.NewMigratedDatabase(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestBurstOvershootIsBounded is the acceptance test of budgets: 50
// concurrent requests against a nearly exhausted budget (1.00 EUR, 0.95 spent)
// each estimating 0.01. At most 5 fit; the spending ends at most
// Σ(actual − estimate) of the admitted requests above the limit.
func TestBurstOvershootIsBounded(t *testing.T) {
	for _, db := range []struct {
		name string
		open func(t *testing.T) budgetStore
	}{{"SQLite", openSQLite}, {"PostgreSQL", openPostgres}} {
		t.Run(db.name, func(t *testing.T) {
			for _, actual := range []int64{10_000, 12_000} {
				for _, held := range []bool{true, false} {
					t.Run(fmt.Sprintf("actual=%d/held=%v", actual, held), func(t *testing.T) {
						burst(t, db.open(t), actual, held)
					})
				}
			}
		})
	}
}

// burst runs the 50 requests. With held, every admitted request stays in
// flight until all 50 were decided; otherwise each completes (and writes its
// usage record) as soon as it is admitted, interleaved with the others.
func burst(t *testing.T, s budgetStore, actual int64, held bool) {
	const (
		limit    = 1_000_000
		seeded   = 950_000
		estimate = 10_000
		requests = 50
	)
	ctx := t.Context()
	u, err := s.CreateUser(ctx, store.User{Username: "spender", Role: store.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.CreateProcess(ctx, store.Process{Name: "spender-app", KeyHash: []byte("hash-of-spender"), UserID: u.ID, LogLevel: store.LogBilling})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetBudget(ctx, store.Budget{ProcessID: p.ID, LimitMicros: limit, Currency: "EUR", Period: store.PeriodMonth}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	record := func(id string, cost int64) store.UsageRecord {
		return store.UsageRecord{
			RequestID: id, ProcessID: p.ID, Operation: "chat/completions", ReceivedAt: now,
			StatusCode: 200, Outcome: store.OutcomeSuccess, LogLevel: store.LogBilling,
			CostMicros: cost, Currency: "EUR",
		}
	}
	if _, err := s.InsertUsage(ctx, []store.UsageRecord{record("seed", seeded)}); err != nil {
		t.Fatal(err)
	}
	tr, err := budget.New(budget.Config{Store: s, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}

	var (
		admitted, refused atomic.Int64
		start             = make(chan struct{})
		decided           sync.WaitGroup // every request was admitted or refused
		wg                sync.WaitGroup
	)
	decided.Add(requests)
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := tr.Admit(ctx, p.ID, u.ID, estimate)
			decided.Done()
			if errors.Is(err, budget.ErrOverBudget) {
				refused.Add(1)
				return
			}
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			admitted.Add(1)
			if held {
				decided.Wait()
			}
			// Like the pipeline: the usage record is written, then the
			// reservation completed with its cost.
			if _, err := s.InsertUsage(ctx, []store.UsageRecord{record(fmt.Sprintf("req-%d", i), actual)}); err != nil {
				t.Errorf("request %d: record usage: %v", i, err)
			}
			res.Complete(actual)
		}()
	}
	close(start)
	wg.Wait()

	n := admitted.Load()
	spent, err := s.SpentMicros(ctx, store.BudgetOwner{ProcessID: p.ID}, "EUR", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	bound := limit + n*(actual-estimate)
	t.Logf("admitted %d, refused %d, spent %d, limit %d, bound %d", n, refused.Load(), spent, limit, bound)
	if n+refused.Load() != requests {
		t.Fatalf("%d admitted + %d refused != %d requests", n, refused.Load(), requests)
	}
	if n > (limit-seeded)/estimate {
		t.Errorf("admitted %d requests; at most %d estimates fit", n, (limit-seeded)/estimate)
	}
	if n < 1 {
		t.Error("no request was admitted")
	}
	if held && n != (limit-seeded)/estimate {
		t.Errorf("with every request in flight, %d were admitted; want exactly %d", n, (limit-seeded)/estimate)
	}
	if spent != seeded+n*actual {
		t.Errorf("store spent %d; want %d", spent, seeded+n*actual)
	}
	if spent > bound {
		t.Errorf("spent %d exceeds the bound limit + Σ(actual − estimate) = %d", spent, bound)
	}
	// The tracker agrees: the budget is used up (or nearly), and a refresh
	// that reads the store changes nothing.
	if err := tr.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Admit(ctx, p.ID, u.ID, estimate); !errors.Is(err, budget.ErrOverBudget) {
		t.Errorf("after the burst, Admit = %v; want ErrOverBudget", err)
	}
}
