package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// rollupRecord is what the rollups take from one record: its key (hour set
// to the start of its UTC hour) and the figures summed.
type rollupRecord struct {
	key                      rollupKey
	receivedAt               int64 // Unix microseconds
	withErrorMessage         bool
	costMicros, totalTokens  int64
	queueWaitUs              int64
	forwardedAt, completedAt pgtype.Timestamptz
	tokens                   []store.TokenCount
}

// rollupSet holds the sums of the rollup rows of some records, by key. It
// is the one definition of the rollup sums on the insert path (InsertUsage,
// and bulk loads through UsageRollup); the migration's
// logos_rebuild_usage_rollup recomputes the same sums from the records in
// SQL, for rebuilds.
type rollupSet struct {
	sums map[rollupKey]*rollupSums
	toks map[tokenRollupKey]*tokenRollupSums
}

func newRollupSet() *rollupSet {
	return &rollupSet{sums: make(map[rollupKey]*rollupSums), toks: make(map[tokenRollupKey]*tokenRollupSums)}
}

// add adds r to its hourly and daily rows and its tokens to the hourly
// token rows.
func (rs *rollupSet) add(r *rollupRecord) {
	k := r.key
	day := k
	day.daily, day.hour = true, microDay(r.receivedAt)
	for _, k := range [2]rollupKey{k, day} {
		s := rs.sums[k]
		if s == nil {
			s = &rollupSums{lastReceivedAt: r.receivedAt}
			rs.sums[k] = s
		}
		s.requests++
		if r.withErrorMessage {
			s.withErrorMessage++
		}
		s.costMicros += r.costMicros
		s.totalTokens += r.totalTokens
		s.queueWaitUs += r.queueWaitUs
		if f, c := r.forwardedAt, r.completedAt; f.Valid && c.Valid {
			s.runUs += c.Time.UnixMicro() - f.Time.UnixMicro()
			s.runs++
		}
		s.lastReceivedAt = max(s.lastReceivedAt, r.receivedAt)
	}
	errored := int64(0)
	if k.outcome != string(store.OutcomeSuccess) {
		errored = 1
	}
	for _, t := range r.tokens {
		tk := tokenRollupKey{hour: k.hour, processID: k.processID, profileID: k.profileID,
			modelName: k.modelName, providerName: k.providerName, currency: k.currency, typeName: t.Type}
		ts := rs.toks[tk]
		if ts == nil {
			ts = &tokenRollupSums{}
			rs.toks[tk] = ts
		}
		ts.requests++
		ts.errors += errored
		ts.tokens += t.Count
		ts.costMicros += t.CostMicros
	}
}

// rollupBatch sums the records of p (the insert's parameters, with the
// references that exist) whose request ids are in inserted into the rows the
// rollups get. Times are taken in whole microseconds, as PostgreSQL stores
// them, so the sums equal what the database computes from the records.
func rollupBatch(b *usageBatch, p pgdb.InsertUsageRecordsParams, inserted map[string]bool) (pgdb.UpsertUsageRollupParams, pgdb.UpsertUsageTokenRollupParams) {
	rs := newRollupSet()
	for i, id := range p.RequestIds {
		if !inserted[id] {
			continue
		}
		recv := p.ReceivedAts[i].Time.UnixMicro()
		rs.add(&rollupRecord{
			key: rollupKey{
				hour: microHour(recv), processID: p.ProcessIds[i], profileID: p.ProfileIds[i], modelID: p.ModelIds[i],
				modelName: p.ModelNames[i], providerName: p.ProviderNames[i], currency: p.Currencies[i],
				outcome: p.Outcomes[i], coldStart: p.ColdStarts[i],
			},
			receivedAt: recv, withErrorMessage: p.ErrorMessages[i] != "",
			costMicros: p.CostMicros[i], totalTokens: p.TotalTokens[i], queueWaitUs: p.QueueWaitUs[i],
			forwardedAt: p.ForwardedAts[i], completedAt: p.CompletedAts[i], tokens: b.tokens[id],
		})
	}
	return rs.params()
}

