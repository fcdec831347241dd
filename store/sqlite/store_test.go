package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite"
)

// openAt opens a store on path and closes it when the test ends.
func openAt(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path, Logger: quiet})
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// openTemp opens a store on a new file in a temporary directory.
func openTemp(t testing.TB) *sqlite.Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "logos.db"))
}

// must returns a function that fails t if err is not nil and returns v
// otherwise: must(s.GetUser(ctx, id))(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// catalog is a small catalogue for usage tests.
type catalog struct {
	user       store.User
	process    store.Process
	profile    store.Profile
	provider   store.Provider
	model      store.Model
	deployment store.Deployment
	policy     store.Policy
}

func newCatalog(t testing.TB, s store.Store) catalog {
	t.Helper()
	ctx := t.Context()
	var c catalog
	c.user = must(s.CreateUser(ctx, store.User{Username: "u", Role: store.RoleUser}))(t)
	c.process = must(s.CreateProcess(ctx, store.Process{Name: "p", KeyHash: []byte("hash-p"), UserID: c.user.ID}))(t)
	c.profile = must(s.CreateProfile(ctx, store.Profile{Name: "default", ProcessID: c.process.ID}))(t)
	c.provider = must(s.CreateProvider(ctx, store.Provider{Name: "ollama", Kind: store.KindOllama, BaseURL: "http://localhost:11434"}))(t)
	c.model = must(s.CreateModel(ctx, store.Model{Name: "llama3"}))(t)
	c.deployment = must(s.CreateDeployment(ctx, store.Deployment{ModelID: c.model.ID, ProviderID: c.provider.ID}))(t)
	c.policy = must(s.CreatePolicy(ctx, store.Policy{ProcessID: c.process.ID, Name: "fast"}))(t)
	return c
}

// record returns a usage record of c received at at.
func (c catalog) record(id string, at time.Time) store.UsageRecord {
	return store.UsageRecord{
		RequestID:    id,
		ProcessID:    c.process.ID,
		ProfileID:    c.profile.ID,
		ModelID:      c.model.ID,
		ProviderID:   c.provider.ID,
		DeploymentID: c.deployment.ID,
		PolicyID:     c.policy.ID,
		ModelName:    c.model.Name,
		ProviderName: c.provider.Name,
		Operation:    "chat/completions",
		ReceivedAt:   at,
		StatusCode:   200,
		Outcome:      store.OutcomeSuccess,
		LogLevel:     store.LogBilling,
		Priority:     5,
		Tokens: []store.TokenCount{
			{Type: "prompt_tokens", Count: 15, CostMicros: 30},
			{Type: "completion_tokens", Count: 10, CostMicros: 40},
		},
		CostMicros: 70,
		Currency:   "EUR",
	}
}

var t0 = time.Date(2025, time.March, 14, 15, 9, 26, 535897000, time.UTC)

func TestOpenValidatesConfig(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db"} {
		if s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path, Logger: quiet}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "logos.db")
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	res := must(s.Bootstrap(ctx, store.BootstrapParams{
		AdminUsername: "admin", ProcessName: "root", ProfileName: "default", KeyHash: []byte("h"), KeyPrefix: "lg",
	}))(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// Migrations are applied again (a no-op) on an existing file.
	s2 := openAt(t, path)
	if ok := must(s2.Initialized(ctx))(t); !ok {
		t.Error("Initialized() = false after reopening a bootstrapped store")
	}
	got := must(s2.GetProcess(ctx, res.Process.ID))(t)
	if d := cmp.Diff(res.Process, got); d != "" {
		t.Errorf("process after reopen (-want +got):\n%s", d)
	}
	_, err = s2.Bootstrap(ctx, store.BootstrapParams{AdminUsername: "a2", ProcessName: "r2", ProfileName: "d", KeyHash: []byte("h2")})
	wantErr(t, "Bootstrap after reopen", err, store.ErrConflict)

	// SkipMigrations works on a migrated file...
	s3, err := sqlite.Open(ctx, sqlite.Config{Path: path, SkipMigrations: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if err := s3.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if ok := must(s3.Initialized(ctx))(t); !ok {
		t.Error("Initialized() = false with SkipMigrations on a bootstrapped store")
	}

	// ...and leaves a new file without a schema.
	s4, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "empty.db"), SkipMigrations: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s4.Close()
	if _, err := s4.Initialized(ctx); err == nil {
		t.Error("Initialized() on an unmigrated file succeeded, want an error")
	}
}

func TestPathWithSpecialCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%chars")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "lo?gos.db")
	s := openAt(t, path)
	must(s.CreateUser(t.Context(), store.User{Username: "u"}))(t)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not at %q: %v", path, err)
	}
}

