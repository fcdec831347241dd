package storetest

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/logos-llm/logos/store"
)

// statsTests are the conformance tests of store.UsageStatsStore.
var statsTests = []test{
	{"Totals", testStatsTotals},
	{"Grouping", testStatsGrouping},
	{"TimeSeries", testStatsTimeSeries},
	{"Scoping", testStatsScoping},
	{"Ranges", testStatsRanges},
	{"Currencies", testStatsCurrencies},
	{"Invalid", testStatsInvalid},
	{"RequestStats", testRequestStats},
	{"ScanUsage", testScanUsage},
	{"CSV", testUsageCSV},
	{"WholeEqualsSlices", testStatsWholeEqualsSlices},
}

// RunStats runs the statistics conformance tests against the store returned
// by open, which must implement store.UsageStatsStore. Like Run, every test is
// a subtest with a fresh store.
func RunStats(t *testing.T, open func(t testing.TB) store.Store) {
	for _, tc := range statsTests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			tc.fn(t, s)
		})
	}
}

// statsT0 starts the range the statistics tests query: [statsT0, statsT0+3d).
var statsT0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// statsSeed is the catalogue and records of the statistics tests.
type statsSeed struct {
	fixture
	User2          store.User
	Process3       store.Process // owned by User2
	Profile3       store.Profile // of Process3
	Local, Cloud   store.Model   // LOCAL and cloud privacy
	ProvA, ProvB   store.Provider
	inRange, outOf []store.UsageRecord
}

