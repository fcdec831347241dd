// Command logos-bench measures the overhead of Logos as an LLM gateway.
//
// It starts an OpenAI-compatible mock upstream on loopback and drives the
// same load, round after round and alternating between them, at up to four
// targets:
//
//   - direct: the mock itself;
//   - proxy: a bare httputil.ReverseProxy in its own process, the floor any
//     Go proxy can reach;
//   - logos-sqlite: logosd with the embedded SQLite store;
//   - logos-postgres: logosd on a fresh PostgreSQL database created on
//     -postgres-url (skipped when the flag is unset).
//
// It then writes report.md and report.json: requests per second, latency
// percentiles, time to first byte for streams, the CPU seconds per 1,000
// requests and peak RSS of the target processes, and for Logos the usage
// records written against the requests sent, which must be equal.
//
// Usage:
//
//	logos-bench [flags]
//
// Example:
//
//	go run ./cmd/logos-bench -mode closed -clients 8 -duration 10s -rounds 3 -stream
//
// All traffic stays on 127.0.0.1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Config is a run of the harness.
type Config struct {
	Load        LoadOptions
	Mock        MockOptions
	Rounds      int
	Targets     []string
	PostgresURL string
	Logosd      string // logosd binary; empty builds ./cmd/logosd
	LogosdFlags string // extra logosd arguments, separated by spaces
	LogosdEnv   string // extra KEY=VALUE environment for logosd, separated by spaces
	// ProxyGC is the bare proxy's GC setting: "same" (logosd's GC floor and
	// LogosdEnv, the honest floor; the default) or "go" (Go's defaults).
	ProxyGC     string
	Command     string // for the report
	StopTimeout time.Duration
	ProgressLog io.Writer
}

var knownTargets = []string{"direct", "proxy", "logos-sqlite", "logos-postgres"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == serveProxyFlag {
		if err := serveProxy(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "logos-bench proxy:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if sub := usageSubcommands[firstArg(os.Args)]; sub != nil {
		if err := sub(ctx, os.Args[2:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintf(os.Stderr, "logos-bench %s: %v\n", os.Args[1], err)
			os.Exit(1)
		}
		return
	}
	if err := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "logos-bench:", err)
		os.Exit(1)
	}
}

// runMain parses args, runs the benchmark and writes the report.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logos-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg     Config
		targets string
		out     string
	)
	fs.StringVar(&cfg.Load.Mode, "mode", "closed", "closed (N clients back to back) or open (fixed requests/s)")
	fs.IntVar(&cfg.Load.Clients, "clients", 8, "concurrent clients in closed-loop mode")
	fs.Float64Var(&cfg.Load.RPS, "rps", 100, "request starts per second in open-loop mode")
	fs.DurationVar(&cfg.Load.Duration, "duration", 10*time.Second, "load time per target and round")
	fs.DurationVar(&cfg.Load.Timeout, "timeout", 30*time.Second, "timeout of one request")
	fs.IntVar(&cfg.Load.MaxInFlight, "max-inflight", 4096, "most requests open at once in open-loop mode")
	fs.BoolVar(&cfg.Load.Stream, "stream", false, "request SSE streams")
	fs.DurationVar(&cfg.Load.Warmup, "warmup", 0, "warm-up before each -duration: closed-loop clients start spread over it, and its requests are sent (and must be recorded) but not sampled")
	fs.IntVar(&cfg.Mock.Chunks, "chunks", 20, "content chunks per answer")
	fs.DurationVar(&cfg.Mock.ChunkInterval, "chunk-interval", 0, "mock's wait between stream chunks")
	fs.DurationVar(&cfg.Mock.Latency, "latency", 0, "mock's wait before answering")
	fs.IntVar(&cfg.Mock.PromptTokens, "prompt-tokens", 12, "prompt tokens the mock reports")
	fs.IntVar(&cfg.Mock.CompletionTokens, "completion-tokens", 0, "completion tokens the mock reports (0: -chunks)")
	fs.StringVar(&targets, "targets", "direct,proxy,logos-sqlite", "comma-separated targets: "+strings.Join(knownTargets, ", "))
	fs.StringVar(&cfg.PostgresURL, "postgres-url", os.Getenv("LOGOS_BENCH_POSTGRES_URL"), "PostgreSQL server URL for logos-postgres; a fresh database is created and dropped (LOGOS_BENCH_POSTGRES_URL)")
	fs.StringVar(&cfg.Logosd, "logosd", "", "logosd binary (default: go build ./cmd/logosd into a temporary directory)")
	fs.StringVar(&cfg.LogosdFlags, "logosd-flags", "", "extra logosd arguments, separated by spaces (e.g. \"--debug-listen 127.0.0.1:6061\" to profile it)")
	fs.StringVar(&cfg.LogosdEnv, "logosd-env", "", "extra KEY=VALUE environment for logosd, separated by spaces (e.g. \"GOMEMLIMIT=350MiB\")")
	fs.StringVar(&cfg.ProxyGC, "proxy-gc", "same", "the bare proxy's GC setting: same (logosd's GC floor and -logosd-env, so the proxy is the honest floor) or go (Go's defaults)")
	fs.StringVar(&out, "out", "bench-out", "directory for report.md and report.json")
	fs.IntVar(&cfg.Rounds, "rounds", 3, "rounds; each runs every target once for -duration")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for t := range strings.SplitSeq(targets, ",") {
		if t = strings.TrimSpace(t); t != "" {
			cfg.Targets = append(cfg.Targets, t)
		}
	}
	cfg.Command = "logos-bench " + strings.Join(args, " ")
	cfg.ProgressLog = stderr
	rep, err := Run(ctx, cfg)
	if err != nil {
		return err
	}
	if err := rep.Write(out); err != nil {
		return err
	}
	if err := rep.WriteMarkdown(stdout); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s/report.md and %s/report.json\n", out, out)
	return nil
}

