package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/logos-llm/logos/internal/catalog"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
	"github.com/logos-llm/logos/store/sqlite"
)

// quiet discards log records.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// txStore is a store with transactions, as both implementations are.
type txStore interface {
	store.Store
	store.Transactor
}

// eachStore runs test against a fresh store of every implementation; the
// PostgreSQL one skips when LOGOS_TEST_POSTGRES_URL is unset.
func eachStore(t *testing.T, test func(t *testing.T, s txStore)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "logos.db"), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		test(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.NewMigratedDatabase(t)
		s, err := postgres.Open(t.Context(), postgres.Config{URL: url, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		test(t, s)
	})
}

var errInjected = errors.New("injected failure")

// faulty fails chosen writes of a real store; it keeps the store's
// transactions, whose context reaches its own methods.
type faulty struct {
	txStore
	mu                                   sync.Mutex
	failProfiles, failWeights, failGrant bool
	grants                               int
}

func (f *faulty) CreateProfile(ctx context.Context, p store.Profile) (store.Profile, error) {
	if f.failProfiles {
		return store.Profile{}, errInjected
	}
	return f.txStore.CreateProfile(ctx, p)
}

func (f *faulty) UpdateModel(ctx context.Context, m store.Model) (store.Model, error) {
	if f.failWeights {
		return store.Model{}, errInjected
	}
	return f.txStore.UpdateModel(ctx, m)
}

func (f *faulty) GrantModel(ctx context.Context, profileID, modelID int64) error {
	f.mu.Lock()
	f.grants++
	fail := f.failGrant && f.grants > 1
	f.mu.Unlock()
	if fail {
		return errInjected
	}
	return f.txStore.GrantModel(ctx, profileID, modelID)
}

// noTx hides a store's transactions.
type noTx struct{ store.Store }

