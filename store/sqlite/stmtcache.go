package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

// stmtCache runs the generated queries inside one transaction on the
// writer, through statements prepared once for the store's life (prepared):
// a batch insert thus parses none of its statements again. A statement first
// used in this transaction is prepared in it, since the transaction holds the
// writer's only connection, and for the store after it (prepareMissing).
type stmtCache struct {
	tx       *sql.Tx
	stmts    map[string]*sql.Stmt
	prepared *preparedStmts
	db       *sql.DB  // the writer, which prepared prepares on
	missing  []string // queries prepared in tx, not in prepared yet
}

var _ sqlitedb.DBTX = (*stmtCache)(nil)

// newStmtCache returns a statement cache for tx, a transaction on db that
// shares the statements of prepared.
func newStmtCache(tx *sql.Tx, db *sql.DB, prepared *preparedStmts) *stmtCache {
	return &stmtCache{tx: tx, stmts: make(map[string]*sql.Stmt), prepared: prepared, db: db}
}

// stmt returns the statement for query in the transaction.
func (c *stmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if shared, ok := c.prepared.lookup(query); ok {
		// On the connection it was prepared on (the writer has one), the
		// transaction uses the prepared statement as is.
		st = c.tx.StmtContext(ctx, shared)
	} else {
		var err error
		if st, err = c.tx.PrepareContext(ctx, positional(query)); err != nil {
			return nil, err
		}
		c.missing = append(c.missing, query)
	}
	c.stmts[query] = st
	return st, nil
}

// prepareMissing prepares on c.db, for later transactions, the statements
// this one had to prepare for itself. Call it after the transaction ended.
func (c *stmtCache) prepareMissing(ctx context.Context) error {
	for _, q := range c.missing {
		if _, err := c.prepared.get(ctx, c.db, q); err != nil {
			return err
		}
	}
	c.missing = nil
	return nil
}

// preparedStmts holds statements prepared on a database for as long as it is
// open, by query text. The zero value is ready to use.
type preparedStmts struct {
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	closed bool
}

// lookup returns the statement for query if it was prepared.
func (p *preparedStmts) lookup(query string) (*sql.Stmt, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.stmts[query]
	return st, ok
}

// get returns the statement for query on db, preparing it on first use. It
// waits for a free connection of db: do not call it in a transaction of a
// one-connection db.
func (p *preparedStmts) get(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	if st, ok := p.lookup(query); ok {
		return st, nil
	}
	// Not under p.mu: preparing waits for a connection, which a transaction
	// may hold while it looks up statements.
	st, err := db.PrepareContext(ctx, positional(query))
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = st.Close()
		return nil, sql.ErrConnDone
	}
	if prev, ok := p.stmts[query]; ok { // prepared meanwhile by another caller
		_ = st.Close()
		return prev, nil
	}
	if p.stmts == nil {
		p.stmts = make(map[string]*sql.Stmt)
	}
	p.stmts[query] = st
	return st, nil
}

// close closes every statement; get fails afterwards.
func (p *preparedStmts) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var errs []error
	for _, st := range p.stmts {
		errs = append(errs, st.Close())
	}
	p.stmts = nil
	return errors.Join(errs...)
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
