package storetest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/logos-llm/logos/store"
)

var catalogTests = []test{
	{"Providers", testProviders},
	{"ProviderInvalid", testProviderInvalid},
	{"Models", testModels},
	{"ModelNames", testModelNames},
	{"ModelInvalid", testModelInvalid},
	{"Deployments", testDeployments},
	{"DeploymentReferences", testDeploymentReferences},
	{"Permissions", testPermissions},
	{"DeleteModelCascades", testDeleteModelCascades},
	{"Policies", testPolicies},
	{"TokenTypes", testTokenTypes},
	{"Prices", testPrices},
	{"LoadCatalog", testLoadCatalog},
	{"LoadCatalogConsistent", testLoadCatalogConsistent},
}

// fullProvider returns a provider with every field set.
func fullProvider(name string) store.Provider {
	return store.Provider{
		Name:             name,
		Kind:             store.KindAzure,
		BaseURL:          "https://example.openai.azure.com",
		AuthHeader:       "api-key",
		AuthFormat:       "{}",
		Credential:       "s3cr3t-ü",
		APIVersion:       "2024-10-21",
		Privacy:          store.PrivacyCloudInEUByUSProvider,
		AdminURL:         "https://admin.example.com/status",
		TotalVRAMMB:      81920,
		ParallelCapacity: 16,
		KeepAliveSeconds: 300,
		MaxLoadedModels:  3,
		ExtraOperations:  []string{"batches", "files/*"},
		PollInterval:     2500 * time.Millisecond,
		PollTimeout:      1500 * time.Millisecond,
		SleepMode:        true,
	}
}

// providerIgnore ignores the store-assigned fields of a provider.
var providerIgnore = cmpopts.IgnoreFields(store.Provider{}, "ID", "CreatedAt", "UpdatedAt")

func testProviders(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := []store.Provider{
		fullProvider("azure-eu"),
		{Name: "local", Kind: store.KindOllama, BaseURL: "http://10.0.0.2:11434", Privacy: store.PrivacyLocal},
		{
			Name: "openai", Kind: store.KindOpenAI, BaseURL: "https://api.openai.com/v1", AuthHeader: "Authorization",
			AuthFormat: "Bearer {}", Credential: "sk-x", Privacy: store.PrivacyCloudNotInEUByUSProvider,
		},
		{Name: "vllm", Kind: store.KindOpenAICompatible, BaseURL: "http://vllm:8000/v1", Privacy: store.PrivacyCloudInEUByEUProvider},
	}
	var created []store.Provider
	for _, p := range in {
		got := must(s.CreateProvider(ctx, p))(t)
		checkID(t, "CreateProvider", got.ID)
		checkAssignedTime(t, "Provider.CreatedAt", got.CreatedAt)
		checkAssignedTime(t, "Provider.UpdatedAt", got.UpdatedAt)
		diff(t, "CreateProvider", p, got, providerIgnore)
		diff(t, "GetProvider", got, must(s.GetProvider(ctx, got.ID))(t))
		created = append(created, got)
	}
	diff(t, "ListProviders", created, sortedByID(must(s.ListProviders(ctx))(t), providerID))

	_, err := s.CreateProvider(ctx, newProvider("local"))
	wantConflict(t, "CreateProvider with a duplicate name", err)

	// UpdateProvider replaces every field but ID and CreatedAt.
	orig := created[1]
	upd := fullProvider("local-renamed")
	upd.ID = orig.ID
	upd.CreatedAt = oddTime
	got := must(s.UpdateProvider(ctx, upd))(t)
	diff(t, "UpdateProvider", upd, got, providerIgnore)
	if got.ID != orig.ID || !got.CreatedAt.Equal(orig.CreatedAt) {
		t.Errorf("UpdateProvider changed ID/CreatedAt from %d/%v to %d/%v", orig.ID, orig.CreatedAt, got.ID, got.CreatedAt)
	}
	checkAssignedTime(t, "Provider.UpdatedAt after UpdateProvider", got.UpdatedAt)
	if got.UpdatedAt.Before(orig.UpdatedAt) {
		t.Errorf("UpdatedAt went back from %v to %v", orig.UpdatedAt, got.UpdatedAt)
	}
	diff(t, "GetProvider after UpdateProvider", got, must(s.GetProvider(ctx, orig.ID))(t))
	created[1] = got

	dup := got
	dup.Name = "openai"
	_, err = s.UpdateProvider(ctx, dup)
	wantConflict(t, "UpdateProvider to another provider's name", err)

	noErr(t, s.DeleteProvider(ctx, created[0].ID))
	_, err = s.GetProvider(ctx, created[0].ID)
	wantNotFound(t, "GetProvider after DeleteProvider", err)
	wantNotFound(t, "DeleteProvider twice", s.DeleteProvider(ctx, created[0].ID))
	diff(t, "ListProviders after DeleteProvider", created[1:], sortedByID(must(s.ListProviders(ctx))(t), providerID))
}

func testProviderInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newProvider("bad-kind")
	p.Kind = "anthropic"
	_, err := s.CreateProvider(ctx, p)
	wantInvalid(t, "CreateProvider with an unknown kind", err)
	p = newProvider("bad-privacy")
	p.Privacy = "ON_PREM"
	_, err = s.CreateProvider(ctx, p)
	wantInvalid(t, "CreateProvider with an unknown privacy", err)
	p = newProvider("empty-kind")
	p.Kind = ""
	_, err = s.CreateProvider(ctx, p)
	wantInvalid(t, "CreateProvider with an empty kind", err)
	if got := must(s.ListProviders(ctx))(t); len(got) != 0 {
		t.Errorf("ListProviders after refused creates = %+v, want none", got)
	}

	ok := must(s.CreateProvider(ctx, newProvider("ok")))(t)
	bad := ok
	bad.Kind = "OLLAMA" // kinds are case-sensitive
	_, err = s.UpdateProvider(ctx, bad)
	wantInvalid(t, "UpdateProvider with an unknown kind", err)
	bad = ok
	bad.Privacy = "local"
	_, err = s.UpdateProvider(ctx, bad)
	wantInvalid(t, "UpdateProvider with an unknown privacy", err)
	diff(t, "provider after refused updates", ok, must(s.GetProvider(ctx, ok.ID))(t))
}

// fullModel returns a model with every field set.
func fullModel(name string) store.Model {
	return store.Model{
		Name:           name,
		WeightPrivacy:  store.PrivacyCloudInEUByEUProvider,
		WeightLatency:  3,
		WeightAccuracy: -2,
		WeightCost:     7,
		WeightQuality:  11,
		Tags:           "chat code vision",
		Parallel:       256,
		Description:    "A model.\nWith two lines and ünïcödé.",
		ContextWindow:  131072,
		Retry: store.RetryPolicy{
			MaxAttempts:    4,
			AttemptTimeout: 2500 * time.Millisecond,
			Deadline:       time.Hour,
		},
	}
}

// modelIgnore ignores the store-assigned fields of a model.
var modelIgnore = cmpopts.IgnoreFields(store.Model{}, "ID", "CreatedAt", "UpdatedAt")

func testModels(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := []store.Model{fullModel("llama3.1:70b"), newModel("gpt-4o"), fullModel("qwen2.5:7b")}
	in[2].Parallel = 1
	var created []store.Model
	for _, m := range in {
		got := must(s.CreateModel(ctx, m))(t)
		checkID(t, "CreateModel", got.ID)
		checkAssignedTime(t, "Model.CreatedAt", got.CreatedAt)
		checkAssignedTime(t, "Model.UpdatedAt", got.UpdatedAt)
		diff(t, "CreateModel", m, got, modelIgnore)
		diff(t, "GetModel", got, must(s.GetModel(ctx, got.ID))(t))
		diff(t, "GetModelByName", got, must(s.GetModelByName(ctx, m.Name))(t))
		created = append(created, got)
	}
	diff(t, "ListModels", created, sortedByID(must(s.ListModels(ctx))(t), modelID))

	_, err := s.CreateModel(ctx, newModel("gpt-4o"))
	wantConflict(t, "CreateModel with a duplicate name", err)

	orig := created[1]
	upd := fullModel("gpt-4o-2024-08-06")
	upd.ID = orig.ID
	got := must(s.UpdateModel(ctx, upd))(t)
	diff(t, "UpdateModel", upd, got, modelIgnore)
	if got.ID != orig.ID || !got.CreatedAt.Equal(orig.CreatedAt) {
		t.Errorf("UpdateModel changed ID/CreatedAt from %d/%v to %d/%v", orig.ID, orig.CreatedAt, got.ID, got.CreatedAt)
	}
	if got.UpdatedAt.Before(orig.UpdatedAt) {
		t.Errorf("UpdatedAt went back from %v to %v", orig.UpdatedAt, got.UpdatedAt)
	}
	diff(t, "GetModel after UpdateModel", got, must(s.GetModel(ctx, orig.ID))(t))
	diff(t, "GetModelByName after UpdateModel", got, must(s.GetModelByName(ctx, upd.Name))(t))
	_, err = s.GetModelByName(ctx, orig.Name)
	wantNotFound(t, "GetModelByName of the old name", err)
	created[1] = got

	dup := got
	dup.Name = created[0].Name
	_, err = s.UpdateModel(ctx, dup)
	wantConflict(t, "UpdateModel to another model's name", err)
	diff(t, "GetModel after a refused update", got, must(s.GetModel(ctx, got.ID))(t))

	noErr(t, s.DeleteModel(ctx, created[0].ID))
	_, err = s.GetModel(ctx, created[0].ID)
	wantNotFound(t, "GetModel after DeleteModel", err)
	_, err = s.GetModelByName(ctx, created[0].Name)
	wantNotFound(t, "GetModelByName after DeleteModel", err)
	wantNotFound(t, "DeleteModel twice", s.DeleteModel(ctx, created[0].ID))
	diff(t, "ListModels after DeleteModel", created[1:], sortedByID(must(s.ListModels(ctx))(t), modelID))
}

