package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/logos-llm/logos/store"
)

// variedT0 starts the varied usage of SeedVariedUsage: three days from the
// end of March 2025, so that they span two months (two partitions where the
// store has them) and hold whole days.
var variedT0 = time.Date(2025, 3, 31, 19, 0, 0, 0, time.UTC)

// SeedVariedUsage stores 650 records with varied processes, profiles,
// models (with and without an id), providers, outcomes, error messages,
// cold starts, queue and run times, tokens and costs over 76 hours from
// 2025-03-31 19:00 UTC, in several batches; it deletes a model and a process
// that some of them refer to and then stores 50 more that refer to them. It
// returns a range with ragged (not whole-hour) edges that holds most of them.
func SeedVariedUsage(t *testing.T, s store.Store) (from, to time.Time) {
	t.Helper()
	ctx := t.Context()
	f := newFixture(t, s)
	user2 := must(s.CreateUser(ctx, store.User{Username: "varied-user2", Role: store.RoleUser}))(t)
	p3 := must(s.CreateProcess(ctx, newProcess("varied-p3", user2.ID, 0)))(t)
	pGone := must(s.CreateProcess(ctx, newProcess("varied-gone", user2.ID, 0)))(t)
	prof3 := must(s.CreateProfile(ctx, store.Profile{Name: "varied-prof3", ProcessID: p3.ID}))(t)
	cloud := newModel("varied-cloud")
	cloud.WeightPrivacy = store.PrivacyCloudInEUByUSProvider
	mCloud := must(s.CreateModel(ctx, cloud))(t)
	gone := newModel("varied-gone")
	gone.WeightPrivacy = store.PrivacyCloudInEUByUSProvider
	mGone := must(s.CreateModel(ctx, gone))(t)
	provB := must(s.CreateProvider(ctx, newProvider("varied-prov-b")))(t)

	processes := []struct{ id, profile int64 }{{f.Process.ID, f.Profile.ID}, {f.Process.ID, 0}, {f.Process2.ID, 0},
		{p3.ID, prof3.ID}, {pGone.ID, 0}}
	models := []store.Model{f.Model, mCloud, mGone, {Name: "unlisted-model"}, {Name: "other-unlisted"}}
	providers := []store.Provider{f.Provider, provB}
	outcomes := []store.Outcome{store.OutcomeSuccess, store.OutcomeSuccess, store.OutcomeSuccess, store.OutcomeError,
		store.OutcomeSuccess, store.OutcomeTimeout, store.OutcomeSuccess, store.OutcomeCancelled, store.OutcomeRejected}
	rec := func(i int) store.UsageRecord {
		at := variedT0.Add(time.Duration(i)*7*time.Minute + time.Duration(i*7919%60000)*time.Millisecond +
			time.Duration(i%1000)*time.Microsecond)
		r := newUsage(fmt.Sprintf("varied-%d", i), at)
		p := processes[i%len(processes)]
		m := models[(i/3)%len(models)]
		pv := providers[(i/7)%len(providers)]
		r.ProcessID, r.ProfileID = p.id, p.profile
		r.ModelID, r.ModelName = m.ID, m.Name
		r.ProviderID, r.ProviderName = pv.ID, pv.Name
		r.Outcome = outcomes[i%len(outcomes)]
		if r.Outcome != store.OutcomeSuccess || i%13 == 0 {
			r.ErrorMessage = "boom"
		}
		r.ColdStart = i%11 == 0
		r.QueueWait = time.Duration(i%5)*100*time.Millisecond + time.Duration(i)*time.Microsecond
		if i%4 != 0 {
			r.ForwardedAt = at.Add(time.Duration(i%7) * time.Millisecond)
			r.CompletedAt = r.ForwardedAt.Add(time.Duration(i%17) * 123457 * time.Microsecond)
		}
		r.Tokens = []store.TokenCount{
			{Type: "prompt_tokens", Count: int64(i%50 + 1), CostMicros: int64(i % 3)},
			{Type: "completion_tokens", Count: int64(i % 20), CostMicros: int64(i % 2)},
		}
		if i%5 == 0 {
			r.Tokens = append(r.Tokens, store.TokenCount{Type: "total_tokens", Count: int64(i%50 + 1 + i%20)})
		}
		if i%6 == 0 {
			r.Tokens = nil
		}
		if c := int64(i%9) * 10; c > 0 {
			r.CostMicros, r.Currency = c, "EUR"
		}
		return r
	}
	insertAll := func(lo, hi, batch int) {
		for i := lo; i < hi; i += batch {
			var recs []store.UsageRecord
			for j := i; j < min(i+batch, hi); j++ {
				recs = append(recs, rec(j))
			}
			if n := must(s.InsertUsage(ctx, recs))(t); n != len(recs) {
				t.Fatalf("InsertUsage stored %d records, want %d", n, len(recs))
			}
		}
	}
	insertAll(0, 600, 97)
	if err := s.DeleteModel(ctx, mGone.ID); err != nil {
		t.Fatalf("DeleteModel: %v", err)
	}
	if err := s.DeleteProcess(ctx, pGone.ID); err != nil {
		t.Fatalf("DeleteProcess: %v", err)
	}
	// Records that still name the deleted rows store them as absent.
	insertAll(600, 650, 50)
	return variedT0.Add(17*time.Minute + 13500*time.Millisecond), variedT0.Add(73*time.Hour + 41*time.Minute + 7*time.Second)
}

