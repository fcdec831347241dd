package postgres_test

import (
	"testing"

	"github.com/logos-llm/logos/store/storetest"
)

// TestPostgresRateLimit runs the rate-limit conformance tests, each on a fresh
// migrated database.
func TestPostgresRateLimit(t *testing.T) { storetest.RunRateLimit(t, open) }
