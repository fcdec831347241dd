package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

// CreateJob stores j. A zero Status is stored as store.JobPending, a zero
// ProfileID as NULL; the process must exist and RequestPayload is required
// (else store.ErrInvalid). Payloads are sanitized like every JSON column.
func (s *Store) CreateJob(ctx context.Context, j store.Job) (store.Job, error) {
	payload := jsonIn(j.RequestPayload)
	if !payload.Valid {
		return store.Job{}, mapErr("create job", fmt.Errorf("request payload is required: %w", store.ErrInvalid))
	}
	ts := formatTime(now())
	row, err := s.w.CreateJob(ctx, sqlitedb.CreateJobParams{
		Status:         string(orDefault(j.Status, store.JobPending)),
		ProcessID:      j.ProcessID,
		ProfileID:      nullID(j.ProfileID),
		RequestPayload: payload.String,
		ResultPayload:  jsonIn(j.ResultPayload),
		StatusCode:     int64(j.StatusCode),
		ErrorMessage:   j.ErrorMessage,
		CreatedAt:      ts,
		UpdatedAt:      ts,
	})
	if err != nil {
		return store.Job{}, mapErr("create job", err)
	}
	return decodeOne("create job", row, jobFromRow)
}

// GetJob returns the job with the given id.
func (s *Store) GetJob(ctx context.Context, id int64) (store.Job, error) {
	row, err := s.r.GetJob(ctx, id)
	if err != nil {
		return store.Job{}, mapErr(fmt.Sprintf("get job %d", id), err)
	}
	return decodeOne("get job", row, jobFromRow)
}

// UpdateJob replaces the status, result, status code and error message of the
// job with j.ID and sets UpdatedAt.
func (s *Store) UpdateJob(ctx context.Context, j store.Job) (store.Job, error) {
	row, err := s.w.UpdateJob(ctx, sqlitedb.UpdateJobParams{
		ID:            j.ID,
		Status:        string(j.Status),
		ResultPayload: jsonIn(j.ResultPayload),
		StatusCode:    int64(j.StatusCode),
		ErrorMessage:  j.ErrorMessage,
		UpdatedAt:     formatTime(now()),
	})
	if err != nil {
		return store.Job{}, mapErr(fmt.Sprintf("update job %d", j.ID), err)
	}
	return decodeOne("update job", row, jobFromRow)
}

// ListJobsByStatus returns the jobs with the given status ordered by id.
func (s *Store) ListJobsByStatus(ctx context.Context, status store.JobStatus) ([]store.Job, error) {
	rows, err := s.r.ListJobsByStatus(ctx, string(status))
	if err != nil {
		return nil, mapErr(fmt.Sprintf("list %s jobs", status), err)
	}
	return decodeAll("list jobs", rows, jobFromRow)
}

// ensure the Store is a job queue.
var _ store.JobQueue = (*Store)(nil)

// leased maps the result of an update that only applies to a job held under
// a lease: no row means ErrNotFound for an unknown job and ErrConflict (with
// the job as it is) otherwise.
func (s *Store) leased(ctx context.Context, op string, id int64, r sqlitedb.Job, err error) (store.Job, error) {
	if err == nil {
		return decodeOne(op, r, jobFromRow)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.Job{}, mapErr(op, err)
	}
	cur, gerr := s.w.GetJob(ctx, id)
	if gerr != nil {
		return store.Job{}, mapErr(op, gerr)
	}
	j, derr := decodeOne(op, cur, jobFromRow)
	if derr != nil {
		return store.Job{}, derr
	}
	return j, mapErr(op, fmt.Errorf("job is %s (lease owner %q): %w", j.Status, j.LeaseOwner, store.ErrConflict))
}

// ClaimJob takes the oldest pending job, or running job whose lease expired
// before it reached the upstream, in one UPDATE on the writer connection.
func (s *Store) ClaimJob(ctx context.Context, owner string, lease time.Duration) (store.Job, error) {
	t := now()
	row, err := s.w.ClaimJob(ctx, sqlitedb.ClaimJobParams{
		LeaseOwner:     owner,
		LeaseExpiresAt: nullTime(t.Add(lease)),
		Now:            formatTime(t),
	})
	if err != nil {
		return store.Job{}, mapErr("claim job", err)
	}
	return decodeOne("claim job", row, jobFromRow)
}

