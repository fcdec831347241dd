package sqlite_test

import (
	"testing"

	"github.com/logos-llm/logos/store/storetest"
)

// TestSQLiteBudget runs the budget conformance tests on a real file.
func TestSQLiteBudget(t *testing.T) { storetest.RunBudget(t, open) }