// validate reports the first problem of c.
func (c *Config) validate() error {
	if c.Rounds < 1 || c.Rounds > 1000 {
		return errors.New("-rounds must be between 1 and 1000")
	}
	if c.Load.Duration <= 0 || c.Load.Duration > 24*time.Hour {
		return errors.New("-duration must be positive and at most 24h")
	}
	switch c.Load.Mode {
	case "closed":
		if c.Load.Clients < 1 || c.Load.Clients > 100000 {
			return errors.New("-clients must be between 1 and 100000")
		}
	case "open":
		if c.Load.RPS <= 0 || c.Load.RPS > 1e6 {
			return errors.New("-rps must be positive and at most 1e6")
		}
	default:
		return fmt.Errorf("-mode %q: want closed or open", c.Load.Mode)
	}
	if len(c.Targets) == 0 {
		return errors.New("no targets")
	}
	if _, err := parseEnv(c.LogosdEnv); err != nil {
		return fmt.Errorf("-logosd-env: %w", err)
	}
	if _, err := c.proxyGC(); err != nil {
		return err
	}
	for _, t := range c.Targets {
		if !slices.Contains(knownTargets, t) {
			return fmt.Errorf("unknown target %q (want %s)", t, strings.Join(knownTargets, ", "))
		}
	}
	return nil
}