func testModelNames(t *testing.T, s store.Store) {
	ctx := t.Context()
	names := []string{"模型/ü:7b", "Llama3", "llama3 ", "a\tb", "emoji-🦙", "'; DROP TABLE models; --", `back\slash"quote`, "50%_off"}
	byName := map[string]store.Model{}
	for _, name := range names {
		got := must(s.CreateModel(ctx, newModel(name)))(t)
		if got.Name != name {
			t.Errorf("CreateModel(%q) returned name %q", name, got.Name)
		}
		byName[name] = got
	}
	for _, name := range names {
		got, err := s.GetModelByName(ctx, name)
		if err != nil {
			t.Errorf("GetModelByName(%q): %v", name, err)
			continue
		}
		diff(t, fmt.Sprintf("GetModelByName(%q)", name), byName[name], got)
		diff(t, fmt.Sprintf("GetModel of %q", name), byName[name], must(s.GetModel(ctx, got.ID))(t))
	}
	// Exact and case-sensitive: no folding, trimming or pattern matching.
	for _, name := range []string{"llama3", "LLAMA3", "Llama3 ", " llama3 ", "模型/Ü:7b", "模型", "50%", "50__off", "%"} {
		got, err := s.GetModelByName(ctx, name)
		if err == nil {
			t.Errorf("GetModelByName(%q) found %q, want ErrNotFound", name, got.Name)
			continue
		}
		wantNotFound(t, fmt.Sprintf("GetModelByName(%q)", name), err)
	}
	// Names differing only in case are distinct.
	must(s.CreateModel(ctx, newModel("LLAMA3")))(t)
}

func testModelInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	m := newModel("too-parallel")
	m.Parallel = 300
	_, err := s.CreateModel(ctx, m)
	wantInvalid(t, "CreateModel with Parallel 300", err)
	m = newModel("bad-privacy")
	m.WeightPrivacy = "PUBLIC"
	_, err = s.CreateModel(ctx, m)
	wantInvalid(t, "CreateModel with an unknown privacy", err)
	m = newModel("negative-context")
	m.ContextWindow = -1
	_, err = s.CreateModel(ctx, m)
	wantInvalid(t, "CreateModel with a negative context window", err)
	m = newModel("too-many-attempts")
	m.Retry.MaxAttempts = 101
	_, err = s.CreateModel(ctx, m)
	wantInvalid(t, "CreateModel with 101 retry attempts", err)
	m = newModel("negative-deadline")
	m.Retry.Deadline = -time.Second
	_, err = s.CreateModel(ctx, m)
	wantInvalid(t, "CreateModel with a negative retry deadline", err)
	if got := must(s.ListModels(ctx))(t); len(got) != 0 {
		t.Errorf("ListModels after refused creates = %+v, want none", got)
	}

	ok := must(s.CreateModel(ctx, newModel("ok")))(t)
	bad := ok
	bad.Parallel = 257
	_, err = s.UpdateModel(ctx, bad)
	wantInvalid(t, "UpdateModel with Parallel 257", err)
	bad = ok
	bad.WeightPrivacy = "cloud"
	_, err = s.UpdateModel(ctx, bad)
	wantInvalid(t, "UpdateModel with an unknown privacy", err)
	diff(t, "model after refused updates", ok, must(s.GetModel(ctx, ok.ID))(t))
}

// deploymentIgnore ignores the store-assigned fields of a deployment.
var deploymentIgnore = cmpopts.IgnoreFields(store.Deployment{}, "ID", "CreatedAt", "UpdatedAt")

func testDeployments(t *testing.T, s store.Store) {
	ctx := t.Context()
	m1 := must(s.CreateModel(ctx, newModel("m1")))(t)
	m2 := must(s.CreateModel(ctx, newModel("m2")))(t)
	p1 := must(s.CreateProvider(ctx, newProvider("p1")))(t)
	p2 := must(s.CreateProvider(ctx, fullProvider("p2")))(t)

	in := []store.Deployment{
		{
			ModelID: m1.ID, ProviderID: p2.ID, UpstreamModel: "gpt-4o-eu", Endpoint: "/openai/deployments/x/chat/completions",
			Credential: "override", APIVersion: "2025-01-01", ParallelCapacity: 8,
		},
		{ModelID: m1.ID, ProviderID: p1.ID},
		{ModelID: m2.ID, ProviderID: p1.ID, Endpoint: "https://elsewhere.example.com/v1/chat/completions"},
	}
	var created []store.Deployment
	for _, d := range in {
		got := must(s.CreateDeployment(ctx, d))(t)
		checkID(t, "CreateDeployment", got.ID)
		checkAssignedTime(t, "Deployment.CreatedAt", got.CreatedAt)
		checkAssignedTime(t, "Deployment.UpdatedAt", got.UpdatedAt)
		diff(t, "CreateDeployment", d, got, deploymentIgnore)
		diff(t, "GetDeployment", got, must(s.GetDeployment(ctx, got.ID))(t))
		created = append(created, got)
	}
	diff(t, "ListDeployments", created, sortedByID(must(s.ListDeployments(ctx))(t), deploymentID))

	_, err := s.CreateDeployment(ctx, store.Deployment{ModelID: m1.ID, ProviderID: p1.ID, UpstreamModel: "again"})
	wantConflict(t, "CreateDeployment of a duplicate model×provider", err)

	upd := created[1]
	upd.UpstreamModel = "llama3.1:8b-instruct-q4"
	upd.Endpoint = "/v1/chat/completions"
	upd.Credential = "c"
	upd.APIVersion = "v"
	upd.ParallelCapacity = 2
	got := must(s.UpdateDeployment(ctx, upd))(t)
	diff(t, "UpdateDeployment", upd, got, deploymentIgnore)
	if !got.CreatedAt.Equal(upd.CreatedAt) {
		t.Errorf("UpdateDeployment changed CreatedAt from %v to %v", upd.CreatedAt, got.CreatedAt)
	}
	diff(t, "GetDeployment after UpdateDeployment", got, must(s.GetDeployment(ctx, upd.ID))(t))
	created[1] = got

	noErr(t, s.DeleteDeployment(ctx, created[0].ID))
	_, err = s.GetDeployment(ctx, created[0].ID)
	wantNotFound(t, "GetDeployment after DeleteDeployment", err)
	wantNotFound(t, "DeleteDeployment twice", s.DeleteDeployment(ctx, created[0].ID))
	diff(t, "ListDeployments after DeleteDeployment", created[1:], sortedByID(must(s.ListDeployments(ctx))(t), deploymentID))
	// The pair is free again.
	must(s.CreateDeployment(ctx, store.Deployment{ModelID: m1.ID, ProviderID: p2.ID}))(t)
}

