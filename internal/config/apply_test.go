package config_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/internal/config"
	"github.com/logos-llm/logos/internal/secret"
	"github.com/logos-llm/logos/store"
)

// example returns examples/logos.yaml, parsed.
func example(t *testing.T) *config.Document {
	t.Helper()
	data, err := os.ReadFile("../../examples/logos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, string(data))
}

// TestApplyExample applies examples/logos.yaml twice: the first time creates
// everything, the second changes nothing.
func TestApplyExample(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store, _ func() store.Store) {
		ctx := t.Context()
		d := example(t)
		opts := config.ApplyOptions{Getenv: exampleEnv.getenv}
		rep := mustApply(t, s, d, opts)
		if len(rep.Updated)+len(rep.Deleted) != 0 {
			t.Errorf("first Apply updated or deleted: %+v", rep)
		}
		for _, want := range []string{
			"created user admin",
			"created service code-review-bot",
			"created process admin-console",
			"created profile code-review/local-only",
			"created provider azure-sweden",
			"created model llama3.1:8b",
			"created deployment gpt-4o@azure-sweden",
			"created permission code-review/cloud → gpt-4o-mini",
			"created policy code-review/confidential",
			"created price prompt_tokens for gpt-4o-mini@azure-sweden from 2025-01-01T00:00:00Z: 0.15 EUR per million",
			"created price completion_tokens for gpt-4o@* from 2025-01-01T00:00:00Z: 10 USD per million",
		} {
			if !slices.Contains(rep.Created, want) {
				t.Errorf("report lacks %q; created:\n%s", want, strings.Join(rep.Created, "\n"))
			}
		}

		again := mustApply(t, s, d, opts)
		if again.Changed() {
			t.Errorf("second Apply changed something: %+v", again)
		}

		c, err := s.LoadCatalog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Providers) != 4 || len(c.Models) != 4 || len(c.Deployments) != 5 || len(c.Prices) != 6 || len(c.Policies) != 1 {
			t.Errorf("catalogue has %d providers, %d models, %d deployments, %d prices, %d policies; want 4, 4, 5, 6, 1",
				len(c.Providers), len(c.Models), len(c.Deployments), len(c.Prices), len(c.Policies))
		}
		azure := find(t, c.Providers, func(p store.Provider) bool { return p.Name == "azure-sweden" })
		if azure.Kind != store.KindAzure || azure.APIVersion != "2024-10-21" || azure.Credential != exampleEnv["AZURE_OPENAI_API_KEY"] {
			t.Errorf("azure provider = %+v", azure)
		}
		ollama := find(t, c.Providers, func(p store.Provider) bool { return p.Name == "ollama" })
		if ollama.ParallelCapacity != 4 || ollama.TotalVRAMMB != 49152 || ollama.AdminURL != "http://127.0.0.1:11434" || ollama.Privacy != store.PrivacyLocal ||
			ollama.PollInterval != 5*time.Second || ollama.SleepMode {
			t.Errorf("ollama provider = %+v", ollama)
		}
		vllm := find(t, c.Providers, func(p store.Provider) bool { return p.Name == "vllm-gpu-1" })
		if vllm.AdminURL != "http://gpu-1:8000/metrics" || vllm.PollTimeout != 2*time.Second || !vllm.SleepMode || vllm.PollInterval != 0 {
			t.Errorf("vllm provider = %+v", vllm)
		}
		mini := find(t, c.Models, func(m store.Model) bool { return m.Name == "gpt-4o-mini" })
		dep := find(t, c.Deployments, func(d store.Deployment) bool { return d.ModelID == mini.ID })
		if dep.ProviderID != azure.ID || dep.UpstreamModel != "gpt4o-mini-prod" || dep.APIVersion != "2025-01-01-preview" {
			t.Errorf("gpt-4o-mini deployment = %+v", dep)
		}
		review, err := s.GetProcessByName(ctx, "code-review")
		if err != nil {
			t.Fatal(err)
		}
		if review.LogLevel != store.LogFull || review.Priority != 3 || review.UserID != 0 || review.ServiceID == 0 {
			t.Errorf("code-review process = %+v", review)
		}
		if !sameSettings(review.Settings, `{"requests_per_minute": 120, "monthly_budget_eur": 50}`) {
			t.Errorf("settings = %s", review.Settings)
		}
	})
}

