package postgres_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

func TestBootstrapExactlyOnceConcurrently(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	if ok := must(s.Initialized(ctx))(t); ok {
		t.Fatal("Initialized before Bootstrap")
	}
	const callers = 8
	results := make([]store.BootstrapResult, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			results[i], errs[i] = s.Bootstrap(ctx, store.BootstrapParams{
				AdminUsername: "admin",
				ProcessName:   "root",
				ProfileName:   "root",
				KeyHash:       hash("root-key"),
				KeyPrefix:     "lg-root",
			})
		})
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
			r := results[i]
			if r.User.Role != store.RoleAdmin || r.Process.UserID != r.User.ID || r.Profile.ProcessID != r.Process.ID {
				t.Errorf("Bootstrap result %+v is not an admin with its process and profile", r)
			}
			if r.Process.Priority != 5 || r.Process.LogLevel != store.LogBilling || string(r.Process.Settings) != "{}" {
				t.Errorf("root process %+v lacks defaults", r.Process)
			}
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("Bootstrap %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d Bootstrap calls succeeded, want exactly 1", winners)
	}
	if ok := must(s.Initialized(ctx))(t); !ok {
		t.Error("not Initialized after Bootstrap")
	}
	if users := must(s.ListUsers(ctx))(t); len(users) != 1 {
		t.Errorf("users = %v, want only the admin", users)
	}
	_, err := s.Bootstrap(ctx, store.BootstrapParams{AdminUsername: "admin2", ProcessName: "p2", ProfileName: "p2", KeyHash: hash("2")})
	wantIs(t, "second Bootstrap", err, store.ErrConflict)
}

func TestBootstrapInvalidLeavesStoreEmpty(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	_, err := s.Bootstrap(ctx, store.BootstrapParams{AdminUsername: "admin", ProcessName: "", ProfileName: "root", KeyHash: hash("k")})
	wantIs(t, "Bootstrap with an empty process name", err, store.ErrInvalid)
	if ok := must(s.Initialized(ctx))(t); ok {
		t.Error("Initialized after a failed Bootstrap")
	}
	if users := must(s.ListUsers(ctx))(t); len(users) != 0 {
		t.Errorf("users = %v after a failed Bootstrap, want none", users)
	}
}

