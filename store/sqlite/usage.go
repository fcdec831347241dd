package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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
		inserted, err = insertUsageRows(ctx, c, rows, &types)
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

// insertUsageRows inserts rows with db, which runs in one transaction, and
// returns how many were new. Only new records get token rows.
//
// Records and token rows are inserted many to a statement (see chunkSizes):
// SQLite's cost per statement (binding, opening and closing its cursors,
// database/sql's bookkeeping) was about a third of a record's. A record's
// usage id comes back by RETURNING, which lists only the rows inserted, so a
// record whose request id was already stored (or appears earlier in rows)
// gets no tokens, as with one statement per record.
func insertUsageRows(ctx context.Context, db sqlitedb.DBTX, rows []usageRow, types *tokenTypes) (int, error) {
	// The driver starts a goroutine per statement to watch a cancellable
	// context, which costs more than the short statements here. They run
	// without cancellation instead and the loop checks ctx before every
	// chunk; a cancelled ctx also rolls the transaction back.
	stmtCtx := context.WithoutCancel(ctx)
	q := sqlitedb.New(db)
	first := firstRows(rows)
	ids := make([]int64, len(rows)) // usage id of each new row, else 0
	refs := catalogRefs{ctx: stmtCtx, db: db, known: map[catalogRef]bool{}}
	args := make([]any, 0, usageRecordParams*chunkFor(len(rows)))
	inserted := 0
	for done := 0; done < len(rows); {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n := chunkFor(len(rows) - done)
		chunk := rows[done : done+n]
		if n == 1 {
			// One row needs no RETURNING, whose rows cost more than a
			// result: sqlc's one-row insert. A duplicate of an earlier row
			// of the batch conflicts, so an insert is always that row's.
			res, err := q.InsertUsageRecord(stmtCtx, chunk[0].params)
			if err != nil {
				return 0, fmt.Errorf("records %q to %q: %w", chunk[0].params.RequestID, chunk[0].params.RequestID, err)
			}
			if k, err := res.RowsAffected(); err != nil {
				return 0, fmt.Errorf("record %q: %w", chunk[0].params.RequestID, err)
			} else if k > 0 {
				if ids[done], err = res.LastInsertId(); err != nil {
					return 0, fmt.Errorf("record %q: %w", chunk[0].params.RequestID, err)
				}
				inserted++
			}
			done++
			continue
		}
		args = args[:0]
		r := &refs
		if n <= subselectRows {
			r = nil
		}
		for i := range chunk {
			var err error
			if args, err = appendUsageArgs(args, &chunk[i].params, r); err != nil {
				return 0, fmt.Errorf("record %q: %w", chunk[i].params.RequestID, err)
			}
		}
		added, err := insertRecordChunk(stmtCtx, db, len(chunk), args, first, ids)
		if err != nil {
			return 0, fmt.Errorf("records %q to %q: %w", chunk[0].params.RequestID, chunk[len(chunk)-1].params.RequestID, err)
		}
		inserted += added
		done += len(chunk)
	}
	var (
		tokenArgs []any
		tokenOf   []int // index in rows of each token row's record
	)
	for i := range rows {
		if ids[i] == 0 {
			continue // already stored, tokens and all
		}
		for _, t := range rows[i].tokens {
			typeID, err := types.id(stmtCtx, q, t.Type)
			if err != nil {
				return 0, fmt.Errorf("record %q: token type %q: %w", rows[i].params.RequestID, t.Type, err)
			}
			tokenArgs = append(tokenArgs, ids[i], typeID, t.Count, t.CostMicros)
			tokenOf = append(tokenOf, i)
		}
	}
	for done, tokenRows := 0, len(tokenOf); done < tokenRows; {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n := chunkFor(tokenRows - done)
		if _, err := db.ExecContext(stmtCtx, insertTokensSQL[n], tokenArgs[done*4:(done+n)*4]...); err != nil {
			first, last := rows[tokenOf[done]].params.RequestID, rows[tokenOf[done+n-1]].params.RequestID
			if first == last {
				return 0, fmt.Errorf("tokens of record %q: %w", first, err)
			}
			return 0, fmt.Errorf("tokens of records %q to %q: %w", first, last, err)
		}
		done += n
	}
	return inserted, nil
}

