package store

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// UsageStatsStore answers usage and cost statistics. Every figure is
// aggregated by the database; no method loads the matching records into
// memory at once. It is not part of [Store]: callers find it with a type
// assertion (both store/sqlite and store/postgres implement it).
type UsageStatsStore interface {
	// UsageTotals returns the usage matching q, summed per group: one bucket
	// for each distinct combination of q.GroupBy's dimensions, time bucket
	// (q.Interval) and currency that has at least one record. Buckets are
	// ordered by start time, then key, then currency. An empty range or a
	// range without records yields no buckets.
	UsageTotals(ctx context.Context, q UsageQuery) ([]UsageBucket, error)
	// RequestStats summarises the requests received in [q.From, q.To) per
	// model and per time bucket of q.BucketSeconds.
	RequestStats(ctx context.Context, q RequestStatsQuery) (RequestStats, error)
	// ScanUsage calls fn for every record matching f (Limit is ignored),
	// oldest first by ReceivedAt and then id, with its tokens but without
	// payloads, headers and classification. Records are read in pages, so
	// memory does not grow with their number. It stops at fn's first error
	// and returns it.
	ScanUsage(ctx context.Context, f UsageFilter, fn func(UsageRecord) error) error
}

// Dimension is a property usage can be grouped by.
type Dimension string

// Dimensions of UsageQuery.GroupBy.
const (
	DimProcess   Dimension = "process"    // UsageRecord.ProcessID
	DimProfile   Dimension = "profile"    // UsageRecord.ProfileID
	DimUser      Dimension = "user"       // the user owning the record's process
	DimModel     Dimension = "model"      // UsageRecord.ModelName, as at request time
	DimProvider  Dimension = "provider"   // UsageRecord.ProviderName, as at request time
	DimTokenType Dimension = "token_type" // the token type of each TokenCount
)

// Dimensions lists every dimension in canonical order.
var Dimensions = []Dimension{DimProcess, DimProfile, DimUser, DimModel, DimProvider, DimTokenType}

// Valid reports whether d is a known dimension.
func (d Dimension) Valid() bool { return slices.Contains(Dimensions, d) }

// Interval is the width of the time buckets of a usage time series.
type Interval string

// Intervals. Buckets start at whole UTC hours or days.
const (
	IntervalNone Interval = ""     // one bucket over the whole range
	IntervalHour Interval = "hour" // hourly buckets
	IntervalDay  Interval = "day"  // daily buckets
)

// Valid reports whether i is a known interval.
func (i Interval) Valid() bool {
	return i == IntervalNone || i == IntervalHour || i == IntervalDay
}

// UsageQuery selects and groups usage records for UsageTotals.
type UsageQuery struct {
	// From and To bound ReceivedAt to [From, To). A zero bound is open.
	From, To time.Time
	// ProcessID and UserID restrict the records to one process or to the
	// processes of one user. Zero does not restrict.
	ProcessID int64
	UserID    int64
	// GroupBy lists the dimensions to group by, in any order; duplicates are
	// ignored. Empty means one group per time bucket and currency.
	GroupBy []Dimension
	// Interval splits the range into time buckets.
	Interval Interval
}

// Validate reports an unknown dimension or interval, or a range that ends
// before it starts, as ErrInvalid.
func (q UsageQuery) Validate() error {
	for _, d := range q.GroupBy {
		if !d.Valid() {
			return fmt.Errorf("%w: unknown dimension %q", ErrInvalid, d)
		}
	}
	if !q.Interval.Valid() {
		return fmt.Errorf("%w: unknown interval %q", ErrInvalid, q.Interval)
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return fmt.Errorf("%w: range ends before it starts", ErrInvalid)
	}
	return nil
}

// Groups reports whether q groups by d.
func (q UsageQuery) Groups(d Dimension) bool { return slices.Contains(q.GroupBy, d) }

// UsageKey identifies a group of usage. Only the fields of the query's
// dimensions are set; a record without a value for a dimension (a NULL
// process, say, after the process was deleted) falls in the group whose field
// is zero.
type UsageKey struct {
	ProcessID int64
	ProfileID int64
	UserID    int64
	Model     string
	Provider  string
	TokenType string
}

// compareKeys orders keys field by field.
func compareKeys(a, b UsageKey) int {
	return cmp.Or(
		cmp.Compare(a.ProcessID, b.ProcessID),
		cmp.Compare(a.ProfileID, b.ProfileID),
		cmp.Compare(a.UserID, b.UserID),
		cmp.Compare(a.Model, b.Model),
		cmp.Compare(a.Provider, b.Provider),
		cmp.Compare(a.TokenType, b.TokenType),
	)
}