func TestErrorMapping(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	f := newFixture(t, s)
	const missing = 1 << 40

	check := func(what string, err, want error) {
		t.Helper()
		wantIs(t, what, err, want)
	}
	// Not found.
	_, err := s.GetUser(ctx, missing)
	check("GetUser", err, store.ErrNotFound)
	_, err = s.GetProcessByName(ctx, "nope")
	check("GetProcessByName", err, store.ErrNotFound)
	_, err = s.ProcessByKeyHash(ctx, hash("nope"))
	check("ProcessByKeyHash", err, store.ErrNotFound)
	_, err = s.UpdateModel(ctx, store.Model{ID: missing, Name: "x"})
	check("UpdateModel", err, store.ErrNotFound)
	_, err = s.UpdateJob(ctx, store.Job{ID: missing, Status: store.JobRunning})
	check("UpdateJob", err, store.ErrNotFound)
	check("DeleteProcess", s.DeleteProcess(ctx, missing), store.ErrNotFound)
	check("DeletePrice", s.DeletePrice(ctx, missing), store.ErrNotFound)
	check("SetProcessKey", s.SetProcessKey(ctx, missing, hash("x"), "p"), store.ErrNotFound)
	check("RevokeProcessKey", s.RevokeProcessKey(ctx, missing, time.Now()), store.ErrNotFound)
	check("RevokeModel", s.RevokeModel(ctx, f.profile.ID, f.model.ID), store.ErrNotFound)

	// Conflicts.
	_, err = s.CreateUser(ctx, store.User{Username: f.user.Username})
	check("duplicate user", err, store.ErrConflict)
	_, err = s.CreateDeployment(ctx, store.Deployment{ModelID: f.model.ID, ProviderID: f.provider.ID})
	check("duplicate deployment", err, store.ErrConflict)
	check("GrantModel", s.GrantModel(ctx, f.profile.ID, f.model.ID), nil)
	check("GrantModel again", s.GrantModel(ctx, f.profile.ID, f.model.ID), store.ErrConflict)
	check("SetProcessKey to a used hash", s.SetProcessKey(ctx, f.process.ID, f.process.KeyHash, "p"), nil)
	other := must(s.CreateProcess(ctx, store.Process{Name: "other", KeyHash: hash("other"), UserID: f.user.ID}))(t)
	check("SetProcessKey to another's hash", s.SetProcessKey(ctx, other.ID, f.process.KeyHash, "p"), store.ErrConflict)

	// Invalid values.
	_, err = s.CreateUser(ctx, store.User{Username: "root", Role: "superuser"})
	check("unknown role", err, store.ErrInvalid)
	_, err = s.CreateUser(ctx, store.User{})
	check("empty username", err, store.ErrInvalid)
	_, err = s.CreateProcess(ctx, store.Process{Name: "both", KeyHash: hash("both"), UserID: f.user.ID, ServiceID: 1})
	check("process with two owners", err, store.ErrInvalid)
	_, err = s.CreateProcess(ctx, store.Process{Name: "none", KeyHash: hash("none")})
	check("process without owner", err, store.ErrInvalid)
	_, err = s.CreateProcess(ctx, store.Process{Name: "ghost", KeyHash: hash("ghost"), UserID: missing})
	check("process of a missing user", err, store.ErrInvalid)
	_, err = s.CreateProcess(ctx, store.Process{Name: "loud", KeyHash: hash("loud"), UserID: f.user.ID, Priority: 11})
	check("priority 11", err, store.ErrInvalid)
	_, err = s.CreateProcess(ctx, store.Process{Name: "nokey", UserID: f.user.ID})
	check("process without key hash", err, store.ErrInvalid)
	_, err = s.CreateProfile(ctx, store.Profile{Name: "p", ProcessID: missing})
	check("profile of a missing process", err, store.ErrInvalid)
	_, err = s.CreateModel(ctx, store.Model{Name: "wide", Parallel: 1000})
	check("parallel 1000", err, store.ErrInvalid)
	_, err = s.CreateModel(ctx, store.Model{Name: "big", ContextWindow: 1 << 40})
	check("context window beyond int32", err, store.ErrInvalid)
	_, err = s.CreateModel(ctx, store.Model{Name: "bad-privacy", WeightPrivacy: "SOMEWHERE"})
	check("unknown privacy", err, store.ErrInvalid)
	_, err = s.UpdateDeployment(ctx, store.Deployment{ID: f.deployment.ID, ModelID: missing, ProviderID: f.provider.ID})
	check("deployment moved to a missing model", err, store.ErrInvalid)
	check("GrantModel of a missing model", s.GrantModel(ctx, f.profile.ID, missing), store.ErrInvalid)
	_, err = s.CreatePrice(ctx, store.Price{TokenTypeID: missing, ValidFrom: time.Now(), MicrosPerMillion: 1})
	check("price of a missing token type", err, store.ErrInvalid)
	tt := must(s.EnsureTokenType(ctx, "prompt_tokens"))(t)
	_, err = s.CreatePrice(ctx, store.Price{TokenTypeID: tt.ID, MicrosPerMillion: 1})
	check("price without ValidFrom", err, store.ErrInvalid)
	_, err = s.CreatePrice(ctx, store.Price{TokenTypeID: tt.ID, ValidFrom: time.Now(), MicrosPerMillion: 1, Currency: "EURO"})
	check("currency EURO", err, store.ErrInvalid)
	_, err = s.CreateJob(ctx, store.Job{ProcessID: f.process.ID})
	check("job without payload", err, store.ErrInvalid)
	_, err = s.CreateJob(ctx, store.Job{ProcessID: f.process.ID, Status: "sleeping", RequestPayload: json.RawMessage(`{}`)})
	check("unknown job status", err, store.ErrInvalid)
	_, err = s.ListJobsByStatus(ctx, "sleeping")
	check("ListJobsByStatus(sleeping)", err, store.ErrInvalid)
	_, err = s.InsertProviderSnapshot(ctx, store.ProviderSnapshot{ProviderID: missing})
	check("snapshot of a missing provider", err, store.ErrInvalid)
	_, err = s.CreateUser(ctx, store.User{Username: "nul\x00name"})
	check("NUL in a username", err, store.ErrInvalid)
}

func TestErrorsNeverContainCredentials(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	const secret = "sk-very-secret-credential"
	p := store.Provider{Name: "cloud", Kind: store.KindOpenAI, BaseURL: "https://api.example", Credential: secret}
	must(s.CreateProvider(ctx, p))(t)
	attempts := map[string]store.Provider{
		"duplicate name": p,
		"unknown kind":   {Name: "c2", Kind: "carrier-pigeon", Credential: secret},
		"negative vram":  {Name: "c3", Kind: store.KindOllama, Credential: secret, TotalVRAMMB: -1},
	}
	for name, bad := range attempts {
		_, err := s.CreateProvider(ctx, bad)
		if err == nil {
			t.Fatalf("%s: CreateProvider succeeded", name)
		}
		if msg := fmtErrChain(err); strings.Contains(msg, secret) {
			t.Errorf("%s: error %q reveals the credential", name, msg)
		}
	}
}