// insertRecordChunk inserts n records whose parameters are args and sets
// ids[i] for every row i of rows that was new, found by request id with
// first. It returns how many were new.
func insertRecordChunk(ctx context.Context, db sqlitedb.DBTX, n int, args []any, first func(string) (int, bool), ids []int64) (int, error) {
	res, err := db.QueryContext(ctx, insertRecordsSQL[n], args...)
	if err != nil {
		return 0, err
	}
	defer res.Close()
	inserted := 0
	for res.Next() {
		var (
			id        int64
			requestID string
		)
		if err := res.Scan(&id, &requestID); err != nil {
			return 0, err
		}
		i, ok := first(requestID)
		if !ok {
			return 0, fmt.Errorf("insert returned unknown request id %q", requestID)
		}
		ids[i] = id
		inserted++
	}
	if err := res.Err(); err != nil {
		return 0, err
	}
	return inserted, res.Close()
}

// firstRows returns a function that finds the first row of rows with a
// request id: a scan for a few rows, a map for more.
func firstRows(rows []usageRow) func(requestID string) (int, bool) {
	if len(rows) <= 16 {
		return func(id string) (int, bool) {
			for i := range rows {
				if rows[i].params.RequestID == id {
					return i, true
				}
			}
			return 0, false
		}
	}
	m := make(map[string]int, len(rows))
	for i := range rows {
		if _, ok := m[rows[i].params.RequestID]; !ok {
			m[rows[i].params.RequestID] = i
		}
	}
	return func(id string) (int, bool) {
		i, ok := m[id]
		return i, ok
	}
}

// chunkSizes are the row counts of the multi-row statements, largest first.
// A batch is split into as many of the largest as fit, then the next size,
// and so on: few statements per batch, and few prepared ones for the store.
// 64 records take 2,240 parameters, well below SQLite's limit of 32,766.
var chunkSizes = [...]int{64, 16, 4, 1}

// chunkFor returns the largest chunk size not above n (n ≥ 1).
func chunkFor(n int) int {
	for _, c := range chunkSizes {
		if c <= n {
			return c
		}
	}
	return 1
}

// subselectRows is the largest chunk whose statement looks up the catalogue
// ids itself; larger ones get them resolved (catalogRefs), which costs a
// few queries per batch.
const subselectRows = 4

// usageRecordParams is the number of parameters of one record in
// insertRecordsSQL, as appendUsageArgs appends them.
const usageRecordParams = 35

// insertRecordsSQL and insertTokensSQL hold, by row count (one of
// chunkSizes), the statements inserting that many records or token rows.
var insertRecordsSQL, insertTokensSQL = func() (map[int]string, map[int]string) {
	// As InsertUsageRecord in db/queries/sqlite/usage.sql: a catalogue id
	// that does not exist resolves to NULL. Chunks above subselectRows have
	// those ids resolved beforehand instead (catalogRefs): with six
	// sub-selects a row, a statement of 64 rows opened 384 cursors, and
	// SQLite's cost of opening one grows with the number open.
	const subselectRow = `(?, (SELECT p.id FROM processes p WHERE p.id = ?), (SELECT pr.id FROM profiles pr WHERE pr.id = ?), ` +
		`(SELECT m.id FROM models m WHERE m.id = ?), (SELECT pv.id FROM providers pv WHERE pv.id = ?), ` +
		`(SELECT d.id FROM deployments d WHERE d.id = ?), (SELECT po.id FROM policies po WHERE po.id = ?), `
	plainRow := "(" + strings.TrimSuffix(strings.Repeat("?, ", usageRecordParams), ", ") + ")"
	records, tokens := map[int]string{}, map[int]string{}
	for _, n := range chunkSizes {
		var b strings.Builder
		b.WriteString(`INSERT INTO usage_records (
    request_id, process_id, profile_id, model_id, provider_id, deployment_id, policy_id,
    model_name, provider_name, operation, stream, received_at, forwarded_at,
    first_token_at, completed_at, status_code, outcome, error_message, client_ip,
    priority, queue_wait_us, cold_start, log_level, classification, request_payload,
    response_payload, request_headers, response_headers, cost_micros, currency,
    total_tokens, client_request_id, classified_by, classification_us, attempts
) VALUES `)
		row := plainRow
		if n <= subselectRows {
			row = subselectRow + strings.TrimSuffix(strings.Repeat("?, ", usageRecordParams-7), ", ") + ")"
		}
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row)
		}
		b.WriteString(" ON CONFLICT (request_id) DO NOTHING")
		b.WriteString(" RETURNING id, request_id")
		records[n] = b.String()
		tokens[n] = "INSERT INTO usage_tokens (usage_id, token_type_id, count, cost_micros) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", n), ", ")
	}
	return records, tokens
}()