func TestBootstrapOnceAcrossStores(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "logos.db")
	stores := []*sqlite.Store{openAt(t, path), openAt(t, path), openAt(t, path)}
	const perStore = 4
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	start := make(chan struct{})
	for i, s := range stores {
		for j := range perStore {
			wg.Go(func() {
				<-start
				_, err := s.Bootstrap(ctx, store.BootstrapParams{
					AdminUsername: fmt.Sprintf("admin-%d-%d", i, j),
					ProcessName:   fmt.Sprintf("root-%d-%d", i, j),
					ProfileName:   "default",
					KeyHash:       []byte(fmt.Sprintf("key-%d-%d", i, j)),
				})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, store.ErrConflict):
					t.Errorf("Bootstrap: %v, want nil or ErrConflict", err)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d bootstraps succeeded, want exactly 1", wins)
	}
	for _, s := range stores {
		if n := len(must(s.ListUsers(ctx))(t)); n != 1 {
			t.Errorf("%d users after concurrent bootstraps, want 1", n)
		}
		if ok := must(s.Initialized(ctx))(t); !ok {
			t.Error("Initialized() = false")
		}
	}
}

func TestInsertUsageIdempotent(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	c := newCatalog(t, s)
	a, b := c.record("a", t0), c.record("b", t0.Add(time.Second))
	if n := must(s.InsertUsage(ctx, []store.UsageRecord{a, b}))(t); n != 2 {
		t.Fatalf("first insert stored %d, want 2", n)
	}
	wantA := must(s.GetUsage(ctx, "a"))(t)

	// Re-inserting with other data changes nothing, tokens included.
	a2 := a
	a2.StatusCode = 500
	a2.Tokens = []store.TokenCount{{Type: "prompt_tokens", Count: 999}, {Type: "other_tokens", Count: 1}}
	cc := c.record("c", t0.Add(2*time.Second))
	cDup := cc
	cDup.StatusCode = 418
	// "c" twice in one batch: the first wins and the batch does not fail.
	if n := must(s.InsertUsage(ctx, []store.UsageRecord{a2, cc, b, cDup}))(t); n != 1 {
		t.Fatalf("second insert stored %d, want 1", n)
	}
	if d := cmp.Diff(wantA, must(s.GetUsage(ctx, "a"))(t)); d != "" {
		t.Errorf("re-inserted record changed (-want +got):\n%s", d)
	}
	gotC := must(s.GetUsage(ctx, "c"))(t)
	if gotC.StatusCode != 200 || len(gotC.Tokens) != 2 {
		t.Errorf("duplicate in batch: got status %d with %d token rows, want the first record (200, 2)", gotC.StatusCode, len(gotC.Tokens))
	}
	if n := must(s.CountUsage(ctx, store.UsageFilter{}))(t); n != 3 {
		t.Errorf("CountUsage = %d, want 3", n)
	}
	if n := must(s.InsertUsage(ctx, nil))(t); n != 0 {
		t.Errorf("InsertUsage(nil) = %d, want 0", n)
	}
}

func TestInsertUsageRoundTrip(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	c := newCatalog(t, s)
	zone := time.FixedZone("IST", 5*3600+1800)
	r := c.record("full", time.Date(2025, 3, 14, 15, 9, 26, 535897932, zone))
	r.Stream = true
	r.ForwardedAt = r.ReceivedAt.Add(1500*time.Microsecond + 1)
	r.FirstTokenAt = r.ReceivedAt.Add(time.Second + 999)
	r.CompletedAt = r.ReceivedAt.Add(time.Minute)
	r.ErrorMessage = "ünïcödé"
	r.ClientIP = "2001:db8::1"
	r.Priority = 10
	r.QueueWait = 1234567891 * time.Nanosecond
	r.ColdStart = true
	r.LogLevel = store.LogFull
	r.Classification = json.RawMessage(`{"candidates":[{"model_id":1,"weight":0.5}]}`)
	r.RequestPayload = json.RawMessage(`{"model":"llama3","messages":[]}`)
	r.ResponsePayload = json.RawMessage(`{"choices":[]}`)
	r.RequestHeaders = json.RawMessage(`{"User-Agent":["x"]}`)
	r.ResponseHeaders = json.RawMessage(`{}`)
	r.Tokens = append(r.Tokens,
		store.TokenCount{Type: "prompt_tokens", Count: 5, CostMicros: 10}, // merged with the first
		store.TokenCount{Type: "reasoning_tokens", Count: 0},              // skipped
	)
	must(s.InsertUsage(ctx, []store.UsageRecord{r}))(t)

	got := must(s.GetUsage(ctx, "full"))(t)
	want := r
	want.ID = got.ID
	for _, p := range []*time.Time{&want.ReceivedAt, &want.ForwardedAt, &want.FirstTokenAt, &want.CompletedAt} {
		*p = p.Truncate(time.Microsecond).UTC()
	}
	want.QueueWait = r.QueueWait.Truncate(time.Microsecond)
	want.Tokens = []store.TokenCount{
		{Type: "completion_tokens", Count: 10, CostMicros: 40},
		{Type: "prompt_tokens", Count: 20, CostMicros: 40},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("GetUsage (-want +got):\n%s", d)
	}
	if got.ReceivedAt.Location() != time.UTC {
		t.Errorf("ReceivedAt in %v, want UTC", got.ReceivedAt.Location())
	}
	list := must(s.ListUsage(ctx, store.UsageFilter{}))(t)
	if len(list) != 1 {
		t.Fatalf("ListUsage = %d records, want 1", len(list))
	}
	if d := cmp.Diff(want, list[0]); d != "" {
		t.Errorf("ListUsage (-want +got):\n%s", d)
	}
	types := must(s.ListTokenTypes(ctx))(t)
	if len(types) != 2 {
		t.Errorf("token types = %+v, want prompt and completion only", types)
	}
}

func TestInsertUsageDanglingIDs(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	c := newCatalog(t, s)

	ghost := store.UsageRecord{
		RequestID: "ghost", ProcessID: 999999, ProfileID: 999998, ModelID: 999997, ProviderID: 999996,
		DeploymentID: 999995, PolicyID: 999994, ReceivedAt: t0, Outcome: store.OutcomeError,
	}
	before := c.record("before", t0)
	if n := must(s.InsertUsage(ctx, []store.UsageRecord{ghost, before}))(t); n != 2 {
		t.Fatalf("stored %d, want 2", n)
	}
	got := must(s.GetUsage(ctx, "ghost"))(t)
	if got.ProcessID != 0 || got.ProfileID != 0 || got.ModelID != 0 || got.ProviderID != 0 || got.DeploymentID != 0 || got.PolicyID != 0 {
		t.Errorf("unknown ids stored as %+v, want all zero", got)
	}

	// Deleting the catalogue keeps the records, with NULL references.
	if err := s.DeleteProvider(ctx, c.provider.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProcess(ctx, c.process.ID); err != nil {
		t.Fatal(err)
	}
	got = must(s.GetUsage(ctx, "before"))(t)
	if got.ProcessID != 0 || got.ProfileID != 0 || got.ProviderID != 0 || got.DeploymentID != 0 || got.PolicyID != 0 || got.ModelID != c.model.ID {
		t.Errorf("after deleting process and provider: %+v, want only the model id left", got)
	}
	if got.ModelName != "llama3" || got.ProviderName != "ollama" || len(got.Tokens) != 2 {
		t.Errorf("names or tokens lost: %+v", got)
	}

	// Records referring to the deleted rows are still accepted.
	after := c.record("after", t0.Add(time.Second))
	if n := must(s.InsertUsage(ctx, []store.UsageRecord{after}))(t); n != 1 {
		t.Fatalf("stored %d, want 1", n)
	}
	got = must(s.GetUsage(ctx, "after"))(t)
	if got.ProcessID != 0 || got.ProviderID != 0 || got.ModelID != c.model.ID {
		t.Errorf("record of deleted rows stored as %+v", got)
	}
}

func TestInsertUsageSanitizesJSON(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	cases := map[string]json.RawMessage{
		"nul":         json.RawMessage("{\"a\":\"x\x00y\"}"),
		"nul-escape":  json.RawMessage(`{"a":"x\u0000y"}`),
		"bad-utf8":    json.RawMessage("{\"a\":\"\xff\xfe\"}"),
		"not-json":    json.RawMessage("data: {\"partial\": tr"),
		"binary":      json.RawMessage("\x00\x01\x02\xff"),
		"surrogate":   json.RawMessage(`{"a":"\ud800"}`),
		"plain-value": json.RawMessage(`42`),
	}
	var recs []store.UsageRecord
	for name, payload := range cases {
		recs = append(recs, store.UsageRecord{
			RequestID: name, ReceivedAt: t0, Outcome: store.OutcomeSuccess, LogLevel: store.LogFull,
			Classification: payload, RequestPayload: payload, ResponsePayload: payload,
			RequestHeaders: payload, ResponseHeaders: payload,
		})
	}
	if n := must(s.InsertUsage(ctx, recs))(t); n != len(cases) {
		t.Fatalf("stored %d, want %d", n, len(cases))
	}
	for name, payload := range cases {
		got := must(s.GetUsage(ctx, name))(t)
		want := store.SanitizeJSON(payload)
		for col, v := range map[string]json.RawMessage{
			"classification": got.Classification, "request payload": got.RequestPayload,
			"response payload": got.ResponsePayload, "request headers": got.RequestHeaders,
			"response headers": got.ResponseHeaders,
		} {
			if !json.Valid(v) || !utf8.Valid(v) || strings.ContainsRune(string(v), 0) || strings.Contains(string(v), `\u0000`) {
				t.Errorf("%s: %s = %q is not clean JSON", name, col, v)
			}
			if string(v) != string(want) {
				t.Errorf("%s: %s = %q, want %q", name, col, v, want)
			}
		}
	}

	// Settings and job payloads go through the same sanitizer.
	u := must(s.CreateUser(ctx, store.User{Username: "u"}))(t)
	p := must(s.CreateProcess(ctx, store.Process{Name: "p", KeyHash: []byte("h"), UserID: u.ID, Settings: cases["nul"]}))(t)
	if !json.Valid(p.Settings) || strings.ContainsRune(string(p.Settings), 0) {
		t.Errorf("settings stored as %q", p.Settings)
	}
	j := must(s.CreateJob(ctx, store.Job{ProcessID: p.ID, RequestPayload: cases["bad-utf8"]}))(t)
	if !json.Valid(j.RequestPayload) || !utf8.Valid(j.RequestPayload) {
		t.Errorf("job payload stored as %q", j.RequestPayload)
	}
}

func TestInsertUsageRefusesBatchAtomically(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	c := newCatalog(t, s)
	good := c.record("good", t0)
	for name, bad := range map[string]store.UsageRecord{
		"unknown outcome":     {RequestID: "bad", ReceivedAt: t0, Outcome: "exploded"},
		"empty request id":    {ReceivedAt: t0, Outcome: store.OutcomeSuccess},
		"no received at":      {RequestID: "bad", Outcome: store.OutcomeSuccess},
		"unknown log level":   {RequestID: "bad", ReceivedAt: t0, Outcome: store.OutcomeSuccess, LogLevel: "DEBUG"},
		"negative token":      {RequestID: "bad", ReceivedAt: t0, Outcome: store.OutcomeSuccess, Tokens: []store.TokenCount{{Type: "x", Count: -1}}},
		"empty token type":    {RequestID: "bad", ReceivedAt: t0, Outcome: store.OutcomeSuccess, Tokens: []store.TokenCount{{Count: 1}}},
		"year out of range":   {RequestID: "bad", ReceivedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Outcome: store.OutcomeSuccess},
		"completed too early": {RequestID: "bad", ReceivedAt: t0, CompletedAt: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), Outcome: store.OutcomeSuccess},
	} {
		_, err := s.InsertUsage(ctx, []store.UsageRecord{good, bad})
		wantErr(t, name, err, store.ErrInvalid)
	}
	if n := must(s.CountUsage(ctx, store.UsageFilter{}))(t); n != 0 {
		t.Errorf("%d records stored from refused batches, want 0", n)
	}
	if n := len(must(s.ListTokenTypes(ctx))(t)); n != 0 {
		t.Errorf("%d token types left by refused batches, want 0", n)
	}
}

func TestListUsage(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	c := newCatalog(t, s)
	other := must(s.CreateProcess(ctx, store.Process{Name: "other", KeyHash: []byte("o"), UserID: c.user.ID}))(t)
	var recs []store.UsageRecord
	for i := range 150 {
		r := c.record(fmt.Sprintf("r%03d", i), t0.Add(time.Duration(i/2)*time.Minute)) // pairs share a time
		if i%3 == 0 {
			r.ProcessID = other.ID
		}
		recs = append(recs, r)
	}
	must(s.InsertUsage(ctx, recs))(t)

	all := must(s.ListUsage(ctx, store.UsageFilter{Limit: 1000}))(t)
	if len(all) != 150 {
		t.Fatalf("ListUsage = %d records, want 150", len(all))
	}
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if a.ReceivedAt.Before(b.ReceivedAt) || (a.ReceivedAt.Equal(b.ReceivedAt) && a.ID < b.ID) {
			t.Fatalf("ListUsage not newest first at %d: %s (%v) before %s (%v)", i, a.RequestID, a.ReceivedAt, b.RequestID, b.ReceivedAt)
		}
		if len(b.Tokens) != 2 || b.Tokens[0].Type != "completion_tokens" {
			t.Fatalf("record %s has tokens %+v", b.RequestID, b.Tokens)
		}
	}
	if all[0].RequestID != "r149" {
		t.Errorf("newest record = %s, want r149", all[0].RequestID)
	}
	if n := len(must(s.ListUsage(ctx, store.UsageFilter{}))(t)); n != 100 {
		t.Errorf("ListUsage with Limit 0 = %d records, want 100", n)
	}
	if n := len(must(s.ListUsage(ctx, store.UsageFilter{Limit: 7}))(t)); n != 7 {
		t.Errorf("ListUsage with Limit 7 = %d records, want 7", n)
	}

	f := store.UsageFilter{ProcessID: other.ID, From: t0.Add(10 * time.Minute), To: t0.Add(20 * time.Minute), Limit: 1000}
	got := must(s.ListUsage(ctx, f))(t)
	var want []string
	for i := 149; i >= 0; i-- {
		at := t0.Add(time.Duration(i/2) * time.Minute)
		if i%3 == 0 && !at.Before(f.From) && at.Before(f.To) {
			want = append(want, fmt.Sprintf("r%03d", i))
		}
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.RequestID)
	}
	if d := cmp.Diff(want, ids); d != "" {
		t.Errorf("filtered ListUsage (-want +got):\n%s", d)
	}
	if n := must(s.CountUsage(ctx, f))(t); n != int64(len(want)) {
		t.Errorf("CountUsage(filter) = %d, want %d", n, len(want))
	}
	if n := must(s.CountUsage(ctx, store.UsageFilter{ProcessID: c.process.ID, Limit: 1}))(t); n != 100 {
		t.Errorf("CountUsage(process) = %d, want 100", n)
	}
	_, err := s.GetUsage(ctx, "nope")
	wantErr(t, "GetUsage of an unknown id", err, store.ErrNotFound)
}

