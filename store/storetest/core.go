package storetest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

// Seeder puts the catalogue c into the fresh store s by the
// implementation's own means: [store.Core] has no writer, so a store that
// implements only Core is given its catalogue some other way (a file, an
// admin tool, a test helper). The store may assign its own ids and
// timestamps; the references between c's rows (a profile's process, a
// deployment's model and provider, ...) must be kept. c is valid: every
// reference resolves, every enum value is known, every name is unique.
// Processes carry UserID or ServiceID values that name no row the store
// holds; a seeder may replace them by owners of its own.
type Seeder func(t testing.TB, s store.Core, c store.Catalog)

// RunCore runs the conformance tests of [store.Core], what every store must
// implement, against the store returned by open (a fresh, empty store per
// subtest, cleaned up by open). seed fills a store with a catalogue; a
// store that implements [store.Store] can use [SeedWithWriters].
func RunCore(t *testing.T, open func(t testing.TB) store.Core, seed Seeder) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Core, seed Seeder)
	}{
		{"EmptyCatalog", testCoreEmpty},
		{"LoadCatalog", testCoreLoadCatalog},
		{"ProcessByKeyHash", testCoreKeys},
		{"InsertUsage", testCoreInsertUsage},
		{"InsertUsageConcurrent", testCoreInsertConcurrent},
		{"Ping", testCorePing},
		{"Close", testCoreClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			tc.fn(t, s, seed)
		})
	}
}

// coreTime is a timestamp every store keeps exactly (UTC, whole
// microseconds).
var coreTime = time.Date(2025, time.June, 1, 12, 30, 45, 123456000, time.UTC)

// CoreCatalog returns the catalogue RunCore seeds stores with: two
// processes (one revoked) with a profile each, two providers, two models,
// three deployments, permissions, a policy, token types and a price. Its ids
// are 1, 2, 3 within each table.
func CoreCatalog() store.Catalog {
	return store.Catalog{
		Processes: []store.Process{
			{ID: 1, Name: "core-a", KeyHash: keyHash("key-core-a"), KeyPrefix: "lg-core", UserID: 1,
				LogLevel: store.LogFull, Priority: 7, Settings: json.RawMessage(`{"rate_limits":{"rpm":60}}`)},
			{ID: 2, Name: "core-b", KeyHash: keyHash("key-core-b"), KeyPrefix: "lg-core", UserID: 1,
				LogLevel: store.LogBilling, Priority: 5, Settings: json.RawMessage(`{}`), RevokedAt: coreTime},
		},
		Profiles: []store.Profile{
			{ID: 1, Name: "core-a-default", ProcessID: 1},
			{ID: 2, Name: "core-b-default", ProcessID: 2},
		},
		Providers: []store.Provider{
			{ID: 1, Name: "core-cloud", Kind: store.KindOpenAI, BaseURL: "https://api.example.com/v1",
				AuthHeader: "Authorization", AuthFormat: "Bearer {}", Credential: "sk-core",
				Privacy: store.PrivacyCloudInEUByUSProvider, ParallelCapacity: 4},
			{ID: 2, Name: "core-local", Kind: store.KindOllama, BaseURL: "http://localhost:11434",
				Privacy: store.PrivacyLocal, AdminURL: "http://localhost:11434/api/ps", TotalVRAMMB: 24000,
				PollInterval: 2 * time.Second, PollTimeout: time.Second},
		},
		Models: []store.Model{
			{ID: 1, Name: "core-m1", WeightPrivacy: store.PrivacyLocal, WeightLatency: 3, WeightQuality: 4,
				Tags: "chat fast", Parallel: 1, Description: "first", ContextWindow: 8192},
			{ID: 2, Name: "core-m2", WeightPrivacy: store.PrivacyCloudInEUByUSProvider, WeightAccuracy: 5, Parallel: 2},
		},
		Deployments: []store.Deployment{
			{ID: 1, ModelID: 1, ProviderID: 1, UpstreamModel: "gpt-core"},
			{ID: 2, ModelID: 1, ProviderID: 2, UpstreamModel: "llama-core", ParallelCapacity: 2},
			{ID: 3, ModelID: 2, ProviderID: 2},
		},
		Permissions: []store.Permission{
			{ProfileID: 1, ModelID: 1},
			{ProfileID: 1, ModelID: 2},
			{ProfileID: 2, ModelID: 1},
		},
		Policies: []store.Policy{
			{ID: 1, ProcessID: 1, Name: "core-policy", ThresholdPrivacy: store.PrivacyLocal, ThresholdLatency: 2, Priority: 3, Topic: "code"},
		},
		TokenTypes: []store.TokenType{
			{ID: 1, Name: "completion_tokens"},
			{ID: 2, Name: "prompt_tokens"},
		},
		Prices: []store.Price{
			{ID: 1, TokenTypeID: 2, ModelID: 1, ProviderID: 1, ValidFrom: coreTime, MicrosPerMillion: 2_500_000, Currency: "EUR"},
		},
	}
}