// Run starts the mock and the targets, drives the load and returns the
// report. Every target is stopped before it returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	env, _ := parseEnv(cfg.LogosdEnv) // checked by validate
	logf := func(format string, a ...any) {
		if cfg.ProgressLog != nil {
			fmt.Fprintf(cfg.ProgressLog, format+"\n", a...)
		}
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 90 * time.Second
	}
	rep := &Report{
		Command: cfg.Command,
		Started: time.Now(),
		Machine: machine(),
		Settings: Settings{
			Mode:            cfg.Load.Mode,
			DurationSeconds: cfg.Load.Duration.Seconds(),
			Rounds:          cfg.Rounds,
			Stream:          cfg.Load.Stream,
			Chunks:          cfg.Mock.chunks(),
			ChunkIntervalMS: float64(cfg.Mock.ChunkInterval) / 1e6,
			LatencyMS:       float64(cfg.Mock.Latency) / 1e6,
			WarmupSeconds:   cfg.Load.Warmup.Seconds(),
		},
	}
	if cfg.Load.Mode == "closed" {
		rep.Settings.Clients = cfg.Load.Clients
	} else {
		rep.Settings.RPS = cfg.Load.RPS
	}

	tmp, err := os.MkdirTemp("", "logos-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	mock, mockURL, err := startServer(NewMockHandler(cfg.Mock))
	if err != nil {
		return nil, err
	}
	defer mock.Close()
	logf("mock upstream on %s", mockURL)

	var targets []*Target
	defer func() {
		for _, t := range targets {
			t.Close()
		}
	}()
	for _, name := range cfg.Targets {
		var t *Target
		switch name {
		case "direct":
			t = &Target{Name: name, BaseURL: mockURL}
		case "proxy":
			gc, _ := cfg.proxyGC() // checked by validate
			rep.Settings.ProxyGC = gc.String()
			if t, err = startProxy(mockURL, tmp, gc); err != nil {
				return nil, err
			}
		case "logos-sqlite", "logos-postgres":
			lo := LogosOptions{Binary: cfg.Logosd, Upstream: mockURL, TmpDir: tmp, Flags: strings.Fields(cfg.LogosdFlags), Env: env}
			if name == "logos-postgres" {
				if cfg.PostgresURL == "" {
					rep.Notes = append(rep.Notes, "logos-postgres skipped: -postgres-url is not set")
					logf("skipping logos-postgres: -postgres-url is not set")
					continue
				}
				lo.PostgresURL = cfg.PostgresURL
			}
			if lo.Binary == "" {
				logf("building logosd")
				if cfg.Logosd, err = buildLogosd(ctx, tmp); err != nil {
					return nil, err
				}
				lo.Binary = cfg.Logosd
			}
			if t, err = startLogos(ctx, name, lo); err != nil {
				return nil, err
			}
		}
		logf("%s on %s (pid %d)", t.Name, t.BaseURL, t.PID)
		targets = append(targets, t)
	}

	results := make([]LoadResult, len(targets))
	cpu := make([]time.Duration, len(targets))
	cpuRounds := make([][]float64, len(targets)) // CPU s / 1k requests in each round
	clients := cfg.Load.Clients
	if cfg.Load.Mode == "open" {
		clients = min(cfg.Load.MaxInFlight, max(64, int(cfg.Load.RPS)))
	}
	for round := range cfg.Rounds {
		// Rotating the order spreads warm-up and machine noise evenly.
		for k := range targets {
			i := (k + round) % len(targets)
			t := targets[i]
			c := newClient(clients, cfg.Load.Timeout)
			var before time.Duration
			if t.PID != 0 {
				if before, err = procCPU(t.PID); err != nil {
					return nil, err
				}
			}
			res, err := RunLoad(ctx, c, t.chatURL(), t.Key, cfg.Load)
			c.CloseIdleConnections()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.Name, err)
			}
			if t.PID != 0 {
				after, err := procCPU(t.PID)
				if err != nil {
					return nil, err
				}
				cpu[i] += after - before
				if all := res.Requests + res.WarmupRequests; all > 0 {
					cpuRounds[i] = append(cpuRounds[i], per1k(after-before, all))
				}
			}
			logf("round %d/%d %-14s %6d requests %5d errors %9.1f req/s", round+1, cfg.Rounds, t.Name, res.Requests, res.Errors, float64(res.Requests)/res.Elapsed.Seconds())
			results[i].Merge(res)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}

	for i, t := range targets {
		tr := newTargetReport(t.Name, results[i], cfg.Load.Stream)
		if t.PID != 0 {
			secs := round3(cpu[i].Seconds())
			tr.CPUSeconds = &secs
			if all := tr.Requests + results[i].WarmupRequests; all > 0 {
				// The CPU was spent on warm-up requests too.
				per := per1k(cpu[i], all)
				tr.CPUSecondsPer1k = &per
			}
			tr.CPUPer1kByRound = cpuRounds[i]
			if rss, err := procPeakRSS(t.PID); err == nil {
				mb := math.Round(float64(rss)/(1<<20)*10) / 10
				tr.PeakRSSMB = &mb
			}
		}
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		dropped, isLogos, err := t.DroppedRecords(dctx)
		dcancel()
		switch {
		case err != nil:
			tr.DroppedScrapeError = err.Error()
		case isLogos:
			tr.DroppedRecords = &dropped
		}
		if err := t.Stop(cfg.StopTimeout); err != nil {
			rep.Notes = append(rep.Notes, err.Error())
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, counted, err := t.CountRecords(cctx)
		cancel()
		switch {
		case err != nil:
			tr.UsageCountFailed = err.Error()
		case counted:
			tr.RequestsSent = tr.Requests + results[i].WarmupRequests + t.Warmup
			ok := n == int64(tr.RequestsSent)
			tr.UsageRecords, tr.UsageRecordsOK = &n, &ok
		}
		rep.Targets = append(rep.Targets, tr)
	}
	return rep, nil
}
