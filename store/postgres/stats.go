package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres/internal/pgdb"
)

var _ store.UsageStatsStore = (*Store)(nil)

// scanPageSize is how many records ScanUsage reads per query.
const scanPageSize = 1000

// readOnlySnapshot runs the statistics queries of one call on one snapshot.
var readOnlySnapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// rangeBounds returns the received_at bounds of [from, to): a zero bound is
// open, passed as an infinite timestamp so that the range condition stays
// sargable.
func rangeBounds(from, to time.Time) (lo, hi pgtype.Timestamptz) {
	lo = pgtype.Timestamptz{Time: from, Valid: true}
	if from.IsZero() {
		lo = pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	}
	hi = pgtype.Timestamptz{Time: to, Valid: true}
	if to.IsZero() {
		hi = pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	}
	return lo, hi
}

// UsageTotals implements [store.UsageStatsStore]. Without DimTokenType it runs
// one aggregation over the records, whose total_tokens column holds each
// request's total; with it, one aggregation over the tokens, per type.
func (s *Store) UsageTotals(ctx context.Context, q store.UsageQuery) ([]store.UsageBucket, error) {
	const op = "usage totals"
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", op, err)
	}
	lo, hi := rangeBounds(q.From, q.To)
	var stride pgtype.Interval // NULL: no time buckets
	switch q.Interval {
	case store.IntervalHour:
		stride = pgtype.Interval{Microseconds: time.Hour.Microseconds(), Valid: true}
	case store.IntervalDay:
		stride = pgtype.Interval{Days: 1, Valid: true}
	}
	byType := q.Groups(store.DimTokenType)
	// Hourly and daily buckets and whole ranges are unions of whole hours.
	hlo, hhi := rollupHours(q.From, q.To, true, hi)
	// Daily rows serve whole days unless the buckets are hours.
	dlo, dhi := rollupDays(hlo, hhi, q.Interval != store.IntervalHour)
	var buckets []store.UsageBucket
	err := s.inTx(ctx, readOnlySnapshot, func(qs *pgdb.Queries) error {
		if err := qs.TuneStatsTransaction(ctx); err != nil {
			return fmt.Errorf("tune: %w", err)
		}
		if !byType {
			recs, err := s.recordTotals(ctx, qs, pgdb.RollupRecordTotalsParams{
				Stride: stride, ReceivedFrom: lo, ReceivedTo: hi, HourFrom: hlo, HourTo: hhi, DayFrom: dlo, DayTo: dhi,
				ProcessID: q.ProcessID, UserID: q.UserID,
				ByProcess: q.Groups(store.DimProcess), ByProfile: q.Groups(store.DimProfile),
				ByUser: q.Groups(store.DimUser), ByModel: q.Groups(store.DimModel),
				ByProvider: q.Groups(store.DimProvider),
			})
			if err != nil {
				return fmt.Errorf("records: %w", err)
			}
			for _, r := range recs {
				buckets = append(buckets, store.UsageBucket{
					Start: fromTime(r.Bucket),
					Key: store.UsageKey{ProcessID: r.ProcessID, ProfileID: r.ProfileID, UserID: r.UserID,
						Model: r.ModelName, Provider: r.ProviderName},
					Requests: r.Requests, Errors: r.Errors, Tokens: r.Tokens, CostMicros: r.CostMicros, Currency: r.Currency,
				})
			}
			return nil
		}
		types, err := qs.ListTokenTypes(ctx)
		if err != nil {
			return fmt.Errorf("token types: %w", err)
		}
		typeNames := make(map[int64]string, len(types))
		for _, t := range types {
			typeNames[t.ID] = t.Name
		}
		toks, err := s.tokenTotals(ctx, qs, pgdb.RollupTokenTotalsParams{
			Stride: stride, ReceivedFrom: lo, ReceivedTo: hi, HourFrom: hlo, HourTo: hhi,
			ProcessID: q.ProcessID, UserID: q.UserID,
			ByProcess: q.Groups(store.DimProcess), ByProfile: q.Groups(store.DimProfile),
			ByUser: q.Groups(store.DimUser), ByModel: q.Groups(store.DimModel),
			ByProvider: q.Groups(store.DimProvider), ByTokenType: byType,
		})
		if err != nil {
			return fmt.Errorf("tokens: %w", err)
		}
		for _, r := range toks {
			buckets = append(buckets, store.UsageBucket{
				Start: fromTime(r.Bucket),
				Key: store.UsageKey{ProcessID: r.ProcessID, ProfileID: r.ProfileID, UserID: r.UserID,
					Model: r.ModelName, Provider: r.ProviderName, TokenType: typeNames[r.TokenTypeID]},
				Requests: r.Requests, Errors: r.Errors, Tokens: r.Tokens, CostMicros: r.CostMicros, Currency: r.Currency,
			})
		}
		return nil
	})
	if err != nil {
		return nil, mapErr(op, err)
	}
	return store.MergeUsageBuckets(buckets), nil
}