// SeedWithWriters is the [Seeder] of a store that implements [store.Store]:
// it writes c through the identity and catalogue writers (creating one
// owner user for every process) and keeps c's references.
func SeedWithWriters(t testing.TB, s store.Core, c store.Catalog) {
	t.Helper()
	ctx := t.Context()
	st, ok := s.(store.Store)
	if !ok {
		t.Fatalf("SeedWithWriters: %T does not implement store.Store", s)
	}
	owner := must(st.CreateUser(ctx, store.User{Username: "core-owner", Role: store.RoleAdmin}))(t)
	processes, profiles, providers, models, tokenTypes := map[int64]int64{}, map[int64]int64{}, map[int64]int64{}, map[int64]int64{}, map[int64]int64{}
	for _, p := range c.Processes {
		q := p
		q.ID, q.UserID, q.ServiceID, q.RevokedAt = 0, owner.ID, 0, time.Time{}
		created := must(st.CreateProcess(ctx, q))(t)
		if !p.RevokedAt.IsZero() {
			noErr(t, st.RevokeProcessKey(ctx, created.ID, p.RevokedAt))
		}
		processes[p.ID] = created.ID
	}
	for _, p := range c.Profiles {
		profiles[p.ID] = must(st.CreateProfile(ctx, store.Profile{Name: p.Name, ProcessID: processes[p.ProcessID]}))(t).ID
	}
	for _, p := range c.Providers {
		q := p
		q.ID = 0
		providers[p.ID] = must(st.CreateProvider(ctx, q))(t).ID
	}
	for _, m := range c.Models {
		q := m
		q.ID = 0
		models[m.ID] = must(st.CreateModel(ctx, q))(t).ID
	}
	for _, d := range c.Deployments {
		q := d
		q.ID, q.ModelID, q.ProviderID = 0, models[d.ModelID], providers[d.ProviderID]
		must(st.CreateDeployment(ctx, q))(t)
	}
	for _, p := range c.Permissions {
		noErr(t, st.GrantModel(ctx, profiles[p.ProfileID], models[p.ModelID]))
	}
	for _, p := range c.Policies {
		q := p
		q.ID, q.ProcessID = 0, processes[p.ProcessID]
		must(st.CreatePolicy(ctx, q))(t)
	}
	for _, tt := range c.TokenTypes {
		tokenTypes[tt.ID] = must(st.EnsureTokenType(ctx, tt.Name))(t).ID
	}
	for _, p := range c.Prices {
		q := p
		q.ID, q.TokenTypeID, q.ModelID, q.ProviderID = 0, tokenTypes[p.TokenTypeID], models[p.ModelID], providers[p.ProviderID]
		must(st.CreatePrice(ctx, q))(t)
	}
}

// namedCatalog is a catalogue with its ids replaced by the names they refer
// to, so that catalogues whose stores assigned different ids compare equal.
type namedCatalog struct {
	Processes   []store.Process
	Profiles    [][2]string // name, process
	Providers   []store.Provider
	Models      []store.Model
	Deployments []namedDeployment
	Permissions [][2]string // profile, model
	Policies    []namedPolicy
	TokenTypes  []store.TokenType
	Prices      []namedPrice
}

type namedDeployment struct {
	Model, Provider string
	D               store.Deployment
}

type namedPolicy struct {
	Process string
	P       store.Policy
}

type namedPrice struct {
	TokenType, Model, Provider string
	P                          store.Price
}