// RenewJobLease extends owner's lease on a running job.
func (s *Store) RenewJobLease(ctx context.Context, id int64, owner string, lease time.Duration) (store.Job, error) {
	row, err := s.w.RenewJobLease(ctx, sqlitedb.RenewJobLeaseParams{ID: id, LeaseOwner: owner, LeaseExpiresAt: nullTime(now().Add(lease))})
	return s.leased(ctx, fmt.Sprintf("renew lease of job %d", id), id, row, err)
}

// MarkJobUpstream records that owner's job is about to reach the upstream.
func (s *Store) MarkJobUpstream(ctx context.Context, id int64, owner, requestID string) (store.Job, error) {
	t := now()
	row, err := s.w.MarkJobUpstream(ctx, sqlitedb.MarkJobUpstreamParams{ID: id, LeaseOwner: owner, RequestID: requestID, Now: nullTime(t)})
	return s.leased(ctx, fmt.Sprintf("mark job %d sent", id), id, row, err)
}

// CompleteJob ends owner's running job.
func (s *Store) CompleteJob(ctx context.Context, id int64, owner string, res store.JobResult) (store.Job, error) {
	op := fmt.Sprintf("complete job %d", id)
	if !res.Status.Finished() {
		return store.Job{}, mapErr(op, fmt.Errorf("%q is not a final job status: %w", res.Status, store.ErrInvalid))
	}
	row, err := s.w.CompleteJob(ctx, sqlitedb.CompleteJobParams{
		ID:            id,
		LeaseOwner:    owner,
		Status:        string(res.Status),
		ResultPayload: jsonIn(res.Result),
		StatusCode:    int64(res.StatusCode),
		ErrorMessage:  res.ErrorMessage,
		RequestID:     res.RequestID,
		Now:           formatTime(now()),
	})
	return s.leased(ctx, op, id, row, err)
}

// ReleaseJob puts owner's running job back to pending if it has not reached
// the upstream.
func (s *Store) ReleaseJob(ctx context.Context, id int64, owner string) (store.Job, error) {
	row, err := s.w.ReleaseJob(ctx, sqlitedb.ReleaseJobParams{ID: id, LeaseOwner: owner, Now: formatTime(now())})
	return s.leased(ctx, fmt.Sprintf("release job %d", id), id, row, err)
}

// CancelJob cancels a pending or running job.
func (s *Store) CancelJob(ctx context.Context, id int64, message string) (store.Job, error) {
	row, err := s.w.CancelJob(ctx, sqlitedb.CancelJobParams{ID: id, ErrorMessage: message, Now: formatTime(now())})
	return s.leased(ctx, fmt.Sprintf("cancel job %d", id), id, row, err)
}

// FailAbandonedJobs fails the running jobs whose lease expired after they
// reached the upstream.
func (s *Store) FailAbandonedJobs(ctx context.Context, res store.JobResult) ([]store.Job, error) {
	rows, err := s.w.FailAbandonedJobs(ctx, sqlitedb.FailAbandonedJobsParams{
		StatusCode:    int64(res.StatusCode),
		ErrorMessage:  res.ErrorMessage,
		ResultPayload: jsonIn(res.Result),
		Now:           formatTime(now()),
	})
	if err != nil {
		return nil, mapErr("fail abandoned jobs", err)
	}
	return decodeAll("fail abandoned jobs", rows, jobFromRow)
}

// ListJobs returns the jobs matching f, newest first.
func (s *Store) ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, error) {
	params := sqlitedb.ListJobsParams{ProcessID: nullID(f.ProcessID), ProfileID: nullID(f.ProfileID), BeforeID: nullID(f.BeforeID), MaxRows: 100}
	if f.Status != "" {
		if !f.Status.Valid() {
			return nil, mapErr("list jobs", fmt.Errorf("unknown job status %q: %w", f.Status, store.ErrInvalid))
		}
		params.Status = sql.NullString{String: string(f.Status), Valid: true}
	}
	if f.Limit > 0 {
		params.MaxRows = int64(min(f.Limit, 10000))
	}
	rows, err := s.r.ListJobs(ctx, params)
	if err != nil {
		return nil, mapErr("list jobs", err)
	}
	return decodeAll("list jobs", rows, jobFromRow)
}

// DeleteFinishedJobs deletes at most limit finished jobs last updated before
// the given time.
func (s *Store) DeleteFinishedJobs(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := s.w.DeleteFinishedJobs(ctx, sqlitedb.DeleteFinishedJobsParams{FinishedBefore: formatTime(before), MaxRows: int64(min(limit, 100000))})
	if err != nil {
		return 0, mapErr("delete finished jobs", err)
	}
	return n, nil
}