// seedStats creates the statistics catalogue and stores r1..r5 in
// [statsT0, statsT0+3d) and r6, r7 just outside it:
//
//	r1 Mar 1 00:10 P1 local/A success prompt 100 (600) completion 20 (400) cost 1000 EUR, cold, queue 1s, run 2.5s
//	   also total 120 and prompt_cached 40 (a subset of prompt)
//	r2 Mar 1 01:10 P1 cloud/B error   prompt 50 (500)                    cost  500 EUR, queue 0.5s, run 0.5s, "boom"
//	r3 Mar 2 00:05 P2 local/A success prompt 10 completion 5              cost    0 (no currency)
//	r4 Mar 2 02:00 P3 cloud/B timeout no tokens                           cost    0 (no currency), queue 2s
//	r5 Mar 3 00:00 P1 local/B success prompt 1 (10) completion 1 (10)     cost   20 EUR, run 1.25s
//	   also total 2 and completion_reasoning 1 (a subset of completion)
//	r6 Feb 28 23:59:59 P1 local/A success prompt 7 cost 70 EUR
//	r7 Mar 4 00:00 P1 local/A success prompt 3 cost 30 EUR
//
// The request totals (store.TotalTokens) are r1 120, r2 50, r3 15, r4 0,
// r5 2, r6 7, r7 3: total_tokens and the subsets must not add to them.
func seedStats(t *testing.T, s store.Store) statsSeed {
	t.Helper()
	ctx := t.Context()
	sd := statsSeed{fixture: newFixture(t, s)}
	sd.User2 = must(s.CreateUser(ctx, store.User{Username: "stats-user2", Role: store.RoleUser}))(t)
	sd.Process3 = must(s.CreateProcess(ctx, newProcess("stats-p3", sd.User2.ID, 0)))(t)
	sd.Profile3 = must(s.CreateProfile(ctx, store.Profile{Name: "stats-prof3", ProcessID: sd.Process3.ID}))(t)
	sd.Local = sd.Model
	cloud := newModel("stats-cloud")
	cloud.WeightPrivacy = store.PrivacyCloudInEUByUSProvider
	sd.Cloud = must(s.CreateModel(ctx, cloud))(t)
	sd.ProvA = sd.Provider
	sd.ProvB = must(s.CreateProvider(ctx, newProvider("stats-prov-b")))(t)

	rec := func(id string, at time.Time, p store.Process, profile int64, m store.Model, pv store.Provider, o store.Outcome) store.UsageRecord {
		r := newUsage(id, at)
		r.ProcessID, r.ProfileID = p.ID, profile
		r.ModelID, r.ModelName = m.ID, m.Name
		r.ProviderID, r.ProviderName = pv.ID, pv.Name
		r.Outcome = o
		return r
	}
	tok := func(typ string, n, cost int64) store.TokenCount {
		return store.TokenCount{Type: typ, Count: n, CostMicros: cost}
	}
	r1 := rec("r1", statsT0.Add(10*time.Minute), sd.Process, sd.Profile.ID, sd.Local, sd.ProvA, store.OutcomeSuccess)
	r1.Tokens = []store.TokenCount{tok("prompt_tokens", 100, 600), tok("completion_tokens", 20, 400),
		tok("total_tokens", 120, 0), tok("prompt_cached_tokens", 40, 0)}
	r1.CostMicros, r1.Currency = 1000, "EUR"
	r1.ColdStart, r1.QueueWait = true, time.Second
	r1.ForwardedAt, r1.CompletedAt = r1.ReceivedAt.Add(time.Second), r1.ReceivedAt.Add(3500*time.Millisecond)

	r2 := rec("r2", statsT0.Add(70*time.Minute), sd.Process, sd.Profile.ID, sd.Cloud, sd.ProvB, store.OutcomeError)
	r2.Tokens = []store.TokenCount{tok("prompt_tokens", 50, 500), tok("completion_tokens", 0, 0)}
	r2.CostMicros, r2.Currency = 500, "EUR"
	r2.StatusCode, r2.ErrorMessage = 502, "boom"
	r2.QueueWait = 500 * time.Millisecond
	r2.ForwardedAt, r2.CompletedAt = r2.ReceivedAt.Add(500*time.Millisecond), r2.ReceivedAt.Add(time.Second)

	r3 := rec("r3", statsT0.Add(24*time.Hour+5*time.Minute), sd.Process2, 0, sd.Local, sd.ProvA, store.OutcomeSuccess)
	r3.Tokens = []store.TokenCount{tok("prompt_tokens", 10, 0), tok("completion_tokens", 5, 0)}

	r4 := rec("r4", statsT0.Add(26*time.Hour), sd.Process3, sd.Profile3.ID, sd.Cloud, sd.ProvB, store.OutcomeTimeout)
	r4.StatusCode, r4.QueueWait = 504, 2*time.Second

	r5 := rec("r5", statsT0.Add(48*time.Hour), sd.Process, sd.Profile.ID, sd.Local, sd.ProvB, store.OutcomeSuccess)
	r5.Tokens = []store.TokenCount{tok("prompt_tokens", 1, 10), tok("completion_tokens", 1, 10),
		tok("completion_reasoning_tokens", 1, 0), tok("total_tokens", 2, 0)}
	r5.CostMicros, r5.Currency = 20, "EUR"
	r5.ForwardedAt, r5.CompletedAt = r5.ReceivedAt, r5.ReceivedAt.Add(1250*time.Millisecond)

	r6 := rec("r6", statsT0.Add(-time.Second), sd.Process, sd.Profile.ID, sd.Local, sd.ProvA, store.OutcomeSuccess)
	r6.Tokens = []store.TokenCount{tok("prompt_tokens", 7, 70)}
	r6.CostMicros, r6.Currency = 70, "EUR"
	r7 := rec("r7", statsT0.Add(72*time.Hour), sd.Process, sd.Profile.ID, sd.Local, sd.ProvA, store.OutcomeSuccess)
	r7.Tokens = []store.TokenCount{tok("prompt_tokens", 3, 30)}
	r7.CostMicros, r7.Currency = 30, "EUR"

	sd.inRange = []store.UsageRecord{r1, r2, r3, r4, r5}
	sd.outOf = []store.UsageRecord{r6, r7}
	all := append(append([]store.UsageRecord{}, sd.outOf...), sd.inRange...)
	if n := must(s.InsertUsage(ctx, all))(t); n != len(all) {
		t.Fatalf("InsertUsage stored %d records, want %d", n, len(all))
	}
	return sd
}

// statsStore returns s as a store.UsageStatsStore, failing t if it is not one.
func statsStore(t *testing.T, s store.Store) store.UsageStatsStore {
	t.Helper()
	ss, ok := s.(store.UsageStatsStore)
	if !ok {
		t.Fatalf("%T does not implement store.UsageStatsStore", s)
	}
	return ss
}

