package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/logos-llm/logos/store"
)

var usageTests = []test{
	{"RoundTrip", testUsageRoundTrip},
	{"ZeroIDs", testUsageZeroIDs},
	{"Idempotent", testUsageIdempotent},
	{"DuplicateInBatch", testUsageDuplicateInBatch},
	{"LargeBatch", testUsageLargeBatch},
	{"EveryField", testUsageEveryField},
	{"EmptyBatch", testUsageEmptyBatch},
	{"Tokens", testUsageTokens},
	{"DanglingIDs", testUsageDanglingIDs},
	{"DeletedReferences", testUsageDeletedReferences},
	{"List", testUsageList},
	{"DefaultLimit", testUsageDefaultLimit},
	{"Payloads", testUsagePayloads},
	{"LargePayload", testUsageLargePayload},
	{"UnicodeNames", testUsageUnicodeNames},
	{"HostileText", testUsageHostileText},
	{"ConcurrentWriters", testUsageConcurrentWriters},
	{"NotFound", testUsageNotFound},
	{"SharedClientRequestID", testUsageSharedClientRequestID},
}

// newUsage returns a minimal valid usage record: a successful, unforwarded
// BILLING request without ids, tokens or payloads.
func newUsage(requestID string, received time.Time) store.UsageRecord {
	return store.UsageRecord{
		RequestID:  requestID,
		Operation:  "chat/completions",
		ReceivedAt: received,
		StatusCode: 200,
		Outcome:    store.OutcomeSuccess,
		Priority:   5,
		LogLevel:   store.LogBilling,
	}
}

// fullUsage returns a record with every field set, referring to f.
func fullUsage(f fixture, requestID string) store.UsageRecord {
	return store.UsageRecord{
		RequestID:          requestID,
		ClientRequestID:    "client-trace-42:retry.1_A",
		ProcessID:          f.Process.ID,
		ProfileID:          f.Profile.ID,
		ModelID:            f.Model.ID,
		ProviderID:         f.Provider.ID,
		DeploymentID:       f.Deployment.ID,
		PolicyID:           f.Policy.ID,
		ModelName:          f.Model.Name,
		ProviderName:       f.Provider.Name,
		Operation:          "chat/completions",
		Stream:             true,
		ReceivedAt:         oddTime,
		ForwardedAt:        oddTime.Add(1234567 * time.Nanosecond),
		FirstTokenAt:       oddTime.Add(250*time.Millisecond + 1),
		CompletedAt:        oddTime.Add(3*time.Second + 999),
		StatusCode:         206,
		Outcome:            store.OutcomeCancelled,
		ErrorMessage:       `client went away after "3" chunks`,
		ClientIP:           "2001:db8::1",
		Priority:           7,
		QueueWait:          1234567891 * time.Nanosecond,
		ColdStart:          true,
		LogLevel:           store.LogFull,
		Classification:     json.RawMessage(`{"privacy":"LOCAL","scores":{"latency":0.5,"cost":1},"policy":"fx-policy"}`),
		ClassifiedBy:       "similarity",
		ClassificationTime: 1234567 * time.Nanosecond,
		RequestPayload:     json.RawMessage(`{"model":"fx-model","stream":true,"messages":[{"role":"user","content":"Hallo, Welt! 😀"}]}`),
		ResponsePayload:    json.RawMessage(`[{"choices":[{"delta":{"content":"Hi"}}]},{"choices":[]}]`),
		RequestHeaders:     json.RawMessage(`{"Content-Type":["application/json"],"Authorization":["[redacted]"]}`),
		ResponseHeaders:    json.RawMessage(`{"X-Request-Id":["abc"]}`),
		Tokens: []store.TokenCount{
			{Type: "prompt_tokens", Count: 12, CostMicros: 30},
			{Type: "completion_tokens", Count: 3, CostMicros: 45},
			{Type: "prompt_cached_tokens", Count: 0},
			{Type: "audio_tokens", Count: 1 << 33, CostMicros: 1 << 40},
		},
		CostMicros: 75 + 1<<40,
		Currency:   "EUR",
		Attempts:   3,
	}
}

// wantUsage returns what a store must read back for r: times truncated to
// microseconds, JSON sanitised, tokens without zero counts, sorted by type.
func wantUsage(r store.UsageRecord) store.UsageRecord {
	w := r
	w.ReceivedAt = utcMicros(r.ReceivedAt)
	w.ForwardedAt = utcMicros(r.ForwardedAt)
	w.FirstTokenAt = utcMicros(r.FirstTokenAt)
	w.CompletedAt = utcMicros(r.CompletedAt)
	w.QueueWait = r.QueueWait.Truncate(time.Microsecond)
	w.ClassificationTime = r.ClassificationTime.Truncate(time.Microsecond)
	w.Classification = store.SanitizeJSON(r.Classification)
	w.RequestPayload = store.SanitizeJSON(r.RequestPayload)
	w.ResponsePayload = store.SanitizeJSON(r.ResponsePayload)
	w.RequestHeaders = store.SanitizeJSON(r.RequestHeaders)
	w.ResponseHeaders = store.SanitizeJSON(r.ResponseHeaders)
	w.Tokens = nil
	for _, tc := range r.Tokens {
		if tc.Count != 0 {
			w.Tokens = append(w.Tokens, tc)
		}
	}
	slices.SortFunc(w.Tokens, func(a, b store.TokenCount) int { return strings.Compare(a.Type, b.Type) })
	return w
}