// variedQueries returns the UsageTotals queries the rollup tests compare:
// groupings, intervals and scopes over [from, to).
func variedQueries(from, to time.Time, processID, userID int64) []store.UsageQuery {
	groupings := [][]store.Dimension{nil, {store.DimModel}, {store.DimProcess}, {store.DimProfile, store.DimProvider},
		{store.DimUser}, {store.DimTokenType}, {store.DimModel, store.DimTokenType}, store.Dimensions}
	var qs []store.UsageQuery
	for _, g := range groupings {
		for _, iv := range []store.Interval{store.IntervalNone, store.IntervalHour, store.IntervalDay} {
			for _, scope := range [][2]int64{{0, 0}, {processID, 0}, {0, userID}} {
				qs = append(qs, store.UsageQuery{From: from, To: to, GroupBy: g, Interval: iv,
					ProcessID: scope[0], UserID: scope[1]})
			}
		}
	}
	return qs
}

// variedBucketSeconds are the RequestStats bucket widths the rollup tests
// compare: whole hours, a day, and widths the rollup cannot serve.
var variedBucketSeconds = []int64{3600, 7200, 86400, 900, 5400}

// CompareStats checks that got answers every statistics query over the
// usage of SeedVariedUsage exactly as want does: the ranges [from, to),
// whole hours, open ends, and a range without whole hours. Stores use it to
// compare their statistics served from rollups to those computed from the
// records alone; s is the store SeedVariedUsage filled.
func CompareStats(t *testing.T, s store.Store, got, want store.UsageStatsStore, from, to time.Time) {
	t.Helper()
	ctx := t.Context()
	scope := fixtureOf(t, s)
	processID, userID := scope.processID, scope.userID
	ranges := [][2]time.Time{{from, to}, {from.Truncate(time.Hour), to.Truncate(time.Hour)},
		{from.Truncate(24 * time.Hour), to.Truncate(24 * time.Hour)}, {{}, to}, {from, {}},
		{from, from.Add(50 * time.Minute)}}
	for _, r := range ranges {
		for _, q := range variedQueries(r[0], r[1], processID, userID) {
			w := must(want.UsageTotals(ctx, q))(t)
			g := must(got.UsageTotals(ctx, q))(t)
			if d := gocmp.Diff(w, g, cmpOpts); d != "" {
				t.Errorf("UsageTotals(%+v) (-want +got):\n%s", q, d)
			}
		}
		if r[0].IsZero() || r[1].IsZero() {
			continue
		}
		for _, bs := range variedBucketSeconds {
			for _, pid := range []int64{0, processID} {
				q := store.RequestStatsQuery{From: r[0], To: r[1], BucketSeconds: bs, ProcessID: pid}
				w := must(want.RequestStats(ctx, q))(t)
				g := must(got.RequestStats(ctx, q))(t)
				if d := gocmp.Diff(w, g, cmpOpts); d != "" {
					t.Errorf("RequestStats(%+v) (-want +got):\n%s", q, d)
				}
			}
		}
	}
}