// params returns the rows of rs as the upserts' parameters.
func (rs *rollupSet) params() (pgdb.UpsertUsageRollupParams, pgdb.UpsertUsageTokenRollupParams) {
	// Sorted, so that concurrent batches lock the rows they share in one
	// order.
	rows := sortedEntries(rs.sums, compareRollupKeys)
	n := len(rows)
	rp := pgdb.UpsertUsageRollupParams{
		Dailies: make([]bool, n), Hours: make([]pgtype.Timestamptz, n), ProcessIds: make([]int64, n),
		ProfileIds: make([]int64, n), ModelIds: make([]int64, n), ModelNames: make([]string, n),
		ProviderNames: make([]string, n), Currencies: make([]string, n), Outcomes: make([]string, n),
		ColdStarts: make([]bool, n), Requests: make([]int64, n), WithErrorMessages: make([]int64, n),
		CostMicros: make([]int64, n), TotalTokens: make([]int64, n), QueueWaitUs: make([]int64, n),
		RunUs: make([]int64, n), Runs: make([]int64, n), LastReceivedAts: make([]pgtype.Timestamptz, n),
	}
	for i, r := range rows {
		k, s := r.k, r.v
		rp.Dailies[i], rp.Hours[i], rp.ProcessIds[i], rp.ProfileIds[i] = k.daily, microTime(k.hour), k.processID, k.profileID
		rp.ModelIds[i], rp.ModelNames[i], rp.ProviderNames[i] = k.modelID, k.modelName, k.providerName
		rp.Currencies[i], rp.Outcomes[i], rp.ColdStarts[i] = k.currency, k.outcome, k.coldStart
		rp.Requests[i], rp.WithErrorMessages[i], rp.CostMicros[i] = s.requests, s.withErrorMessage, s.costMicros
		rp.TotalTokens[i], rp.QueueWaitUs[i], rp.RunUs[i], rp.Runs[i] = s.totalTokens, s.queueWaitUs, s.runUs, s.runs
		rp.LastReceivedAts[i] = microTime(s.lastReceivedAt)
	}

	trows := sortedEntries(rs.toks, compareTokenRollupKeys)
	n = len(trows)
	tp := pgdb.UpsertUsageTokenRollupParams{
		Hours: make([]pgtype.Timestamptz, n), ProcessIds: make([]int64, n), ProfileIds: make([]int64, n),
		ModelNames: make([]string, n), ProviderNames: make([]string, n), Currencies: make([]string, n),
		TypeNames: make([]string, n), Requests: make([]int64, n), Errors: make([]int64, n), Tokens: make([]int64, n),
		CostMicros: make([]int64, n),
	}
	for i, r := range trows {
		k, s := r.k, r.v
		tp.Hours[i], tp.ProcessIds[i], tp.ProfileIds[i] = microTime(k.hour), k.processID, k.profileID
		tp.ModelNames[i], tp.ProviderNames[i], tp.Currencies[i], tp.TypeNames[i] = k.modelName, k.providerName, k.currency, k.typeName
		tp.Requests[i], tp.Errors[i], tp.Tokens[i], tp.CostMicros[i] = s.requests, s.errors, s.tokens, s.costMicros
	}
	return rp, tp
}

// entry is an entry of a map.
type entry[K comparable, V any] struct {
	k K
	v V
}

// sortedEntries returns the entries of m sorted by their keys with compare.
func sortedEntries[K comparable, V any](m map[K]V, compare func(a, b K) int) []entry[K, V] {
	out := make([]entry[K, V], 0, len(m))
	for k, v := range m {
		out = append(out, entry[K, V]{k, v})
	}
	slices.SortFunc(out, func(x, y entry[K, V]) int { return compare(x.k, y.k) })
	return out
}

// compareRollupKeys orders rollup keys field by field. The strings are
// compared only when the numbers tie: a bulk load sorts hundreds of
// thousands of keys.
func compareRollupKeys(a, b rollupKey) int {
	if c := cmp.Or(compareBool(a.daily, b.daily), cmp.Compare(a.hour, b.hour), cmp.Compare(a.processID, b.processID),
		cmp.Compare(a.profileID, b.profileID), cmp.Compare(a.modelID, b.modelID)); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.modelName, b.modelName), cmp.Compare(a.providerName, b.providerName),
		cmp.Compare(a.currency, b.currency), cmp.Compare(a.outcome, b.outcome), compareBool(a.coldStart, b.coldStart))
}

