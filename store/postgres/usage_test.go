package postgres_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/logos-llm/logos/store"
)

// usageRecord returns a minimal valid record.
func usageRecord(requestID string, at time.Time, tokens ...store.TokenCount) store.UsageRecord {
	return store.UsageRecord{
		RequestID:  requestID,
		ReceivedAt: at,
		Outcome:    store.OutcomeSuccess,
		LogLevel:   store.LogBilling,
		Tokens:     tokens,
	}
}

func TestInsertUsageIsIdempotent(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	at := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	first := []store.UsageRecord{
		usageRecord("a", at, store.TokenCount{Type: "prompt_tokens", Count: 10, CostMicros: 30}),
		usageRecord("b", at.Add(time.Second), store.TokenCount{Type: "completion_tokens", Count: 5}),
	}
	if n := must(s.InsertUsage(ctx, first))(t); n != 2 {
		t.Fatalf("first InsertUsage = %d, want 2", n)
	}
	// The same records again, with different tokens, plus a new one.
	again := []store.UsageRecord{
		usageRecord("a", at, store.TokenCount{Type: "prompt_tokens", Count: 999}, store.TokenCount{Type: "extra_tokens", Count: 1}),
		usageRecord("c", at.Add(2*time.Second)),
		usageRecord("b", at.Add(time.Second)),
	}
	if n := must(s.InsertUsage(ctx, again))(t); n != 1 {
		t.Fatalf("second InsertUsage = %d, want 1", n)
	}
	if n := must(s.InsertUsage(ctx, again))(t); n != 0 {
		t.Fatalf("third InsertUsage = %d, want 0", n)
	}
	a := must(s.GetUsage(ctx, "a"))(t)
	if want := []store.TokenCount{{Type: "prompt_tokens", Count: 10, CostMicros: 30}}; !cmp.Equal(a.Tokens, want) {
		t.Errorf("tokens of a = %v, want %v (unchanged by re-insert)", a.Tokens, want)
	}
	if n := must(s.CountUsage(ctx, store.UsageFilter{}))(t); n != 3 {
		t.Errorf("CountUsage = %d, want 3", n)
	}
	// The re-insert named a new token type; only new records' tokens count.
	for _, tt := range must(s.ListTokenTypes(ctx))(t) {
		if tt.Name == "extra_tokens" {
			t.Errorf("token type %q was created for a record that was not inserted", tt.Name)
		}
	}
}

func TestInsertUsageDuplicatesInBatch(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	at := time.Now()
	recs := []store.UsageRecord{
		usageRecord("dup", at, store.TokenCount{Type: "prompt_tokens", Count: 1}),
		usageRecord("other", at),
		usageRecord("dup", at.Add(time.Hour), store.TokenCount{Type: "prompt_tokens", Count: 2}),
	}
	recs[0].ModelName = "first"
	recs[2].ModelName = "second"
	if n := must(s.InsertUsage(ctx, recs))(t); n != 2 {
		t.Fatalf("InsertUsage = %d, want 2", n)
	}
	got := must(s.GetUsage(ctx, "dup"))(t)
	if got.ModelName != "first" || len(got.Tokens) != 1 || got.Tokens[0].Count != 1 {
		t.Errorf("GetUsage(dup) = %q with tokens %v, want the first record", got.ModelName, got.Tokens)
	}
}

func TestInsertUsageDanglingIDsAreNull(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	f := newFixture(t, s)
	at := time.Now()
	live := benchRecord(f, "live", at)
	dangling := usageRecord("dangling", at)
	dangling.ProcessID, dangling.ProfileID, dangling.ModelID = 1_000_001, 1_000_002, 1_000_003
	dangling.ProviderID, dangling.DeploymentID, dangling.PolicyID = 1_000_004, 1_000_005, 1_000_006
	mixed := benchRecord(f, "mixed", at)
	mixed.ModelID = 2_000_000
	if n := must(s.InsertUsage(ctx, []store.UsageRecord{live, dangling, mixed}))(t); n != 3 {
		t.Fatalf("InsertUsage = %d, want 3", n)
	}
	type ids struct{ Process, Profile, Model, Provider, Deployment, Policy int64 }
	idsOf := func(r store.UsageRecord) ids {
		return ids{r.ProcessID, r.ProfileID, r.ModelID, r.ProviderID, r.DeploymentID, r.PolicyID}
	}
	all := ids{f.process.ID, f.profile.ID, f.model.ID, f.provider.ID, f.deployment.ID, f.policy.ID}
	for _, tc := range []struct {
		id   string
		want ids
	}{
		{"live", all},
		{"dangling", ids{}},
		{"mixed", ids{f.process.ID, f.profile.ID, 0, f.provider.ID, f.deployment.ID, f.policy.ID}},
	} {
		if got := idsOf(must(s.GetUsage(ctx, tc.id))(t)); got != tc.want {
			t.Errorf("%s: ids = %+v, want %+v", tc.id, got, tc.want)
		}
	}

	// Deleting the catalogue keeps the records, with NULL references.
	if err := s.DeleteProvider(ctx, f.provider.ID); err != nil {
		t.Fatal(err)
	}
	got := must(s.GetUsage(ctx, "live"))(t)
	if got.ProviderID != 0 || got.DeploymentID != 0 || got.ProviderName != f.provider.Name {
		t.Errorf("after deleting the provider: provider %d, deployment %d, name %q; want 0, 0, %q",
			got.ProviderID, got.DeploymentID, got.ProviderName, f.provider.Name)
	}
	// Records naming the deleted provider are still accepted.
	if n := must(s.InsertUsage(ctx, []store.UsageRecord{benchRecord(f, "late", at)}))(t); n != 1 {
		t.Fatalf("InsertUsage after delete = %d, want 1", n)
	}
	if got := must(s.GetUsage(ctx, "late"))(t); got.ProviderID != 0 || got.ModelID != f.model.ID {
		t.Errorf("late: provider %d, model %d; want 0, %d", got.ProviderID, got.ModelID, f.model.ID)
	}
}