// TestApplyDefaults checks that a document that leaves every optional field
// out yields the catalogue that creating the same objects with zero values
// (as the admin API does) yields, and that spelling the defaults out changes
// nothing.
func TestApplyDefaults(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store, fresh func() store.Store) {
		ctx := t.Context()
		const key = "lg-defaults-0123456789abcdefghijklmnop"
		mustApply(t, s, mustParse(t, `
users: [{username: ada}]
services: [{name: bot}]
processes:
  - name: app
    owner: service:bot
    key: ${KEY}
    profiles: [{name: default, models: [m]}]
providers: [{name: p, kind: ollama, base_url: "http://h:11434"}]
models: [{name: m, deployments: [{provider: p}]}]
policies: [{process: app, name: pol}]
prices: [{token_type: prompt_tokens, valid_from: 2025-01-01, price_per_million: 1}]
`), config.ApplyOptions{Getenv: env{"KEY": key}.getenv})

		direct := fresh()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		_, err := direct.CreateUser(ctx, store.User{Username: "ada"})
		must(err)
		svc, err := direct.CreateService(ctx, store.Service{Name: "bot"})
		must(err)
		proc, err := direct.CreateProcess(ctx, store.Process{Name: "app", ServiceID: svc.ID, KeyHash: apikey.Hash(key), KeyPrefix: apikey.Prefix(key)})
		must(err)
		prof, err := direct.CreateProfile(ctx, store.Profile{Name: "default", ProcessID: proc.ID})
		must(err)
		prov, err := direct.CreateProvider(ctx, store.Provider{Name: "p", Kind: store.KindOllama, BaseURL: "http://h:11434"})
		must(err)
		model, err := direct.CreateModel(ctx, store.Model{Name: "m"})
		must(err)
		_, err = direct.CreateDeployment(ctx, store.Deployment{ModelID: model.ID, ProviderID: prov.ID})
		must(err)
		must(direct.GrantModel(ctx, prof.ID, model.ID))
		_, err = direct.CreatePolicy(ctx, store.Policy{ProcessID: proc.ID, Name: "pol"})
		must(err)
		tt, err := direct.EnsureTokenType(ctx, "prompt_tokens")
		must(err)
		_, err = direct.CreatePrice(ctx, store.Price{TokenTypeID: tt.ID, ValidFrom: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), MicrosPerMillion: 1_000_000})
		must(err)

		opts := cmp.Options{
			cmpopts.IgnoreFields(store.Process{}, "CreatedAt"),
			cmpopts.IgnoreFields(store.Profile{}, "CreatedAt"),
			cmpopts.IgnoreFields(store.Provider{}, "CreatedAt", "UpdatedAt"),
			cmpopts.IgnoreFields(store.Model{}, "CreatedAt", "UpdatedAt"),
			cmpopts.IgnoreFields(store.Deployment{}, "CreatedAt", "UpdatedAt"),
			cmpopts.IgnoreFields(store.Policy{}, "CreatedAt", "UpdatedAt"),
			cmpopts.IgnoreFields(store.Price{}, "CreatedAt"),
			cmpopts.IgnoreFields(store.User{}, "CreatedAt"),
			cmpopts.IgnoreFields(store.Service{}, "CreatedAt"),
		}
		wantCatalog, err := direct.LoadCatalog(ctx)
		must(err)
		gotCatalog, err := s.LoadCatalog(ctx)
		must(err)
		if diff := cmp.Diff(wantCatalog, gotCatalog, opts); diff != "" {
			t.Errorf("catalogue (-direct +applied):\n%s", diff)
		}
		wantUsers, err := direct.ListUsers(ctx)
		must(err)
		gotUsers, err := s.ListUsers(ctx)
		must(err)
		if diff := cmp.Diff(wantUsers, gotUsers, opts); diff != "" {
			t.Errorf("users (-direct +applied):\n%s", diff)
		}
		wantServices, err := direct.ListServices(ctx)
		must(err)
		gotServices, err := s.ListServices(ctx)
		must(err)
		if diff := cmp.Diff(wantServices, gotServices, opts); diff != "" {
			t.Errorf("services (-direct +applied):\n%s", diff)
		}

		c, err := s.LoadCatalog(ctx)
		must(err)
		if c.Models[0].Parallel != 1 || c.Models[0].WeightPrivacy != store.PrivacyLocal || c.Processes[0].Priority != 5 ||
			c.Processes[0].LogLevel != store.LogBilling || c.Prices[0].Currency != "EUR" || c.Providers[0].Privacy != store.PrivacyLocal {
			t.Errorf("defaults not applied: %+v", c)
		}

		explicit := mustApply(t, s, mustParse(t, `
users: [{username: ada, role: user}]
services: [{name: bot}]
processes:
  - name: app
    owner: service:bot
    key: ${KEY}
    log_level: BILLING
    priority: 5
    settings: {}
    profiles: [{name: default, models: [m]}]
providers: [{name: p, kind: ollama, base_url: "http://h:11434", privacy: LOCAL, parallel_capacity: 0}]
models: [{name: m, privacy: LOCAL, parallel: 1, deployments: [{provider: p}]}]
policies: [{process: app, name: pol, privacy: LOCAL}]
prices: [{token_type: prompt_tokens, valid_from: "2025-01-01T00:00:00Z", price_per_million: "1.000000", currency: EUR}]
`), config.ApplyOptions{Getenv: env{"KEY": key}.getenv})
		if explicit.Changed() {
			t.Errorf("spelling the defaults out changed: %+v", explicit)
		}
	})
}