// checkTotals runs q and compares the buckets with want.
func checkTotals(t *testing.T, s store.UsageStatsStore, what string, q store.UsageQuery, want []store.UsageBucket) {
	t.Helper()
	got, err := s.UsageTotals(t.Context(), q)
	if err != nil {
		t.Fatalf("%s: UsageTotals: %v", what, err)
	}
	if d := cmp.Diff(want, got, cmpOpts); d != "" {
		t.Errorf("%s: UsageTotals (-want +got):\n%s", what, d)
	}
}

// statsRange is the query range of the statistics tests.
func statsRange() store.UsageQuery {
	return store.UsageQuery{From: statsT0, To: statsT0.Add(72 * time.Hour)}
}

func testStatsTotals(t *testing.T, s store.Store) {
	sd := seedStats(t, s)
	ss := statsStore(t, s)
	// Tokens are the sum of the request totals, not of every token count
	// (which would be 187 + 120 + 40 + 2 + 1 = 350).
	var want int64
	for _, r := range sd.inRange {
		want += store.TotalTokens(r.Tokens)
	}
	if want != 187 {
		t.Fatalf("the fixture's request totals add up to %d, want 187", want)
	}
	checkTotals(t, ss, "all in range", statsRange(), []store.UsageBucket{
		{Requests: 5, Errors: 2, Tokens: 187, CostMicros: 1520, Currency: "EUR"},
	})
	// Per record: r1 carries prompt, completion, total and a subset.
	for _, r := range sd.inRange {
		q := store.UsageQuery{From: r.ReceivedAt, To: r.ReceivedAt.Add(time.Microsecond)}
		got, err := ss.UsageTotals(t.Context(), q)
		if err != nil {
			t.Fatalf("%s: UsageTotals: %v", r.RequestID, err)
		}
		if len(got) != 1 || got[0].Tokens != store.TotalTokens(r.Tokens) {
			t.Errorf("%s: UsageTotals = %+v, want one bucket of %d tokens", r.RequestID, got, store.TotalTokens(r.Tokens))
		}
	}
}

