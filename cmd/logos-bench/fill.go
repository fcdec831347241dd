package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/logos-llm/logos/internal/catalog"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
)

// fillConfig configures the fill subcommand.
type fillConfig struct {
	URL     string
	Records int64
	From    time.Time
	To      time.Time
	Seed    uint64
	// Migrate applies the store's migrations first (off for a database
	// prepared at an older schema version).
	Migrate bool
}

// runFill is `logos-bench fill`: it fills a PostgreSQL database with
// realistic usage records (a catalogue of users, processes, profiles, models
// and providers, then records spread evenly over [from, to) with tokens,
// costs, outcomes and times) with COPY, and keeps the hourly rollups the usage
// insert would have kept, when the schema has them.
func runFill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logos-bench fill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c fillConfig
	var from, to string
	fs.StringVar(&c.URL, "db", "", "PostgreSQL URL of the database to fill (required; use a dedicated database)")
	fs.Int64Var(&c.Records, "records", 1_000_000, "usage records to add")
	fs.StringVar(&from, "from", time.Now().UTC().AddDate(0, -6, 0).Format(time.DateOnly), "start of the records' time spread (date, UTC)")
	fs.StringVar(&to, "to", time.Now().UTC().Format(time.DateOnly), "end of the records' time spread (date, UTC)")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed; runs with different seeds add distinct records")
	fs.BoolVar(&c.Migrate, "migrate", true, "migrate the database to this build's schema first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if c.From, err = time.Parse(time.DateOnly, from); err != nil {
		return fmt.Errorf("-from: %w", err)
	}
	if c.To, err = time.Parse(time.DateOnly, to); err != nil {
		return fmt.Errorf("-to: %w", err)
	}
	if c.URL == "" || c.Records <= 0 || !c.From.Before(c.To) {
		return errors.New("fill needs -db, -records > 0 and -from before -to")
	}
	return fill(ctx, c, stdout)
}

// fillCatalogue is what the generated records refer to.
type fillCatalogue struct {
	processes []fillProcess
	models    []fillModel
}

type fillProcess struct {
	id       int64
	profiles []int64 // may be empty
	models   []int   // indexes into models: each process uses a few
}

type fillModel struct {
	id                   int64 // 0: a model not in the catalogue
	name, provider       string
	providerID           int64
	priceIn, priceOut    int64 // micros per 1000 tokens; 0: local, unpriced
	cloud                bool
	promptMean, complMax int
}

// fillModels are the models of the catalogue: local ones (unpriced) and cloud
// ones priced in EUR, each on one provider.
var fillModels = []fillModel{
	{name: "llama3.1:8b", provider: "gpu-box-1", promptMean: 600, complMax: 600},
	{name: "qwen2.5:32b", provider: "gpu-box-1", promptMean: 1200, complMax: 900},
	{name: "mistral-small:24b", provider: "gpu-box-2", promptMean: 800, complMax: 700},
	{name: "gemma2:27b", provider: "gpu-box-2", promptMean: 700, complMax: 500},
	{name: "nomic-embed-text", provider: "gpu-box-2", promptMean: 300, complMax: 0},
	{name: "gpt-4o", provider: "openai", priceIn: 2500, priceOut: 10000, cloud: true, promptMean: 1500, complMax: 1200},
	{name: "gpt-4o-mini", provider: "openai", priceIn: 150, priceOut: 600, cloud: true, promptMean: 900, complMax: 800},
	{name: "claude-3-5-sonnet", provider: "anthropic", priceIn: 3000, priceOut: 15000, cloud: true, promptMean: 2500, complMax: 1500},
	{name: "mistral-large", provider: "mistral", priceIn: 2000, priceOut: 6000, cloud: true, promptMean: 1000, complMax: 900},
	{name: "codestral", provider: "mistral", priceIn: 300, priceOut: 900, cloud: true, promptMean: 3000, complMax: 400},
}

// Catalogue sizes.
const (
	fillUsers     = 8
	fillProcesses = 40
)