// appendUsageArgs appends p's parameters in the column order of
// insertRecordsSQL; with refs (for chunks above subselectRows), each
// catalogue id that does not exist is NULL.
func appendUsageArgs(args []any, p *sqlitedb.InsertUsageRecordParams, refs *catalogRefs) ([]any, error) {
	args = append(args, p.RequestID)
	for i, id := range [...]int64{p.ProcessID, p.ProfileID, p.ModelID, p.ProviderID, p.DeploymentID, p.PolicyID} {
		if refs == nil {
			args = append(args, id)
			continue
		}
		ok, err := refs.exists(i, id)
		if err != nil {
			return nil, err
		}
		if ok {
			args = append(args, id)
		} else {
			args = append(args, nil)
		}
	}
	return append(args,
		p.ModelName, p.ProviderName, p.Operation, p.Stream, p.ReceivedAt, p.ForwardedAt,
		p.FirstTokenAt, p.CompletedAt, p.StatusCode, p.Outcome, p.ErrorMessage, p.ClientIp,
		p.Priority, p.QueueWaitUs, p.ColdStart, p.LogLevel, p.Classification, p.RequestPayload,
		p.ResponsePayload, p.RequestHeaders, p.ResponseHeaders, p.CostMicros, p.Currency,
		p.TotalTokens, p.ClientRequestID, p.ClassifiedBy, p.ClassificationUs, p.Attempts,
	), nil
}

// catalogRefs tells, within one transaction, whether the catalogue rows a
// record refers to exist; a record keeps only the ids that do (the others
// are stored as NULL, so a record is never refused because the catalogue
// changed under it). A batch refers to few distinct rows: each is looked up
// once.
type catalogRefs struct {
	ctx   context.Context
	db    sqlitedb.DBTX
	known map[catalogRef]bool
}

type catalogRef struct {
	table int // index in refQueries
	id    int64
}

// refQueries find a row by id in the tables a usage record refers to, in
// the order of its columns process_id to policy_id.
var refQueries = [...]string{
	"SELECT 1 FROM processes WHERE id = ?",
	"SELECT 1 FROM profiles WHERE id = ?",
	"SELECT 1 FROM models WHERE id = ?",
	"SELECT 1 FROM providers WHERE id = ?",
	"SELECT 1 FROM deployments WHERE id = ?",
	"SELECT 1 FROM policies WHERE id = ?",
}

// exists reports whether the row id of table refQueries[table] exists.
func (r *catalogRefs) exists(table int, id int64) (bool, error) {
	if id <= 0 {
		return false, nil // ids start at 1
	}
	k := catalogRef{table, id}
	if ok, found := r.known[k]; found {
		return ok, nil
	}
	var one int
	err := r.db.QueryRowContext(r.ctx, refQueries[table], id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		r.known[k] = false
	case err != nil:
		return false, err
	default:
		r.known[k] = true
	}
	return r.known[k], nil
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
