package sqlite_test

import (
	"testing"

	"github.com/logos-llm/logos/store/storetest"
)

// TestSQLiteStats runs the statistics conformance tests on a real SQLite file.
func TestSQLiteStats(t *testing.T) { storetest.RunStats(t, open) }
