package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

var jobQueueTests = []test{
	{"ClaimOrderAndLease", testJobClaim},
	{"ExpiredLease", testJobExpiredLease},
	{"CompleteAndRelease", testJobComplete},
	{"Cancel", testJobCancel},
	{"List", testJobList},
	{"DeleteFinished", testJobDeleteFinished},
	{"ConcurrentClaims", testJobConcurrentClaims},
}

// jobQueue returns s as a store.JobQueue, or skips t if s is not one.
func jobQueue(t *testing.T, s store.Store) store.JobQueue {
	t.Helper()
	q, ok := s.(store.JobQueue)
	if !ok {
		t.Skip("the store does not implement store.JobQueue")
	}
	return q
}

func newJobs(t *testing.T, q store.JobQueue, processID int64, n int) []store.Job {
	t.Helper()
	out := make([]store.Job, n)
	for i := range out {
		out[i] = must(q.CreateJob(t.Context(), store.Job{ProcessID: processID, RequestPayload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}))(t)
	}
	return out
}

func testJobClaim(t *testing.T, s store.Store) {
	ctx := t.Context()
	q := jobQueue(t, s)
	f := newFixture(t, s)
	_, err := q.ClaimJob(ctx, "a", time.Minute)
	wantNotFound(t, "ClaimJob of an empty queue", err)

	jobs := newJobs(t, q, f.Process.ID, 3)
	before := time.Now().Add(-time.Second)
	got := must(q.ClaimJob(ctx, "replica-a", time.Minute))(t)
	if got.ID != jobs[0].ID || got.Status != store.JobRunning || got.LeaseOwner != "replica-a" || got.Attempts != 1 {
		t.Fatalf("ClaimJob = %+v, want job %d running under replica-a, attempt 1", got, jobs[0].ID)
	}
	if got.LeaseExpiresAt.Before(before.Add(time.Minute)) || got.LeaseExpiresAt.After(time.Now().Add(2*time.Minute)) {
		t.Errorf("LeaseExpiresAt = %v, want about a minute from now", got.LeaseExpiresAt)
	}
	if !got.ReachedUpstreamAt.IsZero() {
		t.Errorf("ReachedUpstreamAt = %v on a new claim", got.ReachedUpstreamAt)
	}
	diff(t, "GetJob after ClaimJob", got, must(q.GetJob(ctx, got.ID))(t))
	second := must(q.ClaimJob(ctx, "replica-b", time.Minute))(t)
	if second.ID != jobs[1].ID {
		t.Errorf("second ClaimJob = job %d, want %d", second.ID, jobs[1].ID)
	}

	// Renewal: only by the owner.
	_, err = q.RenewJobLease(ctx, got.ID, "replica-b", time.Hour)
	wantConflict(t, "RenewJobLease by another replica", err)
	renewed := must(q.RenewJobLease(ctx, got.ID, "replica-a", time.Hour))(t)
	if !renewed.LeaseExpiresAt.After(got.LeaseExpiresAt) {
		t.Errorf("RenewJobLease: lease %v, not after %v", renewed.LeaseExpiresAt, got.LeaseExpiresAt)
	}
	_, err = q.RenewJobLease(ctx, 999999, "replica-a", time.Hour)
	wantNotFound(t, "RenewJobLease of an unknown job", err)
	_, err = q.RenewJobLease(ctx, jobs[2].ID, "replica-a", time.Hour)
	wantConflict(t, "RenewJobLease of a pending job", err)

	// Marking the upstream.
	_, err = q.MarkJobUpstream(ctx, got.ID, "replica-b", "req-1")
	wantConflict(t, "MarkJobUpstream by another replica", err)
	marked := must(q.MarkJobUpstream(ctx, got.ID, "replica-a", "req-1"))(t)
	if marked.ReachedUpstreamAt.IsZero() || marked.RequestID != "req-1" || marked.Status != store.JobRunning {
		t.Errorf("MarkJobUpstream = %+v", marked)
	}
	diff(t, "GetJob after MarkJobUpstream", marked, must(q.GetJob(ctx, got.ID))(t))
}