// compareTokenRollupKeys orders token rollup keys as compareRollupKeys
// orders rollup keys.
func compareTokenRollupKeys(a, b tokenRollupKey) int {
	if c := cmp.Or(cmp.Compare(a.hour, b.hour), cmp.Compare(a.processID, b.processID), cmp.Compare(a.profileID, b.profileID)); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.modelName, b.modelName), cmp.Compare(a.providerName, b.providerName),
		cmp.Compare(a.currency, b.currency), cmp.Compare(a.typeName, b.typeName))
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
// rollups, in the insert's transaction.
func updateRollups(ctx context.Context, tx batchSender, b *usageBatch, p pgdb.InsertUsageRecordsParams, inserted map[string]bool) error {
	rp, tp := rollupBatch(b, p, inserted)
	return writeRollups(ctx, tx, rp, tp)
}

// batchSender sends a pgx.Batch in one round trip (a pgx.Tx does).
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// errQueuedOnly is what a queued DBTX answers to a query that reads rows.
var errQueuedOnly = errors.New("postgres: statement queued on a batch cannot return rows")

// queued is a pgdb.DBTX that queues the statements it is given on a
// pgx.Batch instead of sending them, so sqlc's generated :exec queries, with
// their own statement and argument order, go into one batch.
type queued struct{ b *pgx.Batch }

func (q queued) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	q.b.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

func (queued) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errQueuedOnly
}

func (queued) QueryRow(context.Context, string, ...any) pgx.Row { return queuedRow{} }

// queuedRow is the row of a query sent to queued: it has none.
type queuedRow struct{}

func (queuedRow) Scan(...any) error { return errQueuedOnly }

