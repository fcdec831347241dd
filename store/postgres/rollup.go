package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres/internal/pgdb"
)

// Usage at scale (migration 00016): usage_records and usage_tokens are
// partitioned by UTC month, and usage_rollup and usage_token_rollup hold
// hourly sums that InsertUsage maintains in the transaction that inserts the
// records. Maintaining them there rather than in a background job keeps them
// exact at every commit: no watermark, no record arriving late (a replay of
// the usage log after a crash, a long request) can be missed, and the
// statistics need not know how far a job got. It costs one round trip per
// batch (both upserts in one pgx.Batch), upserting a row per distinct key of
// the batch (a few dozen), which
// the smaller per-month indexes of the partitioned tables more than pay for
// at scale (docs/usage-at-scale.md).

// EnsureUsagePartitions creates the monthly partitions of the usage tables
// for every month from the one containing from to the one containing to that
// has none yet, and returns how many it created. Records of a month without
// a partition go to a DEFAULT partition, so a missing month never loses
// records, but logosd creates them ahead ([Store.MaintainUsagePartitions]).
func (s *Store) EnsureUsagePartitions(ctx context.Context, from, to time.Time) (int, error) {
	n, err := s.q.EnsureUsagePartitions(ctx, pgdb.EnsureUsagePartitionsParams{
		FromAt: pgtype.Timestamptz{Time: from, Valid: true}, ToAt: pgtype.Timestamptz{Time: to, Valid: true},
	})
	if err != nil {
		return 0, mapErr("ensure usage partitions", err)
	}
	return int(n), nil
}

// DropUsageBefore deletes the usage received before the UTC month containing
// cutoff: whole monthly partitions are detached and dropped, and the rollups
// of those months deleted, so that statistics keep matching the records. The
// month containing cutoff is kept in full. It returns how many monthly
// partitions it dropped.
func (s *Store) DropUsageBefore(ctx context.Context, cutoff time.Time) (int, error) {
	n, err := s.q.DropUsageBefore(ctx, pgtype.Timestamptz{Time: cutoff, Valid: true})
	if err != nil {
		return 0, mapErr("drop usage", err)
	}
	return int(n), nil
}

// UsagePartitionConfig configures MaintainUsagePartitions.
type UsagePartitionConfig struct {
	// Ahead is how far ahead of now partitions are created. Defaults to 60
	// days (the current month and the next two).
	Ahead time.Duration
	// Retention is how long usage is kept; older whole months are dropped.
	// Zero keeps usage forever.
	Retention time.Duration
	// Interval is how often the partitions are checked. Defaults to 6h.
	Interval time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// MaintainUsagePartitions creates the usage partitions ahead and applies the
// retention at once and then every cfg.Interval, until ctx ends. Failures are
// logged and retried at the next tick. It returns when ctx is done; the
// caller owns the goroutine that runs it.
func (s *Store) MaintainUsagePartitions(ctx context.Context, cfg UsagePartitionConfig) {
	if cfg.Ahead <= 0 {
		cfg.Ahead = 60 * 24 * time.Hour
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 6 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		s.maintainUsageOnce(ctx, cfg)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// maintainUsageOnce runs one round of MaintainUsagePartitions.
func (s *Store) maintainUsageOnce(ctx context.Context, cfg UsagePartitionConfig) {
	now := cfg.Now()
	if n, err := s.EnsureUsagePartitions(ctx, now, now.Add(cfg.Ahead)); err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "postgres: creating usage partitions", "error", err)
		}
	} else if n > 0 {
		s.log.InfoContext(ctx, "postgres: created usage partitions", "months", n)
	}
	if cfg.Retention <= 0 {
		return
	}
	if n, err := s.DropUsageBefore(ctx, now.Add(-cfg.Retention)); err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "postgres: dropping old usage partitions", "error", err)
		}
	} else if n > 0 {
		s.log.InfoContext(ctx, "postgres: dropped old usage partitions", "months", n)
	}
}

// rollupKey is the key of a usage_rollup row.
type rollupKey struct {
	daily                             bool  // a daily row; hour is the day's start
	hour                              int64 // Unix microseconds
	processID, profileID, modelID     int64
	modelName, providerName, currency string
	outcome                           string
	coldStart                         bool
}

// rollupSums are the sums of a usage_rollup row.
type rollupSums struct {
	requests, withErrorMessage, costMicros, totalTokens, queueWaitUs, runUs, runs int64
	lastReceivedAt                                                                int64 // Unix microseconds
}

// tokenRollupKey is the key of a usage_token_rollup row.
type tokenRollupKey struct {
	hour                              int64
	processID, profileID              int64
	modelName, providerName, currency string
	typeName                          string
}

