package postgres_test

import (
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
)

// fixture is a small catalogue the focused tests build on.
type fixture struct {
	user       store.User
	process    store.Process
	profile    store.Profile
	provider   store.Provider
	model      store.Model
	deployment store.Deployment
	policy     store.Policy
}

// newFixture creates a fixture in s.
func newFixture(t testing.TB, s *postgres.Store) fixture {
	t.Helper()
	ctx := t.Context()
	var f fixture
	f.user = must(s.CreateUser(ctx, store.User{Username: "ada", Role: store.RoleUser}))(t)
	f.process = must(s.CreateProcess(ctx, store.Process{
		Name: "proc", KeyHash: hash("proc"), UserID: f.user.ID, LogLevel: store.LogFull,
	}))(t)
	f.profile = must(s.CreateProfile(ctx, store.Profile{Name: "default", ProcessID: f.process.ID}))(t)
	f.provider = must(s.CreateProvider(ctx, store.Provider{
		Name: "local", Kind: store.KindOllama, BaseURL: "http://localhost:11434", Privacy: store.PrivacyLocal,
	}))(t)
	f.model = must(s.CreateModel(ctx, store.Model{Name: "llama", WeightPrivacy: store.PrivacyLocal}))(t)
	f.deployment = must(s.CreateDeployment(ctx, store.Deployment{ModelID: f.model.ID, ProviderID: f.provider.ID}))(t)
	f.policy = must(s.CreatePolicy(ctx, store.Policy{ProcessID: f.process.ID, Name: "default"}))(t)
	return f
}

// must returns a function that fails its t immediately if err is not nil and
// returns v otherwise. Use it as must(s.Get(ctx, id))(t).
func must[T any](v T, err error) func(t testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// hash returns a SHA-256 key hash of key.
func hash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// wantIs fails t unless errors.Is(err, target).
func wantIs(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}