// usageIgnoreID ignores the store-assigned id of a usage record.
var usageIgnoreID = cmpopts.IgnoreFields(store.UsageRecord{}, "ID")

// checkUsage fails t unless got is what a store must read back for the
// written record r.
func checkUsage(t testing.TB, what string, r, got store.UsageRecord) {
	t.Helper()
	if got.ID <= 0 {
		t.Errorf("%s: ID = %d, want a positive store-assigned id", what, got.ID)
	}
	diff(t, what, wantUsage(r), got, usageIgnoreID)
	for name, tm := range map[string]time.Time{
		"ReceivedAt": got.ReceivedAt, "ForwardedAt": got.ForwardedAt,
		"FirstTokenAt": got.FirstTokenAt, "CompletedAt": got.CompletedAt,
	} {
		if !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("%s: %s = %v is in location %q, want UTC", what, name, tm, tm.Location())
		}
	}
	if !slices.IsSortedFunc(got.Tokens, func(a, b store.TokenCount) int { return strings.Compare(a.Type, b.Type) }) {
		t.Errorf("%s: tokens not sorted by type: %+v", what, got.Tokens)
	}
}

// insert inserts records and fails t unless the store reports want new ones.
func insert(t testing.TB, s store.UsageInserter, want int, records ...store.UsageRecord) {
	t.Helper()
	n, err := s.InsertUsage(t.Context(), records)
	if err != nil {
		t.Fatalf("InsertUsage of %d records: %v", len(records), err)
	}
	if n != want {
		t.Errorf("InsertUsage of %d records returned %d new, want %d", len(records), n, want)
	}
}

// requestIDs returns the request ids of records, in order.
func requestIDs(records []store.UsageRecord) []string {
	ids := make([]string, len(records))
	for i, r := range records {
		ids[i] = r.RequestID
	}
	return ids
}

// countUsage returns CountUsage(f), failing t on error.
func countUsage(t testing.TB, s store.Store, f store.UsageFilter) int64 {
	t.Helper()
	return must(s.CountUsage(t.Context(), f))(t)
}

func testUsageRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	r := fullUsage(f, "req-full")
	minimal := newUsage("req-minimal", oddTime.Add(-time.Hour))
	insert(t, s, 2, r, minimal)

	got := must(s.GetUsage(ctx, r.RequestID))(t)
	checkUsage(t, "GetUsage of a full record", r, got)
	checkUsage(t, "GetUsage of a minimal record", minimal, must(s.GetUsage(ctx, minimal.RequestID))(t))
	if got.QueueWait != 1234567*time.Microsecond {
		t.Errorf("QueueWait = %v, want %v", got.QueueWait, 1234567*time.Microsecond)
	}

	list := must(s.ListUsage(ctx, store.UsageFilter{}))(t)
	if len(list) != 2 {
		t.Fatalf("ListUsage = %v, want 2 records", requestIDs(list))
	}
	checkUsage(t, "ListUsage of a full record", r, list[0])
	checkUsage(t, "ListUsage of a minimal record", minimal, list[1])
	diff(t, "ListUsage vs GetUsage", got, list[0])
	if n := countUsage(t, s, store.UsageFilter{}); n != 2 {
		t.Errorf("CountUsage = %d, want 2", n)
	}
}

func testUsageZeroIDs(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newUsage("req-no-ids", oddTime)
	r.ModelName = "ghost-model"
	r.ProviderName = "ghost-provider"
	r.Outcome = store.OutcomeRejected
	r.StatusCode = 404
	r.ErrorMessage = "model not found"
	insert(t, s, 1, r)
	got := must(s.GetUsage(ctx, r.RequestID))(t)
	checkUsage(t, "GetUsage of a record without ids", r, got)
}