func testDeploymentReferences(t *testing.T, s store.Store) {
	ctx := t.Context()
	m := must(s.CreateModel(ctx, newModel("m")))(t)
	p := must(s.CreateProvider(ctx, newProvider("p")))(t)
	_, err := s.CreateDeployment(ctx, store.Deployment{ModelID: 999999, ProviderID: p.ID})
	wantDangling(t, "CreateDeployment of an unknown model", err)
	_, err = s.CreateDeployment(ctx, store.Deployment{ModelID: m.ID, ProviderID: 999999})
	wantDangling(t, "CreateDeployment on an unknown provider", err)
	if got := must(s.ListDeployments(ctx))(t); len(got) != 0 {
		t.Errorf("ListDeployments after refused creates = %+v, want none", got)
	}
	d := must(s.CreateDeployment(ctx, store.Deployment{ModelID: m.ID, ProviderID: p.ID}))(t)
	d.ParallelCapacity = -1
	_, err = s.UpdateDeployment(ctx, d)
	wantInvalid(t, "UpdateDeployment with a negative parallel capacity", err)
}

func testPermissions(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	var models []store.Model
	for _, name := range []string{"a", "b", "c"} {
		models = append(models, must(s.CreateModel(ctx, newModel(name)))(t))
	}
	// Grant out of id order.
	for _, m := range []store.Model{models[2], f.Model, models[0]} {
		noErr(t, s.GrantModel(ctx, f.Profile.ID, m.ID))
	}
	want := []store.Permission{
		{ProfileID: f.Profile.ID, ModelID: f.Model.ID},
		{ProfileID: f.Profile.ID, ModelID: models[0].ID},
		{ProfileID: f.Profile.ID, ModelID: models[2].ID},
	}
	slices.SortFunc(want, func(a, b store.Permission) int { return cmp.Compare(a.ModelID, b.ModelID) })
	diff(t, "ListPermissions", want, must(s.ListPermissions(ctx, f.Profile.ID))(t))

	wantConflict(t, "GrantModel twice", s.GrantModel(ctx, f.Profile.ID, models[0].ID))
	wantDangling(t, "GrantModel of an unknown model", s.GrantModel(ctx, f.Profile.ID, 999999))
	wantDangling(t, "GrantModel to an unknown profile", s.GrantModel(ctx, 999999, models[0].ID))

	// Permissions belong to one profile.
	other := must(s.CreateProfile(ctx, store.Profile{Name: "other", ProcessID: f.Process.ID}))(t)
	if got := must(s.ListPermissions(ctx, other.ID))(t); len(got) != 0 {
		t.Errorf("ListPermissions of a profile without grants = %+v, want none", got)
	}
	noErr(t, s.GrantModel(ctx, other.ID, models[1].ID))
	diff(t, "ListPermissions of the other profile", []store.Permission{{ProfileID: other.ID, ModelID: models[1].ID}},
		must(s.ListPermissions(ctx, other.ID))(t))
	diff(t, "ListPermissions after granting another profile", want, must(s.ListPermissions(ctx, f.Profile.ID))(t))

	noErr(t, s.RevokeModel(ctx, f.Profile.ID, models[0].ID))
	want = slices.DeleteFunc(want, func(p store.Permission) bool { return p.ModelID == models[0].ID })
	diff(t, "ListPermissions after RevokeModel", want, must(s.ListPermissions(ctx, f.Profile.ID))(t))
	wantNotFound(t, "RevokeModel twice", s.RevokeModel(ctx, f.Profile.ID, models[0].ID))
	wantNotFound(t, "RevokeModel of a model never granted", s.RevokeModel(ctx, f.Profile.ID, models[1].ID))
	// A revoked grant can be given again.
	noErr(t, s.GrantModel(ctx, f.Profile.ID, models[0].ID))
}