const updatesBase = `
providers:
  - name: ollama
    kind: ollama
    base_url: http://127.0.0.1:11434
    parallel_capacity: 2
models:
  - name: llama3
    tags: chat
    deployments:
      - provider: ollama
users: [{username: admin, role: admin}]
processes:
  - name: app
    owner: user:admin
    key: ${APP_KEY}
    settings: {rpm: 10}
    profiles:
      - name: default
        models: [llama3]
policies:
  - process: app
    name: fast
    latency: 5
prices:
  - token_type: prompt_tokens
    valid_from: 2025-01-01
    price_per_million: 1
`

const updatesChanged = `
providers:
  - name: ollama
    kind: ollama
    base_url: http://gpu-1:11434
    parallel_capacity: 4
models:
  - name: llama3
    tags: chat local
    quality: 8
    retry: {max_attempts: 2}
    deployments:
      - provider: ollama
        upstream_model: llama3.1:8b
users: [{username: admin, role: admin}]
processes:
  - name: app
    owner: user:admin
    key: ${APP_KEY}
    log_level: FULL
    settings: {rpm: 20}
    profiles:
      - name: default
        models: [llama3]
      - name: extra
        models: [llama3]
policies:
  - process: app
    name: fast
    latency: 7
prices:
  - token_type: prompt_tokens
    valid_from: 2025-01-01
    price_per_million: 1.5
`

// TestApplyUpdates changes one field of every kind of object and checks the
// report and the store.
func TestApplyUpdates(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store, _ func() store.Store) {
		opts := config.ApplyOptions{Getenv: env{"APP_KEY": "lg-app-0123456789abcdefghijklmnop"}.getenv}
		mustApply(t, s, mustParse(t, updatesBase), opts)

		rep := mustApply(t, s, mustParse(t, updatesChanged), opts)
		want := config.Report{
			Created: []string{
				"created profile app/extra",
				"created permission app/extra → llama3",
			},
			Updated: []string{
				`updated process app: log_level "BILLING" → "FULL", settings {"rpm":10} → {"rpm":20}`,
				`updated provider ollama: base_url "http://127.0.0.1:11434" → "http://gpu-1:11434", parallel_capacity 2 → 4`,
				`updated model llama3: quality 0 → 8, tags "chat" → "chat local", retry.max_attempts 0 → 2`,
				`updated deployment llama3@ollama: upstream_model "" → "llama3.1:8b"`,
				`updated policy app/fast: latency 5 → 7`,
				`updated price prompt_tokens from 2025-01-01T00:00:00Z: 1 EUR → 1.5 EUR`,
			},
		}
		if diff := cmp.Diff(want, rep); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
		if again := mustApply(t, s, mustParse(t, updatesChanged), opts); again.Changed() {
			t.Errorf("re-applying changed: %+v", again)
		}

		c, err := s.LoadCatalog(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Prices) != 1 || c.Prices[0].MicrosPerMillion != 1_500_000 {
			t.Errorf("prices = %+v, want one of 1.5", c.Prices)
		}
		if c.Models[0].WeightQuality != 8 || c.Deployments[0].UpstreamModel != "llama3.1:8b" || c.Providers[0].BaseURL != "http://gpu-1:11434" ||
			c.Policies[0].ThresholdLatency != 7 || c.Processes[0].LogLevel != store.LogFull || !sameSettings(c.Processes[0].Settings, `{"rpm":20}`) {
			t.Errorf("catalogue not updated: %+v", c)
		}

		// Going back restores every field; nothing is deleted without Prune.
		back := mustApply(t, s, mustParse(t, updatesBase), opts)
		if len(back.Updated) != 6 || len(back.Created)+len(back.Deleted) != 0 {
			t.Errorf("going back: %+v", back)
		}
	})
}

