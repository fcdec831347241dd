package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

// defaultUsageLimit is how many records ListUsage returns when the filter's
// Limit is zero.
const defaultUsageLimit = 100

// tokenChunk is how many usage ids one token query asks for, well below
// SQLite's limit on bound parameters.
const tokenChunk = 500

// usageRow is a usage record prepared for insertion.
type usageRow struct {
	params sqlitedb.InsertUsageRecordParams
	tokens []store.TokenCount // non-zero counts, one per type
}

// InsertUsage stores records in one transaction and returns how many were new.
// A record whose RequestID is already stored (or appears earlier in records)
// is skipped, tokens and all. Catalogue ids that do not exist are stored as
// NULL, JSON columns are sanitized, token types are created as needed and
// zero token counts are skipped; counts of the same type in one record are
// added up.
func (s *Store) InsertUsage(ctx context.Context, records []store.UsageRecord) (int, error) {
	if len(records) == 0 {
		return 0, nil
	}
	// Convert outside the transaction: sanitizing payloads is the costly part
	// and need not hold the write lock.
	rows := make([]usageRow, len(records))
	for i := range records {
		row, err := toUsageRow(&records[i])
		if err != nil {
			return 0, mapErr(fmt.Sprintf("insert usage record %q", records[i].RequestID), err)
		}
		rows[i] = row
	}

	start := time.Now()
	inserted := 0
	types := tokenTypes{known: &s.tokenTypes, found: map[string]int64{}}
	var c *stmtCache
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		c = newStmtCache(tx, s.writer, &s.prepared)
		var err error
		inserted, err = insertUsageRows(ctx, sqlitedb.New(c), rows, &types)
		return err
	})
	if c != nil {
		if perr := c.prepareMissing(ctx); perr != nil {
			// Only later batches are slower for it: they prepare again.
			s.log.WarnContext(ctx, "sqlite: preparing usage statements", "err", perr)
		}
	}
	if err != nil {
		return 0, mapErr(fmt.Sprintf("insert %d usage records", len(records)), err)
	}
	types.committed()
	s.log.DebugContext(ctx, "sqlite usage batch stored", "records", len(records), "new", inserted, "duration", time.Since(start))
	return inserted, nil
}

// insertUsageRows inserts rows with q, which runs in one transaction, and
// returns how many were new. Only new records get token rows.
func insertUsageRows(ctx context.Context, q *sqlitedb.Queries, rows []usageRow, types *tokenTypes) (int, error) {
	// The driver starts a goroutine per statement to watch a cancellable
	// context, which costs more than the short statements here. They run
	// without cancellation instead and the loop checks ctx before every
	// record; a cancelled ctx also rolls the transaction back.
	stmtCtx := context.WithoutCancel(ctx)
	inserted := 0
	for i := range rows {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		id, isNew, err := insertUsageRecord(stmtCtx, q, rows[i].params)
		if err != nil {
			return 0, fmt.Errorf("record %q: %w", rows[i].params.RequestID, err)
		}
		if !isNew {
			continue // already stored, tokens and all
		}
		inserted++
		for _, t := range rows[i].tokens {
			typeID, err := types.id(stmtCtx, q, t.Type)
			if err != nil {
				return 0, fmt.Errorf("record %q: token type %q: %w", rows[i].params.RequestID, t.Type, err)
			}
			err = q.InsertUsageToken(stmtCtx, sqlitedb.InsertUsageTokenParams{
				UsageID:     id,
				TokenTypeID: typeID,
				Count:       t.Count,
				CostMicros:  t.CostMicros,
			})
			if err != nil {
				return 0, fmt.Errorf("record %q: tokens %q: %w", rows[i].params.RequestID, t.Type, err)
			}
		}
	}
	return inserted, nil
}

// insertUsageRecord inserts one record and returns its id, or isNew false if
// its request id was already stored.
func insertUsageRecord(ctx context.Context, q *sqlitedb.Queries, p sqlitedb.InsertUsageRecordParams) (id int64, isNew bool, err error) {
	res, err := q.InsertUsageRecord(ctx, p)
	if err != nil {
		return 0, false, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return 0, false, err
	}
	id, err = res.LastInsertId()
	if err != nil {
		return 0, false, err
	}
	return id, true, nil
}

// tokenTypes resolves token type names to ids for one transaction.
type tokenTypes struct {
	known *sync.Map        // committed ids, shared by the store's transactions
	found map[string]int64 // ids looked up or created in this transaction
}

