package sqlite

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

// Usage records and their token counts are inserted by multi-row statements,
// usageChunk records or tokenChunkRows token rows at a time, rather than one
// statement per row as the generated InsertUsageRecord and InsertUsageToken
// would: a statement's fixed cost (database/sql's locking and argument
// checks, the driver's reset and the virtual machine's start and halt) was
// about a third of a record's insert time. sqlc cannot express a VALUES list
// of variable length, so the statements are written here; they insert the
// same columns with the same rules as db/queries/sqlite/usage.sql, which the
// store conformance suite checks by reading every field back.
const (
	// usageChunk is the most records one statement inserts: 32 × 32
	// parameters, far below SQLite's limit of 32766.
	usageChunk = 32
	// tokenChunkRows is the most token rows one statement inserts (4
	// parameters each).
	tokenChunkRows = 128
	// usageColumns is how many parameters one usage record binds.
	usageColumns = 32
)

// usageRowSQL is one record's VALUES tuple: catalogue ids that do not exist
// (or no longer exist) resolve to NULL, as in InsertUsageRecord.
const usageRowSQL = `(?,
 (SELECT p.id FROM processes p WHERE p.id = ?),
 (SELECT pr.id FROM profiles pr WHERE pr.id = ?),
 (SELECT m.id FROM models m WHERE m.id = ?),
 (SELECT pv.id FROM providers pv WHERE pv.id = ?),
 (SELECT d.id FROM deployments d WHERE d.id = ?),
 (SELECT po.id FROM policies po WHERE po.id = ?),
 ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// batchSQL holds the multi-row statements by row count, built on first use.
type batchSQL struct {
	once          sync.Once
	usage, tokens []string // [n] inserts n rows; [0] is unused
}

func (b *batchSQL) build() {
	b.once.Do(func() {
		b.usage = make([]string, usageChunk+1)
		for n := 1; n <= usageChunk; n++ {
			b.usage[n] = multiRowSQL(`INSERT INTO usage_records (
 request_id, process_id, profile_id, model_id, provider_id, deployment_id, policy_id,
 model_name, provider_name, operation, stream, received_at, forwarded_at,
 first_token_at, completed_at, status_code, outcome, error_message, client_ip,
 priority, queue_wait_us, cold_start, log_level, classification, request_payload,
 response_payload, request_headers, response_headers, cost_micros, currency,
 total_tokens, client_request_id
) VALUES `, usageRowSQL, n, " ON CONFLICT (request_id) DO NOTHING RETURNING id, request_id")
		}
		b.tokens = make([]string, tokenChunkRows+1)
		for n := 1; n <= tokenChunkRows; n++ {
			b.tokens[n] = multiRowSQL("INSERT INTO usage_tokens (usage_id, token_type_id, count, cost_micros) VALUES ", "(?, ?, ?, ?)", n, "")
		}
	})
}

// multiRowSQL returns head, n copies of row separated by commas, and tail.
func multiRowSQL(head, row string, n int, tail string) string {
	var b strings.Builder
	b.Grow(len(head) + n*(len(row)+2) + len(tail))
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString(row)
	}
	b.WriteString(tail)
	return b.String()
}

// appendUsageArgs appends the parameters of one record, in usageRowSQL's
// order.
func appendUsageArgs(args []any, p *sqlitedb.InsertUsageRecordParams) []any {
	return append(args,
		p.RequestID, p.ProcessID, p.ProfileID, p.ModelID, p.ProviderID, p.DeploymentID, p.PolicyID,
		p.ModelName, p.ProviderName, p.Operation, p.Stream, p.ReceivedAt, p.ForwardedAt,
		p.FirstTokenAt, p.CompletedAt, p.StatusCode, p.Outcome, p.ErrorMessage, p.ClientIp,
		p.Priority, p.QueueWaitUs, p.ColdStart, p.LogLevel, p.Classification, p.RequestPayload,
		p.ResponsePayload, p.RequestHeaders, p.ResponseHeaders, p.CostMicros, p.Currency,
		p.TotalTokens, p.ClientRequestID,
	)
}

// insertUsageBatch inserts rows with c, which runs in one transaction, and
// returns how many were new. A record whose request id is already stored, or
// appears earlier in rows, is skipped, and only new records get token rows.
func insertUsageBatch(ctx context.Context, c *stmtCache, sqls *batchSQL, rows []usageRow, types *tokenTypes) (int, error) {
	sqls.build()
	// The driver starts a goroutine per statement to watch a cancellable
	// context, which costs more than the statements here. They run without
	// cancellation instead and the loop checks ctx before every statement;
	// a cancelled ctx also rolls the transaction back.
	stmtCtx := context.WithoutCancel(ctx)
	q := sqlitedb.New(c)
	inserted := 0
	args := make([]any, 0, usageChunk*usageColumns)
	ids := make(map[string]int64, min(len(rows), usageChunk))
	var tokenArgs []any
	tokenRows := 0
	flushTokens := func() error {
		if tokenRows == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		st, err := c.stmt(stmtCtx, sqls.tokens[tokenRows])
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(stmtCtx, tokenArgs...); err != nil {
			return fmt.Errorf("insert %d token counts: %w", tokenRows, err)
		}
		tokenArgs, tokenRows = tokenArgs[:0], 0
		return nil
	}
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), usageChunk)]
		rows = rows[len(chunk):]
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		args = args[:0]
		for i := range chunk {
			args = appendUsageArgs(args, &chunk[i].params)
		}
		clear(ids)
		if err := queryIDs(stmtCtx, c, sqls.usage[len(chunk)], args, ids); err != nil {
			return 0, fmt.Errorf("insert records %q to %q: %w", chunk[0].params.RequestID, chunk[len(chunk)-1].params.RequestID, err)
		}
		for i := range chunk {
			id, ok := ids[chunk[i].params.RequestID]
			if !ok {
				continue // already stored, tokens and all
			}
			delete(ids, chunk[i].params.RequestID) // a later duplicate was skipped
			inserted++
			for _, t := range chunk[i].tokens {
				typeID, err := types.id(stmtCtx, q, t.Type)
				if err != nil {
					return 0, fmt.Errorf("record %q: token type %q: %w", chunk[i].params.RequestID, t.Type, err)
				}
				tokenArgs = append(tokenArgs, id, typeID, t.Count, t.CostMicros)
				tokenRows++
				if tokenRows == tokenChunkRows {
					if err := flushTokens(); err != nil {
						return 0, err
					}
				}
			}
		}
	}
	if err := flushTokens(); err != nil {
		return 0, err
	}
	return inserted, nil
}

// queryIDs runs the insert query and records the id of every inserted row
// by request id.
func queryIDs(ctx context.Context, c *stmtCache, query string, args []any, ids map[string]int64) error {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return err
	}
	rs, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		var id int64
		var requestID string
		if err := rs.Scan(&id, &requestID); err != nil {
			return err
		}
		ids[requestID] = id
	}
	return rs.Err()
}
