package sqlite_test

import (
	"testing"

	"github.com/logos-llm/logos/store/storetest"
)

// TestSQLiteTx runs the transaction conformance tests on a real file.
func TestSQLiteTx(t *testing.T) { storetest.RunTx(t, open) }