func testDeleteModelCascades(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	keep := must(s.CreateModel(ctx, newModel("keep")))(t)
	keepDep := must(s.CreateDeployment(ctx, store.Deployment{ModelID: keep.ID, ProviderID: f.Provider.ID}))(t)
	noErr(t, s.GrantModel(ctx, f.Profile.ID, f.Model.ID))
	noErr(t, s.GrantModel(ctx, f.Profile.ID, keep.ID))

	noErr(t, s.DeleteModel(ctx, f.Model.ID))
	_, err := s.GetDeployment(ctx, f.Deployment.ID)
	wantNotFound(t, "GetDeployment of a deleted model's deployment", err)
	diff(t, "ListDeployments after DeleteModel", []store.Deployment{keepDep}, must(s.ListDeployments(ctx))(t))
	diff(t, "ListPermissions after DeleteModel", []store.Permission{{ProfileID: f.Profile.ID, ModelID: keep.ID}},
		must(s.ListPermissions(ctx, f.Profile.ID))(t))
	cat := must(s.LoadCatalog(ctx))(t)
	diff(t, "catalogue deployments after DeleteModel", []store.Deployment{keepDep}, cat.Deployments)
	diff(t, "catalogue permissions after DeleteModel", []store.Permission{{ProfileID: f.Profile.ID, ModelID: keep.ID}}, cat.Permissions)
	// The provider is untouched.
	diff(t, "GetProvider after DeleteModel", f.Provider, must(s.GetProvider(ctx, f.Provider.ID))(t))
}

// fullPolicy returns a policy of processID with every field set.
func fullPolicy(processID int64, name string) store.Policy {
	return store.Policy{
		ProcessID:         processID,
		Name:              name,
		Description:       "Only local models, fast ones first.",
		ThresholdPrivacy:  store.PrivacyCloudInEUByEUProvider,
		ThresholdLatency:  4,
		ThresholdAccuracy: -1,
		ThresholdCost:     8,
		ThresholdQuality:  2,
		Priority:          7,
		Topic:             "code",
	}
}

// policyIgnore ignores the store-assigned fields of a policy.
var policyIgnore = cmpopts.IgnoreFields(store.Policy{}, "ID", "CreatedAt", "UpdatedAt")

func testPolicies(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	want := map[int64][]store.Policy{f.Process.ID: {f.Policy}}
	for _, p := range []store.Policy{
		fullPolicy(f.Process.ID, "strict"),
		fullPolicy(f.Process2.ID, "strict"), // names are unique per process only
		{ProcessID: f.Process2.ID, Name: "lenient", ThresholdPrivacy: store.PrivacyCloudNotInEUByUSProvider},
	} {
		got := must(s.CreatePolicy(ctx, p))(t)
		checkID(t, "CreatePolicy", got.ID)
		checkAssignedTime(t, "Policy.CreatedAt", got.CreatedAt)
		checkAssignedTime(t, "Policy.UpdatedAt", got.UpdatedAt)
		diff(t, "CreatePolicy", p, got, policyIgnore)
		diff(t, "GetPolicy", got, must(s.GetPolicy(ctx, got.ID))(t))
		want[p.ProcessID] = append(want[p.ProcessID], got)
	}
	for pid, ps := range want {
		diff(t, fmt.Sprintf("ListPolicies(%d)", pid), ps, sortedByID(must(s.ListPolicies(ctx, pid))(t), policyID))
	}
	if got := must(s.ListPolicies(ctx, 999999))(t); len(got) != 0 {
		t.Errorf("ListPolicies of an unknown process = %+v, want none", got)
	}

	_, err := s.CreatePolicy(ctx, fullPolicy(f.Process.ID, "strict"))
	wantConflict(t, "CreatePolicy with a duplicate name in the same process", err)
	bad := fullPolicy(f.Process.ID, "bad")
	bad.ThresholdPrivacy = "EVERYWHERE"
	_, err = s.CreatePolicy(ctx, bad)
	wantInvalid(t, "CreatePolicy with an unknown privacy", err)
	_, err = s.CreatePolicy(ctx, fullPolicy(999999, "orphan"))
	wantDangling(t, "CreatePolicy of an unknown process", err)

	orig := want[f.Process.ID][1]
	upd := fullPolicy(f.Process.ID, "strict-v2")
	upd.ID = orig.ID
	upd.Description = "changed"
	upd.ThresholdPrivacy = store.PrivacyLocal
	upd.Priority = 1
	got := must(s.UpdatePolicy(ctx, upd))(t)
	diff(t, "UpdatePolicy", upd, got, policyIgnore)
	if !got.CreatedAt.Equal(orig.CreatedAt) {
		t.Errorf("UpdatePolicy changed CreatedAt from %v to %v", orig.CreatedAt, got.CreatedAt)
	}
	diff(t, "GetPolicy after UpdatePolicy", got, must(s.GetPolicy(ctx, orig.ID))(t))

	dup := got
	dup.Name = f.Policy.Name
	_, err = s.UpdatePolicy(ctx, dup)
	wantConflict(t, "UpdatePolicy to a duplicate name", err)
	dup = got
	dup.ThresholdPrivacy = "nowhere"
	_, err = s.UpdatePolicy(ctx, dup)
	wantInvalid(t, "UpdatePolicy with an unknown privacy", err)
	diff(t, "GetPolicy after refused updates", got, must(s.GetPolicy(ctx, orig.ID))(t))

	noErr(t, s.DeletePolicy(ctx, got.ID))
	_, err = s.GetPolicy(ctx, got.ID)
	wantNotFound(t, "GetPolicy after DeletePolicy", err)
	wantNotFound(t, "DeletePolicy twice", s.DeletePolicy(ctx, got.ID))
	diff(t, "ListPolicies after DeletePolicy", []store.Policy{f.Policy}, must(s.ListPolicies(ctx, f.Process.ID))(t))
}

