package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

var timeTests = []test{
	{"RoundTrip", testTimesRoundTrip},
	{"Zero", testTimesZero},
	{"FilterZones", testTimesFilterZones},
}

// writtenTimes are times with sub-microsecond parts in several zones, among
// them a truncation right before a year boundary and a time with a monotonic
// clock reading.
func writtenTimes() []time.Time {
	return []time.Time{
		oddTime,
		time.Date(2025, time.December, 31, 23, 59, 59, 999_999_999, time.FixedZone("LINT", 14*3600)),
		time.Date(2026, time.June, 1, 0, 0, 0, 1, time.FixedZone("MART", -(9*3600+1800))),
		time.Date(2024, time.February, 29, 12, 0, 0, 500, time.UTC),
		time.Now(),
	}
}

func testTimesRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	tt := must(s.EnsureTokenType(ctx, "prompt_tokens"))(t)
	times := writtenTimes()
	for i, w := range times {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			// Process.RevokedAt, through every read path.
			noErr(t, s.RevokeProcessKey(ctx, f.Process.ID, w))
			checkTime(t, "GetProcess RevokedAt", w, must(s.GetProcess(ctx, f.Process.ID))(t).RevokedAt)
			checkTime(t, "GetProcessByName RevokedAt", w, must(s.GetProcessByName(ctx, f.Process.Name))(t).RevokedAt)
			checkTime(t, "ProcessByKeyHash RevokedAt", w, must(s.ProcessByKeyHash(ctx, f.Process.KeyHash))(t).RevokedAt)
			for _, p := range must(s.ListProcesses(ctx))(t) {
				if p.ID == f.Process.ID {
					checkTime(t, "ListProcesses RevokedAt", w, p.RevokedAt)
				}
			}

			// Price.ValidFrom.
			price := must(s.CreatePrice(ctx, store.Price{TokenTypeID: tt.ID, ModelID: f.Model.ID, ValidFrom: w, MicrosPerMillion: 1, Currency: "EUR"}))(t)
			checkTime(t, "CreatePrice ValidFrom", w, price.ValidFrom)
			for _, p := range must(s.ListPrices(ctx))(t) {
				if p.ID == price.ID {
					checkTime(t, "ListPrices ValidFrom", w, p.ValidFrom)
				}
			}

			// Usage timestamps, each written in a different zone.
			r := newUsage(fmt.Sprintf("times-%d", i), w)
			r.ProcessID = f.Process.ID
			r.ForwardedAt = w.Add(1500*time.Microsecond + 1).In(time.FixedZone("X", -3600))
			r.FirstTokenAt = w.Add(time.Second + 999).UTC()
			r.CompletedAt = w.Add(time.Minute + 1001).In(time.FixedZone("Y", 7*3600))
			if n := must(s.InsertUsage(ctx, []store.UsageRecord{r}))(t); n != 1 {
				t.Fatalf("InsertUsage returned %d, want 1", n)
			}
			checkUsageTimes := func(what string, got store.UsageRecord) {
				t.Helper()
				checkTime(t, what+" ReceivedAt", r.ReceivedAt, got.ReceivedAt)
				checkTime(t, what+" ForwardedAt", r.ForwardedAt, got.ForwardedAt)
				checkTime(t, what+" FirstTokenAt", r.FirstTokenAt, got.FirstTokenAt)
				checkTime(t, what+" CompletedAt", r.CompletedAt, got.CompletedAt)
			}
			checkUsageTimes("GetUsage", must(s.GetUsage(ctx, r.RequestID))(t))
			found := false
			for _, got := range must(s.ListUsage(ctx, store.UsageFilter{ProcessID: f.Process.ID, Limit: 1000}))(t) {
				if got.RequestID == r.RequestID {
					found = true
					checkUsageTimes("ListUsage", got)
				}
			}
			if !found {
				t.Errorf("ListUsage lacks %s", r.RequestID)
			}

			// ProviderSnapshot.TakenAt.
			snap := must(s.InsertProviderSnapshot(ctx, store.ProviderSnapshot{
				ProviderID: f.Provider.ID, TakenAt: w, LoadedModels: json.RawMessage(`[]`), PollSuccess: true,
			}))(t)
			checkTime(t, "InsertProviderSnapshot TakenAt", w, snap.TakenAt)
			from := utcMicros(w)
			snaps := must(s.ListProviderSnapshots(ctx, f.Provider.ID, from, from.Add(time.Microsecond)))(t)
			if len(snaps) != 1 {
				t.Fatalf("ListProviderSnapshots of the microsecond of %v = %+v, want exactly one", w, snaps)
			}
			checkTime(t, "ListProviderSnapshots TakenAt", w, snaps[0].TakenAt)
			noErr(t, s.DeletePrice(ctx, price.ID))
		})
	}

	// Store-assigned timestamps are UTC too (and checked by checkAssignedTime in
	// the other tests); they survive LoadCatalog unchanged.
	cat := must(s.LoadCatalog(ctx))(t)
	for _, p := range cat.Processes {
		checkAssignedTime(t, "catalogue Process.CreatedAt", p.CreatedAt)
		if p.ID == f.Process.ID {
			checkTime(t, "catalogue Process.RevokedAt", times[len(times)-1], p.RevokedAt)
		}
	}
	for _, p := range cat.Providers {
		checkAssignedTime(t, "catalogue Provider.CreatedAt", p.CreatedAt)
		checkAssignedTime(t, "catalogue Provider.UpdatedAt", p.UpdatedAt)
	}
	diff(t, "catalogue providers", []store.Provider{f.Provider}, cat.Providers)
	diff(t, "catalogue models", []store.Model{f.Model}, cat.Models)
	diff(t, "catalogue deployments", []store.Deployment{f.Deployment}, cat.Deployments)
	diff(t, "catalogue policies", []store.Policy{f.Policy}, cat.Policies)
	diff(t, "catalogue profiles", []store.Profile{f.Profile}, cat.Profiles)
}

