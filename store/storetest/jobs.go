package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/logos-llm/logos/store"
)

var jobTests = []test{
	{"Lifecycle", testJobLifecycle},
	{"ListByStatus", testJobsByStatus},
	{"Invalid", testJobInvalid},
	{"Payloads", testJobPayloads},
}

var eventTests = []test{
	{"ProviderSnapshots", testProviderSnapshots},
	{"SnapshotQueue", testSnapshotQueue},
	{"SnapshotRetention", testSnapshotRetention},
	{"SnapshotDownsampling", testSnapshotDownsampling},
	{"SnapshotBuckets", testSnapshotBuckets},
}

var lifecycleTests = []test{
	{"Ping", testPing},
	{"Close", testClose},
}

// jobIgnore ignores the store-assigned fields of a job.
var jobIgnore = cmpopts.IgnoreFields(store.Job{}, "ID", "CreatedAt", "UpdatedAt")

func testJobLifecycle(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	in := store.Job{
		Status:         store.JobPending,
		ProcessID:      f.Process.ID,
		ProfileID:      f.Profile.ID,
		RequestPayload: json.RawMessage(`{"model":"fx-model","messages":[{"role":"user","content":"Hi"}]}`),
	}
	job := must(s.CreateJob(ctx, in))(t)
	checkID(t, "CreateJob", job.ID)
	checkAssignedTime(t, "Job.CreatedAt", job.CreatedAt)
	checkAssignedTime(t, "Job.UpdatedAt", job.UpdatedAt)
	diff(t, "CreateJob", in, job, jobIgnore)
	diff(t, "GetJob", job, must(s.GetJob(ctx, job.ID))(t))

	// Running, then done.
	running := job
	running.Status = store.JobRunning
	got := must(s.UpdateJob(ctx, running))(t)
	diff(t, "UpdateJob to running", running, got, jobIgnore)
	diff(t, "GetJob after UpdateJob", got, must(s.GetJob(ctx, job.ID))(t))

	// UpdateJob replaces status, result, status code and error message only.
	done := store.Job{
		ID:            job.ID,
		Status:        store.JobSuccess,
		ProcessID:     f.Process2.ID,
		ResultPayload: json.RawMessage(`{"choices":[{"message":{"role":"assistant","content":"Hello"}}]}`),
		StatusCode:    200,
		ErrorMessage:  "",
		CreatedAt:     oddTime,
	}
	got = must(s.UpdateJob(ctx, done))(t)
	want := job
	want.Status, want.ResultPayload, want.StatusCode = done.Status, done.ResultPayload, done.StatusCode
	diff(t, "UpdateJob to success", want, got, cmpopts.IgnoreFields(store.Job{}, "UpdatedAt"))
	if got.UpdatedAt.Before(job.UpdatedAt) {
		t.Errorf("UpdatedAt went back from %v to %v", job.UpdatedAt, got.UpdatedAt)
	}
	diff(t, "GetJob after success", got, must(s.GetJob(ctx, job.ID))(t))

	failed := got
	failed.Status = store.JobFailed
	failed.ResultPayload = nil
	failed.StatusCode = 504
	failed.ErrorMessage = "upstream timeout after 300 s"
	got = must(s.UpdateJob(ctx, failed))(t)
	diff(t, "UpdateJob to failed", failed, got, cmpopts.IgnoreFields(store.Job{}, "UpdatedAt"))
	diff(t, "GetJob after failure", got, must(s.GetJob(ctx, job.ID))(t))

	// A job without a profile.
	noProfile := must(s.CreateJob(ctx, store.Job{Status: store.JobPending, ProcessID: f.Process2.ID, RequestPayload: json.RawMessage(`[]`)}))(t)
	if noProfile.ProfileID != 0 {
		t.Errorf("CreateJob without a profile returned ProfileID %d, want 0", noProfile.ProfileID)
	}
	diff(t, "GetJob of a job without a profile", noProfile, must(s.GetJob(ctx, noProfile.ID))(t))
}

func testJobsByStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	byStatus := map[store.JobStatus][]store.Job{}
	for i, st := range []store.JobStatus{store.JobPending, store.JobRunning, store.JobPending, store.JobFailed, store.JobPending, store.JobSuccess} {
		j := must(s.CreateJob(ctx, store.Job{
			Status: st, ProcessID: f.Process.ID, RequestPayload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
		}))(t)
		byStatus[st] = append(byStatus[st], j)
	}
	for _, st := range []store.JobStatus{store.JobPending, store.JobRunning, store.JobSuccess, store.JobFailed} {
		diff(t, "ListJobsByStatus("+string(st)+")", byStatus[st], sortedByID(must(s.ListJobsByStatus(ctx, st))(t), jobID))
	}

	// A job moves between lists.
	moved := byStatus[store.JobPending][1]
	moved.Status = store.JobRunning
	moved = must(s.UpdateJob(ctx, moved))(t)
	wantPending := []store.Job{byStatus[store.JobPending][0], byStatus[store.JobPending][2]}
	wantRunning := sortedByID(append(byStatus[store.JobRunning], moved), jobID)
	diff(t, "ListJobsByStatus(pending) after an update", wantPending, sortedByID(must(s.ListJobsByStatus(ctx, store.JobPending))(t), jobID))
	diff(t, "ListJobsByStatus(running) after an update", wantRunning, sortedByID(must(s.ListJobsByStatus(ctx, store.JobRunning))(t), jobID))
}

func testJobInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	_, err := s.CreateJob(ctx, store.Job{Status: "queued", ProcessID: f.Process.ID, RequestPayload: json.RawMessage(`{}`)})
	wantInvalid(t, "CreateJob with an unknown status", err)
	_, err = s.CreateJob(ctx, store.Job{Status: store.JobPending, ProcessID: 999999, RequestPayload: json.RawMessage(`{}`)})
	wantDangling(t, "CreateJob of an unknown process", err)
	if got := must(s.ListJobsByStatus(ctx, store.JobPending))(t); len(got) != 0 {
		t.Errorf("ListJobsByStatus(pending) after refused creates = %+v, want none", got)
	}

	j := must(s.CreateJob(ctx, store.Job{Status: store.JobPending, ProcessID: f.Process.ID, RequestPayload: json.RawMessage(`{}`)}))(t)
	bad := j
	bad.Status = "done"
	_, err = s.UpdateJob(ctx, bad)
	wantInvalid(t, "UpdateJob with an unknown status", err)
	diff(t, "GetJob after a refused update", j, must(s.GetJob(ctx, j.ID))(t))
}

// testJobPayloads stores hostile payloads in jobs: every JSON column passes
// through store.SanitizeJSON.
func testJobPayloads(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	for _, p := range hostilePayloads {
		t.Run(p.name, func(t *testing.T) {
			j, err := s.CreateJob(ctx, store.Job{Status: store.JobPending, ProcessID: f.Process.ID, RequestPayload: json.RawMessage(p.payload)})
			if err != nil {
				t.Fatalf("CreateJob: %v", err)
			}
			j.Status = store.JobFailed
			j.ResultPayload = json.RawMessage(p.payload)
			if _, err := s.UpdateJob(ctx, j); err != nil {
				t.Fatalf("UpdateJob: %v", err)
			}
			got := must(s.GetJob(ctx, j.ID))(t)
			want := store.SanitizeJSON([]byte(p.payload))
			checkStoredJSON(t, "RequestPayload", want, got.RequestPayload)
			checkStoredJSON(t, "ResultPayload", want, got.ResultPayload)
		})
	}
}

