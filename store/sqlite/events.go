package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

// InsertProviderSnapshot stores sn. A zero TakenAt is stored as now and nil
// LoadedModels as []; the provider must exist (else store.ErrInvalid).
func (s *Store) InsertProviderSnapshot(ctx context.Context, sn store.ProviderSnapshot) (store.ProviderSnapshot, error) {
	if err := checkTime("taken at", sn.TakenAt); err != nil {
		return store.ProviderSnapshot{}, mapErr("insert provider snapshot", err)
	}
	takenAt := sn.TakenAt
	if takenAt.IsZero() {
		takenAt = now()
	}
	row, err := s.w.InsertProviderSnapshot(ctx, sqlitedb.InsertProviderSnapshotParams{
		ProviderID:      sn.ProviderID,
		TakenAt:         formatTime(takenAt),
		ModelsLoaded:    int64(sn.ModelsLoaded),
		VramUsedBytes:   sn.VRAMUsedBytes,
		LoadedModels:    jsonInOr(sn.LoadedModels, "[]"),
		PollSuccess:     boolInt(sn.PollSuccess),
		ErrorMessage:    sn.ErrorMessage,
		RunningRequests: sql.NullInt64{Int64: int64(sn.RunningRequests), Valid: sn.QueueKnown},
		WaitingRequests: sql.NullInt64{Int64: int64(sn.WaitingRequests), Valid: sn.QueueKnown},
	})
	if err != nil {
		return store.ProviderSnapshot{}, mapErr(fmt.Sprintf("insert snapshot of provider %d", sn.ProviderID), err)
	}
	return decodeOne("insert provider snapshot", row, snapshotFromRow)
}

// ListProviderSnapshots returns a provider's snapshots with TakenAt in
// [from, to), oldest first. A zero from or to leaves that side open.
func (s *Store) ListProviderSnapshots(ctx context.Context, providerID int64, from, to time.Time) ([]store.ProviderSnapshot, error) {
	op := fmt.Sprintf("list snapshots of provider %d", providerID)
	if err := checkTime("from", from); err != nil {
		return nil, mapErr(op, err)
	}
	if err := checkTime("to", to); err != nil {
		return nil, mapErr(op, err)
	}
	lo, hi := timeBounds(from, to)
	rows, err := s.r.ListProviderSnapshots(ctx, sqlitedb.ListProviderSnapshotsParams{
		ProviderID: providerID,
		TakenFrom:  lo,
		TakenTo:    hi,
	})
	if err != nil {
		return nil, mapErr(op, err)
	}
	return decodeAll(op, rows, snapshotFromRow)
}

// DeleteProviderSnapshotsBefore deletes at most limit snapshots taken before
// t, oldest first, and returns how many it deleted.
func (s *Store) DeleteProviderSnapshotsBefore(ctx context.Context, t time.Time, limit int) (int64, error) {
	op := "delete old provider snapshots"
	if limit <= 0 {
		return 0, mapErr(op, fmt.Errorf("%w: limit %d", store.ErrInvalid, limit))
	}
	if err := checkTime("before", t); err != nil {
		return 0, mapErr(op, err)
	}
	n, err := s.w.DeleteProviderSnapshotsBefore(ctx, sqlitedb.DeleteProviderSnapshotsBeforeParams{TakenBefore: formatTime(t), MaxRows: int64(limit)})
	if err != nil {
		return 0, mapErr(op, err)
	}
	return n, nil
}

// LatestProviderSnapshots returns a provider's latest successful snapshot
// of each bucket taken in [from, to), oldest first.
func (s *Store) LatestProviderSnapshots(ctx context.Context, providerID int64, from, to time.Time, bucket time.Duration) ([]store.ProviderSnapshot, error) {
	op := fmt.Sprintf("downsample snapshots of provider %d", providerID)
	if bucket < time.Second || bucket%time.Second != 0 {
		return nil, mapErr(op, fmt.Errorf("%w: bucket width %v must be whole seconds", store.ErrInvalid, bucket))
	}
	if err := checkTime("from", from); err != nil {
		return nil, mapErr(op, err)
	}
	if err := checkTime("to", to); err != nil {
		return nil, mapErr(op, err)
	}
	lo, hi := timeBounds(from, to)
	rows, err := s.r.ListProviderSnapshotsLatest(ctx, sqlitedb.ListProviderSnapshotsLatestParams{
		BucketSeconds: int64(bucket / time.Second), ProviderID: providerID, TakenFrom: lo, TakenTo: hi,
	})
	if err != nil {
		return nil, mapErr(op, err)
	}
	return decodeAll(op, rows, func(d *decoder, r sqlitedb.ListProviderSnapshotsLatestRow) store.ProviderSnapshot {
		return snapshotFromRow(d, sqlitedb.ProviderSnapshot{ID: r.ID, ProviderID: r.ProviderID, TakenAt: r.TakenAt,
			ModelsLoaded: r.ModelsLoaded, VramUsedBytes: r.VramUsedBytes, LoadedModels: r.LoadedModels,
			PollSuccess: r.PollSuccess, ErrorMessage: r.ErrorMessage, RunningRequests: r.RunningRequests, WaitingRequests: r.WaitingRequests})
	})
}

// MaxProviderVRAM returns the highest VRAM use of a provider's successful
// snapshots taken in [from, to), 0 if none.
func (s *Store) MaxProviderVRAM(ctx context.Context, providerID int64, from, to time.Time) (int64, error) {
	op := fmt.Sprintf("highest VRAM of provider %d", providerID)
	if err := checkTime("from", from); err != nil {
		return 0, mapErr(op, err)
	}
	if err := checkTime("to", to); err != nil {
		return 0, mapErr(op, err)
	}
	lo, hi := timeBounds(from, to)
	v, err := s.r.MaxProviderSnapshotVRAM(ctx, sqlitedb.MaxProviderSnapshotVRAMParams{ProviderID: providerID, TakenFrom: lo, TakenTo: hi})
	if err != nil {
		return 0, mapErr(op, err)
	}
	return v, nil
}

// SnapshotBuckets summarises the successful snapshots of all providers per
// time bucket.
func (s *Store) SnapshotBuckets(ctx context.Context, from, to time.Time, bucketSeconds int64) ([]store.SnapshotBucket, error) {
	op := "summarise provider snapshots"
	if bucketSeconds <= 0 {
		return nil, mapErr(op, fmt.Errorf("%w: bucket width %d s", store.ErrInvalid, bucketSeconds))
	}
	if err := checkTime("from", from); err != nil {
		return nil, mapErr(op, err)
	}
	if err := checkTime("to", to); err != nil {
		return nil, mapErr(op, err)
	}
	lo, hi := timeBounds(from, to)
	rows, err := s.r.ProviderSnapshotBuckets(ctx, sqlitedb.ProviderSnapshotBucketsParams{BucketSeconds: bucketSeconds, TakenFrom: lo, TakenTo: hi})
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
