package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

var _ store.UsageStatsStore = (*Store)(nil)

// scanPageSize is how many records ScanUsage reads per query; it is at most
// tokenChunk so that one token query covers a page.
const scanPageSize = tokenChunk

// statsRange returns the stored bounds of [from, to) after checking that both
// can be stored.
func statsRange(from, to time.Time) (lo, hi string, err error) {
	if err := checkTime("from", from); err != nil {
		return "", "", err
	}
	if err := checkTime("to", to); err != nil {
		return "", "", err
	}
	lo, hi = timeBounds(from, to)
	return lo, hi, nil
}

// UsageTotals implements [store.UsageStatsStore]. Without DimTokenType it runs
// one aggregation over the records, whose total_tokens column holds each
// request's total; with it, one aggregation over the tokens, per type.
func (s *Store) UsageTotals(ctx context.Context, q store.UsageQuery) ([]store.UsageBucket, error) {
	const op = "usage totals"
	if err := q.Validate(); err != nil {
		return nil, mapErr(op, err)
	}
	lo, hi, err := statsRange(q.From, q.To)
	if err != nil {
		return nil, mapErr(op, err)
	}
	byType := q.Groups(store.DimTokenType)
	var buckets []store.UsageBucket
	var d decoder
	bucketStart := func(b string) time.Time {
		if b == "" {
			return time.Time{}
		}
		return d.time("bucket", b)
	}
	err = s.readTx(ctx, func(qs *sqlitedb.Queries) error {
		if !byType {
			recs, err := qs.UsageRecordTotals(ctx, sqlitedb.UsageRecordTotalsParams{
				Unit: string(q.Interval), ReceivedFrom: lo, ReceivedTo: hi, ProcessID: q.ProcessID, UserID: q.UserID,
				ByProcess: boolInt(q.Groups(store.DimProcess)), ByProfile: boolInt(q.Groups(store.DimProfile)),
				ByUser: boolInt(q.Groups(store.DimUser)), ByModel: boolInt(q.Groups(store.DimModel)),
				ByProvider: boolInt(q.Groups(store.DimProvider)),
			})
			if err != nil {
				return fmt.Errorf("records: %w", err)
			}
			for _, r := range recs {
				buckets = append(buckets, store.UsageBucket{
					Start: bucketStart(r.Bucket),
					Key: store.UsageKey{ProcessID: r.ProcessID, ProfileID: r.ProfileID, UserID: r.UserID,
						Model: r.ModelName, Provider: r.ProviderName},
					Requests: r.Requests, Errors: r.Errors, Tokens: r.Tokens, CostMicros: r.CostMicros, Currency: r.Currency,
				})
			}
			return d.err
		}
		types, err := qs.ListTokenTypes(ctx)
		if err != nil {
			return fmt.Errorf("token types: %w", err)
		}
		typeNames := make(map[int64]string, len(types))
		for _, t := range types {
			typeNames[t.ID] = t.Name
		}
		toks, err := qs.UsageTokenTotals(ctx, sqlitedb.UsageTokenTotalsParams{
			Unit: string(q.Interval), ReceivedFrom: lo, ReceivedTo: hi, ProcessID: q.ProcessID, UserID: q.UserID,
			ByProcess: boolInt(q.Groups(store.DimProcess)), ByProfile: boolInt(q.Groups(store.DimProfile)),
			ByUser: boolInt(q.Groups(store.DimUser)), ByModel: boolInt(q.Groups(store.DimModel)),
			ByProvider: boolInt(q.Groups(store.DimProvider)), ByTokenType: boolInt(byType),
		})
		if err != nil {
			return fmt.Errorf("tokens: %w", err)
		}
		for _, r := range toks {
			buckets = append(buckets, store.UsageBucket{
				Start: bucketStart(r.Bucket),
				Key: store.UsageKey{ProcessID: r.ProcessID, ProfileID: r.ProfileID, UserID: r.UserID,
					Model: r.ModelName, Provider: r.ProviderName, TokenType: typeNames[r.TokenTypeID]},
				Requests: r.Requests, Errors: r.Errors, Tokens: r.Tokens, CostMicros: r.CostMicros, Currency: r.Currency,
			})
		}
		return d.err
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
		return store.RequestStats{}, mapErr(op, err)
	}
	lo, hi, err := statsRange(q.From, q.To)
	if err != nil {
		return store.RequestStats{}, mapErr(op, err)
	}
	var out store.RequestStats
	var d decoder
	err = s.readTx(ctx, func(qs *sqlitedb.Queries) error {
		models, err := qs.RequestStatsByModel(ctx, sqlitedb.RequestStatsByModelParams{ReceivedFrom: lo, ReceivedTo: hi, ProcessID: q.ProcessID})
		if err != nil {
			return fmt.Errorf("by model: %w", err)
		}
		for _, m := range models {
			if t := d.time("last_received_at", m.LastReceivedAt); t.After(out.LastReceivedAt) {
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
		series, err := qs.RequestStatsSeries(ctx, sqlitedb.RequestStatsSeriesParams{
			BucketSeconds: q.BucketSeconds, ReceivedFrom: lo, ReceivedTo: hi, ProcessID: q.ProcessID,
		})
		if err != nil {
			return fmt.Errorf("series: %w", err)
		}
		for _, p := range series {
			out.Series = append(out.Series, store.RequestPoint{
				Start: time.Unix(p.Bucket, 0).UTC(),
				RequestCounts: store.RequestCounts{
					Requests: p.Requests, CloudRequests: p.CloudRequests, ColdStarts: p.ColdStarts,
					Errors: p.Errors, RunSeconds: p.RunSeconds, Runs: p.Runs,
				},
			})
		}
		return d.err
	})
	if err != nil {
		return store.RequestStats{}, mapErr(op, err)
	}
	store.SortModelRequestStats(out.Models)
	return out, nil
}

// ScanUsage implements [store.UsageStatsStore]. Each page is read in its own
// read transaction (keyset pagination on received_at and id), so no
// transaction is held while fn runs.
func (s *Store) ScanUsage(ctx context.Context, f store.UsageFilter, fn func(store.UsageRecord) error) error {
	const op = "scan usage"
	lo, hi, err := statsRange(f.From, f.To)
	if err != nil {
		return mapErr(op, err)
	}
	p := sqlitedb.ScanUsagePageParams{ReceivedFrom: lo, ReceivedTo: hi, ProcessID: f.ProcessID, MaxRows: scanPageSize}
	for {
		var recs []store.UsageRecord
		err := s.readTx(ctx, func(qs *sqlitedb.Queries) error {
			rows, err := qs.ScanUsagePage(ctx, p)
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				return nil
			}
			recs = make([]store.UsageRecord, len(rows))
			ids := make([]int64, len(rows))
			index := make(map[int64]int, len(rows))
			var d decoder
			for i, r := range rows {
				recs[i] = scanRowToUsage(&d, r)
				ids[i] = r.ID
				index[r.ID] = i
			}
			if d.err != nil {
				return d.err
			}
			toks, err := qs.ListUsageTokens(ctx, ids)
			if err != nil {
				return fmt.Errorf("tokens: %w", err)
			}
			for _, t := range toks {
				i := index[t.UsageID]
				recs[i].Tokens = append(recs[i].Tokens, store.TokenCount{Type: t.Name, Count: t.Count, CostMicros: t.CostMicros})
			}
			last := rows[len(rows)-1]
			p.AfterReceivedAt, p.AfterID = last.ReceivedAt, last.ID
			return nil
		})
		if err != nil {
			return mapErr(op, err)
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(recs) < scanPageSize {
			return nil
		}
	}
}

// scanRowToUsage converts a ScanUsagePage row.
func scanRowToUsage(d *decoder, r sqlitedb.ScanUsagePageRow) store.UsageRecord {
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
		Stream:             r.Stream != 0,
		ReceivedAt:         d.time("usage_records.received_at", r.ReceivedAt),
		ForwardedAt:        d.nullTime("usage_records.forwarded_at", r.ForwardedAt),
		FirstTokenAt:       d.nullTime("usage_records.first_token_at", r.FirstTokenAt),
		CompletedAt:        d.nullTime("usage_records.completed_at", r.CompletedAt),
		StatusCode:         int(r.StatusCode),
		Outcome:            store.Outcome(r.Outcome),
		ErrorMessage:       r.ErrorMessage,
		ClientIP:           r.ClientIp,
		Priority:           int(r.Priority),
		QueueWait:          time.Duration(r.QueueWaitUs) * time.Microsecond,
		ColdStart:          r.ColdStart != 0,
		LogLevel:           store.LogLevel(r.LogLevel),
		CostMicros:         r.CostMicros,
		Currency:           r.Currency,
	}
}
