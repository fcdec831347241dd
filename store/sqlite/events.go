package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

// InsertProviderSnapshot stores sn. A zero TakenAt is stored as now and nil
// LoadedModels as []; the provider must exist (else store.ErrInvalid).
func (s *Store) InsertProviderSnapshot(ctx context.Context, sn store.ProviderSnapshot) (store.ProviderSnapshot, error) {
	if err := checkTime("taken at", sn.TakenAt); err != nil {
		return store.ProviderSnapshot{}, wrap("insert provider snapshot", err)
	}
	takenAt := sn.TakenAt
	if takenAt.IsZero() {
		takenAt = now()
	}
	row, err := s.w.InsertProviderSnapshot(ctx, sqlitedb.InsertProviderSnapshotParams{
		ProviderID:    sn.ProviderID,
		TakenAt:       formatTime(takenAt),
		ModelsLoaded:  int64(sn.ModelsLoaded),
		VramUsedBytes: sn.VRAMUsedBytes,
		LoadedModels:  jsonArgOr(sn.LoadedModels, "[]"),
		PollSuccess:   boolInt(sn.PollSuccess),
		ErrorMessage:  sn.ErrorMessage,
	})
	if err != nil {
		return store.ProviderSnapshot{}, wrap(fmt.Sprintf("insert snapshot of provider %d", sn.ProviderID), err)
	}
	return decodeOne("insert provider snapshot", row, toProviderSnapshot)
}

// ListProviderSnapshots returns a provider's snapshots with TakenAt in
// [from, to), oldest first. A zero from or to leaves that side open.
func (s *Store) ListProviderSnapshots(ctx context.Context, providerID int64, from, to time.Time) ([]store.ProviderSnapshot, error) {
	op := fmt.Sprintf("list snapshots of provider %d", providerID)
	if err := checkTime("from", from); err != nil {
		return nil, wrap(op, err)
	}
	if err := checkTime("to", to); err != nil {
		return nil, wrap(op, err)
	}
	lo, hi := timeBounds(from, to)
	rows, err := s.r.ListProviderSnapshots(ctx, sqlitedb.ListProviderSnapshotsParams{
		ProviderID: providerID,
		TakenFrom:  lo,
		TakenTo:    hi,
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return decodeAll(op, rows, toProviderSnapshot)
}

func toProviderSnapshot(d *decoder, r sqlitedb.ProviderSnapshot) store.ProviderSnapshot {
	return store.ProviderSnapshot{
		ID:            r.ID,
		ProviderID:    r.ProviderID,
		TakenAt:       d.time("provider_snapshots.taken_at", r.TakenAt),
		ModelsLoaded:  int(r.ModelsLoaded),
		VRAMUsedBytes: r.VramUsedBytes,
		LoadedModels:  []byte(r.LoadedModels),
		PollSuccess:   r.PollSuccess != 0,
		ErrorMessage:  r.ErrorMessage,
	}
}
