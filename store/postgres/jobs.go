package postgres

import (
	"context"
	"fmt"
	"time"

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

// InsertProviderSnapshot stores a snapshot of an existing provider. A zero
// TakenAt means now and nil LoadedModels mean an empty array.
func (s *Store) InsertProviderSnapshot(ctx context.Context, ps store.ProviderSnapshot) (store.ProviderSnapshot, error) {
	op := fmt.Sprintf("insert snapshot of provider %d", ps.ProviderID)
	var c int32s
	params := pgdb.InsertProviderSnapshotParams{
		ProviderID:    ps.ProviderID,
		TakenAt:       nullTime(ps.TakenAt),
		ModelsLoaded:  c.conv("models loaded", ps.ModelsLoaded),
		VramUsedBytes: ps.VRAMUsedBytes,
		LoadedModels:  jsonIn(ps.LoadedModels),
		PollSuccess:   ps.PollSuccess,
		ErrorMessage:  cleanText(ps.ErrorMessage),
	}
	if err := c.check(op); err != nil {
		return store.ProviderSnapshot{}, err
	}
	r, err := s.q.InsertProviderSnapshot(ctx, params)
	if err != nil {
		return store.ProviderSnapshot{}, mapErr(op, err)
	}
	return snapshotFromRow(r), nil
}

// ListProviderSnapshots returns a provider's snapshots with TakenAt in
// [from, to), oldest first. A zero from or to leaves that side unbounded.
func (s *Store) ListProviderSnapshots(ctx context.Context, providerID int64, from, to time.Time) ([]store.ProviderSnapshot, error) {
	rows, err := s.q.ListProviderSnapshots(ctx, pgdb.ListProviderSnapshotsParams{
		ProviderID: providerID,
		TakenFrom:  nullTime(from),
		TakenTo:    nullTime(to),
	})
	if err != nil {
		return nil, mapErr(fmt.Sprintf("list snapshots of provider %d", providerID), err)
	}
	return convertAll(rows, snapshotFromRow), nil
}