// fmtErrChain renders err and everything it wraps, including fields that
// error values carry but Error() may leave out (such as PostgreSQL details).
func fmtErrChain(err error) string {
	var b strings.Builder
	for e := err; e != nil; e = errors.Unwrap(e) {
		b.WriteString(e.Error())
		b.WriteString(" | ")
		b.WriteString(strings.ReplaceAll(strings.TrimSpace(sprintAll(e)), "\n", " "))
		b.WriteString("\n")
	}
	return b.String()
}

// sprintAll prints a value with its fields.
func sprintAll(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDefaultsAndConversions(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	u := must(s.CreateUser(ctx, store.User{Username: "bob"}))(t)
	if u.Role != store.RoleUser || u.CreatedAt.Location() != time.UTC || time.Since(u.CreatedAt) > time.Hour {
		t.Errorf("user %+v: want role user and a UTC creation time", u)
	}
	p := must(s.CreateProcess(ctx, store.Process{Name: "p", KeyHash: hash("p"), UserID: u.ID}))(t)
	if p.Priority != 5 || p.LogLevel != store.LogBilling || string(p.Settings) != "{}" || p.ServiceID != 0 || !p.RevokedAt.IsZero() {
		t.Errorf("process defaults: %+v", p)
	}
	p.Settings = json.RawMessage(`{"rpm": 60}`)
	p.Name = "renamed"
	p.Priority = 10
	time.Sleep(2 * time.Millisecond)
	up := must(s.UpdateProcess(ctx, p))(t)
	if up.Name != "renamed" || up.Priority != 10 || !strings.Contains(string(up.Settings), "60") || !up.CreatedAt.Equal(p.CreatedAt) {
		t.Errorf("UpdateProcess = %+v", up)
	}
	revoked := time.Date(2025, 1, 2, 3, 4, 5, 678901234, time.FixedZone("Y", -7200))
	if err := s.RevokeProcessKey(ctx, p.ID, revoked); err != nil {
		t.Fatal(err)
	}
	got := must(s.ProcessByKeyHash(ctx, hash("p")))(t)
	if !got.RevokedAt.Equal(revoked.Truncate(time.Microsecond)) || got.RevokedAt.Location() != time.UTC {
		t.Errorf("RevokedAt = %v, want %v in UTC", got.RevokedAt, revoked)
	}
	if err := s.SetProcessKey(ctx, p.ID, hash("new"), "lg-new"); err != nil {
		t.Fatal(err)
	}
	got = must(s.GetProcess(ctx, p.ID))(t)
	if !got.RevokedAt.IsZero() || got.KeyPrefix != "lg-new" || string(got.KeyHash) != string(hash("new")) {
		t.Errorf("after SetProcessKey: %+v", got)
	}

	m := must(s.CreateModel(ctx, store.Model{Name: "m"}))(t)
	if m.Parallel != 1 || m.WeightPrivacy != store.PrivacyLocal {
		t.Errorf("model defaults: %+v", m)
	}
	time.Sleep(2 * time.Millisecond)
	m.Description = "updated"
	um := must(s.UpdateModel(ctx, m))(t)
	if !um.UpdatedAt.After(m.UpdatedAt) || !um.CreatedAt.Equal(m.CreatedAt) || um.Description != "updated" {
		t.Errorf("UpdateModel times: created %v→%v, updated %v→%v", m.CreatedAt, um.CreatedAt, m.UpdatedAt, um.UpdatedAt)
	}

	tt := must(s.EnsureTokenType(ctx, "prompt_tokens"))(t)
	price := must(s.CreatePrice(ctx, store.Price{TokenTypeID: tt.ID, ModelID: m.ID, ValidFrom: time.Now(), MicrosPerMillion: 150}))(t)
	if price.ProviderID != 0 || price.ModelID != m.ID || price.Currency != "EUR" {
		t.Errorf("price = %+v", price)
	}
	_, err := s.CreatePrice(ctx, store.Price{TokenTypeID: tt.ID, ModelID: m.ID, ValidFrom: price.ValidFrom, MicrosPerMillion: 1})
	wantIs(t, "duplicate price scope", err, store.ErrConflict)

	job := must(s.CreateJob(ctx, store.Job{ProcessID: p.ID, RequestPayload: json.RawMessage("{\"a\":\"\x00\"}")}))(t)
	if job.Status != store.JobPending || job.ProfileID != 0 || job.ResultPayload != nil {
		t.Errorf("job = %+v", job)
	}
	job.Status, job.ResultPayload, job.StatusCode = store.JobSucceeded, json.RawMessage(`{"ok":true}`), 200
	uj := must(s.UpdateJob(ctx, job))(t)
	if uj.Status != store.JobSucceeded || uj.StatusCode != 200 || uj.UpdatedAt.Before(uj.CreatedAt) {
		t.Errorf("UpdateJob = %+v", uj)
	}
	if jobs := must(s.ListJobsByStatus(ctx, store.JobSucceeded))(t); len(jobs) != 1 || jobs[0].ID != job.ID {
		t.Errorf("ListJobsByStatus = %+v", jobs)
	}

	prov := must(s.CreateProvider(ctx, store.Provider{Name: "o", Kind: store.KindOllama}))(t)
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		must(s.InsertProviderSnapshot(ctx, store.ProviderSnapshot{ProviderID: prov.ID, TakenAt: t0.Add(time.Duration(i) * time.Minute), PollSuccess: true}))(t)
	}
	now := must(s.InsertProviderSnapshot(ctx, store.ProviderSnapshot{ProviderID: prov.ID}))(t)
	if time.Since(now.TakenAt) > time.Hour || string(now.LoadedModels) != "[]" {
		t.Errorf("snapshot defaults: %+v", now)
	}
	snaps := must(s.ListProviderSnapshots(ctx, prov.ID, t0, t0.Add(2*time.Minute)))(t)
	if len(snaps) != 2 || !snaps[0].TakenAt.Equal(t0) {
		t.Errorf("ListProviderSnapshots = %+v", snaps)
	}
}

