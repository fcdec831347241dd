// Package storetest is the conformance suite of the store package's
// interfaces, written against their documented contract only. It has one
// entry point per interface, to be called for each interface a store
// implements:
//
//   - RunCore: [store.Core], what every store must implement. Core has no
//     writer, so the caller passes a [Seeder] that gives a fresh store a
//     catalogue by the implementation's own means ([SeedWithWriters] for a
//     store that implements [store.Store]).
//   - RunIdentity, RunCatalog, RunUsage, RunJobs, RunJobQueue, RunSnapshots:
//     the parts of [store.Store]. Their tests build fixtures through the
//     identity and catalogue writers, so they take a whole Store.
//   - RunRateLimit, RunBudget, RunStats: [store.RateLimitStore],
//     [store.BudgetStore], [store.UsageStatsStore].
//
// [Run] runs every suite of [store.Store] (RunCore with SeedWithWriters
// included) plus tests of times and of the lifecycle that span all of it.
//
// An implementation wires the suites up from one of its test files. The
// opener returns a fresh, empty, migrated store for every subtest and
// registers its own cleanup:
//
//	package sqlite_test
//
//	import (
//		"path/filepath"
//		"testing"
//
//		"github.com/logos-llm/logos/store"
//		"github.com/logos-llm/logos/store/sqlite"
//		"github.com/logos-llm/logos/store/storetest"
//	)
//
//	func open(t testing.TB) store.Store {
//		path := filepath.Join(t.TempDir(), "logos.db")
//		s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
//		if err != nil {
//			t.Fatal(err)
//		}
//		t.Cleanup(func() { _ = s.Close() })
//		return s
//	}
//
//	func TestConformance(t *testing.T) { storetest.Run(t, open) }
//	func TestRateLimit(t *testing.T)   { storetest.RunRateLimit(t, open) }
//	func TestBudget(t *testing.T)      { storetest.RunBudget(t, open) }
//	func TestStats(t *testing.T)       { storetest.RunStats(t, open) }
//
//	func BenchmarkUsageWriter(b *testing.B) { storetest.BenchmarkUsageWriter(b, open) }
//
// Run the suite with the race detector, and select parts of it by subtest
// name, for example:
//
//	go test -race -run 'TestConformance/Usage/' ./store/sqlite/
//
// Where the doc comments of package store leave room, the suite holds stores
// to these readings of the contract:
//
//   - Create, Update and Insert methods return the row as stored: Get (and
//     List, LoadCatalog) return the same values afterwards.
//   - Times are stored with microsecond precision, truncated (not rounded), and
//     read back in UTC; zero times read back zero; store-assigned times are
//     UTC too. Durations (QueueWait) are truncated to microseconds.
//   - JSON is compared semantically (key order and whitespace may change).
//     Every JSON column passes through [store.SanitizeJSON]; nil Settings read
//     back as {}; a JSON null payload may read back as nil.
//   - Values the schema's CHECK constraints refuse (unknown enum values, empty
//     names, out-of-range numbers) are ErrInvalid; a reference to a row that
//     does not exist is ErrInvalid or ErrNotFound.
//   - The order of List methods is not specified, except where documented
//     (ListProfiles, ListPermissions, ListUsage, ListProviderSnapshots);
//     LoadCatalog orders every slice with ids by id.
//   - Usage tokens are returned sorted by Type (byte order), without zero
//     counts; ListUsage returns whole records, payloads included.
//   - Text fields of usage records with NUL bytes or invalid UTF-8 never fail
//     an insert; they read back as sent or cleaned as SanitizeJSON cleans.
//
// A store implementing only [store.Core] calls RunCore alone:
//
//	func TestCore(t *testing.T) {
//		storetest.RunCore(t, openCore, func(t testing.TB, s store.Core, c store.Catalog) {
//			s.(*memStore).SetCatalog(c)
//		})
//	}
//
// The suites run their subtests sequentially. One subtest of Run and one of
// RunCore close the store they were given, so the opener's cleanup must
// tolerate a second Close (ignore its error or make Close idempotent).
package storetest