func testJobExpiredLease(t *testing.T, s store.Store) {
	ctx := t.Context()
	q := jobQueue(t, s)
	f := newFixture(t, s)
	jobs := newJobs(t, q, f.Process.ID, 2)
	// Job 0 expires before reaching the upstream, job 1 after.
	a := must(q.ClaimJob(ctx, "dead", 300*time.Millisecond))(t)
	b := must(q.ClaimJob(ctx, "dead", 300*time.Millisecond))(t)
	if a.ID != jobs[0].ID || b.ID != jobs[1].ID {
		t.Fatalf("claimed jobs %d and %d, want %d and %d", a.ID, b.ID, jobs[0].ID, jobs[1].ID)
	}
	must(q.MarkJobUpstream(ctx, b.ID, "dead", "req-b"))(t)
	if _, err := q.ClaimJob(ctx, "alive", time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ClaimJob while the leases hold: %v, want ErrNotFound", err)
	}
	time.Sleep(400 * time.Millisecond)

	again := must(q.ClaimJob(ctx, "alive", time.Minute))(t)
	if again.ID != a.ID || again.LeaseOwner != "alive" || again.Attempts != 2 {
		t.Errorf("ClaimJob after the lease expired = %+v, want job %d under alive, attempt 2", again, a.ID)
	}
	_, err := q.ClaimJob(ctx, "alive", time.Minute)
	wantNotFound(t, "ClaimJob of a job that reached the upstream", err)
	_, err = q.CompleteJob(ctx, a.ID, "dead", store.JobResult{Status: store.JobSucceeded, StatusCode: 200})
	wantConflict(t, "CompleteJob by the replica that lost the lease", err)

	res := store.JobResult{Status: store.JobFailed, StatusCode: 500, ErrorMessage: "interrupted", Result: json.RawMessage(`{"error":{"message":"interrupted"}}`)}
	failed := must(q.FailAbandonedJobs(ctx, res))(t)
	if len(failed) != 1 || failed[0].ID != jobs[1].ID {
		t.Fatalf("FailAbandonedJobs = %+v, want job %d", failed, jobs[1].ID)
	}
	got := must(q.GetJob(ctx, b.ID))(t)
	if got.Status != store.JobFailed || got.StatusCode != 500 || got.ErrorMessage != "interrupted" || got.LeaseOwner != "" || !got.LeaseExpiresAt.IsZero() || got.RequestID != "req-b" {
		t.Errorf("abandoned job = %+v", got)
	}
	checkStoredJSON(t, "abandoned job result", res.Result, got.ResultPayload)
	// The live job is left alone.
	if failed := must(q.FailAbandonedJobs(ctx, res))(t); len(failed) != 0 {
		t.Errorf("second FailAbandonedJobs = %+v, want none", failed)
	}
	if got := must(q.GetJob(ctx, a.ID))(t); got.Status != store.JobRunning {
		t.Errorf("live job after FailAbandonedJobs: status %s", got.Status)
	}
}

func testJobComplete(t *testing.T, s store.Store) {
	ctx := t.Context()
	q := jobQueue(t, s)
	f := newFixture(t, s)
	newJobs(t, q, f.Process.ID, 2)
	j := must(q.ClaimJob(ctx, "r", time.Minute))(t)
	must(q.MarkJobUpstream(ctx, j.ID, "r", "req-x"))(t)
	res := store.JobResult{Status: store.JobFailed, StatusCode: 429, Result: json.RawMessage(`{"error":{"message":"slow down","type":"rate_limit_error"}}`), ErrorMessage: "slow down"}
	_, err := q.CompleteJob(ctx, j.ID, "other", res)
	wantConflict(t, "CompleteJob by another replica", err)
	done := must(q.CompleteJob(ctx, j.ID, "r", res))(t)
	if done.Status != store.JobFailed || done.StatusCode != 429 || done.ErrorMessage != "slow down" || done.LeaseOwner != "" || !done.LeaseExpiresAt.IsZero() || done.RequestID != "req-x" {
		t.Errorf("CompleteJob = %+v", done)
	}
	checkStoredJSON(t, "CompleteJob result", res.Result, done.ResultPayload)
	diff(t, "GetJob after CompleteJob", done, must(q.GetJob(ctx, j.ID))(t))
	_, err = q.CompleteJob(ctx, j.ID, "r", res)
	wantConflict(t, "second CompleteJob", err)
	_, err = q.CompleteJob(ctx, 999999, "r", res)
	wantNotFound(t, "CompleteJob of an unknown job", err)
	_, err = q.ReleaseJob(ctx, j.ID, "r")
	wantConflict(t, "ReleaseJob of a finished job", err)

	// Release before the upstream: pending again, claimable.
	k := must(q.ClaimJob(ctx, "r", time.Minute))(t)
	rel := must(q.ReleaseJob(ctx, k.ID, "r"))(t)
	if rel.Status != store.JobPending || rel.LeaseOwner != "" || !rel.LeaseExpiresAt.IsZero() {
		t.Errorf("ReleaseJob = %+v", rel)
	}
	k2 := must(q.ClaimJob(ctx, "s", time.Minute))(t)
	if k2.ID != k.ID || k2.Attempts != 2 {
		t.Errorf("ClaimJob after ReleaseJob = %+v", k2)
	}
	must(q.MarkJobUpstream(ctx, k2.ID, "s", "req-k"))(t)
	_, err = q.ReleaseJob(ctx, k2.ID, "s")
	wantConflict(t, "ReleaseJob after the upstream", err)
	ok := must(q.CompleteJob(ctx, k2.ID, "s", store.JobResult{Status: store.JobSucceeded, StatusCode: 200, Result: json.RawMessage(`{"id":"x"}`)}))(t)
	if ok.Status != store.JobSucceeded || ok.ErrorMessage != "" || ok.RequestID != "req-k" {
		t.Errorf("CompleteJob(succeeded) = %+v", ok)
	}
	_, err = q.CompleteJob(ctx, k2.ID, "s", store.JobResult{Status: "done"})
	wantErr(t, "CompleteJob with an unknown status", err, store.ErrInvalid, store.ErrConflict)
}