// TestListUsageManyRecords lists more records than one token query asks for.
func TestListUsageManyRecords(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	c := newCatalog(t, s)
	recs := make([]store.UsageRecord, 1234)
	for i := range recs {
		recs[i] = c.record(fmt.Sprintf("many-%04d", i), t0.Add(time.Duration(i)*time.Millisecond))
		recs[i].Tokens[0].Count = int64(i + 1)
	}
	if n := must(s.InsertUsage(ctx, recs))(t); n != len(recs) {
		t.Fatalf("stored %d, want %d", n, len(recs))
	}
	got := must(s.ListUsage(ctx, store.UsageFilter{Limit: 5000}))(t)
	if len(got) != len(recs) {
		t.Fatalf("ListUsage = %d records, want %d", len(got), len(recs))
	}
	for i, r := range got {
		want := recs[len(recs)-1-i]
		if r.RequestID != want.RequestID || len(r.Tokens) != 2 || r.Tokens[1].Count != want.Tokens[0].Count {
			t.Fatalf("record %d = %s with tokens %+v, want %s with prompt count %d", i, r.RequestID, r.Tokens, want.RequestID, want.Tokens[0].Count)
		}
	}
}

func TestErrorsKeepSecretsOut(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	const secret = "sk-very-secret-credential"
	p := must(s.CreateProvider(ctx, store.Provider{Name: "a", Kind: store.KindOpenAI, Credential: secret}))(t)
	must(s.CreateProvider(ctx, store.Provider{Name: "b", Kind: store.KindOpenAI}))(t)
	p.Name = "b"
	_, err := s.UpdateProvider(ctx, p)
	wantErr(t, "UpdateProvider to a duplicate name", err, store.ErrConflict)
	p.Name, p.Kind = "a", "bogus"
	_, err2 := s.UpdateProvider(ctx, p)
	wantErr(t, "UpdateProvider to a bad kind", err2, store.ErrInvalid)
	_, err3 := s.CreateProvider(ctx, store.Provider{Name: "b", Kind: store.KindOpenAI, Credential: secret})
	wantErr(t, "CreateProvider with a duplicate name", err3, store.ErrConflict)
	for _, err := range []error{err, err2, err3} {
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains the credential", err)
		}
	}
}

