package config_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/logos-llm/logos/internal/config"
	"github.com/logos-llm/logos/store"
)

// txFailingStore fails the creation of one model, once, on a store whose
// transactions it keeps (the transaction travels in the context).
type txFailingStore struct {
	store.Store
	store.Transactor
	model  string
	failed bool
}

func (f *txFailingStore) CreateModel(ctx context.Context, m store.Model) (store.Model, error) {
	if m.Name == f.model && !f.failed {
		f.failed = true
		return store.Model{}, errors.New("disk full")
	}
	return f.Store.CreateModel(ctx, m)
}

// TestApplyIsOneTransaction pins the behaviour on a store.Transactor (both
// stores of this module): a failure part way leaves nothing of the document
// applied and reports no change; applying again applies it all. (Through a
// wrapper without InTx, TestApplyResumes pins the resuming behaviour.)
func TestApplyIsOneTransaction(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store, _ func() store.Store) {
		ctx := t.Context()
		tr, ok := s.(store.Transactor)
		if !ok {
			t.Fatalf("%T is not a store.Transactor", s)
		}
		opts := config.ApplyOptions{Getenv: exampleEnv.getenv}
		d := example(t)
		f := &txFailingStore{Store: s, Transactor: tr, model: "llama3.1:8b"}
		rep, err := config.Apply(ctx, f, d, opts)
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("Apply = %v", err)
		}
		if rep.Changed() {
			t.Errorf("report of a rolled back Apply: %+v", rep)
		}
		c, err := s.LoadCatalog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(c.Providers) + len(c.Models) + len(c.Processes); n != 0 {
			t.Errorf("after a failed Apply the store holds %d providers, %d models, %d processes; want none",
				len(c.Providers), len(c.Models), len(c.Processes))
		}
		rest := mustApply(t, f, d, opts)
		if len(rest.Created) == 0 {
			t.Errorf("second Apply created nothing: %+v", rest)
		}
		if again := mustApply(t, s, d, opts); again.Changed() {
			t.Errorf("third Apply changed: %+v", again)
		}
	})
}