func testStatsGrouping(t *testing.T, s store.Store) {
	sd := seedStats(t, s)
	ss := statsStore(t, s)
	q := statsRange()

	q.GroupBy = []store.Dimension{store.DimProcess}
	checkTotals(t, ss, "by process", q, []store.UsageBucket{
		{Key: store.UsageKey{ProcessID: sd.Process.ID}, Requests: 3, Errors: 1, Tokens: 172, CostMicros: 1520, Currency: "EUR"},
		{Key: store.UsageKey{ProcessID: sd.Process2.ID}, Requests: 1, Tokens: 15},
		{Key: store.UsageKey{ProcessID: sd.Process3.ID}, Requests: 1, Errors: 1},
	})

	q.GroupBy = []store.Dimension{store.DimUser}
	checkTotals(t, ss, "by user", q, []store.UsageBucket{
		{Key: store.UsageKey{}, Requests: 1, Tokens: 15}, // the service's process
		{Key: store.UsageKey{UserID: sd.User.ID}, Requests: 3, Errors: 1, Tokens: 172, CostMicros: 1520, Currency: "EUR"},
		{Key: store.UsageKey{UserID: sd.User2.ID}, Requests: 1, Errors: 1},
	})

	q.GroupBy = []store.Dimension{store.DimProfile}
	checkTotals(t, ss, "by profile", q, []store.UsageBucket{
		{Key: store.UsageKey{}, Requests: 1, Tokens: 15},
		{Key: store.UsageKey{ProfileID: sd.Profile.ID}, Requests: 3, Errors: 1, Tokens: 172, CostMicros: 1520, Currency: "EUR"},
		{Key: store.UsageKey{ProfileID: sd.Profile3.ID}, Requests: 1, Errors: 1},
	})

	q.GroupBy = []store.Dimension{store.DimModel}
	checkTotals(t, ss, "by model", q, []store.UsageBucket{
		{Key: store.UsageKey{Model: "fx-model"}, Requests: 3, Tokens: 137, CostMicros: 1020, Currency: "EUR"},
		{Key: store.UsageKey{Model: "stats-cloud"}, Requests: 2, Errors: 2, Tokens: 50, CostMicros: 500, Currency: "EUR"},
	})

	q.GroupBy = []store.Dimension{store.DimProvider}
	checkTotals(t, ss, "by provider", q, []store.UsageBucket{
		{Key: store.UsageKey{Provider: "fx-provider"}, Requests: 2, Tokens: 135, CostMicros: 1000, Currency: "EUR"},
		{Key: store.UsageKey{Provider: "stats-prov-b"}, Requests: 3, Errors: 2, Tokens: 52, CostMicros: 520, Currency: "EUR"},
	})

	q.GroupBy = []store.Dimension{store.DimProvider, store.DimModel, store.DimModel}
	checkTotals(t, ss, "by model and provider", q, []store.UsageBucket{
		{Key: store.UsageKey{Model: "fx-model", Provider: "fx-provider"}, Requests: 2, Tokens: 135, CostMicros: 1000, Currency: "EUR"},
		{Key: store.UsageKey{Model: "fx-model", Provider: "stats-prov-b"}, Requests: 1, Tokens: 2, CostMicros: 20, Currency: "EUR"},
		{Key: store.UsageKey{Model: "stats-cloud", Provider: "stats-prov-b"}, Requests: 2, Errors: 2, Tokens: 50, CostMicros: 500, Currency: "EUR"},
	})

	q.GroupBy = []store.Dimension{store.DimTokenType}
	checkTotals(t, ss, "by token type", q, []store.UsageBucket{
		{Key: store.UsageKey{TokenType: "completion_reasoning_tokens"}, Requests: 1, Tokens: 1, Currency: "EUR"},
		{Key: store.UsageKey{TokenType: "completion_tokens"}, Requests: 3, Tokens: 26, CostMicros: 410, Currency: "EUR"},
		{Key: store.UsageKey{TokenType: "prompt_cached_tokens"}, Requests: 1, Tokens: 40, Currency: "EUR"},
		{Key: store.UsageKey{TokenType: "prompt_tokens"}, Requests: 4, Errors: 1, Tokens: 161, CostMicros: 1110, Currency: "EUR"},
		{Key: store.UsageKey{TokenType: "total_tokens"}, Requests: 2, Tokens: 122, Currency: "EUR"},
	})

	q.GroupBy = []store.Dimension{store.DimProcess, store.DimTokenType}
	checkTotals(t, ss, "by process and token type", q, []store.UsageBucket{
		{Key: store.UsageKey{ProcessID: sd.Process.ID, TokenType: "completion_reasoning_tokens"}, Requests: 1, Tokens: 1, Currency: "EUR"},
		{Key: store.UsageKey{ProcessID: sd.Process.ID, TokenType: "completion_tokens"}, Requests: 2, Tokens: 21, CostMicros: 410, Currency: "EUR"},
		{Key: store.UsageKey{ProcessID: sd.Process.ID, TokenType: "prompt_cached_tokens"}, Requests: 1, Tokens: 40, Currency: "EUR"},
		{Key: store.UsageKey{ProcessID: sd.Process.ID, TokenType: "prompt_tokens"}, Requests: 3, Errors: 1, Tokens: 151, CostMicros: 1110, Currency: "EUR"},
		{Key: store.UsageKey{ProcessID: sd.Process.ID, TokenType: "total_tokens"}, Requests: 2, Tokens: 122, Currency: "EUR"},
		{Key: store.UsageKey{ProcessID: sd.Process2.ID, TokenType: "completion_tokens"}, Requests: 1, Tokens: 5},
		{Key: store.UsageKey{ProcessID: sd.Process2.ID, TokenType: "prompt_tokens"}, Requests: 1, Tokens: 10},
	})
}

