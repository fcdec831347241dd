package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

// failTokenInserts is a DBTX whose token inserts fail with errTokenInsert.
type failTokenInserts struct{ sqlitedb.DBTX }

var errTokenInsert = errors.New("token insert refused")

func (f failTokenInserts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if strings.HasPrefix(query, "INSERT INTO usage_tokens") {
		return nil, errTokenInsert
	}
	return f.DBTX.ExecContext(ctx, query, args...)
}

// TestInsertUsageTokenErrorNamesRequestIDs checks that a failed token insert
// names the records by their request ids, as the caller knows them, not by
// the usage ids the store assigned.
func TestInsertUsageTokenErrorNamesRequestIDs(t *testing.T) {
	s := openInternal(t)
	ctx := t.Context()
	var rows []usageRow
	for _, id := range []string{"req-tok-first", "req-tok-middle", "req-tok-last"} {
		row, err := toUsageRow(&store.UsageRecord{
			RequestID: id, ReceivedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), StatusCode: 200, Outcome: store.OutcomeSuccess, LogLevel: store.LogBilling,
			Tokens: []store.TokenCount{{Type: "prompt_tokens", Count: 3}, {Type: "completion_tokens", Count: 4}},
		})
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	for _, c := range []struct {
		rows []usageRow
		want string
	}{
		{rows[:1], `tokens of record "req-tok-first": `},
		// Six token rows: the first statement has four, of two records.
		{rows, `tokens of records "req-tok-first" to "req-tok-middle": `},
	} {
		types := tokenTypes{known: &s.tokenTypes, found: map[string]int64{}}
		err := s.writeTx(ctx, func(tx *sql.Tx) error {
			_, err := insertUsageRows(ctx, failTokenInserts{tx}, c.rows, &types)
			return err
		})
		if !errors.Is(err, errTokenInsert) {
			t.Fatalf("insert of %d records: error %v, want %v", len(c.rows), err, errTokenInsert)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("insert of %d records: error %q, want it to contain %q", len(c.rows), err, c.want)
		}
	}
}