func testUsageIdempotent(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	var first []store.UsageRecord
	for i := range 3 {
		r := fullUsage(f, fmt.Sprintf("req-%d", i))
		r.ReceivedAt = oddTime.Add(time.Duration(i) * time.Second)
		first = append(first, r)
	}
	insert(t, s, 3, first...)
	var stored []store.UsageRecord
	for _, r := range first {
		stored = append(stored, must(s.GetUsage(ctx, r.RequestID))(t))
	}

	// The same records again: nothing new, nothing changed.
	insert(t, s, 0, first...)
	// Other content under the same request ids: still nothing changes.
	var changed []store.UsageRecord
	for _, r := range first {
		c := r
		c.StatusCode = 500
		c.Outcome = store.OutcomeError
		c.ModelName = "other"
		c.Tokens = []store.TokenCount{{Type: "prompt_tokens", Count: 999, CostMicros: 1}, {Type: "new_tokens", Count: 1}}
		c.CostMicros = 1
		changed = append(changed, c)
	}
	insert(t, s, 0, changed...)
	for i, r := range first {
		diff(t, "GetUsage after re-inserting "+r.RequestID, stored[i], must(s.GetUsage(ctx, r.RequestID))(t))
	}
	// A mixed batch counts only the new records.
	fresh := []store.UsageRecord{newUsage("req-new-1", oddTime), newUsage("req-new-2", oddTime)}
	insert(t, s, 2, changed[0], fresh[0], first[2], fresh[1])
	if n := countUsage(t, s, store.UsageFilter{}); n != 5 {
		t.Errorf("CountUsage = %d, want 5", n)
	}
	for i, r := range first {
		diff(t, "GetUsage after a mixed batch of "+r.RequestID, stored[i], must(s.GetUsage(ctx, r.RequestID))(t))
	}
	list := must(s.ListUsage(ctx, store.UsageFilter{ProcessID: f.Process.ID}))(t)
	for _, got := range list {
		for _, tc := range got.Tokens {
			if tc.Type == "new_tokens" || tc.Count == 999 {
				t.Errorf("record %s has tokens of a skipped duplicate: %+v", got.RequestID, got.Tokens)
			}
		}
	}
	if len(list) != 3 {
		t.Errorf("ListUsage of the process = %v, want 3 records", requestIDs(list))
	}
}

func testUsageDuplicateInBatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	a := fullUsage(f, "req-a")
	b := newUsage("req-b", oddTime.Add(time.Second))
	insert(t, s, 2, a, b, a, a)
	checkUsage(t, "GetUsage of a record sent three times in one batch", a, must(s.GetUsage(ctx, a.RequestID))(t))
	if n := countUsage(t, s, store.UsageFilter{}); n != 2 {
		t.Errorf("CountUsage = %d, want 2", n)
	}

	// Duplicates with different content: one of them is kept, whole.
	c1 := fullUsage(f, "req-c")
	c2 := c1
	c2.StatusCode, c2.Outcome = 502, store.OutcomeError
	c2.Tokens = []store.TokenCount{{Type: "prompt_tokens", Count: 1}}
	insert(t, s, 1, c1, c2)
	got := must(s.GetUsage(ctx, c1.RequestID))(t)
	if !cmpEqual(wantUsage(c1), got, usageIgnoreID) && !cmpEqual(wantUsage(c2), got, usageIgnoreID) {
		t.Errorf("GetUsage of a request id sent twice with different content = %+v, want one of the two records", got)
	}
	if n := countUsage(t, s, store.UsageFilter{}); n != 3 {
		t.Errorf("CountUsage = %d, want 3", n)
	}
}

// testUsageLargeBatch inserts a batch of a size stores may split (into
// statements or chunks), with repeats of stored records and of records in the
// same batch on either side of any split, and checks every record and token
// count.
func testUsageLargeBatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	const n = 203
	mk := func(i int) store.UsageRecord {
		r := fullUsage(f, fmt.Sprintf("req-large-%03d", i))
		r.ReceivedAt = oddTime.Add(time.Duration(i) * time.Second)
		r.Tokens = []store.TokenCount{
			{Type: "prompt_tokens", Count: int64(i + 1), CostMicros: int64(i)},
			{Type: "completion_tokens", Count: int64(2*i + 1)},
		}
		if i%3 == 0 {
			r.Tokens = append(r.Tokens, store.TokenCount{Type: fmt.Sprintf("large_%d_tokens", i%9), Count: 3})
		}
		if i%5 == 0 {
			r.Tokens = nil
		}
		return r
	}
	// Some records are stored before the batch.
	var before []store.UsageRecord
	for i := 0; i < n; i += 7 {
		before = append(before, mk(i))
	}
	insert(t, s, len(before), before...)

	var batch []store.UsageRecord
	for i := range n {
		batch = append(batch, mk(i))
		if i%11 == 0 {
			batch = append(batch, mk(i/2)) // an earlier record, again
		}
	}
	insert(t, s, n-len(before), batch...)
	if got := countUsage(t, s, store.UsageFilter{}); got != n {
		t.Errorf("CountUsage = %d, want %d", got, n)
	}
	for i := range n {
		r := mk(i)
		checkUsage(t, "GetUsage of "+r.RequestID, r, must(s.GetUsage(ctx, r.RequestID))(t))
	}
}

func testUsageEmptyBatch(t *testing.T, s store.Store) {
	insert(t, s, 0)
	insert(t, s, 0, []store.UsageRecord{}...)
	if n := countUsage(t, s, store.UsageFilter{}); n != 0 {
		t.Errorf("CountUsage = %d, want 0", n)
	}
}

func testUsageTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	existing := must(s.EnsureTokenType(ctx, "prompt_tokens"))(t)

	r := newUsage("req-tokens", oddTime)
	r.Tokens = []store.TokenCount{
		{Type: "zeta_tokens", Count: 1, CostMicros: 2},
		{Type: "prompt_tokens", Count: 100, CostMicros: 250},
		{Type: "unused_tokens", Count: 0, CostMicros: 0},
		{Type: "Alpha_tokens", Count: 5},
		{Type: "zz_ütf_tokens", Count: 7, CostMicros: 3},
	}
	insert(t, s, 1, r)
	got := must(s.GetUsage(ctx, r.RequestID))(t)
	checkUsage(t, "GetUsage", r, got)
	want := []store.TokenCount{
		{Type: "Alpha_tokens", Count: 5},
		{Type: "prompt_tokens", Count: 100, CostMicros: 250},
		{Type: "zeta_tokens", Count: 1, CostMicros: 2},
		{Type: "zz_ütf_tokens", Count: 7, CostMicros: 3},
	}
	diff(t, "tokens (zero counts dropped, sorted by type)", want, got.Tokens)

	// Token types are created as needed, once, and reused.
	types := must(s.ListTokenTypes(ctx))(t)
	byName := map[string][]store.TokenType{}
	for _, tt := range types {
		byName[tt.Name] = append(byName[tt.Name], tt)
	}
	for _, name := range []string{"zeta_tokens", "prompt_tokens", "Alpha_tokens", "zz_ütf_tokens"} {
		if len(byName[name]) != 1 {
			t.Errorf("ListTokenTypes has %d types named %q, want 1: %+v", len(byName[name]), name, types)
		}
	}
	if tts := byName["prompt_tokens"]; len(tts) == 1 && tts[0].ID != existing.ID {
		t.Errorf("InsertUsage created a second prompt_tokens type %d besides %d", tts[0].ID, existing.ID)
	}
	for _, name := range []string{"zeta_tokens", "zz_ütf_tokens"} {
		if tts := byName[name]; len(tts) == 1 {
			diff(t, "EnsureTokenType of a type InsertUsage created", tts[0], must(s.EnsureTokenType(ctx, name))(t))
		}
	}

	// A second record reuses the created types.
	r2 := newUsage("req-tokens-2", oddTime.Add(time.Second))
	r2.Tokens = []store.TokenCount{{Type: "zeta_tokens", Count: 2}, {Type: "zz_ütf_tokens", Count: 3}}
	insert(t, s, 1, r2)
	checkUsage(t, "GetUsage of the second record", r2, must(s.GetUsage(ctx, r2.RequestID))(t))
	if n := len(must(s.ListTokenTypes(ctx))(t)); n != len(types) {
		t.Errorf("ListTokenTypes has %d types after reusing types, want %d", n, len(types))
	}
	// The first record is unchanged.
	diff(t, "GetUsage of the first record", got, must(s.GetUsage(ctx, r.RequestID))(t))

	// Records without tokens have none.
	r3 := newUsage("req-no-tokens", oddTime.Add(2*time.Second))
	r3.Tokens = []store.TokenCount{{Type: "prompt_tokens"}}
	insert(t, s, 1, r3)
	if got := must(s.GetUsage(ctx, r3.RequestID))(t); len(got.Tokens) != 0 {
		t.Errorf("tokens of a record with only zero counts = %+v, want none", got.Tokens)
	}
}

func testUsageDanglingIDs(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	const ghost = 999999
	dangling := fullUsage(f, "req-dangling")
	dangling.ProcessID, dangling.ProfileID, dangling.ModelID = ghost, ghost, ghost
	dangling.ProviderID, dangling.DeploymentID, dangling.PolicyID = ghost, ghost, ghost
	dangling.ModelName = "gone-model"
	mixed := fullUsage(f, "req-mixed")
	mixed.ReceivedAt = oddTime.Add(time.Second)
	mixed.ModelID, mixed.DeploymentID = ghost, ghost+1
	valid := fullUsage(f, "req-valid")
	valid.ReceivedAt = oddTime.Add(2 * time.Second)

	// One batch: the dangling ids must not make the valid records fail either.
	insert(t, s, 3, dangling, mixed, valid)

	want := dangling
	want.ProcessID, want.ProfileID, want.ModelID, want.ProviderID, want.DeploymentID, want.PolicyID = 0, 0, 0, 0, 0, 0
	checkUsage(t, "record with only dangling ids", want, must(s.GetUsage(ctx, dangling.RequestID))(t))
	want = mixed
	want.ModelID, want.DeploymentID = 0, 0
	checkUsage(t, "record with some dangling ids", want, must(s.GetUsage(ctx, mixed.RequestID))(t))
	checkUsage(t, "record with valid ids", valid, must(s.GetUsage(ctx, valid.RequestID))(t))

	if got := must(s.ListUsage(ctx, store.UsageFilter{ProcessID: ghost}))(t); len(got) != 0 {
		t.Errorf("ListUsage of the dangling process id = %v, want none", requestIDs(got))
	}
	if n := countUsage(t, s, store.UsageFilter{ProcessID: f.Process.ID}); n != 2 {
		t.Errorf("CountUsage of the fixture process = %d, want 2", n)
	}

	// A process deleted between the request and the (batched) insert.
	gone := must(s.CreateProcess(ctx, newProcess("short-lived", f.User.ID, 0)))(t)
	goneProfile := must(s.CreateProfile(ctx, store.Profile{Name: "p", ProcessID: gone.ID}))(t)
	late := fullUsage(f, "req-late")
	late.ReceivedAt = oddTime.Add(3 * time.Second)
	late.ProcessID, late.ProfileID = gone.ID, goneProfile.ID
	noErr(t, s.DeleteProcess(ctx, gone.ID))
	insert(t, s, 1, late)
	want = late
	want.ProcessID, want.ProfileID = 0, 0
	checkUsage(t, "record of a process deleted before the insert", want, must(s.GetUsage(ctx, late.RequestID))(t))
}