// TestInsertUsageWhileCatalogueChanges deletes models while records naming
// them are inserted concurrently: no insert may fail.
func TestInsertUsageWhileCatalogueChanges(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	f := newFixture(t, s)
	models := make([]store.Model, 40)
	for i := range models {
		models[i] = must(s.CreateModel(ctx, store.Model{Name: fmt.Sprintf("m%d", i)}))(t)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, m := range models {
			if err := s.DeleteModel(ctx, m.ID); err != nil {
				t.Errorf("DeleteModel: %v", err)
			}
			time.Sleep(time.Millisecond)
		}
	})
	total := 0
	for batch := range 20 {
		recs := make([]store.UsageRecord, 50)
		for i := range recs {
			recs[i] = benchRecord(f, fmt.Sprintf("r%d-%d", batch, i), time.Now())
			recs[i].ModelID = models[rand.IntN(len(models))].ID
		}
		n, err := s.InsertUsage(ctx, recs)
		if err != nil {
			t.Fatalf("InsertUsage while deleting models: %v", err)
		}
		total += n
	}
	wg.Wait()
	if total != 1000 {
		t.Errorf("inserted %d records, want 1000", total)
	}
}

// TestInsertUsageConcurrentOverlap inserts overlapping batches (in opposite
// orders) from several goroutines: each record is stored once, and the counts
// of new records add up.
func TestInsertUsageConcurrentOverlap(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	const n = 300
	recs := make([]store.UsageRecord, n)
	for i := range recs {
		recs[i] = usageRecord(fmt.Sprintf("req-%03d", i), time.Now(),
			store.TokenCount{Type: fmt.Sprintf("type-%d", i%7), Count: int64(i + 1)})
	}
	reversed := slices.Clone(recs)
	slices.Reverse(reversed)
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for g := range 6 {
		batch := recs
		if g%2 == 1 {
			batch = reversed
		}
		wg.Go(func() {
			got, err := s.InsertUsage(ctx, batch)
			if err != nil {
				t.Errorf("InsertUsage: %v", err)
			}
			mu.Lock()
			total += got
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != n {
		t.Errorf("new records across goroutines = %d, want %d", total, n)
	}
	for _, i := range []int{0, 150, n - 1} {
		got := must(s.GetUsage(ctx, recs[i].RequestID))(t)
		if len(got.Tokens) != 1 || got.Tokens[0].Count != int64(i+1) {
			t.Errorf("%s: tokens %v", recs[i].RequestID, got.Tokens)
		}
	}
	if types := must(s.ListTokenTypes(ctx))(t); len(types) != 7 {
		t.Errorf("token types = %v, want 7", types)
	}
}

func TestInsertUsageTokens(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	rec := usageRecord("tok", time.Now(),
		store.TokenCount{Type: "prompt_tokens", Count: 10, CostMicros: 1},
		store.TokenCount{Type: "zero_tokens", Count: 0, CostMicros: 5},
		store.TokenCount{Type: "completion_tokens", Count: 3, CostMicros: 2},
		store.TokenCount{Type: "prompt_tokens", Count: 5, CostMicros: 4},
	)
	must(s.InsertUsage(ctx, []store.UsageRecord{rec}))(t)
	got := must(s.GetUsage(ctx, "tok"))(t)
	want := []store.TokenCount{
		{Type: "completion_tokens", Count: 3, CostMicros: 2},
		{Type: "prompt_tokens", Count: 15, CostMicros: 5},
	}
	if d := cmp.Diff(want, got.Tokens); d != "" {
		t.Errorf("tokens (-want +got):\n%s", d)
	}
	if rec.Tokens[1].Type != "zero_tokens" || len(rec.Tokens) != 4 {
		t.Errorf("InsertUsage changed the caller's tokens: %v", rec.Tokens)
	}
	var names []string
	for _, tt := range must(s.ListTokenTypes(ctx))(t) {
		names = append(names, tt.Name)
	}
	slices.Sort(names)
	if want := []string{"completion_tokens", "prompt_tokens"}; !slices.Equal(names, want) {
		t.Errorf("token types = %v, want %v", names, want)
	}
}

func TestInsertUsageSanitizesPayloads(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	rec := usageRecord("dirty\x00-\xff", time.Now())
	rec.LogLevel = store.LogFull
	rec.RequestPayload = json.RawMessage("{\"text\":\"a\x00b\",\"n\":1}")
	rec.ResponsePayload = json.RawMessage(`{"text":"nul \u0000 escape","lone":"\ud800"}`)
	rec.RequestHeaders = json.RawMessage("not json \xff\xfe")
	rec.ResponseHeaders = json.RawMessage(`{"x":"` + "\xc3\x28" + `"}`)
	rec.Classification = json.RawMessage(`["ok"]`)
	rec.ErrorMessage = "upstream said \x00 and \xff"
	rec.ModelName = "model\x00name"
	rec.Tokens = []store.TokenCount{{Type: "weird\x00type", Count: 1}}
	if n, err := s.InsertUsage(ctx, []store.UsageRecord{rec}); err != nil || n != 1 {
		t.Fatalf("InsertUsage = %d, %v; want 1, nil", n, err)
	}
	got, err := s.GetUsage(ctx, rec.RequestID)
	if err != nil {
		t.Fatalf("GetUsage with the original request id: %v", err)
	}
	for name, v := range map[string]json.RawMessage{
		"request payload":  got.RequestPayload,
		"response payload": got.ResponsePayload,
		"request headers":  got.RequestHeaders,
		"response headers": got.ResponseHeaders,
		"classification":   got.Classification,
	} {
		if !json.Valid(v) || !utf8.Valid(v) {
			t.Errorf("%s = %q is not valid JSON in UTF-8", name, v)
		}
	}
	var req map[string]any
	if err := json.Unmarshal(got.RequestPayload, &req); err != nil || req["text"] != "ab" {
		t.Errorf("request payload = %s, want the NUL removed", got.RequestPayload)
	}
	var hdr string
	if err := json.Unmarshal(got.RequestHeaders, &hdr); err != nil {
		t.Errorf("request headers = %s, want a JSON string", got.RequestHeaders)
	}
	if got.ErrorMessage != "upstream said  and \uFFFD" || got.ModelName != "modelname" {
		t.Errorf("text = %q, %q; want cleaned", got.ErrorMessage, got.ModelName)
	}
	if len(got.Tokens) != 1 || got.Tokens[0].Type != "weirdtype" {
		t.Errorf("tokens = %v", got.Tokens)
	}
}

func TestInsertUsageRefusesInvalidRecords(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	at := time.Now()
	for name, mutate := range map[string]func(*store.UsageRecord){
		"unknown outcome":   func(r *store.UsageRecord) { r.Outcome = "exploded" },
		"missing outcome":   func(r *store.UsageRecord) { r.Outcome = "" },
		"unknown log level": func(r *store.UsageRecord) { r.LogLevel = "VERBOSE" },
		"empty request id":  func(r *store.UsageRecord) { r.RequestID = "" },
		"zero received at":  func(r *store.UsageRecord) { r.ReceivedAt = time.Time{} },
		"negative tokens":   func(r *store.UsageRecord) { r.Tokens = []store.TokenCount{{Type: "x", Count: -1}} },
		"untyped tokens":    func(r *store.UsageRecord) { r.Tokens = []store.TokenCount{{Count: 1}} },
		"huge status code":  func(r *store.UsageRecord) { r.StatusCode = 1 << 40 },
	} {
		t.Run(name, func(t *testing.T) {
			bad := usageRecord("bad", at)
			mutate(&bad)
			_, err := s.InsertUsage(ctx, []store.UsageRecord{usageRecord("good", at), bad})
			wantIs(t, "InsertUsage", err, store.ErrInvalid)
		})
	}
	if n := must(s.CountUsage(ctx, store.UsageFilter{}))(t); n != 0 {
		t.Errorf("CountUsage = %d after refused batches, want 0", n)
	}
	if n, err := s.InsertUsage(ctx, nil); n != 0 || err != nil {
		t.Errorf("InsertUsage(nil) = %d, %v", n, err)
	}
}

func TestUsageRoundTripAndList(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	f := newFixture(t, s)
	zone := time.FixedZone("X", 3600)
	base := time.Date(2025, 6, 1, 10, 0, 0, 123456789, zone)
	rec := benchRecord(f, "full", base)
	rec.LogLevel = store.LogFull
	rec.QueueWait = 1234567 * time.Nanosecond
	rec.ColdStart = true
	rec.ErrorMessage = "none"
	rec.RequestPayload = json.RawMessage(`{"messages":[{"role":"user","content":"hi"}]}`)
	must(s.InsertUsage(ctx, []store.UsageRecord{rec}))(t)
	got := must(s.GetUsage(ctx, "full"))(t)
	if got.ID <= 0 {
		t.Errorf("ID = %d", got.ID)
	}
	want := rec
	want.ID = got.ID
	want.QueueWait = 1234 * time.Microsecond
	for _, p := range []*time.Time{&want.ReceivedAt, &want.ForwardedAt, &want.FirstTokenAt, &want.CompletedAt} {
		*p = p.Truncate(time.Microsecond).UTC()
	}
	slices.SortFunc(want.Tokens, func(a, b store.TokenCount) int { return strings.Compare(a.Type, b.Type) })
	opts := cmp.Comparer(func(a, b json.RawMessage) bool {
		if len(a) == 0 || len(b) == 0 {
			return len(a) == len(b)
		}
		var va, vb any
		return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && cmp.Equal(va, vb)
	})
	if d := cmp.Diff(want, got, opts); d != "" {
		t.Errorf("GetUsage (-want +got):\n%s", d)
	}
	if got.ReceivedAt.Location() != time.UTC {
		t.Errorf("ReceivedAt in %v, want UTC", got.ReceivedAt.Location())
	}
	if _, err := s.GetUsage(ctx, "missing"); err == nil {
		t.Error("GetUsage(missing) succeeded")
	} else {
		wantIs(t, "GetUsage(missing)", err, store.ErrNotFound)
	}

	// 150 more records of two processes, one per minute.
	other := must(s.CreateProcess(ctx, store.Process{Name: "other", KeyHash: hash("other"), UserID: f.user.ID}))(t)
	var recs []store.UsageRecord
	for i := range 150 {
		r := usageRecord(fmt.Sprintf("r%03d", i), base.Add(time.Duration(i+1)*time.Minute))
		r.ProcessID = f.process.ID
		if i%3 == 0 {
			r.ProcessID = other.ID
		}
		recs = append(recs, r)
	}
	// Two records at the same time order by id.
	recs = append(recs, usageRecord("same-a", base.Add(time.Hour*24)), usageRecord("same-b", base.Add(time.Hour*24)))
	must(s.InsertUsage(ctx, recs))(t)

	list := must(s.ListUsage(ctx, store.UsageFilter{}))(t)
	if len(list) != 100 {
		t.Fatalf("ListUsage with Limit 0 returned %d records, want 100", len(list))
	}
	if list[0].RequestID != "same-b" || list[1].RequestID != "same-a" || list[2].RequestID != "r149" {
		t.Errorf("ListUsage starts with %s, %s, %s; want same-b, same-a, r149", list[0].RequestID, list[1].RequestID, list[2].RequestID)
	}
	for i := 1; i < len(list); i++ {
		if list[i].ReceivedAt.After(list[i-1].ReceivedAt) {
			t.Fatalf("ListUsage not newest first at %d", i)
		}
	}
	from, to := base.Add(10*time.Minute), base.Add(40*time.Minute) // r009..r038
	filter := store.UsageFilter{ProcessID: other.ID, From: from, To: to, Limit: 5}
	list = must(s.ListUsage(ctx, filter))(t)
	if len(list) != 5 || list[0].RequestID != "r036" || list[4].RequestID != "r024" {
		t.Errorf("filtered ListUsage = %v", requestIDs(list))
	}
	if n := must(s.CountUsage(ctx, filter))(t); n != 10 {
		t.Errorf("CountUsage(filter) = %d, want 10 (r009, r012, ... r036)", n)
	}
	if n := must(s.CountUsage(ctx, store.UsageFilter{Limit: 1}))(t); n != 153 {
		t.Errorf("CountUsage() = %d, want 153", n)
	}
	full := must(s.ListUsage(ctx, store.UsageFilter{From: base, To: base.Add(time.Second)}))(t)
	if len(full) != 1 || len(full[0].Tokens) != 3 || full[0].Tokens[0].Type != "completion_tokens" {
		t.Errorf("ListUsage of the first record = %+v", full)
	}
}

func requestIDs(recs []store.UsageRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.RequestID
	}
	return out
}