func testTokenTypes(t *testing.T, s store.Store) {
	ctx := t.Context()
	names := []string{"prompt_tokens", "completion_tokens", "prompt_cached_tokens", "reasoning_tokens_ü"}
	var created []store.TokenType
	for _, name := range names {
		tt := must(s.EnsureTokenType(ctx, name))(t)
		checkID(t, "EnsureTokenType", tt.ID)
		if tt.Name != name {
			t.Errorf("EnsureTokenType(%q) returned name %q", name, tt.Name)
		}
		created = append(created, tt)
	}
	for i, name := range names {
		again := must(s.EnsureTokenType(ctx, name))(t)
		diff(t, fmt.Sprintf("EnsureTokenType(%q) a second time", name), created[i], again)
	}
	diff(t, "ListTokenTypes", sortedByID(created, tokenTypeID), sortedByID(must(s.ListTokenTypes(ctx))(t), tokenTypeID))

	// Concurrent ensures of one new name agree on one row.
	const n = 8
	var (
		wg  sync.WaitGroup
		got [n]store.TokenType
		err [n]error
	)
	for i := range n {
		wg.Go(func() { got[i], err[i] = s.EnsureTokenType(ctx, "audio_tokens") })
	}
	wg.Wait()
	for i := range n {
		if err[i] != nil {
			t.Fatalf("concurrent EnsureTokenType: %v", err[i])
		}
		diff(t, "concurrent EnsureTokenType", got[0], got[i])
	}
	if l := must(s.ListTokenTypes(ctx))(t); len(l) != len(names)+1 {
		t.Errorf("ListTokenTypes has %d types after concurrent ensures, want %d: %+v", len(l), len(names)+1, l)
	}
}

// priceIgnore ignores the store-assigned fields of a price.
var priceIgnore = cmpopts.IgnoreFields(store.Price{}, "ID", "CreatedAt", "ValidFrom")

func testPrices(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	in := must(s.EnsureTokenType(ctx, "prompt_tokens"))(t)
	out := must(s.EnsureTokenType(ctx, "completion_tokens"))(t)
	t0 := oddTime
	t1 := oddTime.AddDate(0, 1, 0)

	prices := []store.Price{
		{TokenTypeID: in.ID, ValidFrom: t0, MicrosPerMillion: 2_500_000, Currency: "EUR"},
		{TokenTypeID: in.ID, ValidFrom: t1, MicrosPerMillion: 2_000_000, Currency: "EUR"},
		{TokenTypeID: in.ID, ModelID: f.Model.ID, ValidFrom: t0, MicrosPerMillion: 1, Currency: "USD"},
		{TokenTypeID: in.ID, ProviderID: f.Provider.ID, ValidFrom: t0, MicrosPerMillion: 0, Currency: "CHF"},
		{TokenTypeID: in.ID, ModelID: f.Model.ID, ProviderID: f.Provider.ID, ValidFrom: t0, MicrosPerMillion: 1 << 40, Currency: "EUR"},
		{TokenTypeID: out.ID, ValidFrom: t0, MicrosPerMillion: 10_000_000, Currency: "EUR"},
	}
	var created []store.Price
	for _, p := range prices {
		got := must(s.CreatePrice(ctx, p))(t)
		checkID(t, "CreatePrice", got.ID)
		checkAssignedTime(t, "Price.CreatedAt", got.CreatedAt)
		checkTime(t, "Price.ValidFrom", p.ValidFrom, got.ValidFrom)
		diff(t, "CreatePrice", p, got, priceIgnore)
		created = append(created, got)
	}
	diff(t, "ListPrices", created, sortedByID(must(s.ListPrices(ctx))(t), priceID))

	// The scope is (token type, model or none, provider or none, valid from);
	// "none" must conflict with "none" too.
	for i, p := range prices {
		dup := p
		dup.MicrosPerMillion++
		dup.ValidFrom = p.ValidFrom.In(time.UTC) // the same instant in another zone
		_, err := s.CreatePrice(ctx, dup)
		wantConflict(t, fmt.Sprintf("CreatePrice duplicating price %d (model %d, provider %d)", i, p.ModelID, p.ProviderID), err)
	}
	_, err := s.CreatePrice(ctx, store.Price{TokenTypeID: 999999, ValidFrom: t0, MicrosPerMillion: 1, Currency: "EUR"})
	wantDangling(t, "CreatePrice of an unknown token type", err)
	_, err = s.CreatePrice(ctx, store.Price{TokenTypeID: in.ID, ModelID: 999999, ValidFrom: t0, MicrosPerMillion: 1, Currency: "EUR"})
	wantDangling(t, "CreatePrice of an unknown model", err)
	_, err = s.CreatePrice(ctx, store.Price{TokenTypeID: in.ID, ValidFrom: t0.Add(time.Hour), MicrosPerMillion: -1, Currency: "EUR"})
	wantInvalid(t, "CreatePrice with a negative price", err)
	diff(t, "ListPrices after refused creates", created, sortedByID(must(s.ListPrices(ctx))(t), priceID))

	noErr(t, s.DeletePrice(ctx, created[0].ID))
	wantNotFound(t, "DeletePrice twice", s.DeletePrice(ctx, created[0].ID))
	diff(t, "ListPrices after DeletePrice", created[1:], sortedByID(must(s.ListPrices(ctx))(t), priceID))
	// The deleted scope is free again.
	must(s.CreatePrice(ctx, prices[0]))(t)
}

