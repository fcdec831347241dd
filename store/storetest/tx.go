package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/logos-llm/logos/store"
)

// RunTx runs the conformance tests of [store.Transactor] against the store
// returned by open, which must implement it. Like [Run], every test is a
// subtest with a fresh store from open. Inside a transaction the tests only
// read with a context from outside it: a store with a single writer
// connection would wait for itself on a write.
func RunTx(t *testing.T, open func(t testing.TB) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, tr store.Transactor)
	}{
		{"Commits", testTxCommits},
		{"RollsBackOnError", testTxRollsBack},
		{"ReadsOwnWrites", testTxReadsOwnWrites},
		{"FailedWriteUndoesOnlyItself", testTxFailedWrite},
		{"NestedTransactions", testTxNested},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tr, ok := s.(store.Transactor)
			if !ok {
				t.Fatalf("%T does not implement store.Transactor", s)
			}
			tc.fn(t, s, tr)
		})
	}
}

func testTxCommits(t *testing.T, s store.Store, tr store.Transactor) {
	ctx := t.Context()
	var m store.Model
	err := tr.InTx(ctx, func(ctx context.Context) error {
		var err error
		if m, err = s.CreateModel(ctx, store.Model{Name: "m"}); err != nil {
			return err
		}
		u, err := s.CreateUser(ctx, store.User{Username: "u"})
		if err != nil {
			return err
		}
		p, err := s.CreateProcess(ctx, store.Process{Name: "p", UserID: u.ID, KeyHash: []byte("h"), KeyPrefix: "lg-p"})
		if err != nil {
			return err
		}
		prof, err := s.CreateProfile(ctx, store.Profile{Name: "p", ProcessID: p.ID})
		if err != nil {
			return err
		}
		return s.GrantModel(ctx, prof.ID, m.ID)
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	c, err := s.LoadCatalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Models) != 1 || len(c.Processes) != 1 || len(c.Profiles) != 1 || len(c.Permissions) != 1 {
		t.Errorf("after commit: %d models, %d processes, %d profiles, %d permissions; want 1 each",
			len(c.Models), len(c.Processes), len(c.Profiles), len(c.Permissions))
	}
}

func testTxRollsBack(t *testing.T, s store.Store, tr store.Transactor) {
	ctx := t.Context()
	stop := errors.New("stop")
	err := tr.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.CreateProvider(ctx, store.Provider{Name: "p", Kind: store.KindOpenAI, BaseURL: "http://x"}); err != nil {
			return err
		}
		if _, err := s.CreateModel(ctx, store.Model{Name: "m"}); err != nil {
			return err
		}
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("InTx = %v, want the function's error", err)
	}
	provs, err := s.ListProviders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	models, err := s.ListModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(provs)+len(models) != 0 {
		t.Errorf("after rollback: %d providers, %d models; want none", len(provs), len(models))
	}
	// The store still writes after a rollback.
	if _, err := s.CreateModel(ctx, store.Model{Name: "m"}); err != nil {
		t.Errorf("CreateModel after rollback: %v", err)
	}
}

func testTxReadsOwnWrites(t *testing.T, s store.Store, tr store.Transactor) {
	outer := t.Context()
	ctx := outer
	err := tr.InTx(ctx, func(ctx context.Context) error {
		m, err := s.CreateModel(ctx, store.Model{Name: "m"})
		if err != nil {
			return err
		}
		if got, err := s.GetModel(ctx, m.ID); err != nil || got.Name != "m" {
			t.Errorf("GetModel in the transaction = %+v, %v", got, err)
		}
		c, err := s.LoadCatalog(ctx)
		if err != nil {
			return err
		}
		if len(c.Models) != 1 {
			t.Errorf("LoadCatalog in the transaction: %d models, want 1", len(c.Models))
		}
		// A read with a context from outside does not see the write
		// before the commit.
		if _, err := s.GetModel(outer, m.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetModel outside the transaction before commit = %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
}

func testTxFailedWrite(t *testing.T, s store.Store, tr store.Transactor) {
	ctx := t.Context()
	if _, err := s.CreateModel(ctx, store.Model{Name: "taken"}); err != nil {
		t.Fatal(err)
	}
	err := tr.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.CreateModel(ctx, store.Model{Name: "taken"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate CreateModel in the transaction = %v, want ErrConflict", err)
		}
		_, err := s.CreateModel(ctx, store.Model{Name: "other"})
		return err
	})
	if err != nil {
		t.Fatalf("InTx after a failed write: %v", err)
	}
	if _, err := s.GetModelByName(ctx, "other"); err != nil {
		t.Errorf("the write after the failed one was not kept: %v", err)
	}
}

func testTxNested(t *testing.T, s store.Store, tr store.Transactor) {
	ctx := t.Context()
	params := store.BootstrapParams{AdminUsername: "root", ProcessName: "root", ProfileName: "root", KeyHash: []byte("hash"), KeyPrefix: "lg-root"}
	stop := errors.New("stop")
	err := tr.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.Bootstrap(ctx, params); err != nil {
			return err
		}
		if _, err := s.Bootstrap(ctx, params); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second Bootstrap in the transaction = %v, want ErrConflict", err)
		}
		if ok, err := s.Initialized(ctx); err != nil || !ok {
			t.Errorf("Initialized in the transaction = %v, %v", ok, err)
		}
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("InTx = %v", err)
	}
	if ok, err := s.Initialized(ctx); err != nil || ok {
		t.Errorf("Initialized after rollback = %v, %v; want false", ok, err)
	}
	if _, err := s.Bootstrap(ctx, params); err != nil {
		t.Errorf("Bootstrap after rollback: %v", err)
	}
}