func TestJobsAndSnapshots(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	c := newCatalog(t, s)

	j := must(s.CreateJob(ctx, store.Job{ProcessID: c.process.ID, RequestPayload: json.RawMessage(`{"x":1}`)}))(t)
	if j.Status != store.JobPending || j.ProfileID != 0 || j.ResultPayload != nil {
		t.Errorf("CreateJob = %+v", j)
	}
	_, err := s.CreateJob(ctx, store.Job{ProcessID: c.process.ID})
	wantErr(t, "CreateJob without payload", err, store.ErrInvalid)
	_, err = s.CreateJob(ctx, store.Job{ProcessID: 999999, RequestPayload: json.RawMessage(`{}`)})
	wantErr(t, "CreateJob of an unknown process", err, store.ErrInvalid)
	j.Status, j.ResultPayload, j.StatusCode, j.ErrorMessage = store.JobSucceeded, json.RawMessage(`{"ok":true}`), 200, ""
	upd := must(s.UpdateJob(ctx, j))(t)
	if upd.Status != store.JobSucceeded || string(upd.ResultPayload) != `{"ok":true}` || upd.UpdatedAt.Before(j.UpdatedAt) {
		t.Errorf("UpdateJob = %+v", upd)
	}
	if d := cmp.Diff([]store.Job{upd}, must(s.ListJobsByStatus(ctx, store.JobSucceeded))(t)); d != "" {
		t.Errorf("ListJobsByStatus (-want +got):\n%s", d)
	}
	if got := must(s.ListJobsByStatus(ctx, store.JobPending))(t); len(got) != 0 {
		t.Errorf("pending jobs = %+v, want none", got)
	}
	j.Status = "lost"
	_, err = s.UpdateJob(ctx, j)
	wantErr(t, "UpdateJob with an unknown status", err, store.ErrInvalid)

	var snaps []store.ProviderSnapshot
	for i := range 3 {
		snaps = append(snaps, must(s.InsertProviderSnapshot(ctx, store.ProviderSnapshot{
			ProviderID: c.provider.ID, TakenAt: t0.Add(time.Duration(i) * time.Minute), ModelsLoaded: i,
			VRAMUsedBytes: int64(i) << 30, LoadedModels: json.RawMessage(`[{"name":"llama3"}]`), PollSuccess: i != 1,
		}))(t))
	}
	now := must(s.InsertProviderSnapshot(ctx, store.ProviderSnapshot{ProviderID: c.provider.ID}))(t)
	if now.TakenAt.IsZero() || string(now.LoadedModels) != "[]" {
		t.Errorf("snapshot defaults = %+v", now)
	}
	got := must(s.ListProviderSnapshots(ctx, c.provider.ID, t0.Add(time.Minute), t0.Add(3*time.Minute)))(t)
	if d := cmp.Diff(snaps[1:], got); d != "" {
		t.Errorf("ListProviderSnapshots (-want +got):\n%s", d)
	}
	all := must(s.ListProviderSnapshots(ctx, c.provider.ID, time.Time{}, time.Time{}))(t)
	if d := cmp.Diff(append(snaps, now), all); d != "" {
		t.Errorf("ListProviderSnapshots of an open range (-want +got):\n%s", d)
	}
	_, err = s.InsertProviderSnapshot(ctx, store.ProviderSnapshot{ProviderID: 999999})
	wantErr(t, "InsertProviderSnapshot of an unknown provider", err, store.ErrInvalid)
}