// testStatsWholeEqualsSlices: the statistics of a range with ragged edges
// (which a store may serve from hourly rollups) equal the sum of the
// statistics of its 50-minute slices (none of which holds a whole hour, so
// every store computes them from the records).
func testStatsWholeEqualsSlices(t *testing.T, s store.Store) {
	ctx := t.Context()
	from, _ := SeedVariedUsage(t, s)
	// Ten hours (ragged) in 50-minute slices.
	to := from.Add(9*time.Hour + 23*time.Minute + 7*time.Second)
	ss := statsStore(t, s)
	f := fixtureOf(t, s)
	var cuts [][2]time.Time
	for lo := from; lo.Before(to); lo = lo.Add(50 * time.Minute) {
		cuts = append(cuts, [2]time.Time{lo, minTime(lo.Add(50*time.Minute), to)})
	}
	for _, q := range variedQueries(from, to, f.processID, f.userID) {
		want := must(ss.UsageTotals(ctx, q))(t)
		var parts []store.UsageBucket
		for _, sl := range cuts {
			p := q
			p.From, p.To = sl[0], sl[1]
			parts = append(parts, must(ss.UsageTotals(ctx, p))(t)...)
		}
		got := store.MergeUsageBuckets(parts)
		if d := gocmp.Diff(want, got, cmpOpts); d != "" {
			t.Errorf("UsageTotals(%+v) over the whole range (-) and summed over slices (+):\n%s", q, d)
		}
		if len(want) == 0 {
			t.Errorf("UsageTotals(%+v) found no usage", q)
		}
	}
	for _, bs := range variedBucketSeconds {
		for _, pid := range []int64{0, f.processID} {
			q := store.RequestStatsQuery{From: from, To: to, BucketSeconds: bs, ProcessID: pid}
			want := must(ss.RequestStats(ctx, q))(t)
			var parts []store.RequestStats
			for _, sl := range cuts {
				p := q
				p.From, p.To = sl[0], sl[1]
				parts = append(parts, must(ss.RequestStats(ctx, p))(t))
			}
			got := mergeRequestStats(parts)
			// Float sums added in another order may differ in the last bits.
			if d := gocmp.Diff(want, got, cmpOpts, cmpopts.EquateApprox(0, 1e-9)); d != "" {
				t.Errorf("RequestStats(%+v) over the whole range (-) and summed over slices (+):\n%s", q, d)
			}
		}
	}
}

// variedScope is the process and user the rollup tests scope queries to.
type variedScope struct{ processID, userID int64 }

// fixtureOf finds the scope of SeedVariedUsage's fixture in s: its first
// process and that process's user.
func fixtureOf(t *testing.T, s store.Store) variedScope {
	t.Helper()
	ps := must(s.ListProcesses(t.Context()))(t)
	for _, p := range ps {
		if p.UserID != 0 {
			return variedScope{processID: p.ID, userID: p.UserID}
		}
	}
	t.Fatal("no process with a user")
	return variedScope{}
}

// minTime returns the earlier of a and b.
func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// mergeRequestStats adds up the answers of RequestStats over disjoint ranges.
func mergeRequestStats(parts []store.RequestStats) store.RequestStats {
	type modelKey struct {
		id   int64
		name string
	}
	var out store.RequestStats
	models := map[modelKey]*store.ModelRequestStats{}
	points := map[time.Time]*store.RequestPoint{}
	for _, p := range parts {
		if p.LastReceivedAt.After(out.LastReceivedAt) {
			out.LastReceivedAt = p.LastReceivedAt
		}
		for _, m := range p.Models {
			k := modelKey{id: m.ModelID}
			if m.ModelID == 0 {
				k.name = m.ModelName
			}
			if have := models[k]; have != nil {
				have.RequestCounts.Add(m.RequestCounts)
				have.ProviderName = max(have.ProviderName, m.ProviderName)
				continue
			}
			c := m
			models[k] = &c
		}
		for _, pt := range p.Series {
			if have := points[pt.Start]; have != nil {
				have.RequestCounts.Add(pt.RequestCounts)
				continue
			}
			c := pt
			points[pt.Start] = &c
		}
	}
	for _, m := range models {
		out.Models = append(out.Models, *m)
	}
	store.SortModelRequestStats(out.Models)
	for _, pt := range points {
		out.Series = append(out.Series, *pt)
	}
	slices.SortFunc(out.Series, func(a, b store.RequestPoint) int { return cmp.Compare(a.Start.UnixNano(), b.Start.UnixNano()) })
	return out
}