func testProviderSnapshots(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	other := must(s.CreateProvider(ctx, newProvider("other")))(t)
	base := utcMicros(oddTime)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }

	// Inserted out of order; the other provider's snapshots interleave.
	want := map[int]store.ProviderSnapshot{}
	for _, i := range []int{3, 0, 4, 1, 2} {
		in := store.ProviderSnapshot{
			ProviderID:    f.Provider.ID,
			TakenAt:       at(i),
			ModelsLoaded:  i,
			VRAMUsedBytes: int64(i) << 32,
			LoadedModels:  json.RawMessage(`[{"name":"llama3:8b","size_vram":5000000000,"expires_at":"2025-03-14T15:14:26Z"}]`),
			PollSuccess:   i != 2,
		}
		if i == 2 {
			in.ErrorMessage = "dial tcp 10.0.0.2:11434: connect: connection refused"
			in.LoadedModels = json.RawMessage(`[]`)
		}
		got := must(s.InsertProviderSnapshot(ctx, in))(t)
		checkID(t, "InsertProviderSnapshot", got.ID)
		diff(t, "InsertProviderSnapshot", in, got, cmpopts.IgnoreFields(store.ProviderSnapshot{}, "ID"))
		want[i] = got
		must(s.InsertProviderSnapshot(ctx, store.ProviderSnapshot{
			ProviderID: other.ID, TakenAt: at(i), LoadedModels: json.RawMessage(`[]`), PollSuccess: true,
		}))(t)
	}
	snaps := func(is ...int) []store.ProviderSnapshot {
		out := []store.ProviderSnapshot{}
		for _, i := range is {
			out = append(out, want[i])
		}
		return out
	}
	cases := []struct {
		name     string
		from, to time.Time
		want     []store.ProviderSnapshot
	}{
		{"all", at(0), at(5), snaps(0, 1, 2, 3, 4)},
		{"window", at(1), at(3), snaps(1, 2)},
		{"from is inclusive", at(4), at(4).Add(time.Microsecond), snaps(4)},
		{"to is exclusive", at(0).Add(-time.Hour), at(0), snaps()},
		{"between snapshots", at(1).Add(time.Microsecond), at(2), snaps()},
		{"after all", at(5), at(10), snaps()},
	}
	for _, tc := range cases {
		got := must(s.ListProviderSnapshots(ctx, f.Provider.ID, tc.from, tc.to))(t)
		diff(t, "ListProviderSnapshots "+tc.name, tc.want, got)
	}
	if got := must(s.ListProviderSnapshots(ctx, 999999, at(0), at(5)))(t); len(got) != 0 {
		t.Errorf("ListProviderSnapshots of an unknown provider = %+v, want none", got)
	}
	if got := must(s.ListProviderSnapshots(ctx, other.ID, at(0), at(5)))(t); len(got) != 5 {
		t.Errorf("ListProviderSnapshots of the other provider = %d snapshots, want 5", len(got))
	}

	// LoadedModels passes through store.SanitizeJSON like every JSON column.
	for i, p := range hostilePayloads {
		in := store.ProviderSnapshot{ProviderID: other.ID, TakenAt: at(10 + i), LoadedModels: json.RawMessage(p.payload)}
		got, err := s.InsertProviderSnapshot(ctx, in)
		if err != nil {
			t.Errorf("InsertProviderSnapshot with %s LoadedModels: %v", p.name, err)
			continue
		}
		checkStoredJSON(t, p.name+" LoadedModels returned by InsertProviderSnapshot", store.SanitizeJSON(in.LoadedModels), got.LoadedModels)
		list := must(s.ListProviderSnapshots(ctx, other.ID, in.TakenAt, in.TakenAt.Add(time.Second)))(t)
		if len(list) != 1 {
			t.Errorf("ListProviderSnapshots of the %s snapshot = %d snapshots, want 1", p.name, len(list))
			continue
		}
		checkStoredJSON(t, p.name+" LoadedModels", store.SanitizeJSON(in.LoadedModels), list[0].LoadedModels)
	}

	_, err := s.InsertProviderSnapshot(ctx, store.ProviderSnapshot{ProviderID: 999999, TakenAt: base, LoadedModels: json.RawMessage(`[]`)})
	wantDangling(t, "InsertProviderSnapshot of an unknown provider", err)

	// Deleting the provider deletes its snapshots.
	noErr(t, s.DeleteProvider(ctx, other.ID))
	if got := must(s.ListProviderSnapshots(ctx, other.ID, at(0), at(5)))(t); len(got) != 0 {
		t.Errorf("ListProviderSnapshots of a deleted provider = %d snapshots, want none", len(got))
	}
	diff(t, "ListProviderSnapshots after deleting another provider", snaps(0, 1, 2, 3, 4),
		must(s.ListProviderSnapshots(ctx, f.Provider.ID, at(0), at(5)))(t))
}

func testPing(t *testing.T, s store.Store) {
	noErr(t, s.Ping(t.Context()))
	// A store is usable after Ping.
	if ok := must(s.Initialized(t.Context()))(t); ok {
		t.Error("Initialized() = true on an empty store")
	}
	noErr(t, s.Ping(t.Context()))
}

func testClose(t *testing.T, s store.Store) {
	ctx := t.Context()
	insert(t, s, 1, newUsage("req-before-close", oddTime))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// A second Close must not panic; its error is not specified.
	_ = s.Close()
	// Using a closed store fails cleanly, without panicking or hanging.
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded, want an error")
	}
	if _, err := s.GetUsage(ctx, "req-before-close"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUsage after Close = %v, want an error other than ErrNotFound", err)
	}
}
