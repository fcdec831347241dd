package postgres_test

import (
	"testing"

	"github.com/logos-llm/logos/store/storetest"
)

// TestPostgresTx runs the transaction conformance tests, each on a fresh
// migrated database.
func TestPostgresTx(t *testing.T) { storetest.RunTx(t, open) }
