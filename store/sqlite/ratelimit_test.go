package sqlite_test

import (
	"testing"

	"github.com/logos-llm/logos/store/storetest"
)

// TestSQLiteRateLimit runs the rate-limit conformance tests on a real file.
func TestSQLiteRateLimit(t *testing.T) { storetest.RunRateLimit(t, open) }