// TestApplyKeys checks that keys come only from the environment, that only
// their hash is stored, and that a key changes only when its variable does.
func TestApplyKeys(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store, fresh func() store.Store) {
		ctx := t.Context()
		const k1, k2 = "lg-first-0123456789abcdefghijklmnop", "lg-second-0123456789abcdefghijklmnop"
		doc := `
users: [{username: admin, role: admin}]
processes:
  - name: app
    owner: user:admin
    key: ${APP_KEY}
  - name: later
    owner: user:admin
`
		rep := mustApply(t, s, mustParse(t, doc), config.ApplyOptions{Getenv: env{"APP_KEY": k1}.getenv})
		if !slices.Contains(rep.Created, "created process later (without a usable key until one is set)") {
			t.Errorf("report: %+v", rep)
		}
		for _, line := range append(append(rep.Created, rep.Updated...), rep.Deleted...) {
			if strings.Contains(line, k1) {
				t.Errorf("report contains the key: %q", line)
			}
		}
		app, err := s.ProcessByKeyHash(ctx, apikey.Hash(k1))
		if err != nil || app.Name != "app" {
			t.Fatalf("ProcessByKeyHash(k1) = %+v, %v", app, err)
		}
		if app.KeyPrefix != apikey.Prefix(k1) || strings.Contains(app.KeyPrefix, k1) || !app.RevokedAt.IsZero() {
			t.Errorf("app = %+v", app)
		}
		later, err := s.GetProcessByName(ctx, "later")
		if err != nil || later.RevokedAt.IsZero() || later.KeyPrefix != "" {
			t.Errorf("later = %+v, %v; want a revoked key without prefix", later, err)
		}

		// The same key again: nothing to do.
		if again := mustApply(t, s, mustParse(t, doc), config.ApplyOptions{Getenv: env{"APP_KEY": k1}.getenv}); again.Changed() {
			t.Errorf("same key: %+v", again)
		}

		// A new key in the variable replaces the old one.
		rep = mustApply(t, s, mustParse(t, doc), config.ApplyOptions{Getenv: env{"APP_KEY": k2}.getenv})
		if diff := cmp.Diff([]string{"updated process app: key set from APP_KEY"}, rep.Updated); diff != "" || len(rep.Created) != 0 {
			t.Errorf("rotation report (-want +got):\n%s%v", diff, rep.Created)
		}
		if _, err := s.ProcessByKeyHash(ctx, apikey.Hash(k1)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old key still resolves: %v", err)
		}
		if p, err := s.ProcessByKeyHash(ctx, apikey.Hash(k2)); err != nil || p.Name != "app" {
			t.Errorf("new key: %+v, %v", p, err)
		}

		// Giving the keyless process a key enables it.
		withKey := doc + "    key: ${LATER_KEY}\n"
		const k3 = "lg-later-0123456789abcdefghijklmnop"
		rep = mustApply(t, s, mustParse(t, withKey), config.ApplyOptions{Getenv: env{"APP_KEY": k2, "LATER_KEY": k3}.getenv})
		if diff := cmp.Diff([]string{"updated process later: key set from LATER_KEY"}, rep.Updated); diff != "" {
			t.Errorf("later's key (-want +got):\n%s", diff)
		}
		if p, err := s.ProcessByKeyHash(ctx, apikey.Hash(k3)); err != nil || p.Name != "later" || !p.RevokedAt.IsZero() {
			t.Errorf("later's key: %+v, %v", p, err)
		}

		// Another process may not take an existing key.
		thief := `
users: [{username: admin, role: admin}]
processes: [{name: thief, owner: "user:admin", key: "${THIEF_KEY}"}]
`
		_, err = config.Apply(ctx, s, mustParse(t, thief), config.ApplyOptions{Getenv: env{"THIEF_KEY": k2}.getenv})
		if err == nil || err.Error() != `line 3: processes[0].key: the key in THIEF_KEY is already the key of process "app"` {
			t.Errorf("stealing a key: %v", err)
		}

		// A missing variable fails before anything is written.
		empty := fresh()
		_, err = config.Apply(ctx, empty, mustParse(t, `providers: [{name: p, kind: ollama, base_url: "http://h:1"}]
`+doc), config.ApplyOptions{Getenv: env{}.getenv})
		var e *config.Error
		if !errors.As(err, &e) || e.Line != 7 || e.Field != "processes[0].key" || e.Msg != "environment variable APP_KEY is not set" {
			t.Errorf("missing variable: %v (%+v)", err, e)
		}
		if ps, _ := empty.ListProviders(ctx); len(ps) != 0 {
			t.Errorf("Apply wrote %d providers despite a missing variable", len(ps))
		}
	})
}