func testUsageDeletedReferences(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	r := fullUsage(f, "req-before-delete")
	other := fullUsage(f, "req-other-process")
	other.ReceivedAt = oddTime.Add(time.Second)
	other.ProcessID, other.ProfileID, other.PolicyID = f.Process2.ID, 0, 0
	insert(t, s, 2, r, other)

	// Deleting catalogue rows must not fail because usage refers to them, and
	// the usage record keeps its names but loses the ids.
	noErr(t, s.DeleteProcess(ctx, f.Process.ID)) // also deletes its profile and policy
	noErr(t, s.DeleteModel(ctx, f.Model.ID))     // also deletes its deployment
	noErr(t, s.DeleteProvider(ctx, f.Provider.ID))
	want := r
	want.ProcessID, want.ProfileID, want.PolicyID, want.ModelID, want.DeploymentID, want.ProviderID = 0, 0, 0, 0, 0, 0
	checkUsage(t, "record after its references were deleted", want, must(s.GetUsage(ctx, r.RequestID))(t))
	want = other
	want.ModelID, want.DeploymentID, want.ProviderID = 0, 0, 0
	checkUsage(t, "record of another process", want, must(s.GetUsage(ctx, other.RequestID))(t))
	if n := countUsage(t, s, store.UsageFilter{ProcessID: f.Process.ID}); n != 0 {
		t.Errorf("CountUsage of the deleted process = %d, want 0", n)
	}
	if n := countUsage(t, s, store.UsageFilter{}); n != 2 {
		t.Errorf("CountUsage = %d, want 2 (deletes must not remove usage)", n)
	}
}