// writeRollups adds rows to the rollups. Both upserts go in one pgx.Batch
// on tx: one round trip instead of two.
func writeRollups(ctx context.Context, tx batchSender, rp pgdb.UpsertUsageRollupParams, tp pgdb.UpsertUsageTokenRollupParams) error {
	var batch pgx.Batch
	q := pgdb.New(queued{&batch})
	var what []string // of each queued statement, for its error
	if len(rp.Hours) > 0 {
		_ = q.UpsertUsageRollup(ctx, rp) // queued only: cannot fail
		what = append(what, "rollup")
	}
	if len(tp.Hours) > 0 {
		_ = q.UpsertUsageTokenRollup(ctx, tp)
		what = append(what, "token rollup")
	}
	if len(what) == 0 {
		return nil
	}
	br := tx.SendBatch(ctx, &batch)
	defer br.Close()
	for _, w := range what {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("%s: %w", w, err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("rollup: %w", err)
	}
	return nil
}

// UsageRollup sums usage records into the rows of the hourly and daily
// rollups exactly as InsertUsage does, for a bulk load that writes the
// records itself (logos-bench fill copies them with COPY): Add every record
// written, then add the sums to the database with Store.AddUsageRollup. It
// keeps one definition of the rollup sums in Go for every insert path. The
// zero value is not usable; a UsageRollup is not safe for concurrent use.
type UsageRollup struct{ set *rollupSet }

// NewUsageRollup returns an empty UsageRollup.
func NewUsageRollup() *UsageRollup { return &UsageRollup{set: newRollupSet()} }

// Add adds rec as InsertUsage stores it: text cleaned, tokens of one type
// merged and those with a zero count left out. rec must be valid (see
// InsertUsage) and its ids must refer to rows that exist, as the bulk load
// writes them: Add does not look them up.
func (u *UsageRollup) Add(rec store.UsageRecord) {
	rec = cleanUsage(rec)
	toks := mergeTokens(rec.Tokens)
	recv := rec.ReceivedAt.UnixMicro()
	u.set.add(&rollupRecord{
		key: rollupKey{
			hour: microHour(recv), processID: rec.ProcessID, profileID: rec.ProfileID, modelID: rec.ModelID,
			modelName: rec.ModelName, providerName: rec.ProviderName, currency: rec.Currency,
			outcome: string(rec.Outcome), coldStart: rec.ColdStart,
		},
		receivedAt: recv, withErrorMessage: rec.ErrorMessage != "",
		costMicros: rec.CostMicros, totalTokens: store.TotalTokens(toks), queueWaitUs: rec.QueueWait.Microseconds(),
		forwardedAt: nullTime(rec.ForwardedAt), completedAt: nullTime(rec.CompletedAt), tokens: toks,
	})
}

// Rows returns how many rollup rows and token rollup rows the sums fill.
func (u *UsageRollup) Rows() (rollup, tokens int) { return len(u.set.sums), len(u.set.toks) }

// rollupChunk is how many rows of each rollup AddUsageRollup upserts at a
// time.
const rollupChunk = 5000

// rollupChunkOf returns the rows [i, i+rollupChunk) of p, fewer at its end.
func rollupChunkOf(p pgdb.UpsertUsageRollupParams, i int) pgdb.UpsertUsageRollupParams {
	n := len(p.Hours)
	lo, hi := min(i, n), min(i+rollupChunk, n)
	return pgdb.UpsertUsageRollupParams{
		Dailies: p.Dailies[lo:hi], Hours: p.Hours[lo:hi], ProcessIds: p.ProcessIds[lo:hi], ProfileIds: p.ProfileIds[lo:hi],
		ModelIds: p.ModelIds[lo:hi], ModelNames: p.ModelNames[lo:hi], ProviderNames: p.ProviderNames[lo:hi],
		Currencies: p.Currencies[lo:hi], Outcomes: p.Outcomes[lo:hi], ColdStarts: p.ColdStarts[lo:hi],
		Requests: p.Requests[lo:hi], WithErrorMessages: p.WithErrorMessages[lo:hi], CostMicros: p.CostMicros[lo:hi],
		TotalTokens: p.TotalTokens[lo:hi], QueueWaitUs: p.QueueWaitUs[lo:hi], RunUs: p.RunUs[lo:hi], Runs: p.Runs[lo:hi],
		LastReceivedAts: p.LastReceivedAts[lo:hi],
	}
}

// tokenRollupChunkOf returns the rows [i, i+rollupChunk) of p, fewer at its
// end.
func tokenRollupChunkOf(p pgdb.UpsertUsageTokenRollupParams, i int) pgdb.UpsertUsageTokenRollupParams {
	n := len(p.Hours)
	lo, hi := min(i, n), min(i+rollupChunk, n)
	return pgdb.UpsertUsageTokenRollupParams{
		Hours: p.Hours[lo:hi], ProcessIds: p.ProcessIds[lo:hi], ProfileIds: p.ProfileIds[lo:hi],
		ModelNames: p.ModelNames[lo:hi], ProviderNames: p.ProviderNames[lo:hi], Currencies: p.Currencies[lo:hi],
		TypeNames: p.TypeNames[lo:hi], Requests: p.Requests[lo:hi], Errors: p.Errors[lo:hi], Tokens: p.Tokens[lo:hi],
		CostMicros: p.CostMicros[lo:hi],
	}
}

// AddUsageRollup adds the sums of u to the rollups, in one transaction, as
// InsertUsage adds those of a batch: rows that exist are added to. The
// token types of the tokens must exist (the bulk load wrote the tokens);
// token sums of a type that does not are left out.
func (s *Store) AddUsageRollup(ctx context.Context, u *UsageRollup) error {
	rp, tp := u.set.params()
	err := s.inTxWith(ctx, pgx.TxOptions{}, func(_ *pgdb.Queries, tx pgx.Tx) error {
		// In chunks: one statement over hundreds of thousands of rows is
		// slower than a few dozen over thousands (logos-bench fill).
		for i := 0; i < max(len(rp.Hours), len(tp.Hours)); i += rollupChunk {
			if err := writeRollups(ctx, tx, rollupChunkOf(rp, i), tokenRollupChunkOf(tp, i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return mapErr("add usage rollup", err)
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