// id returns the id of the named token type, creating the type if needed.
func (t *tokenTypes) id(ctx context.Context, q *sqlitedb.Queries, name string) (int64, error) {
	if id, ok := t.known.Load(name); ok {
		return id.(int64), nil
	}
	if id, ok := t.found[name]; ok {
		return id, nil
	}
	id, err := tokenTypeID(ctx, q, name)
	if err != nil {
		return 0, err
	}
	t.found[name] = id
	return id, nil
}

// committed makes the ids found in the transaction known to later ones;
// call it once the transaction has committed (a rolled back one may have
// created types that do not exist).
func (t *tokenTypes) committed() {
	for name, id := range t.found {
		t.known.Store(name, id)
	}
}

// tokenTypeID returns the id of the named token type, creating it if needed.
func tokenTypeID(ctx context.Context, q *sqlitedb.Queries, name string) (int64, error) {
	tt, err := q.GetTokenTypeByName(ctx, name)
	if errors.Is(err, sql.ErrNoRows) {
		tt, err = q.CreateTokenType(ctx, name)
	}
	return tt.ID, err
}

// toUsageRow converts a record to insert parameters.
func toUsageRow(r *store.UsageRecord) (usageRow, error) {
	for _, c := range []struct {
		name string
		t    time.Time
	}{
		{"received at", r.ReceivedAt},
		{"forwarded at", r.ForwardedAt},
		{"first token at", r.FirstTokenAt},
		{"completed at", r.CompletedAt},
	} {
		if err := checkTime(c.name, c.t); err != nil {
			return usageRow{}, err
		}
	}
	if r.ReceivedAt.IsZero() {
		return usageRow{}, fmt.Errorf("received at is required: %w", store.ErrInvalid)
	}
	tokens := mergeTokens(r.Tokens)
	return usageRow{
		params: sqlitedb.InsertUsageRecordParams{
			RequestID:        r.RequestID,
			ClientRequestID:  r.ClientRequestID,
			ProcessID:        r.ProcessID,
			ProfileID:        r.ProfileID,
			ModelID:          r.ModelID,
			ProviderID:       r.ProviderID,
			DeploymentID:     r.DeploymentID,
			PolicyID:         r.PolicyID,
			ModelName:        r.ModelName,
			ProviderName:     r.ProviderName,
			Operation:        r.Operation,
			Stream:           boolInt(r.Stream),
			ReceivedAt:       formatTime(r.ReceivedAt),
			ForwardedAt:      nullTime(r.ForwardedAt),
			FirstTokenAt:     nullTime(r.FirstTokenAt),
			CompletedAt:      nullTime(r.CompletedAt),
			StatusCode:       int64(r.StatusCode),
			Outcome:          string(r.Outcome),
			ErrorMessage:     r.ErrorMessage,
			ClientIp:         r.ClientIP,
			Priority:         int64(r.Priority),
			QueueWaitUs:      r.QueueWait.Microseconds(),
			ColdStart:        boolInt(r.ColdStart),
			LogLevel:         string(orDefault(r.LogLevel, store.LogBilling)),
			Classification:   jsonIn(r.Classification),
			ClassifiedBy:     r.ClassifiedBy,
			ClassificationUs: r.ClassificationTime.Microseconds(),
			RequestPayload:   jsonIn(r.RequestPayload),
			ResponsePayload:  jsonIn(r.ResponsePayload),
			RequestHeaders:   jsonIn(r.RequestHeaders),
			ResponseHeaders:  jsonIn(r.ResponseHeaders),
			CostMicros:       r.CostMicros,
			Currency:         r.Currency,
			TotalTokens:      store.TotalTokens(tokens),
			Attempts:         int64(r.Attempts),
		},
		tokens: tokens,
	}, nil
}

// mergeTokens drops zero counts and adds up counts of the same type, keeping
// the order in which types first appear.
func mergeTokens(in []store.TokenCount) []store.TokenCount {
	var out []store.TokenCount
	for _, t := range in {
		if t.Count == 0 {
			continue
		}
		merged := false
		for i := range out {
			if out[i].Type == t.Type {
				out[i].Count += t.Count
				out[i].CostMicros += t.CostMicros
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, t)
		}
	}
	return out
}