// RequestStats implements [store.UsageStatsStore].
func (s *Store) RequestStats(ctx context.Context, q store.RequestStatsQuery) (store.RequestStats, error) {
	const op = "request stats"
	if err := q.Validate(); err != nil {
		return store.RequestStats{}, fmt.Errorf("postgres: %s: %w", op, err)
	}
	lo, hi := rangeBounds(q.From, q.To)
	hlo, hhi := rollupHours(q.From, q.To, true, hi)
	// The series reads the rollup only if its buckets are made of whole hours.
	slo, shi := rollupHours(q.From, q.To, q.BucketSeconds%3600 == 0, hi)
	dlo, dhi := rollupDays(hlo, hhi, true)
	sdlo, sdhi := rollupDays(slo, shi, q.BucketSeconds%86400 == 0)
	var out store.RequestStats
	err := s.inTx(ctx, readOnlySnapshot, func(qs *pgdb.Queries) error {
		if err := qs.TuneStatsTransaction(ctx); err != nil {
			return fmt.Errorf("tune: %w", err)
		}
		models, err := s.requestStatsByModel(ctx, qs, pgdb.RollupRequestStatsByModelParams{
			ReceivedFrom: lo, ReceivedTo: hi, HourFrom: hlo, HourTo: hhi, DayFrom: dlo, DayTo: dhi, ProcessID: q.ProcessID,
		})
		if err != nil {
			return fmt.Errorf("by model: %w", err)
		}
		for _, m := range models {
			if t := fromTime(m.LastReceivedAt); t.After(out.LastReceivedAt) {
				out.LastReceivedAt = t
			}
			out.Models = append(out.Models, store.ModelRequestStats{
				ModelID: m.ModelID, ModelName: m.ModelName, ProviderName: m.ProviderName,
				RequestCounts: store.RequestCounts{
					Requests: m.Requests, CloudRequests: m.CloudRequests, ColdStarts: m.ColdStarts,
					Success: m.Success, Error: m.Error, Timeout: m.Timeout, Other: m.Other, Errors: m.Errors,
					QueueSeconds: m.QueueSeconds, RunSeconds: m.RunSeconds, Runs: m.Runs,
					ColdRunSeconds: m.ColdRunSeconds, ColdRuns: m.ColdRuns,
				},
			})
		}
		series, err := s.requestStatsSeries(ctx, qs, pgdb.RollupRequestStatsSeriesParams{
			BucketSeconds: q.BucketSeconds, ReceivedFrom: lo, ReceivedTo: hi, HourFrom: slo, HourTo: shi,
			DayFrom: sdlo, DayTo: sdhi,
			ProcessID: q.ProcessID,
		})
		if err != nil {
			return fmt.Errorf("series: %w", err)
		}
		for _, p := range series {
			out.Series = append(out.Series, store.RequestPoint{
				Start: fromTime(p.Bucket),
				RequestCounts: store.RequestCounts{
					Requests: p.Requests, CloudRequests: p.CloudRequests, ColdStarts: p.ColdStarts,
					Errors: p.Errors, RunSeconds: p.RunSeconds, Runs: p.Runs,
				},
			})
		}
		return nil
	})
	if err != nil {
		return store.RequestStats{}, mapErr(op, err)
	}
	store.SortModelRequestStats(out.Models)
	return out, nil
}

// ScanUsage implements [store.UsageStatsStore]. Each page is its own query
// (keyset pagination on received_at and id), so no transaction or connection
// is held while fn runs.
func (s *Store) ScanUsage(ctx context.Context, f store.UsageFilter, fn func(store.UsageRecord) error) error {
	const op = "scan usage"
	lo, hi := rangeBounds(f.From, f.To)
	p := pgdb.ScanUsagePageParams{
		ReceivedFrom: lo, ReceivedTo: hi, ProcessID: f.ProcessID,
		AfterReceivedAt: pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true},
		MaxRows:         scanPageSize,
	}
	for {
		rows, err := s.q.ScanUsagePage(ctx, p)
		if err != nil {
			return mapErr(op, err)
		}
		if len(rows) == 0 {
			return nil
		}
		ids := make([]int64, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		toks, err := s.q.ListUsageTokens(ctx, ids)
		if err != nil {
			return mapErr(op, fmt.Errorf("tokens: %w", err))
		}
		byID := make(map[int64][]store.TokenCount, len(rows))
		for _, t := range toks {
			byID[t.UsageID] = append(byID[t.UsageID], store.TokenCount{Type: t.Name, Count: t.Count, CostMicros: t.CostMicros})
		}
		for _, r := range rows {
			rec := scanRowToUsage(r)
			rec.Tokens = byID[r.ID]
			if err := fn(rec); err != nil {
				return err
			}
		}
		if len(rows) < scanPageSize {
			return nil
		}
		last := rows[len(rows)-1]
		p.AfterReceivedAt, p.AfterID = last.ReceivedAt, last.ID
	}
}

// scanRowToUsage converts a ScanUsagePage row.
func scanRowToUsage(r pgdb.ScanUsagePageRow) store.UsageRecord {
	return store.UsageRecord{
		ID:                 r.ID,
		RequestID:          r.RequestID,
		ProcessID:          fromNullID(r.ProcessID),
		ProfileID:          fromNullID(r.ProfileID),
		ModelID:            fromNullID(r.ModelID),
		ProviderID:         fromNullID(r.ProviderID),
		DeploymentID:       fromNullID(r.DeploymentID),
		PolicyID:           fromNullID(r.PolicyID),
		ClassifiedBy:       r.ClassifiedBy,
		ClassificationTime: time.Duration(r.ClassificationUs) * time.Microsecond,
		ModelName:          r.ModelName,
		ProviderName:       r.ProviderName,
		Operation:          r.Operation,
		Stream:             r.Stream,
		ReceivedAt:         fromTime(r.ReceivedAt),
		ForwardedAt:        fromTime(r.ForwardedAt),
		FirstTokenAt:       fromTime(r.FirstTokenAt),
		CompletedAt:        fromTime(r.CompletedAt),
		StatusCode:         int(r.StatusCode),
		Outcome:            store.Outcome(r.Outcome),
		ErrorMessage:       r.ErrorMessage,
		ClientIP:           r.ClientIp,
		Priority:           int(r.Priority),
		QueueWait:          time.Duration(r.QueueWaitUs) * time.Microsecond,
		ColdStart:          r.ColdStart,
		LogLevel:           store.LogLevel(r.LogLevel),
		CostMicros:         r.CostMicros,
		Currency:           r.Currency,
	}
}
