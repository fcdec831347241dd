package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres/internal/pgdb"
)

// defaultUsageLimit is the number of records ListUsage returns for Limit 0.
const defaultUsageLimit = 100

// maxUsageAttempts bounds how often InsertUsage runs its transaction when it
// collides with a concurrent one (a deadlock, say between two calls inserting
// the same request ids in different orders). Each attempt sees the catalogue
// anew.
const maxUsageAttempts = 5

// InsertUsage stores records in one transaction, skipping any whose RequestID
// is already stored (and the later ones of duplicates within records), and
// returns how many were new. Tokens are stored for the new records only, so
// inserting a record again never changes its tokens; token types are created
// as needed and tokens with a zero count are skipped.
//
// IDs that are zero or refer to rows that do not exist are stored as NULL.
// Text that is not valid UTF-8 or contains NUL characters is cleaned, and the
// JSON columns pass through store.SanitizeJSON, so what a client or provider
// sent never makes the insert fail. Records that break the contract (an empty
// request id, an unknown outcome or log level, a zero ReceivedAt, an empty
// token type or a negative token count) make the call fail with ErrInvalid
// before anything is written.
func (s *Store) InsertUsage(ctx context.Context, records []store.UsageRecord) (int, error) {
	if len(records) == 0 {
		return 0, nil
	}
	b, err := newUsageBatch(records)
	if err != nil {
		return 0, err
	}
	op := fmt.Sprintf("insert %d usage records", len(b.recs))
	for attempt := 1; ; attempt++ {
		n, err := s.insertUsageOnce(ctx, b)
		if err == nil {
			return n, nil
		}
		if attempt == maxUsageAttempts || !isRetryable(err) || ctx.Err() != nil {
			return 0, mapErr(op, err)
		}
		s.log.DebugContext(ctx, "postgres: usage insert collided with a concurrent transaction, retrying",
			slog.Int("attempt", attempt), slog.Any("error", err))
	}
}

// insertUsageOnce runs one attempt of InsertUsage.
func (s *Store) insertUsageOnce(ctx context.Context, b *usageBatch) (int, error) {
	var inserted int
	err := s.inTxWith(ctx, pgx.TxOptions{}, func(q *pgdb.Queries, tx pgx.Tx) error {
		// Lock the referenced rows that exist, so they stay until commit, and
		// store references to all others as NULL.
		refs, err := q.LockUsageReferences(ctx, b.refs)
		if err != nil {
			return fmt.Errorf("lock references: %w", err)
		}
		p := b.params
		p.ProcessIds = keepExisting(p.ProcessIds, refs.ProcessIds)
		p.ProfileIds = keepExisting(p.ProfileIds, refs.ProfileIds)
		p.ModelIds = keepExisting(p.ModelIds, refs.ModelIds)
		p.ProviderIds = keepExisting(p.ProviderIds, refs.ProviderIds)
		p.DeploymentIds = keepExisting(p.DeploymentIds, refs.DeploymentIds)
		p.PolicyIds = keepExisting(p.PolicyIds, refs.PolicyIds)
		rows, err := q.InsertUsageRecords(ctx, p)
		if err != nil {
			return err
		}
		inserted = len(rows)
		if inserted == 0 {
			return nil
		}
		var tp pgdb.InsertUsageTokensParams
		var names []string
		inserted := make(map[string]bool, len(rows))
		for _, row := range rows {
			inserted[row.RequestID] = true
			for _, tok := range b.tokens[row.RequestID] {
				tp.UsageIds = append(tp.UsageIds, row.ID)
				tp.TypeNames = append(tp.TypeNames, tok.Type)
				tp.Counts = append(tp.Counts, tok.Count)
				tp.CostMicros = append(tp.CostMicros, tok.CostMicros)
				tp.ReceivedAts = append(tp.ReceivedAts, b.receivedAt[row.RequestID])
				names = append(names, tok.Type)
			}
		}
		if len(names) > 0 {
			// Sorted, so concurrent inserts lock new token types in one order.
			slices.Sort(names)
			if err := q.EnsureTokenTypeNames(ctx, slices.Compact(names)); err != nil {
				return fmt.Errorf("token types: %w", err)
			}
			if err := q.InsertUsageTokens(ctx, tp); err != nil {
				return fmt.Errorf("tokens: %w", err)
			}
		}
		return updateRollups(ctx, tx, b, p, inserted)
	})
	return inserted, err
}