func testStatsTimeSeries(t *testing.T, s store.Store) {
	sd := seedStats(t, s)
	ss := statsStore(t, s)
	day := func(d int) time.Time { return statsT0.AddDate(0, 0, d) }

	q := statsRange()
	q.Interval = store.IntervalDay
	checkTotals(t, ss, "daily", q, []store.UsageBucket{
		{Start: day(0), Requests: 2, Errors: 1, Tokens: 170, CostMicros: 1500, Currency: "EUR"},
		{Start: day(1), Requests: 2, Errors: 1, Tokens: 15},
		{Start: day(2), Requests: 1, Tokens: 2, CostMicros: 20, Currency: "EUR"},
	})

	q.Interval = store.IntervalHour
	q.GroupBy = []store.Dimension{store.DimProcess}
	q.ProcessID = sd.Process.ID
	key := store.UsageKey{ProcessID: sd.Process.ID}
	checkTotals(t, ss, "hourly of one process", q, []store.UsageBucket{
		{Start: statsT0, Key: key, Requests: 1, Tokens: 120, CostMicros: 1000, Currency: "EUR"},
		{Start: statsT0.Add(time.Hour), Key: key, Requests: 1, Errors: 1, Tokens: 50, CostMicros: 500, Currency: "EUR"},
		{Start: day(2), Key: key, Requests: 1, Tokens: 2, CostMicros: 20, Currency: "EUR"},
	})

	q = statsRange()
	q.Interval = store.IntervalDay
	q.GroupBy = []store.Dimension{store.DimTokenType}
	checkTotals(t, ss, "daily by token type", q, []store.UsageBucket{
		{Start: day(0), Key: store.UsageKey{TokenType: "completion_tokens"}, Requests: 1, Tokens: 20, CostMicros: 400, Currency: "EUR"},
		{Start: day(0), Key: store.UsageKey{TokenType: "prompt_cached_tokens"}, Requests: 1, Tokens: 40, Currency: "EUR"},
		{Start: day(0), Key: store.UsageKey{TokenType: "prompt_tokens"}, Requests: 2, Errors: 1, Tokens: 150, CostMicros: 1100, Currency: "EUR"},
		{Start: day(0), Key: store.UsageKey{TokenType: "total_tokens"}, Requests: 1, Tokens: 120, Currency: "EUR"},
		{Start: day(1), Key: store.UsageKey{TokenType: "completion_tokens"}, Requests: 1, Tokens: 5},
		{Start: day(1), Key: store.UsageKey{TokenType: "prompt_tokens"}, Requests: 1, Tokens: 10},
		{Start: day(2), Key: store.UsageKey{TokenType: "completion_reasoning_tokens"}, Requests: 1, Tokens: 1, Currency: "EUR"},
		{Start: day(2), Key: store.UsageKey{TokenType: "completion_tokens"}, Requests: 1, Tokens: 1, CostMicros: 10, Currency: "EUR"},
		{Start: day(2), Key: store.UsageKey{TokenType: "prompt_tokens"}, Requests: 1, Tokens: 1, CostMicros: 10, Currency: "EUR"},
		{Start: day(2), Key: store.UsageKey{TokenType: "total_tokens"}, Requests: 1, Tokens: 2, Currency: "EUR"},
	})
}

func testStatsScoping(t *testing.T, s store.Store) {
	sd := seedStats(t, s)
	ss := statsStore(t, s)
	q := statsRange()
	q.ProcessID = sd.Process.ID
	p1 := []store.UsageBucket{{Requests: 3, Errors: 1, Tokens: 172, CostMicros: 1520, Currency: "EUR"}}
	checkTotals(t, ss, "process 1", q, p1)

	q = statsRange()
	q.UserID = sd.User.ID
	checkTotals(t, ss, "user 1", q, p1)
	q.UserID = sd.User2.ID
	checkTotals(t, ss, "user 2", q, []store.UsageBucket{{Requests: 1, Errors: 1}})

	q = statsRange()
	q.ProcessID, q.UserID = sd.Process3.ID, sd.User.ID // the user does not own that process
	checkTotals(t, ss, "process of another user", q, nil)
	q.ProcessID = 1 << 40
	q.UserID = 0
	checkTotals(t, ss, "unknown process", q, nil)
}

