package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
)

// runUsageStats is `logos-bench usage-stats`: it times the statistics the
// admin API's usage_stats and request_stats ask for over the 30 days before
// -to, on a filled database, and prints the best and the median of -n runs.
func runUsageStats(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logos-bench usage-stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("db", "", "PostgreSQL URL of a filled database (required)")
	to := fs.String("to", time.Now().UTC().Format(time.DateOnly), "end of the 30-day range (date, UTC)")
	n := fs.Int("n", 7, "runs of each query")
	if err := fs.Parse(args); err != nil {
		return err
	}
	end, err := time.Parse(time.DateOnly, *to)
	if err != nil || *url == "" || *n <= 0 {
		return errors.New("usage-stats needs -db, -to as a date and -n > 0")
	}
	// Ragged edges, as a dashboard asks ("the last 30 days" from now).
	end = end.Add(-17*time.Minute - 3*time.Second)
	from := end.AddDate(0, 0, -30)
	s, err := postgres.Open(ctx, postgres.Config{URL: *url, SkipMigrations: true})
	if err != nil {
		return err
	}
	defer s.Close()
	cases := []struct {
		name string
		run  func() (int, error)
	}{
		{"usage_stats 30d by model", func() (int, error) {
			b, err := s.UsageTotals(ctx, store.UsageQuery{From: from, To: end, GroupBy: []store.Dimension{store.DimModel}})
			return len(b), err
		}},
		{"usage_stats 30d daily by process", func() (int, error) {
			b, err := s.UsageTotals(ctx, store.UsageQuery{From: from, To: end, GroupBy: []store.Dimension{store.DimProcess}, Interval: store.IntervalDay})
			return len(b), err
		}},
		{"usage_stats 30d by token type", func() (int, error) {
			b, err := s.UsageTotals(ctx, store.UsageQuery{From: from, To: end, GroupBy: []store.Dimension{store.DimTokenType}})
			return len(b), err
		}},
		{"request_stats 30d daily", func() (int, error) {
			st, err := s.RequestStats(ctx, store.RequestStatsQuery{From: from, To: end, BucketSeconds: 86400})
			return len(st.Series), err
		}},
	}
	fmt.Fprintf(stdout, "range [%s, %s)\n", from.Format(time.RFC3339), end.Format(time.RFC3339))
	for _, c := range cases {
		var ds []time.Duration
		rows := 0
		for range *n {
			t0 := time.Now()
			if rows, err = c.run(); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			ds = append(ds, time.Since(t0))
		}
		slices.Sort(ds)
		fmt.Fprintf(stdout, "%-34s best %8.1f ms  median %8.1f ms  (%d rows)\n", c.name,
			ms(ds[0]), ms(ds[len(ds)/2]), rows)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// runUsageInsert is `logos-bench usage-insert`: it inserts -records fill
// records received now through the store's InsertUsage in batches of
// -batch (what logosd's usage writer does) and prints records/s.
func runUsageInsert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logos-bench usage-insert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("db", "", "PostgreSQL URL of a filled database (required)")
	records := fs.Int64("records", 100_000, "records to insert")
	batch := fs.Int("batch", 256, "records per InsertUsage")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed of the request ids")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || *records <= 0 || *batch <= 0 {
		return errors.New("usage-insert needs -db, -records > 0 and -batch > 0")
	}
	s, err := postgres.Open(ctx, postgres.Config{URL: *url, SkipMigrations: true})
	if err != nil {
		return err
	}
	defer s.Close()
	pool, err := newPool(ctx, *url)
	if err != nil {
		return err
	}
	defer pool.Close()
	cat, err := ensureCatalogue(ctx, s, pool)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	c := fillConfig{Records: *records, From: now, To: now.Add(time.Duration(*records) * time.Millisecond), Seed: *seed}
	pcg := rand.NewPCG(0, 0)
	r := rand.New(pcg)
	var spent time.Duration
	buf := make([]store.UsageRecord, 0, *batch)
	for i := int64(0); i < *records; {
		buf = buf[:0]
		for ; i < *records && len(buf) < *batch; i++ {
			buf = append(buf, c.gen(&cat, r, pcg, i).UsageRecord)
		}
		t0 := time.Now()
		if _, err := s.InsertUsage(ctx, buf); err != nil {
			return err
		}
		spent += time.Since(t0)
	}
	fmt.Fprintf(stdout, "inserted %d records in batches of %d: %.0f records/s (%.1f ms per batch)\n",
		*records, *batch, float64(*records)/spent.Seconds(), ms(spent)/float64((*records+int64(*batch)-1)/int64(*batch)))
	return nil
}

// usageSubcommands are the subcommands about usage at scale
// (docs/usage-at-scale.md).
var usageSubcommands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	"fill":         runFill,
	"usage-stats":  runUsageStats,
	"usage-insert": runUsageInsert,
}

// firstArg returns args[1], or "" without one.
func firstArg(args []string) string {
	if len(args) < 2 {
		return ""
	}
	return args[1]
}