// named returns c with names for ids, store-assigned fields cleared and
// every slice sorted, for comparison.
func named(c store.Catalog) namedCatalog {
	idx := func(n int, id func(int) int64, name func(int) string) map[int64]string {
		m := make(map[int64]string, n)
		for i := range n {
			m[id(i)] = name(i)
		}
		return m
	}
	procs := idx(len(c.Processes), func(i int) int64 { return c.Processes[i].ID }, func(i int) string { return c.Processes[i].Name })
	profs := idx(len(c.Profiles), func(i int) int64 { return c.Profiles[i].ID }, func(i int) string { return c.Profiles[i].Name })
	provs := idx(len(c.Providers), func(i int) int64 { return c.Providers[i].ID }, func(i int) string { return c.Providers[i].Name })
	models := idx(len(c.Models), func(i int) int64 { return c.Models[i].ID }, func(i int) string { return c.Models[i].Name })
	types := idx(len(c.TokenTypes), func(i int) int64 { return c.TokenTypes[i].ID }, func(i int) string { return c.TokenTypes[i].Name })
	var n namedCatalog
	for _, p := range c.Processes {
		p.ID, p.UserID, p.ServiceID, p.CreatedAt = 0, 0, 0, time.Time{}
		n.Processes = append(n.Processes, p)
	}
	for _, p := range c.Profiles {
		n.Profiles = append(n.Profiles, [2]string{p.Name, procs[p.ProcessID]})
	}
	for _, p := range c.Providers {
		p.ID, p.CreatedAt, p.UpdatedAt = 0, time.Time{}, time.Time{}
		n.Providers = append(n.Providers, p)
	}
	for _, m := range c.Models {
		m.ID, m.CreatedAt, m.UpdatedAt = 0, time.Time{}, time.Time{}
		n.Models = append(n.Models, m)
	}
	for _, d := range c.Deployments {
		nd := namedDeployment{Model: models[d.ModelID], Provider: provs[d.ProviderID]}
		d.ID, d.ModelID, d.ProviderID, d.CreatedAt, d.UpdatedAt = 0, 0, 0, time.Time{}, time.Time{}
		nd.D = d
		n.Deployments = append(n.Deployments, nd)
	}
	for _, p := range c.Permissions {
		n.Permissions = append(n.Permissions, [2]string{profs[p.ProfileID], models[p.ModelID]})
	}
	for _, p := range c.Policies {
		np := namedPolicy{Process: procs[p.ProcessID]}
		p.ID, p.ProcessID, p.CreatedAt, p.UpdatedAt = 0, 0, time.Time{}, time.Time{}
		np.P = p
		n.Policies = append(n.Policies, np)
	}
	for _, tt := range c.TokenTypes {
		tt.ID = 0
		n.TokenTypes = append(n.TokenTypes, tt)
	}
	for _, p := range c.Prices {
		np := namedPrice{TokenType: types[p.TokenTypeID], Model: models[p.ModelID], Provider: provs[p.ProviderID]}
		p.ID, p.TokenTypeID, p.ModelID, p.ProviderID, p.CreatedAt = 0, 0, 0, 0, time.Time{}
		np.P = p
		n.Prices = append(n.Prices, np)
	}
	slices.SortFunc(n.Processes, func(a, b store.Process) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(n.Profiles, func(a, b [2]string) int { return cmp.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	slices.SortFunc(n.Providers, func(a, b store.Provider) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(n.Models, func(a, b store.Model) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(n.Deployments, func(a, b namedDeployment) int {
		return cmp.Or(cmp.Compare(a.Model, b.Model), cmp.Compare(a.Provider, b.Provider))
	})
	slices.SortFunc(n.Permissions, func(a, b [2]string) int { return cmp.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	slices.SortFunc(n.Policies, func(a, b namedPolicy) int { return cmp.Compare(a.Process+"\x00"+a.P.Name, b.Process+"\x00"+b.P.Name) })
	slices.SortFunc(n.TokenTypes, func(a, b store.TokenType) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(n.Prices, func(a, b namedPrice) int {
		return cmp.Compare(fmt.Sprint(a.TokenType, a.Model, a.Provider), fmt.Sprint(b.TokenType, b.Model, b.Provider))
	})
	return n
}

func testCoreEmpty(t *testing.T, s store.Core, _ Seeder) {
	c := must(s.LoadCatalog(t.Context()))(t)
	diff(t, "LoadCatalog of an empty store", store.Catalog{}, c)
	_, err := s.ProcessByKeyHash(t.Context(), keyHash("key-core-a"))
	wantNotFound(t, "ProcessByKeyHash on an empty store", err)
}

func testCoreLoadCatalog(t *testing.T, s store.Core, seed Seeder) {
	want := CoreCatalog()
	seed(t, s, want)
	got := must(s.LoadCatalog(t.Context()))(t)
	diff(t, "LoadCatalog after seeding (ids replaced by names)", named(want), named(got))
	checkCatalogOrder(t, got)
	checkCatalogWhole(t, got)
	// Another load returns the same snapshot.
	diff(t, "second LoadCatalog", got, must(s.LoadCatalog(t.Context()))(t))
}

func testCoreKeys(t *testing.T, s store.Core, seed Seeder) {
	ctx := t.Context()
	seed(t, s, CoreCatalog())
	c := must(s.LoadCatalog(ctx))(t)
	if len(c.Processes) != 2 {
		t.Fatalf("LoadCatalog holds %d processes, want 2", len(c.Processes))
	}
	for _, want := range c.Processes {
		got, err := s.ProcessByKeyHash(ctx, want.KeyHash)
		if err != nil {
			t.Errorf("ProcessByKeyHash of %q: %v", want.Name, err)
			continue
		}
		diff(t, "ProcessByKeyHash of "+want.Name, want, got)
	}
	if p := must(s.ProcessByKeyHash(ctx, keyHash("key-core-b")))(t); p.RevokedAt.IsZero() {
		t.Error("ProcessByKeyHash of a revoked key: RevokedAt is zero, want the revocation time")
	}
	_, err := s.ProcessByKeyHash(ctx, keyHash("no such key"))
	wantNotFound(t, "ProcessByKeyHash of an unknown hash", err)
	_, err = s.ProcessByKeyHash(ctx, nil)
	wantNotFound(t, "ProcessByKeyHash of an empty hash", err)
}

func testCoreInsertUsage(t *testing.T, s store.Core, seed Seeder) {
	ctx := t.Context()
	seed(t, s, CoreCatalog())
	c := must(s.LoadCatalog(ctx))(t)
	if len(c.Processes) == 0 || len(c.Deployments) == 0 {
		t.Fatal("the seeded catalogue is empty")
	}
	insert(t, s, 0) // an empty batch stores nothing
	full := newUsage("core-full", coreTime)
	full.ProcessID, full.ProfileID = c.Processes[0].ID, c.Profiles[0].ID
	full.ModelID, full.ProviderID, full.DeploymentID = c.Deployments[0].ModelID, c.Deployments[0].ProviderID, c.Deployments[0].ID
	full.PolicyID = c.Policies[0].ID
	full.ModelName, full.ProviderName = c.Models[0].Name, c.Providers[0].Name
	full.Tokens = []store.TokenCount{{Type: "prompt_tokens", Count: 12, CostMicros: 30}, {Type: "core_new_tokens", Count: 3}}
	full.CostMicros, full.Currency = 30, "EUR"
	full.RequestPayload = json.RawMessage(`{"model":"core-m1"}`)
	bare := newUsage("core-bare", coreTime.Add(time.Second)) // no ids at all
	dangling := newUsage("core-dangling", coreTime.Add(2*time.Second))
	dangling.ProcessID, dangling.ModelID, dangling.DeploymentID = 1<<40, 1<<40, 1<<40
	insert(t, s, 3, full, bare, dangling)
	// Inserts are idempotent by request id, also within a batch.
	insert(t, s, 0, full, bare)
	insert(t, s, 1, dangling, newUsage("core-new", coreTime), newUsage("core-new", coreTime))
	// Token types named by usage records appear in the catalogue.
	c = must(s.LoadCatalog(ctx))(t)
	if !slices.ContainsFunc(c.TokenTypes, func(tt store.TokenType) bool { return tt.Name == "core_new_tokens" }) {
		t.Errorf("LoadCatalog token types %v lack core_new_tokens, which a usage record named", c.TokenTypes)
	}
}

func testCoreInsertConcurrent(t *testing.T, s store.Core, seed Seeder) {
	seed(t, s, CoreCatalog())
	const writers, perWriter = 4, 25
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
		errs  []error
	)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				// Writers overlap: writer w also sends writer w-1's ids.
				batch := []store.UsageRecord{
					newUsage(fmt.Sprintf("core-conc-%d-%d", w, i), coreTime),
					newUsage(fmt.Sprintf("core-conc-%d-%d", (w+writers-1)%writers, i), coreTime),
				}
				n, err := s.InsertUsage(t.Context(), batch)
				mu.Lock()
				total += n
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("concurrent InsertUsage: %v", err)
	}
	if total != writers*perWriter {
		t.Errorf("concurrent InsertUsage reported %d new records in all, want %d (each request id counted once)", total, writers*perWriter)
	}
}

func testCorePing(t *testing.T, s store.Core, _ Seeder) {
	noErr(t, s.Ping(t.Context()))
	insert(t, s, 1, newUsage("core-ping", coreTime))
	noErr(t, s.Ping(t.Context()))
}

func testCoreClose(t *testing.T, s store.Core, _ Seeder) {
	ctx := t.Context()
	insert(t, s, 1, newUsage("core-before-close", coreTime))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_ = s.Close() // must not panic; its error is not specified
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded, want an error")
	}
	if _, err := s.InsertUsage(ctx, []store.UsageRecord{newUsage("core-after-close", coreTime)}); err == nil {
		t.Error("InsertUsage after Close succeeded, want an error")
	}
	if _, err := s.LoadCatalog(ctx); err == nil {
		t.Error("LoadCatalog after Close succeeded, want an error")
	}
}
