package sqlite_test

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite"
	"github.com/logos-llm/logos/store/storetest"
)

// quiet discards the store's log records in tests.
var quiet = slog.New(slog.DiscardHandler)

// open returns a fresh, migrated store on a new file, closed when t ends.
func open(t testing.TB) store.Store {
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "logos.db"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestConformance runs the store conformance suite on a real SQLite file.
func TestSQLiteConformance(t *testing.T) { storetest.Run(t, open) }

// BenchmarkUsageWriter measures records/s through store.UsageWriter with
// batches of 500.
func BenchmarkUsageWriter(b *testing.B) { storetest.BenchmarkUsageWriter(b, open) }