// tokenRollupSums are the sums of a usage_token_rollup row.
type tokenRollupSums struct{ requests, errors, tokens, costMicros int64 }

// microHour returns the start of the UTC hour containing the Unix
// microsecond us.
func microHour(us int64) int64 {
	const hour = int64(time.Hour / time.Microsecond)
	h := us / hour * hour
	if h > us {
		h -= hour
	}
	return h
}

// microDay returns the start of the UTC day containing the Unix microsecond
// us.
func microDay(us int64) int64 {
	const day = int64(24 * time.Hour / time.Microsecond)
	d := us / day * day
	if d > us {
		d -= day
	}
	return d
}

// microTime converts Unix microseconds to a timestamptz.
func microTime(us int64) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: time.UnixMicro(us).UTC(), Valid: true}
}

// rollupBatch sums the records of p (the insert's parameters, with the
// references that exist) whose request ids are in inserted into the rows the
// rollups get. Times are taken in whole microseconds, as PostgreSQL stores
// them, so the sums equal what the database computes from the records.
func rollupBatch(b *usageBatch, p pgdb.InsertUsageRecordsParams, inserted map[string]bool) (pgdb.UpsertUsageRollupParams, pgdb.UpsertUsageTokenRollupParams) {
	sums := make(map[rollupKey]*rollupSums)
	toks := make(map[tokenRollupKey]*tokenRollupSums)
	for i, id := range p.RequestIds {
		if !inserted[id] {
			continue
		}
		recv := p.ReceivedAts[i].Time.UnixMicro()
		k := rollupKey{
			hour: microHour(recv), processID: p.ProcessIds[i], profileID: p.ProfileIds[i], modelID: p.ModelIds[i],
			modelName: p.ModelNames[i], providerName: p.ProviderNames[i], currency: p.Currencies[i],
			outcome: p.Outcomes[i], coldStart: p.ColdStarts[i],
		}
		day := k
		day.daily, day.hour = true, microDay(recv)
		for _, k := range []rollupKey{k, day} {
			s := sums[k]
			if s == nil {
				s = &rollupSums{lastReceivedAt: recv}
				sums[k] = s
			}
			s.requests++
			if p.ErrorMessages[i] != "" {
				s.withErrorMessage++
			}
			s.costMicros += p.CostMicros[i]
			s.totalTokens += p.TotalTokens[i]
			s.queueWaitUs += p.QueueWaitUs[i]
			if f, c := p.ForwardedAts[i], p.CompletedAts[i]; f.Valid && c.Valid {
				s.runUs += c.Time.UnixMicro() - f.Time.UnixMicro()
				s.runs++
			}
			s.lastReceivedAt = max(s.lastReceivedAt, recv)
		}
		errored := int64(0)
		if p.Outcomes[i] != string(store.OutcomeSuccess) {
			errored = 1
		}
		for _, t := range b.tokens[id] {
			tk := tokenRollupKey{hour: k.hour, processID: k.processID, profileID: k.profileID,
				modelName: k.modelName, providerName: k.providerName, currency: k.currency, typeName: t.Type}
			ts := toks[tk]
			if ts == nil {
				ts = &tokenRollupSums{}
				toks[tk] = ts
			}
			ts.requests++
			ts.errors += errored
			ts.tokens += t.Count
			ts.costMicros += t.CostMicros
		}
	}

	// Sorted, so that concurrent batches lock the rows they share in one
	// order.
	keys := make([]rollupKey, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b rollupKey) int {
		return cmp.Or(compareBool(a.daily, b.daily), cmp.Compare(a.hour, b.hour), cmp.Compare(a.processID, b.processID),
			cmp.Compare(a.profileID, b.profileID), cmp.Compare(a.modelID, b.modelID),
			cmp.Compare(a.modelName, b.modelName), cmp.Compare(a.providerName, b.providerName),
			cmp.Compare(a.currency, b.currency), cmp.Compare(a.outcome, b.outcome),
			compareBool(a.coldStart, b.coldStart))
	})
	var rp pgdb.UpsertUsageRollupParams
	for _, k := range keys {
		s := sums[k]
		rp.Dailies = append(rp.Dailies, k.daily)
		rp.Hours = append(rp.Hours, microTime(k.hour))
		rp.ProcessIds = append(rp.ProcessIds, k.processID)
		rp.ProfileIds = append(rp.ProfileIds, k.profileID)
		rp.ModelIds = append(rp.ModelIds, k.modelID)
		rp.ModelNames = append(rp.ModelNames, k.modelName)
		rp.ProviderNames = append(rp.ProviderNames, k.providerName)
		rp.Currencies = append(rp.Currencies, k.currency)
		rp.Outcomes = append(rp.Outcomes, k.outcome)
		rp.ColdStarts = append(rp.ColdStarts, k.coldStart)
		rp.Requests = append(rp.Requests, s.requests)
		rp.WithErrorMessages = append(rp.WithErrorMessages, s.withErrorMessage)
		rp.CostMicros = append(rp.CostMicros, s.costMicros)
		rp.TotalTokens = append(rp.TotalTokens, s.totalTokens)
		rp.QueueWaitUs = append(rp.QueueWaitUs, s.queueWaitUs)
		rp.RunUs = append(rp.RunUs, s.runUs)
		rp.Runs = append(rp.Runs, s.runs)
		rp.LastReceivedAts = append(rp.LastReceivedAts, microTime(s.lastReceivedAt))
	}

	tkeys := make([]tokenRollupKey, 0, len(toks))
	for k := range toks {
		tkeys = append(tkeys, k)
	}
	slices.SortFunc(tkeys, func(a, b tokenRollupKey) int {
		return cmp.Or(cmp.Compare(a.hour, b.hour), cmp.Compare(a.processID, b.processID),
			cmp.Compare(a.profileID, b.profileID), cmp.Compare(a.modelName, b.modelName),
			cmp.Compare(a.providerName, b.providerName), cmp.Compare(a.currency, b.currency),
			cmp.Compare(a.typeName, b.typeName))
	})
	var tp pgdb.UpsertUsageTokenRollupParams
	for _, k := range tkeys {
		s := toks[k]
		tp.Hours = append(tp.Hours, microTime(k.hour))
		tp.ProcessIds = append(tp.ProcessIds, k.processID)
		tp.ProfileIds = append(tp.ProfileIds, k.profileID)
		tp.ModelNames = append(tp.ModelNames, k.modelName)
		tp.ProviderNames = append(tp.ProviderNames, k.providerName)
		tp.Currencies = append(tp.Currencies, k.currency)
		tp.TypeNames = append(tp.TypeNames, k.typeName)
		tp.Requests = append(tp.Requests, s.requests)
		tp.Errors = append(tp.Errors, s.errors)
		tp.Tokens = append(tp.Tokens, s.tokens)
		tp.CostMicros = append(tp.CostMicros, s.costMicros)
	}
	return rp, tp
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}