// TestApplyPrune checks that nothing is deleted without Prune and exactly
// what the document no longer mentions is deleted with it.
func TestApplyPrune(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store, _ func() store.Store) {
		opts := config.ApplyOptions{Getenv: exampleEnv.getenv}
		mustApply(t, s, example(t), opts)
		mustApply(t, s, mustParse(t, `
services: [{name: code-review-bot}]
processes: [{name: temp, owner: "service:code-review-bot", profiles: [{name: p}]}]
`), opts)

		// The example without the vLLM server and its model, one price, the
		// policy and one profile.
		d := example(t)
		d.Lines = nil
		d.Providers = slices.DeleteFunc(d.Providers, func(p config.Provider) bool { return p.Name == "vllm-gpu-1" })
		d.Models = slices.DeleteFunc(d.Models, func(m config.Model) bool { return m.Name == "qwen2.5-coder-32b" })
		d.Prices = slices.DeleteFunc(d.Prices, func(p config.Price) bool { return p.TokenType == "completion_tokens" && p.Model == "gpt-4o" })
		d.Policies = nil
		for i := range d.Processes {
			p := &d.Processes[i]
			p.Profiles = slices.DeleteFunc(p.Profiles, func(p config.Profile) bool { return p.Name == "cloud" })
			for j := range p.Profiles {
				p.Profiles[j].Models = slices.DeleteFunc(p.Profiles[j].Models, func(m string) bool { return m == "qwen2.5-coder-32b" })
			}
		}

		if rep := mustApply(t, s, d, opts); rep.Changed() {
			t.Errorf("Apply without Prune changed: %+v", rep)
		}

		opts.Prune = true
		rep := mustApply(t, s, d, opts)
		want := []string{
			"deleted price completion_tokens for gpt-4o@* from 2025-01-01T00:00:00Z",
			"deleted policy code-review/confidential",
			"deleted permission admin-console/everything → qwen2.5-coder-32b",
			"deleted permission code-review/local-only → qwen2.5-coder-32b",
			"deleted permission code-review/cloud → gpt-4o-mini",
			"deleted deployment qwen2.5-coder-32b@vllm-gpu-1",
			"deleted profile code-review/cloud",
			"deleted profile temp/p",
			"deleted process temp",
			"deleted model qwen2.5-coder-32b",
			"deleted provider vllm-gpu-1",
		}
		if diff := cmp.Diff(want, rep.Deleted); diff != "" || len(rep.Created)+len(rep.Updated) != 0 {
			t.Errorf("pruned (-want +got):\n%s\n%+v", diff, rep)
		}
		if again := mustApply(t, s, d, opts); again.Changed() {
			t.Errorf("pruning again changed: %+v", again)
		}

		got, err := config.Export(t.Context(), s, config.ExportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Providers) != 3 || len(got.Models) != 3 || len(got.Prices) != 5 || len(got.Policies) != 0 || len(got.Processes) != 2 {
			t.Errorf("after prune: %+v", got)
		}
	})
}