func TestDefaults(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	u := must(s.CreateUser(ctx, store.User{Username: "u"}))(t)
	p := must(s.CreateProcess(ctx, store.Process{Name: "p", KeyHash: []byte("h"), UserID: u.ID}))(t)
	m := must(s.CreateModel(ctx, store.Model{Name: "m"}))(t)
	pr := must(s.CreateProvider(ctx, store.Provider{Name: "pr", Kind: store.KindAzure}))(t)
	tt := must(s.EnsureTokenType(ctx, "prompt_tokens"))(t)
	price := must(s.CreatePrice(ctx, store.Price{TokenTypeID: tt.ID, ValidFrom: t0}))(t)
	got := []any{u.Role, p.LogLevel, p.Priority, string(p.Settings), m.Parallel, m.WeightPrivacy, pr.Privacy, price.Currency}
	want := []any{store.RoleUser, store.LogBilling, 5, "{}", 1, store.PrivacyLocal, store.PrivacyLocal, "EUR"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("defaults (-want +got):\n%s", d)
	}
	_, err := s.CreatePrice(ctx, store.Price{TokenTypeID: tt.ID})
	wantErr(t, "CreatePrice without ValidFrom", err, store.ErrInvalid)
	_, err = s.ProcessByKeyHash(ctx, nil)
	wantErr(t, "ProcessByKeyHash(nil)", err, store.ErrNotFound)
}