func testStatsRanges(t *testing.T, s store.Store) {
	seedStats(t, s)
	ss := statsStore(t, s)
	checkTotals(t, ss, "open range", store.UsageQuery{}, []store.UsageBucket{
		{Requests: 7, Errors: 2, Tokens: 197, CostMicros: 1620, Currency: "EUR"},
	})
	checkTotals(t, ss, "open start", store.UsageQuery{To: statsT0}, []store.UsageBucket{
		{Requests: 1, Tokens: 7, CostMicros: 70, Currency: "EUR"},
	})
	checkTotals(t, ss, "open end", store.UsageQuery{From: statsT0.Add(72 * time.Hour)}, []store.UsageBucket{
		{Requests: 1, Tokens: 3, CostMicros: 30, Currency: "EUR"},
	})
	// The bounds are exact to the microsecond: [r1, r2) holds r1 only.
	r1 := statsT0.Add(10 * time.Minute)
	checkTotals(t, ss, "one record", store.UsageQuery{From: r1, To: statsT0.Add(70 * time.Minute)}, []store.UsageBucket{
		{Requests: 1, Tokens: 120, CostMicros: 1000, Currency: "EUR"},
	})
	checkTotals(t, ss, "just after a record", store.UsageQuery{From: r1.Add(time.Microsecond), To: statsT0.Add(70 * time.Minute)}, nil)
	checkTotals(t, ss, "empty range", store.UsageQuery{From: r1, To: r1}, nil)
	checkTotals(t, ss, "a year later", store.UsageQuery{From: statsT0.AddDate(1, 0, 0), To: statsT0.AddDate(1, 1, 0), Interval: store.IntervalDay}, nil)
}

func testStatsCurrencies(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	ss := statsStore(t, s)
	var recs []store.UsageRecord
	for i, cur := range []string{"EUR", "USD", "", "EUR"} {
		r := newUsage(fmt.Sprintf("cur-%d", i), statsT0.Add(time.Duration(i)*time.Minute))
		r.ProcessID, r.ModelName = f.Process.ID, "m"
		r.CostMicros, r.Currency = int64(100*(i+1)), cur
		if cur == "" {
			r.CostMicros = 0
		}
		recs = append(recs, r)
	}
	must(s.InsertUsage(ctx, recs))(t)
	// With two currencies the unpriced record stays on its own.
	q := store.UsageQuery{GroupBy: []store.Dimension{store.DimModel}}
	checkTotals(t, ss, "two currencies", q, []store.UsageBucket{
		{Key: store.UsageKey{Model: "m"}, Requests: 1},
		{Key: store.UsageKey{Model: "m"}, Requests: 2, CostMicros: 500, Currency: "EUR"},
		{Key: store.UsageKey{Model: "m"}, Requests: 1, CostMicros: 200, Currency: "USD"},
	})
	q.From, q.To = statsT0.Add(2*time.Minute), statsT0.Add(time.Hour)
	checkTotals(t, ss, "one currency", q, []store.UsageBucket{
		{Key: store.UsageKey{Model: "m"}, Requests: 2, CostMicros: 400, Currency: "EUR"},
	})
}

func testStatsInvalid(t *testing.T, s store.Store) {
	ss := statsStore(t, s)
	ctx := t.Context()
	for what, q := range map[string]store.UsageQuery{
		"unknown dimension": {GroupBy: []store.Dimension{"planet"}},
		"unknown interval":  {Interval: "week"},
		"reversed range":    {From: statsT0, To: statsT0.Add(-time.Second)},
	} {
		if _, err := ss.UsageTotals(ctx, q); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: UsageTotals error %v, want ErrInvalid", what, err)
		}
	}
	for what, q := range map[string]store.RequestStatsQuery{
		"no bucket width": {From: statsT0, To: statsT0.Add(time.Hour)},
		"open range":      {BucketSeconds: 60},
		"reversed range":  {From: statsT0, To: statsT0.Add(-time.Hour), BucketSeconds: 60},
	} {
		if _, err := ss.RequestStats(ctx, q); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: RequestStats error %v, want ErrInvalid", what, err)
		}
	}
}