func TestEnsureTokenTypeConcurrently(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	ids := make([]int64, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			tt, err := s.EnsureTokenType(ctx, "reasoning_tokens")
			if err != nil {
				t.Errorf("EnsureTokenType: %v", err)
			}
			ids[i] = tt.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id == 0 {
			t.Fatalf("EnsureTokenType ids = %v, want one id", ids)
		}
	}
	_, err := s.EnsureTokenType(ctx, "")
	wantIs(t, "EnsureTokenType(\"\")", err, store.ErrInvalid)
}

func TestLoadCatalog(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	f := newFixture(t, s)
	m2 := must(s.CreateModel(ctx, store.Model{Name: "m2"}))(t)
	p2 := must(s.CreateProfile(ctx, store.Profile{Name: "p2", ProcessID: f.process.ID}))(t)
	for _, g := range [][2]int64{{p2.ID, m2.ID}, {f.profile.ID, m2.ID}, {f.profile.ID, f.model.ID}} {
		if err := s.GrantModel(ctx, g[0], g[1]); err != nil {
			t.Fatal(err)
		}
	}
	tt := must(s.EnsureTokenType(ctx, "prompt_tokens"))(t)
	must(s.CreatePrice(ctx, store.Price{TokenTypeID: tt.ID, ValidFrom: time.Now(), MicrosPerMillion: 3}))(t)

	c := must(s.LoadCatalog(ctx))(t)
	if len(c.Processes) != 1 || len(c.Profiles) != 2 || len(c.Providers) != 1 || len(c.Models) != 2 ||
		len(c.Deployments) != 1 || len(c.Policies) != 1 || len(c.Prices) != 1 || len(c.TokenTypes) != 1 {
		t.Errorf("catalog sizes: %d processes, %d profiles, %d providers, %d models, %d deployments, %d policies, %d prices, %d token types",
			len(c.Processes), len(c.Profiles), len(c.Providers), len(c.Models), len(c.Deployments), len(c.Policies), len(c.Prices), len(c.TokenTypes))
	}
	want := []store.Permission{{ProfileID: f.profile.ID, ModelID: f.model.ID}, {ProfileID: f.profile.ID, ModelID: m2.ID}, {ProfileID: p2.ID, ModelID: m2.ID}}
	if len(c.Permissions) != 3 || c.Permissions[0] != want[0] || c.Permissions[1] != want[1] || c.Permissions[2] != want[2] {
		t.Errorf("permissions = %v, want %v", c.Permissions, want)
	}
	if c.Models[0].ID != f.model.ID || c.Models[1].ID != m2.ID {
		t.Errorf("models not ordered by id: %+v", c.Models)
	}
	if c.Providers[0].Credential != f.provider.Credential {
		t.Error("catalog lost the provider credential")
	}
	if perms := must(s.ListPermissions(ctx, f.profile.ID))(t); len(perms) != 2 || perms[0].ModelID != f.model.ID {
		t.Errorf("ListPermissions = %v", perms)
	}
}
