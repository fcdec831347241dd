package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres/internal/pgdb"
)

// CreateJob stores a job of an existing process. An empty Status means
// JobPending; RequestPayload is required. Payloads pass through
// store.SanitizeJSON.
func (s *Store) CreateJob(ctx context.Context, j store.Job) (store.Job, error) {
	op := fmt.Sprintf("create job of process %d", j.ProcessID)
	var c int32s
	params := pgdb.CreateJobParams{
		Status:         string(orDefault(j.Status, store.JobPending)),
		ProcessID:      j.ProcessID,
		ProfileID:      nullID(j.ProfileID),
		RequestPayload: jsonIn(j.RequestPayload),
		ResultPayload:  jsonIn(j.ResultPayload),
		StatusCode:     c.conv("status code", j.StatusCode),
		ErrorMessage:   cleanText(j.ErrorMessage),
	}
	if err := c.check(op); err != nil {
		return store.Job{}, err
	}
	r, err := s.q.CreateJob(ctx, params)
	if err != nil {
		return store.Job{}, mapErr(op, err)
	}
	return jobFromRow(r), nil
}

// GetJob returns the job with that id.
func (s *Store) GetJob(ctx context.Context, id int64) (store.Job, error) {
	r, err := s.q.GetJob(ctx, id)
	if err != nil {
		return store.Job{}, mapErr(fmt.Sprintf("get job %d", id), err)
	}
	return jobFromRow(r), nil
}

// UpdateJob replaces status, result, status code and error message and sets
// UpdatedAt.
func (s *Store) UpdateJob(ctx context.Context, j store.Job) (store.Job, error) {
	op := fmt.Sprintf("update job %d", j.ID)
	var c int32s
	params := pgdb.UpdateJobParams{
		ID:            j.ID,
		Status:        string(orDefault(j.Status, store.JobPending)),
		ResultPayload: jsonIn(j.ResultPayload),
		StatusCode:    c.conv("status code", j.StatusCode),
		ErrorMessage:  cleanText(j.ErrorMessage),
	}
	if err := c.check(op); err != nil {
		return store.Job{}, err
	}
	r, err := s.q.UpdateJob(ctx, params)
	if err != nil {
		return store.Job{}, mapErr(op, err)
	}
	return jobFromRow(r), nil
}

// ListJobsByStatus returns the jobs with that status ordered by id; ErrInvalid
// for an unknown status.
func (s *Store) ListJobsByStatus(ctx context.Context, status store.JobStatus) ([]store.Job, error) {
	op := fmt.Sprintf("list jobs with status %q", status)
	if !status.Valid() {
		return nil, invalidf(op, "unknown job status")
	}
	rows, err := s.q.ListJobsByStatus(ctx, string(status))
	if err != nil {
		return nil, mapErr(op, err)
	}
	return convertAll(rows, jobFromRow), nil
}

// ensure the Store is a job queue.
var _ store.JobQueue = (*Store)(nil)

// leaseSeconds converts a lease to the seconds the queries take.
func leaseSeconds(d time.Duration) float64 { return d.Seconds() }

// leased maps the result of an update that only applies to a job held under
// a lease: no row means ErrNotFound for an unknown job and ErrConflict (with
// the job as it is) otherwise.
func (s *Store) leased(ctx context.Context, op string, id int64, r pgdb.Job, err error) (store.Job, error) {
	if err == nil {
		return jobFromRow(r), nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Job{}, mapErr(op, err)
	}
	cur, gerr := s.q.GetJob(ctx, id)
	if gerr != nil {
		return store.Job{}, mapErr(op, gerr)
	}
	j := jobFromRow(cur)
	return j, fmt.Errorf("postgres: %s: job is %s (lease owner %q): %w", op, j.Status, j.LeaseOwner, store.ErrConflict)
}

// ClaimJob takes the oldest pending job, or running job whose lease expired
// before it reached the upstream, FOR UPDATE SKIP LOCKED.
func (s *Store) ClaimJob(ctx context.Context, owner string, lease time.Duration) (store.Job, error) {
	r, err := s.q.ClaimJob(ctx, pgdb.ClaimJobParams{LeaseOwner: owner, LeaseSeconds: leaseSeconds(lease)})
	if err != nil {
		return store.Job{}, mapErr("claim job", err)
	}
	return jobFromRow(r), nil
}

// RenewJobLease extends owner's lease on a running job.
func (s *Store) RenewJobLease(ctx context.Context, id int64, owner string, lease time.Duration) (store.Job, error) {
	r, err := s.q.RenewJobLease(ctx, pgdb.RenewJobLeaseParams{ID: id, LeaseOwner: owner, LeaseSeconds: leaseSeconds(lease)})
	return s.leased(ctx, fmt.Sprintf("renew lease of job %d", id), id, r, err)
}