// UsageBucket is the usage of one group in one time bucket.
//
// Without DimTokenType, Requests counts records, Errors those whose outcome is
// not success, Tokens the sum of their request totals ([TotalTokens]: subsets
// such as prompt_cached_tokens are not added again) and CostMicros the sum of
// their costs. With DimTokenType, a group holds the token counts of one
// type: Requests and Errors count the records with a non-zero count of that
// type, Tokens sums those counts and CostMicros their costs; records without
// tokens appear in no group.
type UsageBucket struct {
	// Start is the start of the time bucket; zero without an interval.
	Start time.Time
	Key   UsageKey
	// Requests and Errors count records, Errors those with an outcome other
	// than OutcomeSuccess.
	Requests int64
	Errors   int64
	Tokens   int64
	// CostMicros is the cost in millionths of Currency. Costs in different
	// currencies are never added: each currency has buckets of its own.
	// Records without a currency (unpriced, cost 0) count towards the bucket
	// of the group's only currency if it has exactly one, and form a bucket
	// with an empty Currency otherwise.
	CostMicros int64
	Currency   string
}

// MergeUsageBuckets sorts buckets (by start, key and currency) and adds up
// those of equal start, key and currency. Then, per start and key, it folds a
// bucket without currency into the only bucket with one, if there is exactly
// one. Implementations use it to finish the rows their queries return.
func MergeUsageBuckets(buckets []UsageBucket) []UsageBucket {
	slices.SortFunc(buckets, func(a, b UsageBucket) int {
		return cmp.Or(a.Start.Compare(b.Start), compareKeys(a.Key, b.Key), cmp.Compare(a.Currency, b.Currency))
	})
	out := buckets[:0]
	for _, b := range buckets {
		if n := len(out); n > 0 && out[n-1].Start.Equal(b.Start) && out[n-1].Key == b.Key && out[n-1].Currency == b.Currency {
			out[n-1].add(b)
			continue
		}
		out = append(out, b)
	}
	// Fold currency-less buckets: within a run of equal start and key the
	// empty currency sorts first.
	merged := out[:0]
	for i := 0; i < len(out); {
		j := i + 1
		for j < len(out) && out[j].Start.Equal(out[i].Start) && out[j].Key == out[i].Key {
			j++
		}
		run := out[i:j]
		if len(run) == 2 && run[0].Currency == "" {
			run[1].add(run[0])
			run = run[1:]
		}
		merged = append(merged, run...)
		i = j
	}
	return slices.Clip(merged)
}

// add adds o's figures to b.
func (b *UsageBucket) add(o UsageBucket) {
	b.Requests += o.Requests
	b.Errors += o.Errors
	b.Tokens += o.Tokens
	b.CostMicros += o.CostMicros
}

// RequestStatsQuery selects the records RequestStats summarises.
type RequestStatsQuery struct {
	// From and To bound ReceivedAt to [From, To); both are required.
	From, To time.Time
	// ProcessID restricts the records to one process; zero does not.
	ProcessID int64
	// BucketSeconds is the width of the time series buckets, which are
	// aligned to the Unix epoch. It must be positive.
	BucketSeconds int64
}

// Validate reports missing bounds, a range ending before it starts or a
// non-positive bucket width as ErrInvalid.
func (q RequestStatsQuery) Validate() error {
	switch {
	case q.From.IsZero() || q.To.IsZero():
		return fmt.Errorf("%w: request stats need both range bounds", ErrInvalid)
	case q.To.Before(q.From):
		return fmt.Errorf("%w: range ends before it starts", ErrInvalid)
	case q.BucketSeconds <= 0:
		return fmt.Errorf("%w: bucket width %d s", ErrInvalid, q.BucketSeconds)
	}
	return nil
}

// RequestCounts are the additive request figures of RequestStats. A request
// is "cloud" when its model's WeightPrivacy is not PrivacyLocal; requests of
// unknown or deleted models count as local. Run time is CompletedAt minus
// ForwardedAt, known only for records that have both.
type RequestCounts struct {
	Requests      int64
	CloudRequests int64
	ColdStarts    int64
	// Outcomes: Success, Error (OutcomeError), Timeout; Other counts
	// cancelled and rejected requests.
	Success int64
	Error   int64
	Timeout int64
	Other   int64
	// Errors counts requests whose outcome is not success or that carry an
	// error message.
	Errors int64
	// QueueSeconds sums QueueWait over all requests.
	QueueSeconds float64
	// RunSeconds sums the run time of the Runs requests that have one;
	// ColdRuns and ColdRunSeconds are those of cold starts.
	RunSeconds     float64
	Runs           int64
	ColdRunSeconds float64
	ColdRuns       int64
}