func testRequestStats(t *testing.T, s store.Store) {
	sd := seedStats(t, s)
	ss := statsStore(t, s)
	q := store.RequestStatsQuery{From: statsT0, To: statsT0.Add(72 * time.Hour), BucketSeconds: 86400}
	got, err := ss.RequestStats(t.Context(), q)
	if err != nil {
		t.Fatalf("RequestStats: %v", err)
	}
	want := store.RequestStats{
		LastReceivedAt: statsT0.Add(48 * time.Hour),
		Models: []store.ModelRequestStats{
			{ModelID: sd.Local.ID, ModelName: "fx-model", ProviderName: "stats-prov-b", RequestCounts: store.RequestCounts{
				Requests: 3, ColdStarts: 1, Success: 3, QueueSeconds: 1, RunSeconds: 3.75, Runs: 2, ColdRunSeconds: 2.5, ColdRuns: 1,
			}},
			{ModelID: sd.Cloud.ID, ModelName: "stats-cloud", ProviderName: "stats-prov-b", RequestCounts: store.RequestCounts{
				Requests: 2, CloudRequests: 2, Error: 1, Timeout: 1, Errors: 2, QueueSeconds: 2.5, RunSeconds: 0.5, Runs: 1,
			}},
		},
		Series: []store.RequestPoint{
			{Start: statsT0, RequestCounts: store.RequestCounts{Requests: 2, CloudRequests: 1, ColdStarts: 1, Errors: 1, RunSeconds: 3, Runs: 2}},
			{Start: statsT0.AddDate(0, 0, 1), RequestCounts: store.RequestCounts{Requests: 2, CloudRequests: 1, Errors: 1}},
			{Start: statsT0.AddDate(0, 0, 2), RequestCounts: store.RequestCounts{Requests: 1, RunSeconds: 1.25, Runs: 1}},
		},
	}
	if d := cmp.Diff(want, got, cmpOpts); d != "" {
		t.Errorf("RequestStats (-want +got):\n%s", d)
	}
	wantTotals := store.RequestCounts{Requests: 5, CloudRequests: 2, ColdStarts: 1, Success: 3, Error: 1, Timeout: 1, Errors: 2,
		QueueSeconds: 3.5, RunSeconds: 4.25, Runs: 3, ColdRunSeconds: 2.5, ColdRuns: 1}
	if d := cmp.Diff(wantTotals, got.Totals()); d != "" {
		t.Errorf("Totals (-want +got):\n%s", d)
	}

	q.ProcessID, q.BucketSeconds = sd.Process3.ID, 3600
	got, err = ss.RequestStats(t.Context(), q)
	if err != nil {
		t.Fatalf("RequestStats of process 3: %v", err)
	}
	want = store.RequestStats{
		LastReceivedAt: statsT0.Add(26 * time.Hour),
		Models: []store.ModelRequestStats{{ModelID: sd.Cloud.ID, ModelName: "stats-cloud", ProviderName: "stats-prov-b",
			RequestCounts: store.RequestCounts{Requests: 1, CloudRequests: 1, Timeout: 1, Errors: 1, QueueSeconds: 2}}},
		Series: []store.RequestPoint{{Start: statsT0.Add(26 * time.Hour), RequestCounts: store.RequestCounts{Requests: 1, CloudRequests: 1, Errors: 1}}},
	}
	if d := cmp.Diff(want, got, cmpOpts); d != "" {
		t.Errorf("RequestStats of process 3 (-want +got):\n%s", d)
	}

	q.ProcessID, q.From, q.To = 0, statsT0.AddDate(1, 0, 0), statsT0.AddDate(1, 0, 1)
	got, err = ss.RequestStats(t.Context(), q)
	if err != nil || len(got.Models) != 0 || len(got.Series) != 0 || !got.LastReceivedAt.IsZero() {
		t.Errorf("RequestStats of an empty range = %+v, %v; want nothing", got, err)
	}
}