func TestNewProcessIsAtomic(t *testing.T) {
	eachStore(t, func(t *testing.T, s txStore) {
		ctx := t.Context()
		f := &faulty{txStore: s, failProfiles: true}
		c := catalog.New(f, catalog.Options{Logger: quiet})
		if !c.Transactional() {
			t.Fatal("a store with InTx is not transactional")
		}
		u, err := c.NewUser(ctx, store.User{Username: "alice", Role: store.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.NewProcess(ctx, catalog.NewProcessRequest{Name: "app", UserID: u.ID}); !errors.Is(err, errInjected) {
			t.Fatalf("NewProcess = %v, want the profile's failure", err)
		}
		if _, err := s.GetProcessByName(ctx, "app"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the process without profile was kept: %v", err)
		}
		if _, err := c.NewService(ctx, "svc"); !errors.Is(err, errInjected) {
			t.Fatalf("NewService = %v, want the profile's failure", err)
		}
		if svcs, err := s.ListServices(ctx); err != nil || len(svcs) != 0 {
			t.Errorf("the service without process was kept: %v, %v", svcs, err)
		}
		f.failProfiles = false
		created, err := c.NewProcess(ctx, catalog.NewProcessRequest{Name: "app", UserID: u.ID})
		if err != nil {
			t.Fatal(err)
		}
		if created.Profile.ProcessID != created.Process.ID || created.Key == "" {
			t.Errorf("NewProcess = %+v", created)
		}
	})
}

// TestWithoutTransactions checks that a store without InTx still gets every
// write, and that a process whose profile fails is removed again.
func TestWithoutTransactions(t *testing.T) {
	eachStore(t, func(t *testing.T, s txStore) {
		ctx := t.Context()
		f := &faulty{txStore: s, failProfiles: true}
		c := catalog.New(noTx{f}, catalog.Options{Logger: quiet})
		if c.Transactional() {
			t.Fatal("a store without InTx is transactional")
		}
		u, err := c.NewUser(ctx, store.User{Username: "alice", Role: store.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.NewProcess(ctx, catalog.NewProcessRequest{Name: "app", UserID: u.ID}); !errors.Is(err, errInjected) {
			t.Fatalf("NewProcess = %v", err)
		}
		if _, err := s.GetProcessByName(ctx, "app"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the process without profile was kept: %v", err)
		}
	})
}

func TestRankingIsAtomic(t *testing.T) {
	eachStore(t, func(t *testing.T, s txStore) {
		ctx := t.Context()
		f := &faulty{txStore: s}
		c := catalog.New(f, catalog.Options{Logger: quiet})
		first, err := c.NewRankedModel(ctx, catalog.RankedModel{Name: "first"})
		if err != nil {
			t.Fatal(err)
		}
		before, err := s.GetModel(ctx, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		f.failWeights = true
		if _, err := c.NewRankedModel(ctx, catalog.RankedModel{Name: "second", Worse: map[string]int64{"quality": first.ID}}); !errors.Is(err, errInjected) {
			t.Fatalf("NewRankedModel = %v, want the weights' failure", err)
		}
		models, err := s.ListModels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(models) != 1 || models[0] != before {
			t.Errorf("after a failed ranking: %+v, want only %+v", models, before)
		}
		if err := c.Feedback(ctx, first.ID, "quality", json.RawMessage("3")); err != nil && !errors.Is(err, errInjected) {
			t.Errorf("Feedback = %v", err)
		}
		f.failWeights = false
		second, err := c.NewRankedModel(ctx, catalog.RankedModel{Name: "second", Worse: map[string]int64{"quality": first.ID}})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := s.GetModel(ctx, first.ID)
		b, _ := s.GetModel(ctx, second.ID)
		if b.WeightQuality <= a.WeightQuality {
			t.Errorf("second ranks at quality %d, not above first at %d", b.WeightQuality, a.WeightQuality)
		}
		if err := c.DropModel(ctx, second.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetModel(ctx, second.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("dropped model still there: %v", err)
		}
		var fe *catalog.FieldError
		if err := c.Feedback(ctx, first.ID, "speed", json.RawMessage("1")); !errors.As(err, &fe) || fe.Field != "category" {
			t.Errorf("Feedback(speed) = %v, want a FieldError on category", err)
		}
	})
}

func TestPermitProviderIsAtomic(t *testing.T) {
	eachStore(t, func(t *testing.T, s txStore) {
		ctx := t.Context()
		f := &faulty{txStore: s, failGrant: true}
		c := catalog.New(f, catalog.Options{Logger: quiet})
		res, key, err := catalog.Bootstrap(ctx, s, "")
		if err != nil || key == "" {
			t.Fatal(err)
		}
		p, err := c.NewProvider(ctx, catalog.ProviderFields{Name: ptr("p"), Type: ptr("openai"), BaseURL: ptr("https://api.example.com")})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"a", "b", "c"} {
			m, err := c.NewModel(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Connect(ctx, m.ID, p.ID, catalog.DeploymentFields{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.PermitProvider(ctx, res.Profile.ID, p.ID); !errors.Is(err, errInjected) {
			t.Fatalf("PermitProvider = %v, want the second grant's failure", err)
		}
		if perms, err := s.ListPermissions(ctx, res.Profile.ID); err != nil || len(perms) != 0 {
			t.Errorf("permissions after a failed PermitProvider: %v, %v; want none", perms, err)
		}
		f.failGrant = false
		n, err := c.PermitProvider(ctx, res.Profile.ID, p.ID)
		if err != nil || n != 3 {
			t.Fatalf("PermitProvider = %d, %v; want 3", n, err)
		}
		if n, err := c.PermitProvider(ctx, res.Profile.ID, p.ID); err != nil || n != 0 {
			t.Errorf("second PermitProvider = %d, %v; want 0", n, err)
		}
	})
}

func TestLastAdminKey(t *testing.T) {
	eachStore(t, func(t *testing.T, s txStore) {
		ctx := t.Context()
		c := catalog.New(s, catalog.Options{Logger: quiet})
		res, _, err := catalog.Bootstrap(ctx, s, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RevokeKey(ctx, res.Process); !errors.Is(err, catalog.ErrLastAdminKey) {
			t.Fatalf("revoking the only admin key = %v, want ErrLastAdminKey", err)
		}
		second, err := c.NewProcess(ctx, catalog.NewProcessRequest{Name: "root-2", UserID: res.User.ID})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RevokeKey(ctx, res.Process); err != nil {
			t.Fatalf("revoking one of two admin keys: %v", err)
		}
		p, err := s.GetProcess(ctx, second.Process.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RevokeKey(ctx, p); !errors.Is(err, catalog.ErrLastAdminKey) {
			t.Errorf("revoking the last remaining admin key = %v", err)
		}
		// A revoked key is revoked again without complaint.
		revoked, err := s.GetProcess(ctx, res.Process.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RevokeKey(ctx, revoked); err != nil {
			t.Errorf("revoking a revoked key: %v", err)
		}
	})
}

// TestFieldErrors checks that validation names the admin API field.
func TestFieldErrors(t *testing.T) {
	eachStore(t, func(t *testing.T, s txStore) {
		ctx := t.Context()
		c := catalog.New(s, catalog.Options{Logger: quiet})
		for _, tc := range []struct {
			name, field, reason string
			err                 error
		}{
			{"missing name", "provider_name", catalog.Required, func() error {
				_, err := c.NewProvider(ctx, catalog.ProviderFields{BaseURL: ptr("http://x"), Type: ptr("openai")})
				return err
			}()},
			{"header", "auth_name", "must be a valid HTTP header name", func() error {
				_, err := c.NewProvider(ctx, catalog.ProviderFields{Name: ptr("p"), BaseURL: ptr("http://x"), Type: ptr("openai"), AuthName: ptr("api key")})
				return err
			}()},
			{"url", "base_url", `has scheme "ftp": want http:// or https://`, func() error {
				_, err := c.NewProvider(ctx, catalog.ProviderFields{Name: ptr("p"), BaseURL: ptr("ftp://x"), Type: ptr("openai")})
				return err
			}()},
			{"scheme-less url", "base_url", "has no scheme: want http:// or https://", func() error {
				_, err := c.NewProvider(ctx, catalog.ProviderFields{Name: ptr("p"), BaseURL: ptr("localhost:8080/v1"), Type: ptr("openai")})
				return err
			}()},
			{"time", "valid_from", "must be an ISO 8601 date or time, e.g. 2026-01-01T00:00:00Z", func() error {
				_, err := c.NewPrice(ctx, catalog.PriceRequest{TokenType: "in", PerThousand: new(float64), ValidFrom: "yesterday"})
				return err
			}()},
			{"currency", "currency", "must be a three-letter ISO 4217 code", func() error {
				_, err := c.NewPrice(ctx, catalog.PriceRequest{TokenType: "in", PerThousand: new(float64), ValidFrom: "2026-01-01", Currency: "euro"})
				return err
			}()},
		} {
			var fe *catalog.FieldError
			if !errors.As(tc.err, &fe) || fe.Field != tc.field || fe.Reason != tc.reason {
				t.Errorf("%s: %v, want FieldError{%s, %s}", tc.name, tc.err, tc.field, tc.reason)
			}
		}
		// A price whose valid_from has no zone is taken as UTC.
		p, err := c.NewPrice(ctx, catalog.PriceRequest{TokenType: "in", PerThousand: new(float64), ValidFrom: "2026-01-01T08:30"})
		if err != nil || p.ValidFrom.Hour() != 8 || p.Currency != "EUR" {
			t.Errorf("NewPrice = %+v, %v", p, err)
		}
	})
}

// TestConcurrentFeedback checks that feedbacks from many goroutines on one
// Catalog do not overwrite each other's weights.
func TestConcurrentFeedback(t *testing.T) {
	eachStore(t, func(t *testing.T, s txStore) {
		ctx := t.Context()
		c := catalog.New(s, catalog.Options{Logger: quiet})
		var ids []int64
		for _, name := range []string{"a", "b", "c", "d"} {
			m, err := c.NewRankedModel(ctx, catalog.RankedModel{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.ID)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Go(func() {
				errs <- c.Feedback(ctx, ids[i%len(ids)], "cost", json.RawMessage("1"))
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		models, err := s.ListModels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for _, m := range models {
			if seen[m.WeightCost] {
				t.Errorf("two models share the cost weight %d: a feedback was overwritten", m.WeightCost)
			}
			seen[m.WeightCost] = true
		}
	})
}

func ptr[T any](v T) *T { return &v }
