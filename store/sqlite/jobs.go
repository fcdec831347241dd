package sqlite

import (
	"context"
	"fmt"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

// CreateJob stores j. A zero Status is stored as store.JobPending, a zero
// ProfileID as NULL; the process must exist and RequestPayload is required
// (else store.ErrInvalid). Payloads are sanitized like every JSON column.
func (s *Store) CreateJob(ctx context.Context, j store.Job) (store.Job, error) {
	payload := jsonArg(j.RequestPayload)
	if !payload.Valid {
		return store.Job{}, wrap("create job", fmt.Errorf("request payload is required: %w", store.ErrInvalid))
	}
	ts := formatTime(now())
	row, err := s.w.CreateJob(ctx, sqlitedb.CreateJobParams{
		Status:         string(orDefault(j.Status, store.JobPending)),
		ProcessID:      j.ProcessID,
		ProfileID:      nullID(j.ProfileID),
		RequestPayload: payload.String,
		ResultPayload:  jsonArg(j.ResultPayload),
		StatusCode:     int64(j.StatusCode),
		ErrorMessage:   j.ErrorMessage,
		CreatedAt:      ts,
		UpdatedAt:      ts,
	})
	if err != nil {
		return store.Job{}, wrap("create job", err)
	}
	return decodeOne("create job", row, toJob)
}

// GetJob returns the job with the given id.
func (s *Store) GetJob(ctx context.Context, id int64) (store.Job, error) {
	row, err := s.r.GetJob(ctx, id)
	if err != nil {
		return store.Job{}, wrap(fmt.Sprintf("get job %d", id), err)
	}
	return decodeOne("get job", row, toJob)
}

// UpdateJob replaces the status, result, status code and error message of the
// job with j.ID and sets UpdatedAt.
func (s *Store) UpdateJob(ctx context.Context, j store.Job) (store.Job, error) {
	row, err := s.w.UpdateJob(ctx, sqlitedb.UpdateJobParams{
		ID:            j.ID,
		Status:        string(j.Status),
		ResultPayload: jsonArg(j.ResultPayload),
		StatusCode:    int64(j.StatusCode),
		ErrorMessage:  j.ErrorMessage,
		UpdatedAt:     formatTime(now()),
	})
	if err != nil {
		return store.Job{}, wrap(fmt.Sprintf("update job %d", j.ID), err)
	}
	return decodeOne("update job", row, toJob)
}

// ListJobsByStatus returns the jobs with the given status ordered by id.
func (s *Store) ListJobsByStatus(ctx context.Context, status store.JobStatus) ([]store.Job, error) {
	rows, err := s.r.ListJobsByStatus(ctx, string(status))
	if err != nil {
		return nil, wrap(fmt.Sprintf("list %s jobs", status), err)
	}
	return decodeAll("list jobs", rows, toJob)
}

func toJob(d *decoder, r sqlitedb.Job) store.Job {
	return store.Job{
		ID:             r.ID,
		Status:         store.JobStatus(r.Status),
		ProcessID:      r.ProcessID,
		ProfileID:      idOf(r.ProfileID),
		RequestPayload: []byte(r.RequestPayload),
		ResultPayload:  jsonOf(r.ResultPayload),
		StatusCode:     int(r.StatusCode),
		ErrorMessage:   r.ErrorMessage,
		CreatedAt:      d.time("jobs.created_at", r.CreatedAt),
		UpdatedAt:      d.time("jobs.updated_at", r.UpdatedAt),
	}
}
