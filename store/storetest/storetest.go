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

// group is a named set of conformance tests.
type group struct {
	name  string
	tests []test
}

// groups lists the whole suite.
var groups = []group{
	{"Identity", identityTests},
	{"Catalog", catalogTests},
	{"Times", timeTests},
	{"Usage", usageTests},
	{"Jobs", jobTests},
	{"JobQueue", jobQueueTests},
	{"Events", eventTests},
	{"Lifecycle", lifecycleTests},
}

// Run runs the conformance suite against the store returned by open. Every
// test is a subtest (named Group/Test) that calls open once to get a fresh,
// empty, migrated store; open registers its own cleanup on the t it is given.
// The subtests run sequentially.
func Run(t *testing.T, open func(t testing.TB) store.Store) {
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					s := open(t)
					if s == nil {
						t.Fatal("open returned a nil store")
					}
					tc.fn(t, s)
				})
			}
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