func TestConcurrentReadersAndWriters(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s := openTemp(t)
	c := newCatalog(t, s)

	const writers, batches, batchSize = 2, 5, 100
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				recs := make([]store.UsageRecord, batchSize)
				for i := range recs {
					recs[i] = c.record(fmt.Sprintf("w%d-b%d-%d", w, b, i), t0.Add(time.Duration(i)*time.Millisecond))
				}
				if _, err := s.InsertUsage(ctx, recs); err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				if _, err := s.CreateModel(ctx, store.Model{Name: fmt.Sprintf("m-%d-%d", w, b)}); err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for r := range 2 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				var err error
				switch r % 2 {
				case 0:
					_, err = s.ListUsage(ctx, store.UsageFilter{ProcessID: c.process.ID, Limit: 50})
				default:
					_, err = s.LoadCatalog(ctx)
				}
				if err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := must(s.CountUsage(ctx, store.UsageFilter{}))(t); n != writers*batches*batchSize {
		t.Errorf("CountUsage = %d, want %d", n, writers*batches*batchSize)
	}
}

func TestEnsureTokenTypeConcurrentStores(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "logos.db")
	a, b := openAt(t, path), openAt(t, path)
	var wg sync.WaitGroup
	got := make([]store.TokenType, 8)
	errs := make([]error, len(got))
	for i := range got {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() { got[i], errs[i] = s.EnsureTokenType(ctx, "audio_tokens") })
	}
	wg.Wait()
	for i, tt := range got {
		if errs[i] != nil {
			t.Fatalf("EnsureTokenType: %v", errs[i])
		}
		if d := cmp.Diff(got[0], tt, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("EnsureTokenType disagrees (-first +this):\n%s", d)
		}
	}
}