func testLoadCatalog(t *testing.T, s store.Store) {
	ctx := t.Context()
	empty := must(s.LoadCatalog(ctx))(t)
	diff(t, "LoadCatalog of an empty store", store.Catalog{}, empty)

	f := newFixture(t, s)
	// More of everything, interleaved so that ids and names disagree on order.
	p3 := must(s.CreateProcess(ctx, newProcess("a-process", f.User.ID, 0)))(t)
	prof2 := must(s.CreateProfile(ctx, store.Profile{Name: "a-profile", ProcessID: p3.ID}))(t)
	prof3 := must(s.CreateProfile(ctx, store.Profile{Name: "b-profile", ProcessID: f.Process.ID}))(t)
	prov2 := must(s.CreateProvider(ctx, fullProvider("a-provider")))(t)
	m2 := must(s.CreateModel(ctx, fullModel("a-model")))(t)
	d2 := must(s.CreateDeployment(ctx, store.Deployment{ModelID: m2.ID, ProviderID: prov2.ID, UpstreamModel: "x"}))(t)
	d3 := must(s.CreateDeployment(ctx, store.Deployment{ModelID: f.Model.ID, ProviderID: prov2.ID}))(t)
	pol2 := must(s.CreatePolicy(ctx, fullPolicy(p3.ID, "a-policy")))(t)
	noErr(t, s.GrantModel(ctx, prof3.ID, m2.ID))
	noErr(t, s.GrantModel(ctx, f.Profile.ID, m2.ID))
	noErr(t, s.GrantModel(ctx, f.Profile.ID, f.Model.ID))
	noErr(t, s.GrantModel(ctx, prof2.ID, f.Model.ID))
	tt1 := must(s.EnsureTokenType(ctx, "prompt_tokens"))(t)
	tt2 := must(s.EnsureTokenType(ctx, "completion_tokens"))(t)
	pr1 := must(s.CreatePrice(ctx, store.Price{TokenTypeID: tt2.ID, ValidFrom: oddTime, MicrosPerMillion: 5, Currency: "EUR"}))(t)
	pr2 := must(s.CreatePrice(ctx, store.Price{TokenTypeID: tt1.ID, ModelID: m2.ID, ValidFrom: oddTime, MicrosPerMillion: 3, Currency: "EUR"}))(t)
	noErr(t, s.RevokeProcessKey(ctx, f.Process2.ID, oddTime))
	p2 := must(s.GetProcess(ctx, f.Process2.ID))(t)

	want := store.Catalog{
		Processes:   []store.Process{f.Process, p2, p3},
		Profiles:    []store.Profile{f.Profile, prof2, prof3},
		Providers:   []store.Provider{f.Provider, prov2},
		Models:      []store.Model{f.Model, m2},
		Deployments: []store.Deployment{f.Deployment, d2, d3},
		Permissions: []store.Permission{
			{ProfileID: f.Profile.ID, ModelID: f.Model.ID},
			{ProfileID: f.Profile.ID, ModelID: m2.ID},
			{ProfileID: prof2.ID, ModelID: f.Model.ID},
			{ProfileID: prof3.ID, ModelID: m2.ID},
		},
		Policies:   []store.Policy{f.Policy, pol2},
		Prices:     []store.Price{pr1, pr2},
		TokenTypes: sortedByID([]store.TokenType{tt1, tt2}, tokenTypeID),
	}
	got := must(s.LoadCatalog(ctx))(t)
	checkCatalogOrder(t, got)
	// The order of permissions is not specified.
	got.Permissions = sortedPermissions(got.Permissions)
	diff(t, "LoadCatalog", want, got)

	// The catalogue agrees with the List methods.
	diff(t, "LoadCatalog vs ListProcesses", sortedByID(must(s.ListProcesses(ctx))(t), processID), got.Processes)
	diff(t, "LoadCatalog vs ListProviders", sortedByID(must(s.ListProviders(ctx))(t), providerID), got.Providers)
	diff(t, "LoadCatalog vs ListModels", sortedByID(must(s.ListModels(ctx))(t), modelID), got.Models)
	diff(t, "LoadCatalog vs ListDeployments", sortedByID(must(s.ListDeployments(ctx))(t), deploymentID), got.Deployments)
	diff(t, "LoadCatalog vs ListPrices", sortedByID(must(s.ListPrices(ctx))(t), priceID), got.Prices)
	diff(t, "LoadCatalog vs ListTokenTypes", sortedByID(must(s.ListTokenTypes(ctx))(t), tokenTypeID), got.TokenTypes)
}

