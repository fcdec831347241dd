package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

// snapshotStats returns s as a SnapshotStatsStore; every store must be one.
func snapshotStats(t *testing.T, s store.Store) store.SnapshotStatsStore {
	t.Helper()
	ss, ok := s.(store.SnapshotStatsStore)
	if !ok {
		t.Fatalf("%T does not implement store.SnapshotStatsStore", s)
	}
	return ss
}

// snapAt inserts a successful snapshot of provider at t.
func snapAt(t *testing.T, s store.Store, provider int64, at time.Time, vram int64, waiting int) store.ProviderSnapshot {
	t.Helper()
	in := store.ProviderSnapshot{ProviderID: provider, TakenAt: at, ModelsLoaded: 1, VRAMUsedBytes: vram,
		LoadedModels: json.RawMessage(`[{"name":"m"}]`), PollSuccess: true}
	if waiting >= 0 {
		in.QueueKnown, in.RunningRequests, in.WaitingRequests = true, 1, waiting
	}
	return must(s.InsertProviderSnapshot(t.Context(), in))(t)
}

func testSnapshotQueue(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	at := utcMicros(oddTime)
	known := must(s.InsertProviderSnapshot(ctx, store.ProviderSnapshot{ProviderID: f.Provider.ID, TakenAt: at,
		PollSuccess: true, QueueKnown: true, RunningRequests: 3, WaitingRequests: 0}))(t)
	if !known.QueueKnown || known.RunningRequests != 3 || known.WaitingRequests != 0 {
		t.Errorf("snapshot with a known queue of 3 running, 0 waiting came back as %+v", known)
	}
	unknown := must(s.InsertProviderSnapshot(ctx, store.ProviderSnapshot{ProviderID: f.Provider.ID, TakenAt: at.Add(time.Second),
		PollSuccess: true, RunningRequests: 5, WaitingRequests: 5}))(t)
	if unknown.QueueKnown || unknown.RunningRequests != 0 || unknown.WaitingRequests != 0 {
		t.Errorf("snapshot without a known queue came back as %+v; want unknown (NULL), not figures", unknown)
	}
	list := must(s.ListProviderSnapshots(ctx, f.Provider.ID, at, at.Add(time.Minute)))(t)
	diff(t, "ListProviderSnapshots with queues", []store.ProviderSnapshot{known, unknown}, list)
}

func testSnapshotRetention(t *testing.T, s store.Store) {
	ctx := t.Context()
	ss := snapshotStats(t, s)
	f := newFixture(t, s)
	other := must(s.CreateProvider(ctx, newProvider("other")))(t)
	base := utcMicros(oddTime)
	for i := range 25 {
		snapAt(t, s, f.Provider.ID, base.Add(time.Duration(i)*time.Minute), 1, -1)
		snapAt(t, s, other.ID, base.Add(time.Duration(i)*time.Minute), 1, -1)
	}
	cutoff := base.Add(20 * time.Minute) // 20 of each provider are older: 40
	var batches []int64
	for {
		n := must(ss.DeleteProviderSnapshotsBefore(ctx, cutoff, 15))(t)
		batches = append(batches, n)
		if n < 15 || len(batches) > 10 {
			break
		}
	}
	diff(t, "deleted per batch of 15", []int64{15, 15, 10}, batches)
	for _, p := range []int64{f.Provider.ID, other.ID} {
		left := must(s.ListProviderSnapshots(ctx, p, base.Add(-time.Hour), base.Add(time.Hour)))(t)
		if len(left) != 5 || !left[0].TakenAt.Equal(cutoff) {
			t.Errorf("provider %d keeps %d snapshots from %v, want 5 from the cutoff %v", p, len(left), left[0].TakenAt, cutoff)
		}
	}
	if n := must(ss.DeleteProviderSnapshotsBefore(ctx, cutoff, 15))(t); n != 0 {
		t.Errorf("a second pass deleted %d", n)
	}
	_, err := ss.DeleteProviderSnapshotsBefore(ctx, cutoff, 0)
	wantInvalid(t, "DeleteProviderSnapshotsBefore with limit 0", err)
}