func testScanUsage(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	ss := statsStore(t, s)
	// More records than a page, many sharing a time, inserted out of order.
	const n = 2345
	recs := make([]store.UsageRecord, n)
	for i := range recs {
		j := n - 1 - i
		r := newUsage(fmt.Sprintf("scan-%04d", j), statsT0.Add(time.Duration(j/3)*time.Second))
		if j%2 == 0 {
			r.ProcessID = f.Process.ID
		}
		r.Tokens = []store.TokenCount{{Type: "prompt_tokens", Count: int64(j + 1)}}
		r.RequestPayload = []byte(`{"big":"payload"}`)
		r.LogLevel = store.LogFull
		if j%5 == 0 {
			r.PolicyID = f.Policy.ID
			r.ClassifiedBy, r.ClassificationTime = "token", time.Duration(j)*time.Microsecond
		}
		recs[i] = r
	}
	for start := 0; start < n; start += 500 {
		must(s.InsertUsage(ctx, recs[start:min(start+500, n)]))(t)
	}
	var got []store.UsageRecord
	err := ss.ScanUsage(ctx, store.UsageFilter{Limit: 3}, func(r store.UsageRecord) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanUsage: %v", err)
	}
	if len(got) != n {
		t.Fatalf("ScanUsage visited %d records, want %d", len(got), n)
	}
	for i := 1; i < n; i++ {
		a, b := got[i-1], got[i]
		if b.ReceivedAt.Before(a.ReceivedAt) || (b.ReceivedAt.Equal(a.ReceivedAt) && b.ID <= a.ID) {
			t.Fatalf("ScanUsage out of order at %d: %s then %s", i, a.RequestID, b.RequestID)
		}
	}
	for _, r := range got {
		var j int
		fmt.Sscanf(r.RequestID, "scan-%d", &j)
		if len(r.Tokens) != 1 || r.Tokens[0].Count != int64(j+1) || r.RequestPayload != nil {
			t.Fatalf("record %s: tokens %+v, payload %q", r.RequestID, r.Tokens, r.RequestPayload)
		}
		if classified := j%5 == 0; classified != (r.ClassifiedBy == "token") ||
			(classified && (r.PolicyID != f.Policy.ID || r.ClassificationTime != time.Duration(j)*time.Microsecond)) {
			t.Fatalf("record %s: policy %d, classified by %q in %v", r.RequestID, r.PolicyID, r.ClassifiedBy, r.ClassificationTime)
		}
	}

	// A process and a range: ReceivedAt in [10s, 20s) holds j in [30, 60).
	count := 0
	err = ss.ScanUsage(ctx, store.UsageFilter{ProcessID: f.Process.ID, From: statsT0.Add(10 * time.Second), To: statsT0.Add(20 * time.Second)},
		func(r store.UsageRecord) error {
			count++
			if r.ProcessID != f.Process.ID {
				t.Errorf("record %s of process %d", r.RequestID, r.ProcessID)
			}
			return nil
		})
	if err != nil || count != 15 {
		t.Errorf("filtered ScanUsage visited %d records (%v), want 15", count, err)
	}

	// fn's error stops the scan and is returned as is.
	stop := errors.New("stop")
	count = 0
	err = ss.ScanUsage(ctx, store.UsageFilter{}, func(store.UsageRecord) error {
		if count++; count == 1500 {
			return stop
		}
		return nil
	})
	if err != stop || count != 1500 {
		t.Errorf("ScanUsage stopped after %d records with %v, want 1500 and the callback's error", count, err)
	}
}

func testUsageCSV(t *testing.T, s store.Store) {
	sd := seedStats(t, s)
	ss := statsStore(t, s)
	var buf bytes.Buffer
	f := store.UsageFilter{ProcessID: sd.Process.ID, From: statsT0, To: statsT0.Add(72 * time.Hour)}
	if err := store.WriteUsageCSV(t.Context(), &buf, ss, f, []string{"prompt_tokens", "completion_tokens"}); err != nil {
		t.Fatalf("WriteUsageCSV: %v", err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("reading the CSV: %v", err)
	}
	pid, prof := fmt.Sprint(sd.Process.ID), fmt.Sprint(sd.Profile.ID)
	want := [][]string{
		store.UsageCSVHeader([]string{"prompt_tokens", "completion_tokens"}),
		{"r1", "2025-03-01T00:10:00.000000Z", "2025-03-01T00:10:03.500000Z", pid, prof, "fx-model", "fx-provider", "chat/completions", "false", "200", "success", "true", "1000", "1000", "EUR", "", "", "0", "100", "20"},
		{"r2", "2025-03-01T01:10:00.000000Z", "2025-03-01T01:10:01.000000Z", pid, prof, "stats-cloud", "stats-prov-b", "chat/completions", "false", "502", "error", "false", "500", "500", "EUR", "", "", "0", "50", "0"},
		{"r5", "2025-03-03T00:00:00.000000Z", "2025-03-03T00:00:01.250000Z", pid, prof, "fx-model", "stats-prov-b", "chat/completions", "false", "200", "success", "false", "0", "20", "EUR", "", "", "0", "1", "1"},
	}
	if d := cmp.Diff(want, rows); d != "" {
		t.Errorf("CSV (-want +got):\n%s", d)
	}
}
