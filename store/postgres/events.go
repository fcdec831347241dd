package postgres

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres/internal/pgdb"
)

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
	if ps.QueueKnown {
		params.RunningRequests = pgtype.Int4{Int32: c.conv("running requests", ps.RunningRequests), Valid: true}
		params.WaitingRequests = pgtype.Int4{Int32: c.conv("waiting requests", ps.WaitingRequests), Valid: true}
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

// DeleteProviderSnapshotsBefore deletes at most limit snapshots taken before
// t, oldest first, and returns how many it deleted.
func (s *Store) DeleteProviderSnapshotsBefore(ctx context.Context, t time.Time, limit int) (int64, error) {
	op := "delete old provider snapshots"
	if limit <= 0 || limit > math.MaxInt32 {
		return 0, fmt.Errorf("%s: %w: limit %d", op, store.ErrInvalid, limit)
	}
	n, err := s.q.DeleteProviderSnapshotsBefore(ctx, pgdb.DeleteProviderSnapshotsBeforeParams{TakenBefore: nullTime(t), MaxRows: int32(limit)})
	if err != nil {
		return 0, mapErr(op, err)
	}
	return n, nil
}

// LatestProviderSnapshots returns a provider's latest successful snapshot
// of each bucket taken in [from, to), oldest first.
func (s *Store) LatestProviderSnapshots(ctx context.Context, providerID int64, from, to time.Time, bucket time.Duration) ([]store.ProviderSnapshot, error) {
	op := fmt.Sprintf("downsample snapshots of provider %d", providerID)
	secs, err := bucketSeconds(bucket)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	rows, err := s.q.ListProviderSnapshotsLatest(ctx, pgdb.ListProviderSnapshotsLatestParams{
		BucketSeconds: secs, ProviderID: providerID, TakenFrom: nullTime(from), TakenTo: nullTime(to),
	})
	if err != nil {
		return nil, mapErr(op, err)
	}
	// DISTINCT ON orders by bucket, which is also time order.
	return convertAll(rows, snapshotFromRow), nil
}

// SnapshotBuckets summarises the successful snapshots of all providers per
// time bucket.
func (s *Store) SnapshotBuckets(ctx context.Context, from, to time.Time, bucketSeconds int64) ([]store.SnapshotBucket, error) {
	op := "summarise provider snapshots"
	if bucketSeconds <= 0 {
		return nil, fmt.Errorf("%s: %w: bucket width %d s", op, store.ErrInvalid, bucketSeconds)
	}
	rows, err := s.q.ProviderSnapshotBuckets(ctx, pgdb.ProviderSnapshotBucketsParams{BucketSeconds: bucketSeconds, TakenFrom: nullTime(from), TakenTo: nullTime(to)})
	if err != nil {
		return nil, mapErr(op, err)
	}
	out := make([]store.SnapshotBucket, len(rows))
	for i, r := range rows {
		out[i] = store.SnapshotBucket{Start: time.Unix(r.Bucket, 0).UTC(), VRAMUsedBytes: r.VramBytes,
			Waiting: max(r.Waiting, 0), WaitingKnown: r.Waiting >= 0}
	}
	return out, nil
}

// bucketSeconds checks a downsampling width: whole seconds, at least one.
func bucketSeconds(d time.Duration) (int64, error) {
	if d < time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("%w: bucket width %v must be whole seconds", store.ErrInvalid, d)
	}
	return int64(d / time.Second), nil
}