// usageBatch is a validated, cleaned batch of usage records as query arrays.
type usageBatch struct {
	recs   []store.UsageRecord
	params pgdb.InsertUsageRecordsParams
	// refs holds the distinct non-zero ids the records refer to, per table.
	refs pgdb.LockUsageReferencesParams
	// tokens holds the non-zero token counts of each record by request id,
	// one entry per type.
	tokens map[string][]store.TokenCount
	// receivedAt holds each record's ReceivedAt by request id, the partition
	// key of its tokens.
	receivedAt map[string]pgtype.Timestamptz
}

// newUsageBatch validates and cleans records, drops later duplicates of a
// request id, and fills the query's arrays.
func newUsageBatch(records []store.UsageRecord) (*usageBatch, error) {
	b := &usageBatch{tokens: make(map[string][]store.TokenCount, len(records))}
	seen := make(map[string]bool, len(records))
	for i, r := range records {
		r = cleanUsage(r)
		if err := validateUsage(r); err != nil {
			return nil, fmt.Errorf("postgres: insert usage: record %d (request id %q): %w", i, r.RequestID, err)
		}
		if seen[r.RequestID] {
			continue
		}
		seen[r.RequestID] = true
		b.recs = append(b.recs, r)
		if toks := mergeTokens(r.Tokens); len(toks) > 0 {
			b.tokens[r.RequestID] = toks
		}
	}
	n := len(b.recs)
	p := pgdb.InsertUsageRecordsParams{
		RequestIds:       make([]string, n),
		ProcessIds:       make([]int64, n),
		ProfileIds:       make([]int64, n),
		ModelIds:         make([]int64, n),
		ProviderIds:      make([]int64, n),
		DeploymentIds:    make([]int64, n),
		PolicyIds:        make([]int64, n),
		ModelNames:       make([]string, n),
		ProviderNames:    make([]string, n),
		Operations:       make([]string, n),
		Streams:          make([]bool, n),
		ReceivedAts:      make([]pgtype.Timestamptz, n),
		ForwardedAts:     make([]pgtype.Timestamptz, n),
		FirstTokenAts:    make([]pgtype.Timestamptz, n),
		CompletedAts:     make([]pgtype.Timestamptz, n),
		StatusCodes:      make([]int32, n),
		Outcomes:         make([]string, n),
		ErrorMessages:    make([]string, n),
		ClientIps:        make([]string, n),
		Priorities:       make([]int32, n),
		QueueWaitUs:      make([]int64, n),
		ColdStarts:       make([]bool, n),
		LogLevels:        make([]string, n),
		Classifications:  make([][]byte, n),
		RequestPayloads:  make([][]byte, n),
		ResponsePayloads: make([][]byte, n),
		RequestHeaders:   make([][]byte, n),
		ResponseHeaders:  make([][]byte, n),
		CostMicros:       make([]int64, n),
		Currencies:       make([]string, n),
		TotalTokens:      make([]int64, n),
		ClientRequestIds: make([]string, n),
		ClassifiedBys:    make([]string, n),
		ClassificationUs: make([]int64, n),
		Attempts:         make([]int32, n),
	}
	for i, r := range b.recs {
		p.RequestIds[i] = r.RequestID
		p.ProcessIds[i] = r.ProcessID
		p.ProfileIds[i] = r.ProfileID
		p.ModelIds[i] = r.ModelID
		p.ProviderIds[i] = r.ProviderID
		p.DeploymentIds[i] = r.DeploymentID
		p.PolicyIds[i] = r.PolicyID
		p.ModelNames[i] = r.ModelName
		p.ProviderNames[i] = r.ProviderName
		p.Operations[i] = r.Operation
		p.Streams[i] = r.Stream
		p.ReceivedAts[i] = nullTime(r.ReceivedAt)
		p.ForwardedAts[i] = nullTime(r.ForwardedAt)
		p.FirstTokenAts[i] = nullTime(r.FirstTokenAt)
		p.CompletedAts[i] = nullTime(r.CompletedAt)
		p.StatusCodes[i] = int32(r.StatusCode) // range checked by validateUsage
		p.Outcomes[i] = string(r.Outcome)
		p.ErrorMessages[i] = r.ErrorMessage
		p.ClientIps[i] = r.ClientIP
		p.Priorities[i] = int32(r.Priority) // range checked by validateUsage
		p.QueueWaitUs[i] = r.QueueWait.Microseconds()
		p.ColdStarts[i] = r.ColdStart
		p.LogLevels[i] = string(r.LogLevel)
		p.Classifications[i] = jsonIn(r.Classification)
		p.RequestPayloads[i] = jsonIn(r.RequestPayload)
		p.ResponsePayloads[i] = jsonIn(r.ResponsePayload)
		p.RequestHeaders[i] = jsonIn(r.RequestHeaders)
		p.ResponseHeaders[i] = jsonIn(r.ResponseHeaders)
		p.CostMicros[i] = r.CostMicros
		p.Currencies[i] = r.Currency
		p.TotalTokens[i] = store.TotalTokens(b.tokens[r.RequestID])
		p.ClientRequestIds[i] = r.ClientRequestID
		p.ClassifiedBys[i] = r.ClassifiedBy
		p.ClassificationUs[i] = r.ClassificationTime.Microseconds()
		p.Attempts[i] = int32(r.Attempts) // range checked by validateUsage
	}
	b.params = p
	b.receivedAt = make(map[string]pgtype.Timestamptz, n)
	for i, id := range p.RequestIds {
		b.receivedAt[id] = p.ReceivedAts[i]
	}
	b.refs = pgdb.LockUsageReferencesParams{
		ProcessIds:    distinctIDs(p.ProcessIds),
		ProfileIds:    distinctIDs(p.ProfileIds),
		ModelIds:      distinctIDs(p.ModelIds),
		ProviderIds:   distinctIDs(p.ProviderIds),
		DeploymentIds: distinctIDs(p.DeploymentIds),
		PolicyIds:     distinctIDs(p.PolicyIds),
	}
	return b, nil
}