// TestApplyPruneKeepsAnAdmin checks that a prune that would delete every
// admin process is refused before anything is written.
func TestApplyPruneKeepsAnAdmin(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store, _ func() store.Store) {
		ctx := t.Context()
		if _, err := s.Bootstrap(ctx, store.BootstrapParams{AdminUsername: "root", ProcessName: "root", ProfileName: "root", KeyHash: apikey.Hash("k"), KeyPrefix: "k"}); err != nil {
			t.Fatal(err)
		}
		d := mustParse(t, `providers: [{name: p, kind: ollama, base_url: "http://h:1"}]`)
		_, err := config.Apply(ctx, s, d, config.ApplyOptions{Prune: true})
		if err == nil || !strings.Contains(err.Error(), "pruning would delete every process of every admin user") {
			t.Fatalf("Apply = %v", err)
		}
		if ps, _ := s.ListProviders(ctx); len(ps) != 0 {
			t.Errorf("refused Apply wrote providers")
		}
		if _, err := s.GetProcessByName(ctx, "root"); err != nil {
			t.Errorf("root process: %v", err)
		}

		// Listing the root process (an exported document does) allows it.
		d = mustParse(t, `
providers: [{name: p, kind: ollama, base_url: "http://h:1"}]
users: [{username: root, role: admin}]
processes: [{name: root, owner: "user:root", profiles: [{name: root}]}]
`)
		rep := mustApply(t, s, d, config.ApplyOptions{Prune: true})
		if diff := cmp.Diff(config.Report{Created: []string{"created provider p"}}, rep); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
	})
}

// TestApplyRefusals checks what the store cannot converge to: it is refused
// before anything is written, naming the line.
func TestApplyRefusals(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store, _ func() store.Store) {
		ctx := t.Context()
		mustApply(t, s, mustParse(t, `
users: [{username: ada, role: admin, name: Lovelace}]
services: [{name: bot}]
processes: [{name: app, owner: "user:ada"}]
`), config.ApplyOptions{})

		_, err := config.Apply(ctx, s, mustParse(t, `
providers: [{name: p, kind: ollama, base_url: "http://h:1", credential: "[REDACTED]"}]
users:
  - username: ada
    role: user
services: [{name: bot}]
processes:
  - name: app
    owner: service:bot
`), config.ApplyOptions{})
		var got []string
		for _, e := range config.Errors(err) {
			got = append(got, e.Error())
		}
		want := []string{
			`line 2: providers[0].credential: is [REDACTED] (exported without secrets) but provider "p" does not exist yet; give the credential as a ${VAR} reference`,
			`line 5: users[0].role: user "ada" exists with role admin; the store cannot change a user's role`,
			`line 4: users[0].name: user "ada" exists with name "Lovelace"; the store cannot change users`,
			`line 9: processes[0].owner: process "app" exists with owner user:ada; the store cannot change a process's owner`,
		}
		if diff := cmp.Diff(sorted(want), sorted(got)); diff != "" {
			t.Errorf("errors (-want +got):\n%s", diff)
		}
		if ps, _ := s.ListProviders(ctx); len(ps) != 0 {
			t.Errorf("refused Apply wrote providers")
		}
	})
}

// sealer is a reversible, non-deterministic fake of the credential box.
type sealer struct{ n int }

func (s *sealer) seal(plain string) (string, error) {
	s.n++
	return fmt.Sprintf("sealed:%d:%s", s.n, plain), nil
}

func (s *sealer) open(v string) (string, error) {
	rest, ok := strings.CutPrefix(v, "sealed:")
	if !ok {
		return v, nil
	}
	_, plain, ok := strings.Cut(rest, ":")
	if !ok {
		return "", errors.New("malformed")
	}
	return plain, nil
}