func testTimesZero(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	if !f.Process.RevokedAt.IsZero() {
		t.Errorf("CreateProcess returned RevokedAt %v, want zero", f.Process.RevokedAt)
	}
	checkTime(t, "RevokedAt of an unrevoked key", time.Time{}, must(s.GetProcess(ctx, f.Process.ID))(t).RevokedAt)
	noErr(t, s.RevokeProcessKey(ctx, f.Process.ID, oddTime))
	noErr(t, s.SetProcessKey(ctx, f.Process.ID, keyHash("new"), "lg-new"))
	checkTime(t, "RevokedAt after SetProcessKey", time.Time{}, must(s.GetProcess(ctx, f.Process.ID))(t).RevokedAt)

	r := newUsage("zero-times", oddTime) // never forwarded
	r.Outcome = store.OutcomeRejected
	must(s.InsertUsage(ctx, []store.UsageRecord{r}))(t)
	got := must(s.GetUsage(ctx, r.RequestID))(t)
	checkTime(t, "ReceivedAt", r.ReceivedAt, got.ReceivedAt)
	checkTime(t, "ForwardedAt", time.Time{}, got.ForwardedAt)
	checkTime(t, "FirstTokenAt", time.Time{}, got.FirstTokenAt)
	checkTime(t, "CompletedAt", time.Time{}, got.CompletedAt)
	list := must(s.ListUsage(ctx, store.UsageFilter{}))(t)
	if len(list) != 1 {
		t.Fatalf("ListUsage = %d records, want 1", len(list))
	}
	checkTime(t, "ListUsage ForwardedAt", time.Time{}, list[0].ForwardedAt)
	checkTime(t, "ListUsage FirstTokenAt", time.Time{}, list[0].FirstTokenAt)
	checkTime(t, "ListUsage CompletedAt", time.Time{}, list[0].CompletedAt)
}

// testTimesFilterZones checks that filter bounds are instants, whatever their zone.
func testTimesFilterZones(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	base := utcMicros(oddTime)
	var recs []store.UsageRecord
	for i := range 3 {
		r := newUsage(fmt.Sprintf("zone-%d", i), base.Add(time.Duration(i)*time.Hour))
		r.ProcessID = f.Process.ID
		recs = append(recs, r)
	}
	must(s.InsertUsage(ctx, recs))(t)
	east := time.FixedZone("east", 13*3600)
	west := time.FixedZone("west", -11*3600)
	// [base+1h, base+2h) in two far-apart zones holds exactly zone-1.
	fl := store.UsageFilter{From: base.Add(time.Hour).In(east), To: base.Add(2 * time.Hour).In(west)}
	got := must(s.ListUsage(ctx, fl))(t)
	if len(got) != 1 || got[0].RequestID != "zone-1" {
		t.Errorf("ListUsage(%+v) = %v, want [zone-1]", fl, requestIDs(got))
	}
	if n := must(s.CountUsage(ctx, fl))(t); n != 1 {
		t.Errorf("CountUsage(%+v) = %d, want 1", fl, n)
	}

	for i := range 3 {
		must(s.InsertProviderSnapshot(ctx, store.ProviderSnapshot{
			ProviderID: f.Provider.ID, TakenAt: base.Add(time.Duration(i) * time.Hour), LoadedModels: json.RawMessage(`[]`), PollSuccess: true,
		}))(t)
	}
	snaps := must(s.ListProviderSnapshots(ctx, f.Provider.ID, base.Add(time.Hour).In(west), base.Add(2*time.Hour).In(east)))(t)
	if len(snaps) != 1 || !snaps[0].TakenAt.Equal(base.Add(time.Hour)) {
		t.Errorf("ListProviderSnapshots of [base+1h, base+2h) in two zones = %+v, want the one taken at %v", snaps, base.Add(time.Hour))
	}
}