// distinctIDs returns the distinct non-zero ids, sorted.
func distinctIDs(ids []int64) []int64 {
	out := make([]int64, 0, 4)
	for _, id := range ids {
		if id != 0 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// keepExisting returns a copy of ids in which every id not in existing (which
// is sorted) is replaced by zero.
func keepExisting(ids, existing []int64) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		if _, found := slices.BinarySearch(existing, id); found {
			out[i] = id
		}
	}
	return out
}

// cleanUsage returns r with its text made acceptable to PostgreSQL and an
// empty log level defaulted to LogBilling. It does not touch the caller's
// Tokens slice.
func cleanUsage(r store.UsageRecord) store.UsageRecord {
	r.RequestID = cleanText(r.RequestID)
	r.ClientRequestID = cleanText(r.ClientRequestID)
	r.ModelName = cleanText(r.ModelName)
	r.ProviderName = cleanText(r.ProviderName)
	r.Operation = cleanText(r.Operation)
	r.ErrorMessage = cleanText(r.ErrorMessage)
	r.ClientIP = cleanText(r.ClientIP)
	r.Currency = cleanText(r.Currency)
	r.LogLevel = orDefault(r.LogLevel, store.LogBilling)
	if len(r.Tokens) > 0 {
		toks := make([]store.TokenCount, len(r.Tokens))
		for i, t := range r.Tokens {
			t.Type = cleanText(t.Type)
			toks[i] = t
		}
		r.Tokens = toks
	}
	return r
}