// Add adds o to c.
func (c *RequestCounts) Add(o RequestCounts) {
	c.Requests += o.Requests
	c.CloudRequests += o.CloudRequests
	c.ColdStarts += o.ColdStarts
	c.Success += o.Success
	c.Error += o.Error
	c.Timeout += o.Timeout
	c.Other += o.Other
	c.Errors += o.Errors
	c.QueueSeconds += o.QueueSeconds
	c.RunSeconds += o.RunSeconds
	c.Runs += o.Runs
	c.ColdRunSeconds += o.ColdRunSeconds
	c.ColdRuns += o.ColdRuns
}

// ModelRequestStats are the requests of one model.
type ModelRequestStats struct {
	// ModelID is the record's model, 0 if unknown or deleted. Records are
	// grouped by ModelID and, for ModelID 0, by ModelName.
	ModelID   int64
	ModelName string
	// ProviderName is the provider of the model's latest request.
	ProviderName string
	RequestCounts
}

// SortModelRequestStats orders models by request count, descending, then by
// name and id.
func SortModelRequestStats(models []ModelRequestStats) {
	slices.SortFunc(models, func(a, b ModelRequestStats) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.ModelName, b.ModelName), cmp.Compare(a.ModelID, b.ModelID))
	})
}

// RequestPoint is the requests of one time bucket.
type RequestPoint struct {
	Start time.Time
	RequestCounts
}

// RequestStats is the answer of RequestStats.
type RequestStats struct {
	// LastReceivedAt is the newest ReceivedAt in range; zero if none.
	LastReceivedAt time.Time
	// Models is ordered by request count, descending, then model name.
	Models []ModelRequestStats
	// Series holds only buckets with requests, oldest first.
	Series []RequestPoint
}

// Totals returns the sum of s.Models.
func (s RequestStats) Totals() RequestCounts {
	var t RequestCounts
	for _, m := range s.Models {
		t.Add(m.RequestCounts)
	}
	return t
}

// UsageCSVHeader returns the header row WriteUsageCSV writes for tokenTypes.
func UsageCSVHeader(tokenTypes []string) []string {
	h := []string{"request_id", "received_at", "completed_at", "process_id", "profile_id",
		"model", "provider", "operation", "stream", "status_code", "outcome", "cold_start",
		"queue_wait_ms", "cost_micros", "currency", "policy_id", "classified_by", "classification_us"}
	return append(h, tokenTypes...)
}

// WriteUsageCSV streams the records matching f, oldest first, to w as CSV:
// a header row (UsageCSVHeader), then one row per record with one column of
// token counts per entry of tokenTypes (types not listed are left out). Times
// are RFC 3339 in UTC with microseconds. Rows are flushed as they are
// written, never collected.
func WriteUsageCSV(ctx context.Context, w io.Writer, s UsageStatsStore, f UsageFilter, tokenTypes []string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(UsageCSVHeader(tokenTypes)); err != nil {
		return fmt.Errorf("usage csv: %w", err)
	}
	col := make(map[string]int, len(tokenTypes))
	for i, t := range tokenTypes {
		col[t] = i
	}
	const fixed = 18
	row := make([]string, fixed+len(tokenTypes))
	n := 0
	err := s.ScanUsage(ctx, f, func(r UsageRecord) error {
		row = append(row[:0],
			r.RequestID, csvTime(r.ReceivedAt), csvTime(r.CompletedAt), csvID(r.ProcessID), csvID(r.ProfileID),
			csvSafe(r.ModelName), csvSafe(r.ProviderName), csvSafe(r.Operation), strconv.FormatBool(r.Stream),
			strconv.Itoa(r.StatusCode), string(r.Outcome), strconv.FormatBool(r.ColdStart),
			strconv.FormatInt(r.QueueWait.Milliseconds(), 10), strconv.FormatInt(r.CostMicros, 10), r.Currency,
			csvID(r.PolicyID), r.ClassifiedBy, strconv.FormatInt(r.ClassificationTime.Microseconds(), 10))
		for range tokenTypes {
			row = append(row, "0")
		}
		for _, t := range r.Tokens {
			if i, ok := col[t.Type]; ok {
				row[fixed+i] = strconv.FormatInt(t.Count, 10)
			}
		}
		if err := cw.Write(row); err != nil {
			return err
		}
		// Flush now and then, so a large export streams.
		if n++; n%256 == 0 {
			cw.Flush()
			return cw.Error()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("usage csv: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("usage csv: %w", err)
	}
	return nil
}

// csvTime formats a time for CSV; the zero time is empty.
func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

// csvID formats an id for CSV; zero is empty.
func csvID(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// csvSafe defuses text a spreadsheet would run as a formula (CSV injection):
// a value starting with =, +, - or @ gets a leading apostrophe.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}