// TestApplyCredentials checks sealing, comparison through Open, redaction in
// Export and re-applying a redacted export.
func TestApplyCredentials(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store, fresh func() store.Store) {
		ctx := t.Context()
		box := &sealer{}
		environment := env{}
		for k, v := range exampleEnv {
			environment[k] = v
		}
		opts := config.ApplyOptions{Getenv: environment.getenv, Seal: box.seal, Open: box.open}
		mustApply(t, s, example(t), opts)
		openai := providerNamed(t, s, "openai")
		if !strings.HasPrefix(openai.Credential, "sealed:") || !strings.HasSuffix(openai.Credential, exampleEnv["OPENAI_API_KEY"]) {
			t.Errorf("stored credential %q is not sealed", openai.Credential)
		}
		if ollama := providerNamed(t, s, "ollama"); ollama.Credential != "" {
			t.Errorf("ollama credential = %q, want none", ollama.Credential)
		}
		if rep := mustApply(t, s, example(t), opts); rep.Changed() {
			t.Errorf("re-applying changed sealed credentials: %+v", rep)
		}

		environment["OPENAI_API_KEY"] = "sk-rotated"
		rep := mustApply(t, s, example(t), opts)
		if diff := cmp.Diff(config.Report{Updated: []string{"updated provider openai: credential changed"}}, rep); diff != "" {
			t.Errorf("rotated credential (-want +got):\n%s", diff)
		}

		redacted, err := config.Export(ctx, s, config.ExportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		plain, err := config.Export(ctx, s, config.ExportOptions{IncludeSecrets: true, Open: box.open})
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range redacted.Providers {
			want := ""
			if p.Name != "ollama" {
				want = config.Redacted
			}
			if p.Credential != want {
				t.Errorf("redacted export: provider %s credential %q, want %q", p.Name, p.Credential, want)
			}
			if p.Name == "openai" && plain.Providers[i].Credential != "sk-rotated" {
				t.Errorf("export with secrets: openai credential %q", plain.Providers[i].Credential)
			}
		}

		// A redacted export keeps the stored credentials when applied back.
		before := providerNamed(t, s, "openai").Credential
		if rep := mustApply(t, s, redacted, opts); rep.Changed() {
			t.Errorf("applying the redacted export changed: %+v", rep)
		}
		if after := providerNamed(t, s, "openai").Credential; after != before {
			t.Errorf("credential %q became %q", before, after)
		}
		// It cannot create providers in another store.
		if _, err := config.Apply(ctx, fresh(), redacted, opts); err == nil || !strings.Contains(err.Error(), `providers[0].credential: is [REDACTED]`) {
			t.Errorf("applying a redacted export to an empty store: %v", err)
		}
		// Without Open, sealed values cannot be compared and are sealed again.
		rep = mustApply(t, s, example(t), config.ApplyOptions{Getenv: environment.getenv, Seal: box.seal})
		if len(rep.Updated) != 3 {
			t.Errorf("without Open: %+v, want the three credentials re-sealed", rep)
		}
	})
}

// TestApplySecretBox applies with the real credential box (AES-GCM, a new
// nonce every time): credentials are stored sealed and re-applying changes
// nothing.
func TestApplySecretBox(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store, _ func() store.Store) {
		box, err := secret.NewBox(bytes.Repeat([]byte{7}, secret.KeySize))
		if err != nil {
			t.Fatal(err)
		}
		opts := config.ApplyOptions{Getenv: exampleEnv.getenv, Seal: box.Seal, Open: box.Open}
		mustApply(t, s, example(t), opts)
		if cred := providerNamed(t, s, "openai").Credential; !secret.IsSealed(cred) || strings.Contains(cred, exampleEnv["OPENAI_API_KEY"]) {
			t.Errorf("stored credential %q is not sealed", cred)
		}
		if rep := mustApply(t, s, example(t), opts); rep.Changed() {
			t.Errorf("re-applying changed: %+v", rep)
		}
		d, err := config.Export(t.Context(), s, config.ExportOptions{IncludeSecrets: true, Open: box.Open})
		if err != nil {
			t.Fatal(err)
		}
		if got := find(t, d.Providers, func(p config.Provider) bool { return p.Name == "openai" }).Credential; got != exampleEnv["OPENAI_API_KEY"] {
			t.Errorf("exported credential = %q", got)
		}
	})
}

// TestExportRoundTrip exports a store, writes the export as YAML, parses and
// applies it to an empty store and exports that: the two exports are equal.
func TestExportRoundTrip(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store, fresh func() store.Store) {
		ctx := t.Context()
		if _, err := s.Bootstrap(ctx, store.BootstrapParams{AdminUsername: "root", ProcessName: "root", ProfileName: "root", KeyHash: apikey.Hash("k"), KeyPrefix: "k"}); err != nil {
			t.Fatal(err)
		}
		mustApply(t, s, example(t), config.ApplyOptions{Getenv: exampleEnv.getenv})

		for _, opts := range []config.ExportOptions{{}, {IncludeSecrets: true}} {
			first, err := config.Export(ctx, s, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range first.Processes {
				if p.Key != "" {
					t.Errorf("exported process %s has key %q", p.Name, p.Key)
				}
			}
			if !opts.IncludeSecrets {
				// Redacted credentials cannot be created elsewhere: keep the
				// round trip to the catalogue without them.
				for i := range first.Providers {
					first.Providers[i].Credential = ""
				}
			}
			out, err := yaml.Marshal(first)
			if err != nil {
				t.Fatal(err)
			}
			parsed := mustParse(t, string(out))
			if diff := cmp.Diff(first, parsed, cmpIgnoreLines, cmpopts.IgnoreFields(config.Process{}, "Settings")); diff != "" {
				t.Errorf("YAML round trip (-exported +parsed):\n%s\n%s", diff, out)
			}
			other := fresh()
			mustApply(t, other, parsed, config.ApplyOptions{})
			second, err := config.Export(ctx, other, opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(first, second); diff != "" {
				t.Errorf("Export → Apply → Export (-first +second):\n%s", diff)
			}
			if rep := mustApply(t, other, parsed, config.ApplyOptions{}); rep.Changed() {
				t.Errorf("re-applying the export changed: %+v", rep)
			}
		}
	})
}