// validateUsage checks what the schema would refuse, so that one bad record
// is reported precisely.
func validateUsage(r store.UsageRecord) error {
	var c int32s
	c.conv("status code", r.StatusCode)
	c.conv("priority", r.Priority)
	c.conv("attempts", r.Attempts)
	switch {
	case c.err != nil:
		return c.err
	case r.RequestID == "":
		return fmt.Errorf("%w: empty request id", store.ErrInvalid)
	case !r.Outcome.Valid():
		return fmt.Errorf("%w: unknown outcome %q", store.ErrInvalid, r.Outcome)
	case !r.LogLevel.Valid():
		return fmt.Errorf("%w: unknown log level %q", store.ErrInvalid, r.LogLevel)
	case r.ReceivedAt.IsZero():
		return fmt.Errorf("%w: zero received time", store.ErrInvalid)
	}
	for _, t := range r.Tokens {
		if t.Type == "" {
			return fmt.Errorf("%w: token count without a type", store.ErrInvalid)
		}
		if t.Count < 0 {
			return fmt.Errorf("%w: negative count %d of token type %q", store.ErrInvalid, t.Count, t.Type)
		}
	}
	return nil
}

// mergeTokens drops zero counts and adds up counts (and costs) of the same
// type, keeping the order of first appearance.
func mergeTokens(toks []store.TokenCount) []store.TokenCount {
	var out []store.TokenCount
	for _, t := range toks {
		if t.Count == 0 {
			continue
		}
		i := slices.IndexFunc(out, func(o store.TokenCount) bool { return o.Type == t.Type })
		if i < 0 {
			out = append(out, t)
			continue
		}
		out[i].Count += t.Count
		out[i].CostMicros += t.CostMicros
	}
	return out
}

// GetUsage returns one record with its tokens, sorted by type name.
func (s *Store) GetUsage(ctx context.Context, requestID string) (store.UsageRecord, error) {
	op := fmt.Sprintf("get usage %q", requestID)
	r, err := s.q.GetUsage(ctx, cleanText(requestID))
	if err != nil {
		return store.UsageRecord{}, mapErr(op, err)
	}
	recs, err := s.withTokens(ctx, []pgdb.UsageRecord{r})
	if err != nil {
		return store.UsageRecord{}, mapErr(op, err)
	}
	return recs[0], nil
}

// ListUsage returns the records matching f newest first (by ReceivedAt, then
// id), at most f.Limit of them (100 if f.Limit is 0 or less), with their
// tokens sorted by type name.
func (s *Store) ListUsage(ctx context.Context, f store.UsageFilter) ([]store.UsageRecord, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultUsageLimit
	}
	var c int32s
	params := pgdb.ListUsageParams{
		ProcessID:    f.ProcessID,
		ReceivedFrom: nullTime(f.From),
		ReceivedTo:   nullTime(f.To),
		MaxRows:      c.conv("limit", limit),
	}
	if err := c.check("list usage"); err != nil {
		return nil, err
	}
	rows, err := s.q.ListUsage(ctx, params)
	if err != nil {
		return nil, mapErr("list usage", err)
	}
	recs, err := s.withTokens(ctx, rows)
	if err != nil {
		return nil, mapErr("list usage", err)
	}
	return recs, nil
}

// CountUsage returns how many records match f (Limit is ignored).
func (s *Store) CountUsage(ctx context.Context, f store.UsageFilter) (int64, error) {
	n, err := s.q.CountUsage(ctx, pgdb.CountUsageParams{
		ProcessID:    f.ProcessID,
		ReceivedFrom: nullTime(f.From),
		ReceivedTo:   nullTime(f.To),
	})
	if err != nil {
		return 0, mapErr("count usage", err)
	}
	return n, nil
}

// withTokens converts rows to records and attaches their tokens. Tokens are
// written in the same transaction as their record, so a record that is
// visible has all of its tokens visible too.
func (s *Store) withTokens(ctx context.Context, rows []pgdb.UsageRecord) ([]store.UsageRecord, error) {
	recs := convertAll(rows, usageFromRow)
	if len(recs) == 0 {
		return recs, nil
	}
	ids := make([]int64, len(recs))
	index := make(map[int64]int, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
		index[r.ID] = i
	}
	toks, err := s.q.ListUsageTokens(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	for _, t := range toks {
		i := index[t.UsageID]
		recs[i].Tokens = append(recs[i].Tokens, store.TokenCount{Type: t.Name, Count: t.Count, CostMicros: t.CostMicros})
	}
	return recs, nil
}