// checkCatalogOrder fails t unless every slice of c with ids is ordered by id.
func checkCatalogOrder(t testing.TB, c store.Catalog) {
	t.Helper()
	ordered := map[string]bool{
		"Processes":   isSortedByID(c.Processes, processID),
		"Profiles":    isSortedByID(c.Profiles, profileID),
		"Providers":   isSortedByID(c.Providers, providerID),
		"Models":      isSortedByID(c.Models, modelID),
		"Deployments": isSortedByID(c.Deployments, deploymentID),
		"Policies":    isSortedByID(c.Policies, policyID),
		"Prices":      isSortedByID(c.Prices, priceID),
		"TokenTypes":  isSortedByID(c.TokenTypes, tokenTypeID),
	}
	for name, ok := range ordered {
		if !ok {
			t.Errorf("Catalog.%s is not ordered by id", name)
		}
	}
}

// sortedPermissions returns ps ordered by profile, then model.
func sortedPermissions(ps []store.Permission) []store.Permission {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b store.Permission) int {
		return cmp.Or(cmp.Compare(a.ProfileID, b.ProfileID), cmp.Compare(a.ModelID, b.ModelID))
	})
	return out
}

// testLoadCatalogConsistent loads catalogues while another goroutine creates
// and deletes models with deployments and grants; every catalogue must be
// referentially whole, as a snapshot is.
func testLoadCatalogConsistent(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg       sync.WaitGroup
		writeErr error
	)
	// On an early return, stop the writer first, then wait for it.
	defer wg.Wait()
	defer cancel()
	const rounds = 40
	wg.Go(func() {
		defer cancel()
		for i := range rounds {
			m, err := s.CreateModel(ctx, newModel(fmt.Sprintf("churn-%d", i)))
			if err == nil {
				_, err = s.CreateDeployment(ctx, store.Deployment{ModelID: m.ID, ProviderID: f.Provider.ID})
			}
			if err == nil {
				err = s.GrantModel(ctx, f.Profile.ID, m.ID)
			}
			if err == nil && i%2 == 0 {
				err = s.DeleteModel(ctx, m.ID)
			}
			if err != nil {
				writeErr = fmt.Errorf("round %d: %w", i, err)
				return
			}
		}
	})

	loads := 0
	for ctx.Err() == nil || loads < 5 {
		c, err := s.LoadCatalog(t.Context())
		if err != nil {
			t.Fatalf("LoadCatalog during writes: %v", err)
		}
		loads++
		checkCatalogWhole(t, c)
		if t.Failed() {
			break
		}
	}
	wg.Wait()
	if writeErr != nil {
		t.Fatalf("writer: %v", writeErr)
	}
	final := must(s.LoadCatalog(t.Context()))(t)
	checkCatalogWhole(t, final)
	if len(final.Models) != 1+rounds/2 || len(final.Deployments) != 1+rounds/2 || len(final.Permissions) != rounds/2 {
		t.Errorf("final catalogue has %d models, %d deployments, %d permissions; want %d, %d, %d",
			len(final.Models), len(final.Deployments), len(final.Permissions), 1+rounds/2, 1+rounds/2, rounds/2)
	}
}

// checkCatalogWhole fails t if c refers to rows it does not contain.
func checkCatalogWhole(t testing.TB, c store.Catalog) {
	t.Helper()
	ids := func(n int, id func(int) int64) map[int64]bool {
		m := make(map[int64]bool, n)
		for i := range n {
			m[id(i)] = true
		}
		return m
	}
	processes := ids(len(c.Processes), func(i int) int64 { return c.Processes[i].ID })
	profiles := ids(len(c.Profiles), func(i int) int64 { return c.Profiles[i].ID })
	models := ids(len(c.Models), func(i int) int64 { return c.Models[i].ID })
	providers := ids(len(c.Providers), func(i int) int64 { return c.Providers[i].ID })
	for _, p := range c.Profiles {
		if !processes[p.ProcessID] {
			t.Errorf("catalogue profile %d refers to process %d, which it lacks", p.ID, p.ProcessID)
		}
	}
	for _, d := range c.Deployments {
		if !models[d.ModelID] || !providers[d.ProviderID] {
			t.Errorf("catalogue deployment %d refers to model %d / provider %d, which it lacks", d.ID, d.ModelID, d.ProviderID)
		}
	}
	for _, p := range c.Permissions {
		if !profiles[p.ProfileID] || !models[p.ModelID] {
			t.Errorf("catalogue permission refers to profile %d / model %d, which it lacks", p.ProfileID, p.ModelID)
		}
	}
	for _, p := range c.Policies {
		if !processes[p.ProcessID] {
			t.Errorf("catalogue policy %d refers to process %d, which it lacks", p.ID, p.ProcessID)
		}
	}
}