func testJobCancel(t *testing.T, s store.Store) {
	ctx := t.Context()
	q := jobQueue(t, s)
	f := newFixture(t, s)
	jobs := newJobs(t, q, f.Process.ID, 3)
	c := must(q.CancelJob(ctx, jobs[0].ID, "cancelled by the client"))(t)
	if c.Status != store.JobCancelled || c.ErrorMessage != "cancelled by the client" {
		t.Errorf("CancelJob of a pending job = %+v", c)
	}
	running := must(q.ClaimJob(ctx, "r", time.Minute))(t)
	if running.ID != jobs[1].ID {
		t.Fatalf("ClaimJob took job %d, want %d (cancelled jobs are not claimed)", running.ID, jobs[1].ID)
	}
	c = must(q.CancelJob(ctx, running.ID, "stop"))(t)
	if c.Status != store.JobCancelled || c.LeaseOwner != "" {
		t.Errorf("CancelJob of a running job = %+v", c)
	}
	_, err := q.RenewJobLease(ctx, running.ID, "r", time.Minute)
	wantConflict(t, "RenewJobLease of a cancelled job", err)
	_, err = q.CompleteJob(ctx, running.ID, "r", store.JobResult{Status: store.JobSucceeded, StatusCode: 200})
	wantConflict(t, "CompleteJob of a cancelled job", err)
	if got := must(q.GetJob(ctx, running.ID))(t); got.Status != store.JobCancelled {
		t.Errorf("cancelled job became %s", got.Status)
	}
	got, err := q.CancelJob(ctx, running.ID, "again")
	wantConflict(t, "CancelJob of a cancelled job", err)
	if got.ID != running.ID || got.Status != store.JobCancelled || got.ErrorMessage != "stop" {
		t.Errorf("CancelJob of a finished job returned %+v, want the job unchanged", got)
	}
	_, err = q.CancelJob(ctx, 999999, "x")
	wantNotFound(t, "CancelJob of an unknown job", err)
}