func testUsageList(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	base := utcMicros(oddTime)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	byID := map[string]store.UsageRecord{}
	var records []store.UsageRecord
	for i := range 10 {
		r := newUsage(fmt.Sprintf("req-%02d", i), at(i))
		r.ProcessID = f.Process.ID
		if i%2 == 1 {
			r.ProcessID = f.Process2.ID
		}
		r.Tokens = []store.TokenCount{{Type: "prompt_tokens", Count: int64(i + 1)}, {Type: "completion_tokens", Count: int64(2 * i)}}
		records = append(records, r)
		byID[r.RequestID] = r
	}
	// Insert out of time order, in two batches.
	shuffled := slices.Clone(records)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	insert(t, s, 4, shuffled[:4]...)
	insert(t, s, 6, shuffled[4:]...)

	ids := func(is ...int) []string {
		out := []string{}
		for _, i := range is {
			out = append(out, fmt.Sprintf("req-%02d", i))
		}
		return out
	}
	p1, p2 := f.Process.ID, f.Process2.ID
	cases := []struct {
		name   string
		filter store.UsageFilter
		want   []string // newest first
		count  int64
	}{
		{"all", store.UsageFilter{}, ids(9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 10},
		{"process", store.UsageFilter{ProcessID: p1}, ids(8, 6, 4, 2, 0), 5},
		{"other process", store.UsageFilter{ProcessID: p2}, ids(9, 7, 5, 3, 1), 5},
		{"unknown process", store.UsageFilter{ProcessID: 999999}, ids(), 0},
		{"from to", store.UsageFilter{From: at(2), To: at(5)}, ids(4, 3, 2), 3},
		{"from", store.UsageFilter{From: at(7)}, ids(9, 8, 7), 3},
		{"from between records", store.UsageFilter{From: at(7).Add(-time.Microsecond)}, ids(9, 8, 7), 3},
		{"from just after a record", store.UsageFilter{From: at(7).Add(time.Microsecond)}, ids(9, 8), 2},
		{"to", store.UsageFilter{To: at(1)}, ids(0), 1},
		{"to just after a record", store.UsageFilter{To: at(1).Add(time.Microsecond)}, ids(1, 0), 2},
		{"empty window", store.UsageFilter{From: at(3), To: at(3)}, ids(), 0},
		{"window before all", store.UsageFilter{To: at(0)}, ids(), 0},
		{"process and window", store.UsageFilter{ProcessID: p2, From: at(2), To: at(8)}, ids(7, 5, 3), 3},
		{"limit", store.UsageFilter{Limit: 3}, ids(9, 8, 7), 10},
		{"limit and process", store.UsageFilter{ProcessID: p1, Limit: 2}, ids(8, 6), 5},
		{"limit and window", store.UsageFilter{From: at(1), To: at(9), Limit: 4}, ids(8, 7, 6, 5), 8},
		{"limit above count", store.UsageFilter{Limit: 50}, ids(9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 10},
	}
	for _, tc := range cases {
		got := must(s.ListUsage(ctx, tc.filter))(t)
		diff(t, fmt.Sprintf("ListUsage %s (%+v) request ids", tc.name, tc.filter), tc.want, requestIDs(got))
		for _, g := range got {
			if r, ok := byID[g.RequestID]; ok {
				checkUsage(t, "ListUsage "+tc.name+" record "+g.RequestID, r, g)
			}
		}
		if n := countUsage(t, s, tc.filter); n != tc.count {
			t.Errorf("CountUsage %s (%+v) = %d, want %d", tc.name, tc.filter, n, tc.count)
		}
	}
}

func testUsageDefaultLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 105
	var records []store.UsageRecord
	for i := range n {
		records = append(records, newUsage(fmt.Sprintf("req-%03d", i), oddTime.Add(time.Duration(i)*time.Second)))
	}
	insert(t, s, n, records...)
	got := must(s.ListUsage(ctx, store.UsageFilter{}))(t)
	if len(got) != 100 {
		t.Fatalf("ListUsage with Limit 0 returned %d records, want 100", len(got))
	}
	if got[0].RequestID != "req-104" || got[99].RequestID != "req-005" {
		t.Errorf("ListUsage with Limit 0 returned %s..%s, want the newest, req-104..req-005", got[0].RequestID, got[99].RequestID)
	}
	if all := must(s.ListUsage(ctx, store.UsageFilter{Limit: 1000}))(t); len(all) != n {
		t.Errorf("ListUsage with Limit 1000 returned %d records, want %d", len(all), n)
	}
	if c := countUsage(t, s, store.UsageFilter{}); c != n {
		t.Errorf("CountUsage = %d, want %d", c, n)
	}
}

// hostilePayloads are payloads a client or provider may send that must never
// make an insert fail.
var hostilePayloads = []struct {
	name    string
	payload string
}{
	{"raw NUL in string", "{\"content\":\"a\x00b\",\"n\":1}"},
	{"raw NUL outside string", "{\"a\":1}\x00"},
	{"NUL escape", `{"content":"a\u0000b","k\u0000":"\u0000"}`},
	{"NUL escape in array", `["\u0000",1,"x\u0000\u0000y"]`},
	{"escaped backslash before u0000", `{"path":"C:\\u0000"}`},
	{"invalid UTF-8", "{\"content\":\"caf\xe9 \xff\xfe\"}"},
	{"truncated UTF-8", "{\"content\":\"\xe6\xa8\"}"},
	{"lone surrogate escape", `{"content":"\ud800 and \udfff"}`},
	{"surrogate pair escape", `{"content":"\ud83d\ude00"}`},
	{"HTML error page", "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body>\r\n</html>\r\n"},
	{"plain text", "upstream connect error or disconnect/reset before headers"},
	{"truncated JSON", `{"choices":[{"delta":{"content":"Hel`},
	{"SSE stream", "data: {\"a\":1}\n\ndata: [DONE]\n\n"},
	{"not JSON with NUL and invalid UTF-8", "bin\x00ary\xff\xfe\x00"},
	{"JSON string", `"just a string"`},
	{"JSON number", `42`},
	{"JSON null", `null`},
	{"deep nesting", strings.Repeat("[", 200) + strings.Repeat("]", 200)},
	{"unicode", `{"content":"模型 ü 😀 \u00e9 \u2028"}`},
}

func testUsagePayloads(t *testing.T, s store.Store) {
	ctx := t.Context()
	var records []store.UsageRecord
	for i, p := range hostilePayloads {
		r := newUsage(fmt.Sprintf("req-payload-%02d", i), oddTime.Add(time.Duration(i)*time.Second))
		r.LogLevel = store.LogFull
		r.RequestPayload = json.RawMessage(p.payload)
		r.ResponsePayload = json.RawMessage(p.payload)
		r.RequestHeaders = json.RawMessage(p.payload)
		r.ResponseHeaders = json.RawMessage(p.payload)
		r.Classification = json.RawMessage(p.payload)
		records = append(records, r)
	}
	// Every payload alone, so that one failure cannot hide another.
	for i, r := range records {
		n, err := s.InsertUsage(ctx, []store.UsageRecord{r})
		if err != nil || n != 1 {
			t.Errorf("InsertUsage with a %s payload = %d, %v; want 1, nil", hostilePayloads[i].name, n, err)
		}
	}
	// And all together in one batch under new request ids.
	batch := slices.Clone(records)
	for i := range batch {
		batch[i].RequestID += "-batch"
	}
	insert(t, s, len(batch), batch...)

	for i, p := range hostilePayloads {
		t.Run(p.name, func(t *testing.T) {
			for _, r := range []store.UsageRecord{records[i], batch[i]} {
				got, err := s.GetUsage(ctx, r.RequestID)
				if err != nil {
					t.Errorf("GetUsage(%s): %v", r.RequestID, err)
					continue
				}
				want := store.SanitizeJSON([]byte(p.payload))
				for name, v := range map[string]json.RawMessage{
					"RequestPayload": got.RequestPayload, "ResponsePayload": got.ResponsePayload,
					"RequestHeaders": got.RequestHeaders, "ResponseHeaders": got.ResponseHeaders,
					"Classification": got.Classification,
				} {
					checkStoredJSON(t, name, want, v)
				}
				checkUsage(t, "GetUsage", r, got)
			}
		})
	}
}

// checkStoredJSON fails t unless got is valid UTF-8 JSON without NUL
// characters, semantically equal to want.
func checkStoredJSON(t testing.TB, what string, want, got json.RawMessage) {
	t.Helper()
	switch {
	case len(got) == 0 && string(want) == "null":
		// JSON null may be stored as SQL NULL.
	case len(got) == 0:
		t.Errorf("%s is empty, want %s", what, abbrev(want))
	case !utf8.Valid(got):
		t.Errorf("%s = %q is not valid UTF-8", what, abbrev(got))
	case !json.Valid(got):
		t.Errorf("%s = %q is not valid JSON", what, abbrev(got))
	case bytes.IndexByte(got, 0) >= 0:
		t.Errorf("%s = %q contains a NUL byte", what, abbrev(got))
	case !jsonEqual(want, got):
		t.Errorf("%s = %s, want JSON equal to %s", what, abbrev(got), abbrev(want))
	}
}

// abbrev shortens b for error messages.
func abbrev(b []byte) string {
	const max = 300
	if len(b) <= max {
		return string(b)
	}
	return fmt.Sprintf("%s…(%d bytes)", b[:max], len(b))
}

func testUsageLargePayload(t *testing.T, s store.Store) {
	ctx := t.Context()
	const size = 5 << 20
	var sb strings.Builder
	chunk := "Lorem ipsum dolor sit amet, ünïcödé 模型 😀 \\\"quoted\\\" \\n "
	for sb.Len() < size {
		sb.WriteString(chunk)
	}
	content := sb.String()
	payload := json.RawMessage(`{"model":"big","messages":[{"role":"user","content":"` + content + `"}]}`)
	if !json.Valid(payload) || len(payload) < size {
		t.Fatalf("test bug: payload of %d bytes is not valid JSON of at least %d bytes", len(payload), size)
	}
	r := newUsage("req-large", oddTime)
	r.LogLevel = store.LogFull
	r.RequestPayload = payload
	r.ResponsePayload = json.RawMessage(`{"choices":[{"message":{"content":"ok"}}]}`)
	insert(t, s, 1, r)

	got := must(s.GetUsage(ctx, r.RequestID))(t)
	checkStoredJSON(t, "5 MiB RequestPayload", payload, got.RequestPayload)
	checkStoredJSON(t, "ResponsePayload", r.ResponsePayload, got.ResponsePayload)
	list := must(s.ListUsage(ctx, store.UsageFilter{}))(t)
	if len(list) != 1 {
		t.Fatalf("ListUsage = %v, want one record", requestIDs(list))
	}
	checkStoredJSON(t, "5 MiB RequestPayload from ListUsage", payload, list[0].RequestPayload)
}

func testUsageUnicodeNames(t *testing.T, s store.Store) {
	ctx := t.Context()
	m := must(s.CreateModel(ctx, newModel("模型/ü:7b")))(t)
	r := newUsage("req-ünïcödé-模型-😀", oddTime)
	r.ModelID = m.ID
	r.ModelName = "模型/ü:7b"
	r.ProviderName = "Prövider 😀"
	r.Operation = "chat/completions"
	r.ErrorMessage = "Fehler: „Zeitüberschreitung“ – 再试一次"
	r.ClientIP = "fe80::1%eth0"
	r.Currency = "EUR"
	r.Tokens = []store.TokenCount{{Type: "tökens", Count: 1}}
	insert(t, s, 1, r)
	checkUsage(t, "GetUsage of a unicode record", r, must(s.GetUsage(ctx, r.RequestID))(t))
	list := must(s.ListUsage(ctx, store.UsageFilter{}))(t)
	if len(list) != 1 {
		t.Fatalf("ListUsage = %v, want one record", requestIDs(list))
	}
	checkUsage(t, "ListUsage of a unicode record", r, list[0])
}

// testUsageHostileText sends text fields with NUL bytes and invalid UTF-8,
// as a client or provider may: billing records must never fail to insert
// because of what was sent. Stores may keep such text as is or clean it like
// store.SanitizeJSON does (NULs removed, invalid UTF-8 replaced).
func testUsageHostileText(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newUsage("req-hostile-text", oddTime)
	r.ModelName = "llama\x003\xff"
	r.ProviderName = "prov\xc3"
	r.Operation = "chat/completions\x00"
	r.ErrorMessage = "upstream said: \x00\x00\xfe\xffcaf\xe9 ok"
	r.ClientIP = "10.0.0.1\x00"
	r.ClientRequestID = "trace\x00\xff"
	r.Tokens = []store.TokenCount{{Type: "prompt_tokens", Count: 1}}
	insert(t, s, 1, r)
	got, err := s.GetUsage(ctx, r.RequestID)
	if err != nil {
		t.Fatalf("GetUsage of a record with hostile text: %v", err)
	}
	clean := func(s string) string { return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD") }
	for _, f := range []struct{ name, sent, got string }{
		{"ModelName", r.ModelName, got.ModelName},
		{"ProviderName", r.ProviderName, got.ProviderName},
		{"Operation", r.Operation, got.Operation},
		{"ErrorMessage", r.ErrorMessage, got.ErrorMessage},
		{"ClientIP", r.ClientIP, got.ClientIP},
		{"ClientRequestID", r.ClientRequestID, got.ClientRequestID},
	} {
		if clean(f.got) != clean(f.sent) {
			t.Errorf("%s = %q, want %q or its cleaned form %q", f.name, f.got, f.sent, clean(f.sent))
		}
	}
	diff(t, "tokens of a record with hostile text", []store.TokenCount{{Type: "prompt_tokens", Count: 1}}, got.Tokens)
}

func testUsageConcurrentWriters(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	const (
		writers   = 8
		batches   = 50
		batchSize = 20
		shared    = 4 // the first records of every batch are sent by every writer
	)
	base := utcMicros(oddTime)
	record := func(w, b, i int) store.UsageRecord {
		id := fmt.Sprintf("w%d-b%02d-r%02d", w, b, i)
		if i < shared {
			id = fmt.Sprintf("shared-b%02d-r%02d", b, i)
		}
		r := newUsage(id, base.Add(time.Duration(b*batchSize+i)*time.Millisecond))
		r.ProcessID = f.Process.ID
		r.ModelID = f.Model.ID
		r.Tokens = []store.TokenCount{
			{Type: "prompt_tokens", Count: int64(10 + i), CostMicros: 1},
			{Type: "completion_tokens", Count: int64(b + 1), CostMicros: 2},
			// A type every writer needs at once, created under contention.
			{Type: fmt.Sprintf("batch_%02d_tokens", b), Count: 1},
		}
		return r
	}

	var (
		wg       sync.WaitGroup
		inserted atomic.Int64
		errs     = make(chan error, writers*batches)
	)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				recs := make([]store.UsageRecord, batchSize)
				for i := range recs {
					recs[i] = record(w, b, i)
				}
				n, err := s.InsertUsage(ctx, recs)
				if err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, b, err)
					continue
				}
				inserted.Add(int64(n))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent InsertUsage: %v", err)
	}
	const distinct = batches*shared + writers*batches*(batchSize-shared)
	if n := inserted.Load(); n != distinct {
		t.Errorf("concurrent InsertUsage reported %d new records in total, want %d", n, distinct)
	}
	if n := countUsage(t, s, store.UsageFilter{}); n != distinct {
		t.Errorf("CountUsage = %d, want %d distinct request ids", n, distinct)
	}
	if n := countUsage(t, s, store.UsageFilter{ProcessID: f.Process.ID}); n != distinct {
		t.Errorf("CountUsage of the process = %d, want %d", n, distinct)
	}
	// Shared records were stored once, with their tokens once.
	for _, b := range []int{0, batches / 2, batches - 1} {
		r := record(0, b, 0)
		checkUsage(t, "shared record "+r.RequestID, r, must(s.GetUsage(ctx, r.RequestID))(t))
		r = record(writers-1, b, batchSize-1)
		checkUsage(t, "record "+r.RequestID, r, must(s.GetUsage(ctx, r.RequestID))(t))
	}
	types := must(s.ListTokenTypes(ctx))(t)
	if len(types) != 2+batches {
		t.Errorf("ListTokenTypes has %d types, want %d", len(types), 2+batches)
	}
}

func testUsageNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	insert(t, s, 1, newUsage("req-exists", oddTime))
	for _, id := range []string{"req-missing", "REQ-EXISTS", "req-exists ", "req-%", ""} {
		_, err := s.GetUsage(ctx, id)
		wantNotFound(t, fmt.Sprintf("GetUsage(%q)", id), err)
	}
}

// testUsageSharedClientRequestID: the client's request id is not unique.
// Records with different request ids but the same client request id (a
// client retrying, or sending a fixed id) are all stored, and each keeps it.
func testUsageSharedClientRequestID(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	a := fullUsage(f, "req-shared-a")
	a.ClientRequestID = "sdk-retry-7"
	b := newUsage("req-shared-b", oddTime.Add(time.Second))
	b.ClientRequestID = "sdk-retry-7"
	b.Tokens = []store.TokenCount{{Type: "prompt_tokens", Count: 5}}
	insert(t, s, 2, a, b)
	// In a later batch too.
	c := newUsage("req-shared-c", oddTime.Add(2*time.Second))
	c.ClientRequestID = "sdk-retry-7"
	none := newUsage("req-no-client-id", oddTime.Add(3*time.Second))
	insert(t, s, 2, c, none)

	for _, r := range []store.UsageRecord{a, b, c, none} {
		checkUsage(t, "GetUsage of "+r.RequestID, r, must(s.GetUsage(ctx, r.RequestID))(t))
	}
	list := must(s.ListUsage(ctx, store.UsageFilter{}))(t)
	if got, want := requestIDs(list), []string{"req-no-client-id", "req-shared-c", "req-shared-b", "req-shared-a"}; !slices.Equal(got, want) {
		t.Fatalf("ListUsage = %v, want %v", got, want)
	}
	for i, r := range []store.UsageRecord{none, c, b, a} {
		checkUsage(t, "ListUsage record "+r.RequestID, r, list[i])
	}
	if n := countUsage(t, s, store.UsageFilter{}); n != 4 {
		t.Errorf("CountUsage = %d, want 4", n)
	}
}