// updateRollups adds the records of the batch that were inserted to the
// rollups, in the insert's transaction. Both upserts go in one pgx.Batch: one
// round trip instead of two.
func updateRollups(ctx context.Context, q *pgdb.Queries, b *usageBatch, p pgdb.InsertUsageRecordsParams, inserted map[string]bool) error {
	rp, tp := rollupBatch(b, p, inserted)
	var batch pgx.Batch
	if len(rp.Hours) > 0 {
		pgdb.QueueUpsertUsageRollup(&batch, rp)
	}
	if len(tp.Hours) > 0 {
		pgdb.QueueUpsertUsageTokenRollup(&batch, tp)
	}
	if batch.Len() == 0 {
		return nil
	}
	br, err := q.SendBatch(ctx, &batch)
	if err != nil {
		return fmt.Errorf("rollup: %w", err)
	}
	defer br.Close()
	if len(rp.Hours) > 0 {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("rollup: %w", err)
		}
	}
	if len(tp.Hours) > 0 {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("token rollup: %w", err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("rollup: %w", err)
	}
	return nil
}

// rollupHours returns the whole UTC hours [hlo, hhi) of the range [lo, hi)
// that the rollups serve; the records serve the rest. When usable is false,
// or the range holds no whole hour, it returns hlo = hhi = hi: records only.
func rollupHours(from, to time.Time, usable bool, hi pgtype.Timestamptz) (hlo, hhi pgtype.Timestamptz) {
	if !usable {
		return hi, hi
	}
	hlo = pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	if !from.IsZero() {
		t := from.Truncate(time.Hour)
		if t.Before(from) {
			t = t.Add(time.Hour)
		}
		hlo = pgtype.Timestamptz{Time: t, Valid: true}
	}
	hhi = pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	if !to.IsZero() {
		hhi = pgtype.Timestamptz{Time: to.Truncate(time.Hour), Valid: true}
	}
	if !from.IsZero() && !to.IsZero() && !hlo.Time.Before(hhi.Time) {
		return hi, hi
	}
	return hlo, hhi
}