// failingStore fails the first creation of one model, as a full disk would.
type failingStore struct {
	store.Store
	model  string
	failed bool
}

func (f *failingStore) CreateModel(ctx context.Context, m store.Model) (store.Model, error) {
	if m.Name == f.model && !f.failed {
		f.failed = true
		return store.Model{}, errors.New("disk full")
	}
	return f.Store.CreateModel(ctx, m)
}

// racingStore creates the first provider it is asked to create twice, as
// when another replica applies the same file at the same time.
type racingStore struct {
	store.Store
	raced bool
}

func (r *racingStore) CreateProvider(ctx context.Context, p store.Provider) (store.Provider, error) {
	if !r.raced {
		r.raced = true
		if _, err := r.Store.CreateProvider(ctx, p); err != nil {
			return store.Provider{}, err
		}
	}
	return r.Store.CreateProvider(ctx, p)
}

// TestApplyResumes checks that re-applying after a failure part way
// completes the document, and that a conflicting concurrent writer is
// absorbed.
func TestApplyResumes(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store, fresh func() store.Store) {
		ctx := t.Context()
		opts := config.ApplyOptions{Getenv: exampleEnv.getenv}
		d := example(t)
		f := &failingStore{Store: s, model: "llama3.1:8b"}
		rep, err := config.Apply(ctx, f, d, opts)
		if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), fmt.Sprintf("line %d: models[2]", d.Lines.Of("models[2]"))) {
			t.Fatalf("Apply = %v", err)
		}
		if !slices.Contains(rep.Created, "created model gpt-4o-mini") || slices.Contains(rep.Created, "created model llama3.1:8b") {
			t.Errorf("partial report: %+v", rep)
		}
		rest := mustApply(t, f, d, opts)
		if !slices.Contains(rest.Created, "created model llama3.1:8b") || slices.Contains(rest.Created, "created model gpt-4o-mini") {
			t.Errorf("resumed report: %+v", rest)
		}
		if again := mustApply(t, s, d, opts); again.Changed() {
			t.Errorf("third Apply changed: %+v", again)
		}

		racing := &racingStore{Store: fresh()}
		rep = mustApply(t, racing, d, opts)
		if slices.Contains(rep.Created, "created provider openai") || !slices.Contains(rep.Created, "created provider ollama") {
			t.Errorf("racing report: %+v", rep)
		}
		want, err := config.Export(ctx, s, config.ExportOptions{IncludeSecrets: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []store.Store{s, racing.Store} {
			got, err := config.Export(ctx, st, config.ExportOptions{IncludeSecrets: true})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("catalogue (-want +got):\n%s", diff)
			}
		}
	})
}

// find returns the element of list that matches, or fails t.
func find[T any](t *testing.T, list []T, match func(T) bool) T {
	t.Helper()
	i := slices.IndexFunc(list, match)
	if i < 0 {
		t.Fatalf("no matching %T", list)
	}
	return list[i]
}

// providerNamed returns the stored provider called name.
func providerNamed(t *testing.T, s store.Store, name string) store.Provider {
	t.Helper()
	ps, err := s.ListProviders(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return find(t, ps, func(p store.Provider) bool { return p.Name == name })
}

// sameSettings compares stored settings with JSON.
func sameSettings(got []byte, want string) bool {
	return cmp.Equal(decodeJSON(got), decodeJSON([]byte(want)))
}

// decodeJSON decodes JSON into generic values (nil if invalid).
func decodeJSON(b []byte) any {
	var v any
	_ = json.Unmarshal(b, &v)
	return v
}
