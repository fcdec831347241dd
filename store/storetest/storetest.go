package storetest

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/logos-llm/logos/store"
)

// test is one conformance test; it receives a fresh store.
type test struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// Run runs every suite of [store.Store] against the store returned by open:
// RunCore (seeding the store through its writers, see [SeedWithWriters]),
// RunIdentity, RunCatalog, RunUsage, RunJobs, RunJobQueue and RunSnapshots,
// and the tests of times and of the store's lifecycle that need all of
// Store. Every test is a subtest (named Suite/Test) that calls open once to
// get a fresh, empty, migrated store; open registers its own cleanup on the
// t it is given. The subtests run sequentially.
//
// The optional interfaces outside Store have their own entry points:
// RunRateLimit, RunBudget and RunStats.
func Run(t *testing.T, open func(t testing.TB) store.Store) {
	t.Run("Core", func(t *testing.T) {
		RunCore(t, func(t testing.TB) store.Core { return open(t) }, SeedWithWriters)
	})
	t.Run("Identity", func(t *testing.T) { RunIdentity(t, open) })
	t.Run("Catalog", func(t *testing.T) { RunCatalog(t, open) })
	t.Run("Times", func(t *testing.T) { runTests(t, timeTests, open) })
	t.Run("Usage", func(t *testing.T) { RunUsage(t, open) })
	t.Run("Jobs", func(t *testing.T) { RunJobs(t, open) })
	t.Run("JobQueue", func(t *testing.T) { RunJobQueue(t, open) })
	t.Run("Events", func(t *testing.T) { RunSnapshots(t, open) })
	t.Run("Lifecycle", func(t *testing.T) { runTests(t, lifecycleTests, open) })
}

// RunIdentity runs the conformance tests of [store.IdentityStore]. The tests
// build their fixtures through the catalogue's writers too, so open returns
// a whole [store.Store].
func RunIdentity(t *testing.T, open func(t testing.TB) store.Store) {
	runTests(t, identityTests, open)
}

// RunCatalog runs the conformance tests of [store.CatalogStore] (reader,
// lookups and writer).
func RunCatalog(t *testing.T, open func(t testing.TB) store.Store) {
	runTests(t, catalogTests, open)
}

// RunUsage runs the conformance tests of [store.UsageStore]: inserts read
// back through [store.UsageReader].
func RunUsage(t *testing.T, open func(t testing.TB) store.Store) {
	runTests(t, usageTests, open)
}

// RunJobs runs the conformance tests of [store.JobStore].
func RunJobs(t *testing.T, open func(t testing.TB) store.Store) {
	runTests(t, jobTests, open)
}

// RunJobQueue runs the conformance tests of [store.JobQueue]; they are
// skipped when the store does not implement it.
func RunJobQueue(t *testing.T, open func(t testing.TB) store.Store) {
	runTests(t, jobQueueTests, open)
}

// RunSnapshots runs the conformance tests of [store.EventStore] and, when
// the store implements it, of [store.SnapshotStatsStore] (skipped
// otherwise).
func RunSnapshots(t *testing.T, open func(t testing.TB) store.Store) {
	runTests(t, eventTests, open)
}

// runTests runs tests as subtests, each with a fresh store from open.
func runTests(t *testing.T, tests []test, open func(t testing.TB) store.Store) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			tc.fn(t, s)
		})
	}
}

// rawMessageType is the type of the JSON columns.
var rawMessageType = reflect.TypeFor[json.RawMessage]()

// cmpOpts compares domain records: JSON semantically (stores such as
// PostgreSQL's jsonb normalise whitespace and key order), times with
// time.Time.Equal (cmp's default for types with an Equal method), and nil
// slices equal to empty ones.
var cmpOpts = cmp.Options{
	cmp.FilterPath(
		func(p cmp.Path) bool { return p.Last().Type() == rawMessageType },
		cmp.FilterValues(
			func(a, b json.RawMessage) bool { return len(a) > 0 || len(b) > 0 },
			cmp.Comparer(jsonEqual),
		),
	),
	cmpopts.EquateEmpty(),
}

// jsonEqual reports whether a and b hold the same JSON value. Empty input
// counts as JSON null; text that is not JSON equals nothing.
func jsonEqual(a, b json.RawMessage) bool {
	va, okA := decodeJSON(a)
	vb, okB := decodeJSON(b)
	return okA && okB && reflect.DeepEqual(va, vb)
}

// decodeJSON decodes b, treating empty input as JSON null.
func decodeJSON(b []byte) (any, bool) {
	if len(b) == 0 {
		return nil, true
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, false
	}
	return v, true
}

// diff fails t if got differs from want.
func diff(t testing.TB, what string, want, got any, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, append(cmp.Options{cmpOpts}, opts...)...); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// cmpEqual reports whether want and got are equal under cmpOpts and opts.
func cmpEqual(want, got any, opts ...cmp.Option) bool {
	return cmp.Equal(want, got, append(cmp.Options{cmpOpts}, opts...)...)
}

