package storetest

import (
	"encoding/json"
	"testing"

	"github.com/logos-llm/logos/store"
)

// fixture is a small, valid catalogue most tests build on.
type fixture struct {
	User       store.User
	Service    store.Service
	Process    store.Process // owned by User
	Process2   store.Process // owned by Service
	Profile    store.Profile // of Process
	Provider   store.Provider
	Model      store.Model
	Deployment store.Deployment // of Model on Provider
	Policy     store.Policy     // of Process
}

// newFixture creates a fixture in s, failing t if any step fails.
func newFixture(t testing.TB, s store.Store) fixture {
	t.Helper()
	ctx := t.Context()
	var f fixture
	f.User = must(s.CreateUser(ctx, store.User{Username: "fx-user", Prename: "Ada", Name: "Lovelace", Role: store.RoleUser}))(t)
	f.Service = must(s.CreateService(ctx, store.Service{Name: "fx-service"}))(t)
	f.Process = must(s.CreateProcess(ctx, newProcess("fx-process", f.User.ID, 0)))(t)
	f.Process2 = must(s.CreateProcess(ctx, newProcess("fx-process2", 0, f.Service.ID)))(t)
	f.Profile = must(s.CreateProfile(ctx, store.Profile{Name: "fx-profile", ProcessID: f.Process.ID}))(t)
	f.Provider = must(s.CreateProvider(ctx, newProvider("fx-provider")))(t)
	f.Model = must(s.CreateModel(ctx, newModel("fx-model")))(t)
	f.Deployment = must(s.CreateDeployment(ctx, store.Deployment{
		ModelID: f.Model.ID, ProviderID: f.Provider.ID, UpstreamModel: "fx-upstream",
	}))(t)
	f.Policy = must(s.CreatePolicy(ctx, store.Policy{
		ProcessID: f.Process.ID, Name: "fx-policy", ThresholdPrivacy: store.PrivacyLocal,
	}))(t)
	return f
}

// newProcess returns a valid process owned by userID or serviceID, with a key
// hash derived from its name.
func newProcess(name string, userID, serviceID int64) store.Process {
	return store.Process{
		Name:      name,
		KeyHash:   keyHash("key-of-" + name),
		KeyPrefix: "lg-" + name[:min(len(name), 4)],
		UserID:    userID,
		ServiceID: serviceID,
		LogLevel:  store.LogBilling,
		Priority:  5,
		Settings:  json.RawMessage(`{}`),
	}
}

// newProvider returns a valid provider.
func newProvider(name string) store.Provider {
	return store.Provider{
		Name:     name,
		Kind:     store.KindOllama,
		BaseURL:  "http://localhost:11434",
		Privacy:  store.PrivacyLocal,
		AdminURL: "http://localhost:11434/api/ps",
	}
}

// newModel returns a valid model.
func newModel(name string) store.Model {
	return store.Model{Name: name, WeightPrivacy: store.PrivacyLocal, Parallel: 1}
}
