package postgres_test

import (
	"testing"

	"github.com/logos-llm/logos/store/storetest"
)

// TestPostgresBudget runs the budget conformance tests, each on a fresh
// migrated database.
func TestPostgresBudget(t *testing.T) { storetest.RunBudget(t, open) }