// MarkJobUpstream records that owner's job is about to reach the upstream.
func (s *Store) MarkJobUpstream(ctx context.Context, id int64, owner, requestID string) (store.Job, error) {
	r, err := s.q.MarkJobUpstream(ctx, pgdb.MarkJobUpstreamParams{ID: id, LeaseOwner: owner, RequestID: cleanText(requestID)})
	return s.leased(ctx, fmt.Sprintf("mark job %d sent", id), id, r, err)
}

// CompleteJob ends owner's running job.
func (s *Store) CompleteJob(ctx context.Context, id int64, owner string, res store.JobResult) (store.Job, error) {
	op := fmt.Sprintf("complete job %d", id)
	if !res.Status.Finished() {
		return store.Job{}, invalidf(op, "%q is not a final job status", res.Status)
	}
	var c int32s
	params := pgdb.CompleteJobParams{
		ID:            id,
		LeaseOwner:    owner,
		Status:        string(res.Status),
		ResultPayload: jsonIn(res.Result),
		StatusCode:    c.conv("status code", res.StatusCode),
		ErrorMessage:  cleanText(res.ErrorMessage),
		RequestID:     cleanText(res.RequestID),
	}
	if err := c.check(op); err != nil {
		return store.Job{}, err
	}
	r, err := s.q.CompleteJob(ctx, params)
	return s.leased(ctx, op, id, r, err)
}

// ReleaseJob puts owner's running job back to pending if it has not reached
// the upstream.
func (s *Store) ReleaseJob(ctx context.Context, id int64, owner string) (store.Job, error) {
	r, err := s.q.ReleaseJob(ctx, pgdb.ReleaseJobParams{ID: id, LeaseOwner: owner})
	return s.leased(ctx, fmt.Sprintf("release job %d", id), id, r, err)
}

// CancelJob cancels a pending or running job.
func (s *Store) CancelJob(ctx context.Context, id int64, message string) (store.Job, error) {
	r, err := s.q.CancelJob(ctx, pgdb.CancelJobParams{ID: id, ErrorMessage: cleanText(message)})
	return s.leased(ctx, fmt.Sprintf("cancel job %d", id), id, r, err)
}

// FailAbandonedJobs fails the running jobs whose lease expired after they
// reached the upstream.
func (s *Store) FailAbandonedJobs(ctx context.Context, res store.JobResult) ([]store.Job, error) {
	op := "fail abandoned jobs"
	var c int32s
	params := pgdb.FailAbandonedJobsParams{
		StatusCode:    c.conv("status code", res.StatusCode),
		ErrorMessage:  cleanText(res.ErrorMessage),
		ResultPayload: jsonIn(res.Result),
	}
	if err := c.check(op); err != nil {
		return nil, err
	}
	rows, err := s.q.FailAbandonedJobs(ctx, params)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return convertAll(rows, jobFromRow), nil
}

// ListJobs returns the jobs matching f, newest first.
func (s *Store) ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, error) {
	op := "list jobs"
	params := pgdb.ListJobsParams{ProcessID: nullID(f.ProcessID), ProfileID: nullID(f.ProfileID), BeforeID: nullID(f.BeforeID), MaxRows: 100}
	if f.Status != "" {
		if !f.Status.Valid() {
			return nil, invalidf(op, "unknown job status %q", f.Status)
		}
		params.Status = pgtype.Text{String: string(f.Status), Valid: true}
	}
	if f.Limit > 0 {
		params.MaxRows = int32(min(f.Limit, 10000))
	}
	rows, err := s.q.ListJobs(ctx, params)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return convertAll(rows, jobFromRow), nil
}

// DeleteFinishedJobs deletes at most limit finished jobs last updated before
// the given time.
func (s *Store) DeleteFinishedJobs(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := s.q.DeleteFinishedJobs(ctx, pgdb.DeleteFinishedJobsParams{FinishedBefore: nullTime(before), MaxRows: int32(min(limit, 100000))})
	if err != nil {
		return 0, mapErr("delete finished jobs", err)
	}
	return n, nil
}

// MaxProviderVRAM returns the highest VRAM use of a provider's successful
// snapshots taken in [from, to), 0 if none.
func (s *Store) MaxProviderVRAM(ctx context.Context, providerID int64, from, to time.Time) (int64, error) {
	v, err := s.q.MaxProviderSnapshotVRAM(ctx, pgdb.MaxProviderSnapshotVRAMParams{ProviderID: providerID, TakenFrom: nullTime(from), TakenTo: nullTime(to)})
	if err != nil {
		return 0, mapErr(fmt.Sprintf("highest VRAM of provider %d", providerID), err)
	}
	return v, nil
}