// TestInsertUsageLargeBatch: a batch large enough for the multi-row
// statements (chunks of 64 and 16, catalogue ids resolved once per batch)
// keeps the per-record rules: dangling ids become NULL, a request id already
// stored or repeated in the batch is skipped with its tokens, and every new
// record gets its own token rows.
func TestInsertUsageLargeBatch(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	c := newCatalog(t, s)
	if n := must(s.InsertUsage(ctx, []store.UsageRecord{c.record("r007", t0)}))(t); n != 1 {
		t.Fatalf("stored %d, want 1", n)
	}
	var batch []store.UsageRecord
	for i := range 90 {
		r := c.record(fmt.Sprintf("r%03d", i), t0.Add(time.Duration(i)*time.Second))
		r.Tokens = []store.TokenCount{{Type: "prompt_tokens", Count: int64(i + 1)}, {Type: "completion_tokens", Count: 2}}
		if i%3 == 0 {
			r.ModelID, r.DeploymentID = 999999, 999998
		}
		batch = append(batch, r)
	}
	dup := batch[70] // repeated in another chunk (the first 64 are one)
	dup.StatusCode = 418
	dup.Tokens = []store.TokenCount{{Type: "prompt_tokens", Count: 1000}}
	batch = append(batch, dup)
	dup2 := batch[3] // repeated within the first chunk
	dup2.StatusCode = 418
	batch = append(batch[:5], append([]store.UsageRecord{dup2}, batch[5:]...)...)
	if n := must(s.InsertUsage(ctx, batch))(t); n != 89 {
		t.Fatalf("stored %d, want 89 (90 less r007)", n)
	}
	if n := must(s.CountUsage(ctx, store.UsageFilter{}))(t); n != 90 {
		t.Errorf("CountUsage = %d, want 90", n)
	}
	for _, i := range []int{3, 4, 63, 64, 70, 89} {
		got := must(s.GetUsage(ctx, fmt.Sprintf("r%03d", i)))(t)
		wantModel, wantDeployment := c.model.ID, c.deployment.ID
		if i%3 == 0 {
			wantModel, wantDeployment = 0, 0
		}
		if got.ModelID != wantModel || got.DeploymentID != wantDeployment || got.ProcessID != c.process.ID {
			t.Errorf("r%03d: model %d deployment %d process %d, want %d %d %d", i, got.ModelID, got.DeploymentID, got.ProcessID, wantModel, wantDeployment, c.process.ID)
		}
		want := []store.TokenCount{{Type: "completion_tokens", Count: 2}, {Type: "prompt_tokens", Count: int64(i + 1)}}
		if got.StatusCode != 200 || !tokensEqual(got.Tokens, want) {
			t.Errorf("r%03d: status %d tokens %+v, want the first record's (200, %+v)", i, got.StatusCode, got.Tokens, want)
		}
	}
	want := []store.TokenCount{{Type: "completion_tokens", Count: 10}, {Type: "prompt_tokens", Count: 15}}
	if got := must(s.GetUsage(ctx, "r007"))(t); !tokensEqual(got.Tokens, want) {
		t.Errorf("r007, stored before: tokens %+v, want %+v unchanged", got.Tokens, want)
	}
}

// tokensEqual compares token types and counts.
func tokensEqual(got, want []store.TokenCount) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Type != want[i].Type || got[i].Count != want[i].Count {
			return false
		}
	}
	return true
}