// must returns a function that fails t immediately if err is not nil and
// returns v otherwise. It takes the results of a call directly:
//
//	u := must(s.GetUser(ctx, id))(t)
func must[T any](v T, err error) func(t testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// noErr fails t immediately if err is not nil.
func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantErr fails t unless errors.Is(err, target) holds for one of targets.
func wantErr(t testing.TB, what string, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if errors.Is(err, target) {
			return
		}
	}
	if err == nil {
		t.Errorf("%s: got no error, want %v", what, targets)
		return
	}
	t.Errorf("%s: got error %q, want errors.Is one of %v", what, err, targets)
}

// wantNotFound fails t unless err is store.ErrNotFound.
func wantNotFound(t testing.TB, what string, err error) {
	t.Helper()
	wantErr(t, what, err, store.ErrNotFound)
}

// wantConflict fails t unless err is store.ErrConflict.
func wantConflict(t testing.TB, what string, err error) {
	t.Helper()
	wantErr(t, what, err, store.ErrConflict)
}

// wantInvalid fails t unless err is store.ErrInvalid.
func wantInvalid(t testing.TB, what string, err error) {
	t.Helper()
	wantErr(t, what, err, store.ErrInvalid)
}

// wantDangling fails t unless err is store.ErrInvalid or store.ErrNotFound, the
// two errors a store may return for a reference to a row that does not exist.
func wantDangling(t testing.TB, what string, err error) {
	t.Helper()
	wantErr(t, what, err, store.ErrInvalid, store.ErrNotFound)
}

// checkID fails t immediately if a store-assigned id is not positive.
func checkID(t testing.TB, what string, id int64) {
	t.Helper()
	if id <= 0 {
		t.Fatalf("%s: store assigned id %d, want a positive id", what, id)
	}
}

// keyHash returns a SHA-256 hash like those Logos stores for API keys.
func keyHash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// sortedByID returns a sorted copy of xs ordered by id.
func sortedByID[T any](xs []T, id func(T) int64) []T {
	out := slices.Clone(xs)
	slices.SortStableFunc(out, func(a, b T) int { return cmpInt(id(a), id(b)) })
	return out
}

// isSortedByID reports whether xs is ordered by strictly increasing id.
func isSortedByID[T any](xs []T, id func(T) int64) bool {
	for i := 1; i < len(xs); i++ {
		if id(xs[i-1]) >= id(xs[i]) {
			return false
		}
	}
	return true
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Id accessors for sortedByID and isSortedByID.
func userID(u store.User) int64             { return u.ID }
func serviceID(s store.Service) int64       { return s.ID }
func processID(p store.Process) int64       { return p.ID }
func profileID(p store.Profile) int64       { return p.ID }
func providerID(p store.Provider) int64     { return p.ID }
func modelID(m store.Model) int64           { return m.ID }
func deploymentID(d store.Deployment) int64 { return d.ID }
func policyID(p store.Policy) int64         { return p.ID }
func tokenTypeID(tt store.TokenType) int64  { return tt.ID }
func priceID(p store.Price) int64           { return p.ID }
func jobID(j store.Job) int64               { return j.ID }

// oddTime is a time with nanoseconds that do not round to the truncated
// microsecond, in a zone that is not UTC: stores must read it back as
// oddTime.Truncate(time.Microsecond), in UTC.
var oddTime = time.Date(2025, time.March, 14, 15, 9, 26, 535897932, time.FixedZone("IST", 5*3600+1800))

// utcMicros is what a store must read back for a time it was given.
func utcMicros(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond).UTC()
}

// checkTime fails t unless got equals want truncated to microseconds and, if
// not zero, is in UTC.
func checkTime(t testing.TB, what string, want, got time.Time) {
	t.Helper()
	w := utcMicros(want)
	switch {
	case w.IsZero() && !got.IsZero():
		t.Errorf("%s = %v, want the zero time", what, got)
	case !got.Equal(w):
		t.Errorf("%s = %v, want %v (the written %v truncated to microseconds)", what, got, w, want)
	case !got.IsZero() && got.Location() != time.UTC:
		t.Errorf("%s = %v is in location %q, want UTC", what, got, got.Location())
	}
}

// checkAssignedTime fails t unless a store-assigned timestamp is set, in UTC,
// and not in the future or distant past of the test's clock (allowing for
// clock skew between the test and the database).
func checkAssignedTime(t testing.TB, what string, got time.Time) {
	t.Helper()
	const skew = time.Hour
	now := time.Now()
	switch {
	case got.IsZero():
		t.Errorf("%s is zero, want the time the store wrote the row", what)
	case got.Location() != time.UTC:
		t.Errorf("%s = %v is in location %q, want UTC", what, got, got.Location())
	case got.Before(now.Add(-skew)) || got.After(now.Add(skew)):
		t.Errorf("%s = %v, want about now (%v)", what, got, now)
	}
}