func testSnapshotDownsampling(t *testing.T, s store.Store) {
	ctx := t.Context()
	ss := snapshotStats(t, s)
	f := newFixture(t, s)
	other := must(s.CreateProvider(ctx, newProvider("other")))(t)
	day := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	// Every 5 s for 3 minutes and 20 s: minute 0, 1 and 2 full, minute 3
	// partial; one failed poll at the end of minute 1 is never chosen.
	var all []store.ProviderSnapshot
	for i := range 40 {
		at := day.Add(time.Duration(i) * 5 * time.Second).Add(123 * time.Microsecond)
		all = append(all, snapAt(t, s, f.Provider.ID, at, int64(i)*1000, i))
		snapAt(t, s, other.ID, at, 1, -1)
	}
	failed := must(s.InsertProviderSnapshot(ctx, store.ProviderSnapshot{ProviderID: f.Provider.ID,
		TakenAt: day.Add(time.Minute + 59*time.Second), ErrorMessage: "timeout"}))(t)
	_ = failed
	got := must(ss.LatestProviderSnapshots(ctx, f.Provider.ID, day, day.Add(24*time.Hour), time.Minute))(t)
	// The latest of each minute: indexes 11, 23, 35, 39.
	diff(t, "LatestProviderSnapshots per minute", []store.ProviderSnapshot{all[11], all[23], all[35], all[39]}, got)

	got = must(ss.LatestProviderSnapshots(ctx, f.Provider.ID, day, day.Add(24*time.Hour), time.Hour))(t)
	diff(t, "LatestProviderSnapshots per hour", []store.ProviderSnapshot{all[39]}, got)

	got = must(ss.LatestProviderSnapshots(ctx, f.Provider.ID, day.Add(time.Minute), day.Add(2*time.Minute), time.Minute))(t)
	diff(t, "LatestProviderSnapshots of minute 1", []store.ProviderSnapshot{all[23]}, got)

	if got := must(ss.LatestProviderSnapshots(ctx, 999999, day, day.Add(time.Hour), time.Minute))(t); len(got) != 0 {
		t.Errorf("LatestProviderSnapshots of an unknown provider = %d, want none", len(got))
	}
	_, err := ss.LatestProviderSnapshots(ctx, f.Provider.ID, day, day.Add(time.Hour), 1500*time.Millisecond)
	wantInvalid(t, "LatestProviderSnapshots with a bucket of 1.5 s", err)

	if v := must(ss.MaxProviderVRAM(ctx, f.Provider.ID, day, day.Add(time.Hour)))(t); v != 39000 {
		t.Errorf("MaxProviderVRAM = %d, want 39000", v)
	}
	if v := must(ss.MaxProviderVRAM(ctx, f.Provider.ID, day.Add(time.Hour), day.Add(2*time.Hour)))(t); v != 0 {
		t.Errorf("MaxProviderVRAM of an empty range = %d, want 0", v)
	}
}

func testSnapshotBuckets(t *testing.T, s store.Store) {
	ctx := t.Context()
	ss := snapshotStats(t, s)
	f := newFixture(t, s)
	other := must(s.CreateProvider(ctx, newProvider("other")))(t)
	day := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	// Minute 0: provider 1 averages 150 bytes and 3 waiting, the other 1000
	// bytes with no queue. Minute 2: only the other. A failed poll counts
	// for nothing.
	snapAt(t, s, f.Provider.ID, day.Add(10*time.Second), 100, 2)
	snapAt(t, s, f.Provider.ID, day.Add(20*time.Second), 200, 4)
	snapAt(t, s, other.ID, day.Add(30*time.Second), 1000, -1)
	snapAt(t, s, other.ID, day.Add(2*time.Minute), 500, -1)
	must(s.InsertProviderSnapshot(ctx, store.ProviderSnapshot{ProviderID: f.Provider.ID, TakenAt: day.Add(2 * time.Minute),
		VRAMUsedBytes: 1 << 40, ErrorMessage: "boom"}))(t)
	got := must(ss.SnapshotBuckets(ctx, day, day.Add(time.Hour), 60))(t)
	diff(t, "SnapshotBuckets", []store.SnapshotBucket{
		{Start: day, VRAMUsedBytes: 1150, Waiting: 3, WaitingKnown: true},
		{Start: day.Add(2 * time.Minute), VRAMUsedBytes: 500},
	}, got)
	if got := must(ss.SnapshotBuckets(ctx, day.Add(time.Hour), day.Add(2*time.Hour), 60))(t); len(got) != 0 {
		t.Errorf("SnapshotBuckets of an empty range = %+v", got)
	}
	_, err := ss.SnapshotBuckets(ctx, day, day.Add(time.Hour), 0)
	wantInvalid(t, "SnapshotBuckets with a bucket of 0 s", err)
}
