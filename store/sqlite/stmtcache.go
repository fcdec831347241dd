package sqlite

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

// stmtCache runs the generated queries inside one transaction, preparing each
// distinct query text once and reusing the statement for every later call. A
// batch insert thus parses its statements once per batch instead of once per
// row. The statements are closed with the transaction.
type stmtCache struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

var _ sqlitedb.DBTX = (*stmtCache)(nil)

// newStmtCache returns a statement cache for tx.
func newStmtCache(tx *sql.Tx) *stmtCache {
	return &stmtCache{tx: tx, stmts: make(map[string]*sql.Stmt)}
}

// stmt returns the prepared statement for query, preparing it on first use.
func (c *stmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	st, err := c.tx.PrepareContext(ctx, positional(query))
	if err != nil {
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}

// positional returns query with its numbered parameters ?1, ?2, ... written
// as plain ?, if they appear exactly in that order, each once (as sqlc writes
// them for a query naming each parameter once); any other query is returned
// unchanged. Both forms bind the same arguments to the same places. The
// driver looks up the name of every numbered parameter on every execution,
// which for the 32 parameters of a usage record is 8 % of its insert time;
// a plain ? has no name to look up. Quoted strings, quoted identifiers and
// comments are skipped; a query with :name, @name or $name parameters is
// returned unchanged.
func positional(query string) string {
	var b strings.Builder
	last := 0 // query[:last] is in b
	next := 1 // the number the next parameter must have
	for i := 0; i < len(query); i++ {
		switch c := query[i]; {
		case c == '\'' || c == '"' || c == '`':
			end := strings.IndexByte(query[i+1:], c)
			if end < 0 {
				return query
			}
			i += end + 1 // a doubled quote is two quoted strings in a row
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				i = len(query)
				continue
			}
			i += end
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				return query
			}
			i += end + 3
		case c == ':' || c == '@' || c == '$':
			return query // a named parameter: leave the numbering alone
		case c == '?':
			j := i + 1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				j++
			}
			if query[i+1:j] != strconv.Itoa(next) {
				return query
			}
			b.WriteString(query[last : i+1])
			last = j
			next++
			i = j - 1
		}
	}
	if next == 1 {
		return query
	}
	b.WriteString(query[last:])
	return b.String()
}

// ExecContext executes query with args through its cached statement.
func (c *stmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// PrepareContext prepares query in the transaction without caching it.
func (c *stmtCache) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return c.tx.PrepareContext(ctx, query)
}

// QueryContext runs query with args through its cached statement.
func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs query with args through its cached statement. If the
// statement cannot be prepared, the query runs unprepared so that the
// returned row carries the error.
func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return c.tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