// GetUsage returns the record with the given request id, with its tokens.
func (s *Store) GetUsage(ctx context.Context, requestID string) (store.UsageRecord, error) {
	var rec store.UsageRecord
	err := s.readTx(ctx, func(q *sqlitedb.Queries) error {
		row, err := q.GetUsageByRequestID(ctx, requestID)
		if err != nil {
			return err
		}
		recs, err := withTokens(ctx, q, []sqlitedb.UsageRecord{row})
		if err != nil {
			return err
		}
		rec = recs[0]
		return nil
	})
	if err != nil {
		return store.UsageRecord{}, mapErr(fmt.Sprintf("get usage record %q", requestID), err)
	}
	return rec, nil
}

// ListUsage returns the records matching f, newest first (by ReceivedAt, then
// id), with their tokens. A zero Limit returns at most 100 records.
func (s *Store) ListUsage(ctx context.Context, f store.UsageFilter) ([]store.UsageRecord, error) {
	from, to, err := usageRange(f)
	if err != nil {
		return nil, mapErr("list usage", err)
	}
	limit := int64(f.Limit)
	if limit <= 0 {
		limit = defaultUsageLimit
	}
	var recs []store.UsageRecord
	err = s.readTx(ctx, func(q *sqlitedb.Queries) error {
		var rows []sqlitedb.UsageRecord
		var err error
		if f.ProcessID != 0 {
			rows, err = q.ListUsageByProcess(ctx, sqlitedb.ListUsageByProcessParams{
				ProcessID:    nullID(f.ProcessID),
				ReceivedFrom: from,
				ReceivedTo:   to,
				MaxRows:      limit,
			})
		} else {
			rows, err = q.ListUsage(ctx, sqlitedb.ListUsageParams{
				ReceivedFrom: from,
				ReceivedTo:   to,
				MaxRows:      limit,
			})
		}
		if err != nil {
			return err
		}
		recs, err = withTokens(ctx, q, rows)
		return err
	})
	if err != nil {
		return nil, mapErr("list usage", err)
	}
	return recs, nil
}

// CountUsage returns how many records match f; f.Limit is ignored.
func (s *Store) CountUsage(ctx context.Context, f store.UsageFilter) (int64, error) {
	from, to, err := usageRange(f)
	if err != nil {
		return 0, mapErr("count usage", err)
	}
	var n int64
	if f.ProcessID != 0 {
		n, err = s.r.CountUsageByProcess(ctx, sqlitedb.CountUsageByProcessParams{
			ProcessID:    nullID(f.ProcessID),
			ReceivedFrom: from,
			ReceivedTo:   to,
		})
	} else {
		n, err = s.r.CountUsage(ctx, sqlitedb.CountUsageParams{ReceivedFrom: from, ReceivedTo: to})
	}
	if err != nil {
		return 0, mapErr("count usage", err)
	}
	return n, nil
}

// usageRange returns the stored bounds of f's [From, To) range; zero bounds
// are open.
func usageRange(f store.UsageFilter) (from, to string, err error) {
	if err := checkTime("from", f.From); err != nil {
		return "", "", err
	}
	if err := checkTime("to", f.To); err != nil {
		return "", "", err
	}
	from, to = timeBounds(f.From, f.To)
	return from, to, nil
}

// timeBounds formats a [from, to) range for comparison with stored times; a
// zero from is open below and a zero to open above.
func timeBounds(from, to time.Time) (lo, hi string) {
	lo, hi = "", timeMax
	if !from.IsZero() {
		lo = formatTime(from)
	}
	if !to.IsZero() {
		hi = formatTime(to)
	}
	return lo, hi
}

// withTokens converts rows to records and attaches their tokens, sorted by
// type name.
func withTokens(ctx context.Context, q *sqlitedb.Queries, rows []sqlitedb.UsageRecord) ([]store.UsageRecord, error) {
	recs := make([]store.UsageRecord, len(rows))
	index := make(map[int64]int, len(rows))
	var d decoder
	for i, r := range rows {
		recs[i] = usageFromRow(&d, r)
		index[r.ID] = i
	}
	if d.err != nil {
		return nil, d.err
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	for start := 0; start < len(ids); start += tokenChunk {
		end := min(start+tokenChunk, len(ids))
		toks, err := q.ListUsageTokens(ctx, ids[start:end])
		if err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
		for _, t := range toks {
			i := index[t.UsageID]
			recs[i].Tokens = append(recs[i].Tokens, store.TokenCount{
				Type:       t.Name,
				Count:      t.Count,
				CostMicros: t.CostMicros,
			})
		}
	}
	return recs, nil
}
