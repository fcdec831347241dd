package postgres_test

import (
	"testing"

	"github.com/logos-llm/logos/store/storetest"
)

// TestPostgresStats runs the statistics conformance tests, each on a fresh
// migrated database.
func TestPostgresStats(t *testing.T) { storetest.RunStats(t, open) }