// ensureCatalogue creates the fill catalogue, or finds the one an earlier
// run created.
func ensureCatalogue(ctx context.Context, s store.Store, pool *pgxpool.Pool) (fillCatalogue, error) {
	var cat fillCatalogue
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM processes WHERE name LIKE 'fill-p-%'`).Scan(&n); err != nil {
		return cat, err
	}
	if n == 0 {
		// Through internal/catalog, the one writer of the catalogue.
		c := catalog.New(s, catalog.Options{Logger: slog.New(slog.DiscardHandler)})
		providers := map[string]int64{}
		for i := range fillUsers {
			u, err := c.AddUser(ctx, store.User{Username: fmt.Sprintf("fill-u-%d", i), Role: store.RoleUser})
			if err != nil {
				return cat, err
			}
			for j := range fillProcesses / fillUsers {
				name := fmt.Sprintf("fill-p-%d", i*(fillProcesses/fillUsers)+j)
				p, err := c.AddProcess(ctx, store.Process{Name: name, UserID: u.ID, LogLevel: store.LogBilling, Priority: 5},
					"lg-fill-key-"+name)
				if err != nil {
					return cat, err
				}
				for k := range (i + j) % 3 {
					if _, err := c.AddProfile(ctx, store.Profile{Name: fmt.Sprintf("fill-prof-%d", k), ProcessID: p.ID}); err != nil {
						return cat, err
					}
				}
			}
		}
		for _, m := range fillModels {
			if _, ok := providers[m.provider]; !ok {
				privacy := store.PrivacyLocal
				if m.cloud {
					privacy = store.PrivacyCloudInEUByUSProvider
				}
				pv, err := c.AddProvider(ctx, store.Provider{Name: "fill-" + m.provider, Kind: store.KindOllama,
					BaseURL: "http://localhost:11434", Privacy: privacy})
				if err != nil {
					return cat, err
				}
				providers[m.provider] = pv.ID
			}
			privacy := store.PrivacyLocal
			if m.cloud {
				privacy = store.PrivacyCloudInEUByUSProvider
			}
			if _, err := c.AddModel(ctx, store.Model{Name: "fill-" + m.name, WeightPrivacy: privacy, Parallel: 1}); err != nil {
				return cat, err
			}
		}
	}
	// Read the catalogue back (ids of this or an earlier run).
	for _, m := range fillModels {
		if err := pool.QueryRow(ctx, `SELECT id FROM models WHERE name = $1`, "fill-"+m.name).Scan(&m.id); err != nil {
			return cat, fmt.Errorf("model %s: %w", m.name, err)
		}
		if err := pool.QueryRow(ctx, `SELECT id FROM providers WHERE name = $1`, "fill-"+m.provider).Scan(&m.providerID); err != nil {
			return cat, fmt.Errorf("provider %s: %w", m.provider, err)
		}
		m.name, m.provider = "fill-"+m.name, "fill-"+m.provider
		cat.models = append(cat.models, m)
	}
	// A model that is not in the catalogue (renamed or deleted since).
	cat.models = append(cat.models, fillModel{name: "retired-model", provider: "fill-openai", priceIn: 500, priceOut: 1500,
		cloud: true, promptMean: 800, complMax: 600})
	rows, err := pool.Query(ctx, `SELECT p.id, COALESCE(array_agg(pr.id ORDER BY pr.id) FILTER (WHERE pr.id IS NOT NULL), '{}')
		FROM processes p LEFT JOIN profiles pr ON pr.process_id = p.id
		WHERE p.name LIKE 'fill-p-%' GROUP BY p.id ORDER BY p.id`)
	if err != nil {
		return cat, err
	}
	defer rows.Close()
	for rows.Next() {
		var p fillProcess
		if err := rows.Scan(&p.id, &p.profiles); err != nil {
			return cat, err
		}
		// Each process uses two or three models.
		i := len(cat.processes)
		p.models = []int{i % len(cat.models), (i*7 + 3) % len(cat.models)}
		if i%3 == 0 {
			p.models = append(p.models, (i*3+1)%len(cat.models))
		}
		cat.processes = append(cat.processes, p)
	}
	return cat, rows.Err()
}

// fillRecord is one generated record with its tokens.
type fillRecord struct {
	store.UsageRecord
	total int64
}

// tokenTypes are the token types the fill writes.
var fillTokenTypes = []string{"prompt_tokens", "completion_tokens", "total_tokens", "prompt_cached_tokens"}

// gen returns record i of a fill: a pure function of the seed and i, so the
// record and token streams are generated independently.
func (c fillConfig) gen(cat *fillCatalogue, r *rand.Rand, pcg *rand.PCG, i int64) fillRecord {
	pcg.Seed(c.Seed, uint64(i))
	span := c.To.Sub(c.From)
	step := span / time.Duration(c.Records)
	at := c.From.Add(step*time.Duration(i) + time.Duration(r.Int64N(int64(max(step, 1))))).Truncate(time.Microsecond)
	// Busier processes: a skewed choice.
	p := cat.processes[int(float64(len(cat.processes))*r.Float64()*r.Float64())]
	m := cat.models[p.models[r.IntN(len(p.models))]]
	if r.IntN(200) == 0 {
		m = cat.models[len(cat.models)-1]
	}
	rec := store.UsageRecord{
		RequestID: "fill-" + strconv.FormatUint(c.Seed, 10) + "-" + strconv.FormatInt(i, 10),
		ProcessID: p.id, ModelID: m.id, ProviderID: m.providerID, ModelName: m.name, ProviderName: m.provider,
		Operation: "chat/completions", Stream: r.IntN(10) < 6, ReceivedAt: at, StatusCode: 200,
		Outcome: store.OutcomeSuccess, Priority: 5, LogLevel: store.LogBilling,
	}
	if m.complMax == 0 {
		rec.Operation, rec.Stream = "embeddings", false
	}
	if len(p.profiles) > 0 && r.IntN(4) > 0 {
		rec.ProfileID = p.profiles[r.IntN(len(p.profiles))]
	}
	switch x := r.IntN(1000); {
	case x < 30:
		rec.Outcome, rec.StatusCode, rec.ErrorMessage = store.OutcomeError, 502, "upstream: connection reset by peer"
	case x < 40:
		rec.Outcome, rec.StatusCode, rec.ErrorMessage = store.OutcomeTimeout, 504, "upstream timed out"
	case x < 55:
		rec.Outcome, rec.StatusCode = store.OutcomeCancelled, 499
	case x < 60:
		rec.Outcome, rec.StatusCode, rec.ErrorMessage = store.OutcomeRejected, 429, "queue full"
	}
	rec.ColdStart = !m.cloud && r.IntN(200) == 0
	rec.QueueWait = time.Duration(r.ExpFloat64()*20) * time.Millisecond
	rec.ForwardedAt = at.Add(rec.QueueWait + time.Duration(r.IntN(2000))*time.Microsecond)
	if rec.Outcome != store.OutcomeRejected {
		run := time.Duration(200+r.ExpFloat64()*3000) * time.Millisecond
		if rec.ColdStart {
			run += 8 * time.Second
		}
		rec.FirstTokenAt = rec.ForwardedAt.Add(run / 10)
		rec.CompletedAt = rec.ForwardedAt.Add(run)
	} else {
		rec.ForwardedAt = time.Time{}
	}
	if rec.Outcome == store.OutcomeSuccess || rec.Outcome == store.OutcomeCancelled {
		prompt := int64(1 + r.ExpFloat64()*float64(m.promptMean))
		compl := int64(0)
		if m.complMax > 0 {
			compl = int64(1 + r.IntN(m.complMax))
		}
		pc, cc := prompt*m.priceIn/1000, compl*m.priceOut/1000
		rec.Tokens = append(rec.Tokens, store.TokenCount{Type: "prompt_tokens", Count: prompt, CostMicros: pc})
		if compl > 0 {
			rec.Tokens = append(rec.Tokens, store.TokenCount{Type: "completion_tokens", Count: compl, CostMicros: cc})
		}
		if r.IntN(10) < 7 {
			rec.Tokens = append(rec.Tokens, store.TokenCount{Type: "total_tokens", Count: prompt + compl})
		}
		// No zero counts: InsertUsage leaves them out, and so do the
		// rollups (postgres.UsageRollup).
		if r.IntN(5) == 0 && prompt/2 > 0 {
			rec.Tokens = append(rec.Tokens, store.TokenCount{Type: "prompt_cached_tokens", Count: prompt / 2})
		}
		rec.CostMicros = pc + cc
		if m.priceIn > 0 {
			rec.Currency = "EUR"
		}
	}
	return fillRecord{UsageRecord: rec, total: store.TotalTokens(rec.Tokens)}
}

// nullID returns nil (NULL) for 0.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// nullTime returns nil (NULL) for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// fill runs a fill.
func fill(ctx context.Context, c fillConfig, stdout io.Writer) error {
	start := time.Now()
	s, err := postgres.Open(ctx, postgres.Config{URL: c.URL, SkipMigrations: !c.Migrate})
	if err != nil {
		return err
	}
	defer s.Close()
	pool, err := newPool(ctx, c.URL)
	if err != nil {
		return err
	}
	defer pool.Close()
	cat, err := ensureCatalogue(ctx, s, pool)
	if err != nil {
		return fmt.Errorf("catalogue: %w", err)
	}
	typeIDs := map[string]int64{}
	types := catalog.New(s, catalog.Options{Logger: slog.New(slog.DiscardHandler)})
	for _, name := range fillTokenTypes {
		t, err := types.TokenType(ctx, name)
		if err != nil {
			return err
		}
		typeIDs[name] = t.ID
	}
	var partitioned bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('usage_rollup') IS NOT NULL`).Scan(&partitioned); err != nil {
		return err
	}
	if partitioned {
		if _, err := s.EnsureUsagePartitions(ctx, c.From, c.To); err != nil {
			return err
		}
	}
	// Reserve the ids.
	var firstID int64
	if err := pool.QueryRow(ctx, `SELECT nextval('usage_records_id_seq')`).Scan(&firstID); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `SELECT setval('usage_records_id_seq', $1)`, firstID+c.Records); err != nil {
		return err
	}

	// The rollups are summed by the store's own code (postgres.UsageRollup,
	// what InsertUsage sums with) while the records stream to COPY, and
	// written at the end in chunked upserts in one transaction: one definition of the rollup sums in
	// Go for every insert path. Calling the migration's SQL function
	// logos_rebuild_usage_rollup after the COPY would also be exact, but it
	// rereads every record of the range (a second full scan of millions of
	// rows); it stays for rebuilds.
	rollup := postgres.NewUsageRollup()
	var mu sync.Mutex // guards progress output
	progress := func(what string, n int64) {
		mu.Lock()
		defer mu.Unlock()
		el := time.Since(start)
		fmt.Fprintf(stdout, "%s: %d of %d (%.0f/s)\n", what, n, c.Records, float64(n)/el.Seconds())
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		pcg := rand.NewPCG(0, 0)
		r := rand.New(pcg)
		var i int64
		src := pgx.CopyFromFunc(func() ([]any, error) {
			if i == c.Records {
				return nil, nil
			}
			rec := c.gen(&cat, r, pcg, i)
			id := firstID + i
			i++
			if i%1_000_000 == 0 {
				progress("records", i)
			}
			if partitioned {
				rollup.Add(rec.UsageRecord)
			}
			return []any{id, rec.RequestID, nullID(rec.ProcessID), nullID(rec.ProfileID), nullID(rec.ModelID),
				nullID(rec.ProviderID), rec.ModelName, rec.ProviderName, rec.Operation, rec.Stream, rec.ReceivedAt,
				nullTime(rec.ForwardedAt), nullTime(rec.FirstTokenAt), nullTime(rec.CompletedAt), int32(rec.StatusCode),
				string(rec.Outcome), rec.ErrorMessage, int32(rec.Priority), rec.QueueWait.Microseconds(), rec.ColdStart,
				string(rec.LogLevel), rec.CostMicros, rec.Currency, rec.total}, nil
		})
		conn, err := pool.Acquire(gctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		_, err = conn.Conn().CopyFrom(gctx, pgx.Identifier{"usage_records"}, []string{"id", "request_id",
			"process_id", "profile_id", "model_id", "provider_id", "model_name", "provider_name", "operation",
			"stream", "received_at", "forwarded_at", "first_token_at", "completed_at", "status_code", "outcome",
			"error_message", "priority", "queue_wait_us", "cold_start", "log_level", "cost_micros", "currency",
			"total_tokens"}, src)
		if err != nil {
			return fmt.Errorf("copy records: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		pcg := rand.NewPCG(0, 0)
		r := rand.New(pcg)
		var i int64
		var pending []store.TokenCount
		var pendingAt time.Time
		var pendingID int64
		cols := []string{"usage_id", "token_type_id", "count", "cost_micros"}
		if partitioned {
			cols = append(cols, "received_at")
		}
		src := pgx.CopyFromFunc(func() ([]any, error) {
			for len(pending) == 0 {
				if i == c.Records {
					return nil, nil
				}
				rec := c.gen(&cat, r, pcg, i)
				pending, pendingAt, pendingID = rec.Tokens, rec.ReceivedAt, firstID+i
				i++
			}
			t := pending[0]
			pending = pending[1:]
			row := []any{pendingID, typeIDs[t.Type], t.Count, t.CostMicros}
			if partitioned {
				row = append(row, pendingAt)
			}
			return row, nil
		})
		conn, err := pool.Acquire(gctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		if _, err := conn.Conn().CopyFrom(gctx, pgx.Identifier{"usage_tokens"}, cols, src); err != nil {
			return fmt.Errorf("copy tokens: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	progress("records and tokens copied", c.Records)
	if partitioned {
		if err := s.AddUsageRollup(ctx, rollup); err != nil {
			return err
		}
		rows, tokRows := rollup.Rows()
		fmt.Fprintf(stdout, "rollups: %d rows, token rollups: %d rows\n", rows, tokRows)
	}
	if _, err := pool.Exec(ctx, `ANALYZE usage_records, usage_tokens`); err != nil {
		return err
	}
	if partitioned {
		if _, err := pool.Exec(ctx, `ANALYZE usage_rollup, usage_token_rollup`); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "filled %d records in %v\n", c.Records, time.Since(start).Round(time.Second))
	return nil
}

// newPool connects to url.
func newPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	return pgxpool.New(ctx, url)
}