// rollupDays returns the whole UTC days [dlo, dhi) of the rollup hours
// [hlo, hhi) (from rollupHours) that the daily rollup rows serve; the hourly
// rows serve the rest. When usable is false, or there is no whole day, it
// returns dlo = dhi = hhi: hourly rows only.
func rollupDays(hlo, hhi pgtype.Timestamptz, usable bool) (dlo, dhi pgtype.Timestamptz) {
	if !usable || (hlo.InfinityModifier == pgtype.Finite && hhi.InfinityModifier == pgtype.Finite && !hlo.Time.Before(hhi.Time)) {
		return hhi, hhi
	}
	dlo, dhi = hlo, hhi
	if hlo.InfinityModifier == pgtype.Finite {
		t := hlo.Time.Truncate(24 * time.Hour)
		if t.Before(hlo.Time) {
			t = t.Add(24 * time.Hour)
		}
		dlo = pgtype.Timestamptz{Time: t, Valid: true}
	}
	if hhi.InfinityModifier == pgtype.Finite {
		dhi = pgtype.Timestamptz{Time: hhi.Time.Truncate(24 * time.Hour), Valid: true}
	}
	if dlo.InfinityModifier == pgtype.Finite && dhi.InfinityModifier == pgtype.Finite && !dlo.Time.Before(dhi.Time) {
		return hhi, hhi
	}
	return dlo, dhi
}

// The statistics call these instead of the queries: with noRollup set they
// run the queries that read only the records (stats.sql), whose rows have the
// same fields.

func (s *Store) recordTotals(ctx context.Context, qs *pgdb.Queries, p pgdb.RollupRecordTotalsParams) ([]pgdb.RollupRecordTotalsRow, error) {
	if !s.noRollup {
		return qs.RollupRecordTotals(ctx, p)
	}
	rows, err := qs.UsageRecordTotals(ctx, pgdb.UsageRecordTotalsParams{
		Stride: p.Stride, ReceivedFrom: p.ReceivedFrom, ReceivedTo: p.ReceivedTo, ProcessID: p.ProcessID, UserID: p.UserID,
		ByProcess: p.ByProcess, ByProfile: p.ByProfile, ByUser: p.ByUser, ByModel: p.ByModel, ByProvider: p.ByProvider,
	})
	return convertAll(rows, func(r pgdb.UsageRecordTotalsRow) pgdb.RollupRecordTotalsRow { return pgdb.RollupRecordTotalsRow(r) }), err
}

func (s *Store) tokenTotals(ctx context.Context, qs *pgdb.Queries, p pgdb.RollupTokenTotalsParams) ([]pgdb.RollupTokenTotalsRow, error) {
	if !s.noRollup {
		return qs.RollupTokenTotals(ctx, p)
	}
	rows, err := qs.UsageTokenTotals(ctx, pgdb.UsageTokenTotalsParams{
		Stride: p.Stride, ReceivedFrom: p.ReceivedFrom, ReceivedTo: p.ReceivedTo, ProcessID: p.ProcessID, UserID: p.UserID,
		ByProcess: p.ByProcess, ByProfile: p.ByProfile, ByUser: p.ByUser, ByModel: p.ByModel, ByProvider: p.ByProvider,
		ByTokenType: p.ByTokenType,
	})
	return convertAll(rows, func(r pgdb.UsageTokenTotalsRow) pgdb.RollupTokenTotalsRow { return pgdb.RollupTokenTotalsRow(r) }), err
}

func (s *Store) requestStatsByModel(ctx context.Context, qs *pgdb.Queries, p pgdb.RollupRequestStatsByModelParams) ([]pgdb.RollupRequestStatsByModelRow, error) {
	if !s.noRollup {
		return qs.RollupRequestStatsByModel(ctx, p)
	}
	rows, err := qs.RequestStatsByModel(ctx, pgdb.RequestStatsByModelParams{
		ReceivedFrom: p.ReceivedFrom, ReceivedTo: p.ReceivedTo, ProcessID: p.ProcessID,
	})
	return convertAll(rows, func(r pgdb.RequestStatsByModelRow) pgdb.RollupRequestStatsByModelRow {
		return pgdb.RollupRequestStatsByModelRow(r)
	}), err
}

func (s *Store) requestStatsSeries(ctx context.Context, qs *pgdb.Queries, p pgdb.RollupRequestStatsSeriesParams) ([]pgdb.RollupRequestStatsSeriesRow, error) {
	if !s.noRollup {
		return qs.RollupRequestStatsSeries(ctx, p)
	}
	rows, err := qs.RequestStatsSeries(ctx, pgdb.RequestStatsSeriesParams{
		BucketSeconds: p.BucketSeconds, ReceivedFrom: p.ReceivedFrom, ReceivedTo: p.ReceivedTo, ProcessID: p.ProcessID,
	})
	return convertAll(rows, func(r pgdb.RequestStatsSeriesRow) pgdb.RollupRequestStatsSeriesRow {
		return pgdb.RollupRequestStatsSeriesRow(r)
	}), err
}