func testJobList(t *testing.T, s store.Store) {
	ctx := t.Context()
	q := jobQueue(t, s)
	f := newFixture(t, s)
	mine := newJobs(t, q, f.Process.ID, 5)
	theirs := newJobs(t, q, f.Process2.ID, 2)
	must(q.ClaimJob(ctx, "r", time.Minute))(t) // mine[0] runs
	ids := func(js []store.Job) []int64 {
		out := []int64{}
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}
	diff(t, "ListJobs of a process", []int64{mine[4].ID, mine[3].ID, mine[2].ID, mine[1].ID, mine[0].ID},
		ids(must(q.ListJobs(ctx, store.JobFilter{ProcessID: f.Process.ID}))(t)))
	page1 := must(q.ListJobs(ctx, store.JobFilter{ProcessID: f.Process.ID, Limit: 2}))(t)
	diff(t, "ListJobs page 1", []int64{mine[4].ID, mine[3].ID}, ids(page1))
	page2 := must(q.ListJobs(ctx, store.JobFilter{ProcessID: f.Process.ID, Limit: 2, BeforeID: page1[1].ID}))(t)
	diff(t, "ListJobs page 2", []int64{mine[2].ID, mine[1].ID}, ids(page2))
	diff(t, "ListJobs of running jobs", []int64{mine[0].ID},
		ids(must(q.ListJobs(ctx, store.JobFilter{ProcessID: f.Process.ID, Status: store.JobRunning}))(t)))
	withProfile := must(q.CreateJob(ctx, store.Job{ProcessID: f.Process.ID, ProfileID: f.Profile.ID, RequestPayload: json.RawMessage(`{}`)}))(t)
	diff(t, "ListJobs of a profile", []int64{withProfile.ID},
		ids(must(q.ListJobs(ctx, store.JobFilter{ProcessID: f.Process.ID, ProfileID: f.Profile.ID}))(t)))
	must(q.CancelJob(ctx, withProfile.ID, "x"))(t)
	diff(t, "ListJobs of another process", []int64{theirs[1].ID, theirs[0].ID},
		ids(must(q.ListJobs(ctx, store.JobFilter{ProcessID: f.Process2.ID}))(t)))
	if all := must(q.ListJobs(ctx, store.JobFilter{}))(t); len(all) != 8 || all[0].ID != withProfile.ID {
		t.Errorf("ListJobs of all processes = %v", ids(all))
	}
	diff(t, "ListJobs full record", mine[4], must(q.ListJobs(ctx, store.JobFilter{ProcessID: f.Process.ID, Limit: 1, BeforeID: withProfile.ID}))(t)[0])
	_, err := q.ListJobs(ctx, store.JobFilter{Status: "sleeping"})
	wantInvalid(t, "ListJobs with an unknown status", err)
}

func testJobDeleteFinished(t *testing.T, s store.Store) {
	ctx := t.Context()
	q := jobQueue(t, s)
	f := newFixture(t, s)
	jobs := newJobs(t, q, f.Process.ID, 5)
	// jobs 0-2 finish, 3 is cancelled, 4 stays pending.
	for range 3 {
		j := must(q.ClaimJob(ctx, "r", time.Minute))(t)
		must(q.CompleteJob(ctx, j.ID, "r", store.JobResult{Status: store.JobSucceeded, StatusCode: 200, Result: json.RawMessage(`{}`)}))(t)
	}
	must(q.CancelJob(ctx, jobs[3].ID, "x"))(t)
	if n := must(q.DeleteFinishedJobs(ctx, time.Now().Add(-time.Hour), 10))(t); n != 0 {
		t.Errorf("DeleteFinishedJobs before an hour ago deleted %d, want 0", n)
	}
	cutoff := time.Now().Add(time.Hour)
	if n := must(q.DeleteFinishedJobs(ctx, cutoff, 3))(t); n != 3 {
		t.Errorf("DeleteFinishedJobs(limit 3) deleted %d, want 3", n)
	}
	if n := must(q.DeleteFinishedJobs(ctx, cutoff, 3))(t); n != 1 {
		t.Errorf("second DeleteFinishedJobs deleted %d, want 1", n)
	}
	for _, j := range jobs[:4] {
		_, err := q.GetJob(ctx, j.ID)
		wantNotFound(t, fmt.Sprintf("GetJob of deleted job %d", j.ID), err)
	}
	if got := must(q.GetJob(ctx, jobs[4].ID))(t); got.Status != store.JobPending {
		t.Errorf("pending job after DeleteFinishedJobs: %+v", got)
	}
}

// testJobConcurrentClaims claims from several goroutines, as replicas do:
// every job is claimed exactly once.
func testJobConcurrentClaims(t *testing.T, s store.Store) {
	q := jobQueue(t, s)
	f := newFixture(t, s)
	const n, workers = 60, 6
	jobs := newJobs(t, q, f.Process.ID, n)
	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			owner := fmt.Sprintf("replica-%d", w)
			for {
				j, err := q.ClaimJob(context.Background(), owner, time.Minute)
				if errors.Is(err, store.ErrNotFound) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				claimed[j.ID]++
				mu.Unlock()
				if _, err := q.CompleteJob(context.Background(), j.ID, owner, store.JobResult{Status: store.JobSucceeded, StatusCode: 200}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("claiming: %v", err)
	}
	for _, j := range jobs {
		if claimed[j.ID] != 1 {
			t.Errorf("job %d claimed %d times, want once", j.ID, claimed[j.ID])
		}
	}
}
