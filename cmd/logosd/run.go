package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/internal/config"
	"github.com/logos-llm/logos/internal/gcfloor"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/router"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/sqlite"
)

// options are logosd's settings, from flags and LOGOS_* variables.
type options struct {
	listen          string
	databaseURL     string
	sqlitePath      string
	configPath      string
	logLevel        string
	shutdownTimeout time.Duration
	spillPath       string
	check           bool
	prune           bool
	debugListen     string
	flushInterval   time.Duration
	usageLog        string // directory; "" when off
	usageLogMax     uint64
	usageLogSync    time.Duration
	maxHeaderBytes  uint64
	gcMinHeap       uint64 // 0: leave the collector alone
	jobWorkers      int
	jobLease        time.Duration
	jobRetention    time.Duration
	// The built-in classifier: balancer weights, and an optional
	// embeddings similarity stage: a model of the catalogue, called
	// through the Router in process (embeddingsModel alone), or an
	// OpenAI-compatible endpoint of its own (embeddingsURL).
	classifierWeights classify.Balancer
	embeddingsURL     string
	embeddingsModel   string
	embeddingsTimeout time.Duration
	acrossModels      bool
	scheduler         string // lifecycle.go
	laneProfiles      string

	maxConnections  int // 0: unlimited
	maxQueue        int // per deployment; 0: unlimited
	bodyReadTimeout time.Duration
	writeTimeout    time.Duration
	breakerFails    int
	breakerCoolOff  time.Duration
	maxQueueTimeout time.Duration
	trustedProxies  []netip.Prefix
	retention       time.Duration
	corsOrigins     []string
	usageRetention  time.Duration // 0: keep usage forever
	otel            otelOptions   // otel.go
}

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var o options
	var err error
	fs := flag.NewFlagSet("logosd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", env("LOGOS_LISTEN", "127.0.0.1:8080"), "address to listen on (LOGOS_LISTEN)")
	fs.StringVar(&o.databaseURL, "database-url", env("LOGOS_DATABASE_URL", ""), "PostgreSQL URL; empty uses the embedded SQLite store (LOGOS_DATABASE_URL)")
	fs.StringVar(&o.sqlitePath, "sqlite-path", env("LOGOS_SQLITE_PATH", "logos.db"), "SQLite database file, used without --database-url (LOGOS_SQLITE_PATH)")
	fs.StringVar(&o.configPath, "config", env("LOGOS_CONFIG", ""), "declarative config file (LOGOS_CONFIG)")
	fs.StringVar(&o.logLevel, "log-level", env("LOGOS_LOG_LEVEL", "info"), "debug, info, warn or error (LOGOS_LOG_LEVEL)")
	fs.StringVar(&o.spillPath, "usage-spill", env("LOGOS_USAGE_SPILL", ""), "file for usage records the database did not take at shutdown, replayed on start; superseded by --usage-log, with which it is only replayed (LOGOS_USAGE_SPILL)")
	fs.StringVar(&o.usageLog, "usage-log", env("LOGOS_USAGE_LOG", ""), "directory of the local usage log that keeps usage records safe from crashes and database outages; default: <sqlite-path>.usage-log with SQLite, logos-usage-log with PostgreSQL; \"off\" disables it (LOGOS_USAGE_LOG)")
	logMax := env("LOGOS_USAGE_LOG_MAX", "1GiB")
	fs.StringVar(&logMax, "usage-log-max", logMax, "largest size of the usage log; above it new requests get 503 until the database catches up (LOGOS_USAGE_LOG_MAX)")
	logSync := env("LOGOS_USAGE_LOG_SYNC", "100ms")
	fs.StringVar(&logSync, "usage-log-sync", logSync, "how often the usage log is fsynced; records reach the operating system at once (LOGOS_USAGE_LOG_SYNC)")
	fs.StringVar(&o.debugListen, "debug-listen", env("LOGOS_DEBUG_LISTEN", ""), "address for Go profiling (/debug/pprof/); empty: off. Keep it on loopback (LOGOS_DEBUG_LISTEN)")
	fs.BoolVar(&o.check, "check", false, "validate the --config file, print its problems with their lines, and exit")
	fs.BoolVar(&o.prune, "prune", env("LOGOS_PRUNE", "") == "true", "delete catalogue objects the --config file does not mention (LOGOS_PRUNE=true)")
	flush := env("LOGOS_USAGE_FLUSH_INTERVAL", "250ms")
	fs.StringVar(&flush, "usage-flush-interval", flush, "longest a usage record waits to be written; longer means larger, cheaper batches (LOGOS_USAGE_FLUSH_INTERVAL)")
	maxHeader := env("LOGOS_MAX_HEADER_BYTES", "64KiB")
	fs.StringVar(&maxHeader, "max-header-bytes", maxHeader, "largest request line and headers; larger requests get 431 (LOGOS_MAX_HEADER_BYTES)")
	gcMin := env("LOGOS_GC_MIN_HEAP", gcfloor.DefaultMinHeapText)
	fs.StringVar(&gcMin, "gc-min-heap", gcMin, "smallest heap the Go collector lets grow before collecting, e.g. 64MiB; auto: 40MiB or a quarter of GOMEMLIMIT or the cgroup memory limit if smaller; 0: Go's default. Ignored when GOGC is set (LOGOS_GC_MIN_HEAP)")
	retention := env("LOGOS_SNAPSHOT_RETENTION", "168h")
	fs.StringVar(&retention, "snapshot-retention", retention, "how long provider snapshots (polls of providers' admin URLs) are kept; 0: forever (LOGOS_SNAPSHOT_RETENTION)")
	usageRetention := env("LOGOS_USAGE_RETENTION", "0")
	fs.StringVar(&usageRetention, "usage-retention", usageRetention, "with PostgreSQL, how long usage records are kept: older whole months (partitions) are dropped, with their statistics; 0: forever (LOGOS_USAGE_RETENTION)")
	cors := env("LOGOS_CORS_ORIGINS", "")
	fs.StringVar(&cors, "cors-origins", cors, "comma-separated origins browsers may call Logos from, e.g. https://app.example.com; * allows any; empty: none (LOGOS_CORS_ORIGINS)")
	timeout := env("LOGOS_SHUTDOWN_TIMEOUT", "30s")
	fs.StringVar(&timeout, "shutdown-timeout", timeout, "how long to drain requests and flush usage on SIGINT/SIGTERM (LOGOS_SHUTDOWN_TIMEOUT)")
	jobWorkers := env("LOGOS_JOB_WORKERS", "8")
	fs.StringVar(&jobWorkers, "job-workers", jobWorkers, "asynchronous jobs this replica runs at a time (LOGOS_JOB_WORKERS)")
	jobLease := env("LOGOS_JOB_LEASE", "30s")
	fs.StringVar(&jobLease, "job-lease", jobLease, "how long a replica's claim on a running job lasts unrenewed: a dead replica's jobs are taken over after it (LOGOS_JOB_LEASE)")
	jobRetention := env("LOGOS_JOB_RETENTION", "168h")
	fs.StringVar(&jobRetention, "job-retention", jobRetention, "how long finished jobs and their results are kept (LOGOS_JOB_RETENTION)")
	weights := env("LOGOS_CLASSIFIER_WEIGHTS", "3.4,1.9,1.0")
	fs.StringVar(&weights, "classifier-weights", weights, "weights of the classifier's policy, tag and similarity stages (LOGOS_CLASSIFIER_WEIGHTS)")
	fs.StringVar(&o.embeddingsModel, "classifier-embeddings-model", env("LOGOS_CLASSIFIER_EMBEDDINGS_MODEL", ""), "embeddings model of the Logos catalogue for the classifier's similarity stage, called through Logos in process as the logos-system process; empty: lexical stage. With --classifier-embeddings-url, the model name sent there instead (default nomic-embed-text) (LOGOS_CLASSIFIER_EMBEDDINGS_MODEL)")
	fs.StringVar(&o.embeddingsURL, "classifier-embeddings-url", env("LOGOS_CLASSIFIER_EMBEDDINGS_URL", ""), "OpenAI-compatible embeddings URL outside Logos (e.g. http://localhost:11434/v1/embeddings) for the classifier's similarity stage, instead of a model of the catalogue. Key from LOGOS_CLASSIFIER_EMBEDDINGS_KEY (LOGOS_CLASSIFIER_EMBEDDINGS_URL)")
	fs.BoolVar(&o.acrossModels, "scheduler-across-models", env("LOGOS_SCHEDULER_ACROSS_MODELS", "") == "true", "let a request Logos classified run on a second-best model that is free instead of waiting for the best (LOGOS_SCHEDULER_ACROSS_MODELS=true)")
	fs.StringVar(&o.scheduler, "scheduler", env("LOGOS_SCHEDULER", schedulerLogos), "scheduler: logos (swap-aware; wakes, sleeps, loads and unloads models on Ollama and sleep-mode vLLM providers) or fcfs (per deployment, models taken as awake) (LOGOS_SCHEDULER)")
	fs.StringVar(&o.laneProfiles, "lane-profiles", env("LOGOS_LANE_PROFILES", ""), "JSON file of models' memory footprints and transition times for --scheduler logos: {\"model\": {\"awake_mb\", \"sleep_mb\", \"wake_s\", \"sleep_s\", \"load_s\", \"unload_s\", \"step_ms\", \"step_per_seq_ms\"}} (LOGOS_LANE_PROFILES)")
	embTimeout := env("LOGOS_CLASSIFIER_EMBEDDINGS_TIMEOUT", "250ms")
	fs.StringVar(&embTimeout, "classifier-embeddings-timeout", embTimeout, "deadline of the embeddings similarity stage; past it the lexical stage answers (LOGOS_CLASSIFIER_EMBEDDINGS_TIMEOUT)")
	maxConns := env("LOGOS_MAX_CONNECTIONS", "10000")
	fs.StringVar(&maxConns, "max-connections", maxConns, "most client connections open at once; more wait in the kernel's backlog; 0: unlimited (LOGOS_MAX_CONNECTIONS)")
	maxQueue := env("LOGOS_MAX_QUEUE", "1000")
	fs.StringVar(&maxQueue, "max-queue", maxQueue, "most requests waiting for one deployment; more get 503 queue_full; 0: unlimited (LOGOS_MAX_QUEUE)")
	bodyRead := env("LOGOS_BODY_READ_TIMEOUT", "60s")
	fs.StringVar(&bodyRead, "body-read-timeout", bodyRead, "longest a proxied request's body may take to arrive; slower ones get 408 (LOGOS_BODY_READ_TIMEOUT)")
	write := env("LOGOS_WRITE_TIMEOUT", "60s")
	fs.StringVar(&write, "write-timeout", write, "longest one write of an answer to a client may block; renewed on every write, so streams that the client reads are not cut (LOGOS_WRITE_TIMEOUT)")
	maxWait := env("LOGOS_MAX_QUEUE_TIMEOUT", "600s")
	fs.StringVar(&maxWait, "max-queue-timeout", maxWait, "longest queue wait a client may ask for with Logos-Queue-Timeout or timeout_s; longer ones are clamped (LOGOS_MAX_QUEUE_TIMEOUT)")
	breakerFails := env("LOGOS_BREAKER_THRESHOLD", "5")
	fs.StringVar(&breakerFails, "breaker-threshold", breakerFails, "consecutive failures (connection errors, timeouts before headers, 5xx) that open a deployment's circuit breaker (LOGOS_BREAKER_THRESHOLD)")
	breakerCool := env("LOGOS_BREAKER_COOL_OFF", "30s")
	fs.StringVar(&breakerCool, "breaker-cool-off", breakerCool, "how long an open circuit breaker keeps its deployment out of requests' candidates before one probe may use it (LOGOS_BREAKER_COOL_OFF)")
	proxies := env("LOGOS_TRUSTED_PROXIES", "")
	fs.StringVar(&proxies, "trusted-proxies", proxies, "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed for client_ip; empty: none (LOGOS_TRUSTED_PROXIES)")
	fs.StringVar(&o.otel.endpoint, "otel-endpoint", env("LOGOS_OTEL_ENDPOINT", ""), "OTLP/HTTP endpoint to send OpenTelemetry traces of requests to, e.g. http://localhost:4318; empty: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT if set, else tracing off (LOGOS_OTEL_ENDPOINT)")
	sampleRatio := env("LOGOS_OTEL_SAMPLE_RATIO", "1")
	fs.StringVar(&sampleRatio, "otel-sample-ratio", sampleRatio, "fraction of the traces logosd starts that are sampled; requests that come with a traceparent follow the caller's choice unless --otel-parent-sampling is ratio (LOGOS_OTEL_SAMPLE_RATIO)")
	parentSampling := env("LOGOS_OTEL_PARENT_SAMPLING", "follow")
	fs.StringVar(&parentSampling, "otel-parent-sampling", parentSampling, "follow: a request with a traceparent is sampled as its caller says; ratio: --otel-sample-ratio decides for every request, so clients cannot choose what is traced (their spans still join their trace) (LOGOS_OTEL_PARENT_SAMPLING)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.otel.sampleRatio, err = parseSampleRatio(sampleRatio); err != nil {
		return o, err
	}
	if o.otel.ignoreParent, err = parseParentSampling(parentSampling); err != nil {
		return o, err
	}
	if _, err := tracesURL(o.otel, getenv); err != nil {
		return o, err
	}
	for _, d := range []struct {
		name, v string
		dst     *time.Duration
	}{{"body read timeout", bodyRead, &o.bodyReadTimeout}, {"write timeout", write, &o.writeTimeout}, {"max queue timeout", maxWait, &o.maxQueueTimeout}, {"breaker cool-off", breakerCool, &o.breakerCoolOff}} {
		v, err := time.ParseDuration(d.v)
		if err != nil || v <= 0 {
			return o, fmt.Errorf("invalid %s %q: want a duration above 0", d.name, d.v)
		}
		*d.dst = v
	}
	if o.maxConnections, err = strconv.Atoi(maxConns); err != nil || o.maxConnections < 0 {
		return o, fmt.Errorf("invalid max connections %q: want a whole number, 0 for unlimited", maxConns)
	}
	if o.breakerFails, err = strconv.Atoi(breakerFails); err != nil || o.breakerFails < 1 {
		return o, fmt.Errorf("invalid breaker threshold %q: want a whole number of at least 1", breakerFails)
	}
	if o.maxQueue, err = strconv.Atoi(maxQueue); err != nil || o.maxQueue < 0 {
		return o, fmt.Errorf("invalid max queue %q: want a whole number, 0 for unlimited", maxQueue)
	}
	if o.scheduler != schedulerFCFS && o.scheduler != schedulerLogos {
		return o, fmt.Errorf("invalid scheduler %q: want %s or %s", o.scheduler, schedulerLogos, schedulerFCFS)
	}
	if o.trustedProxies, err = parsePrefixes(proxies); err != nil {
		return o, fmt.Errorf("invalid trusted proxies %q: %w", proxies, err)
	}
	if o.jobWorkers, err = strconv.Atoi(jobWorkers); err != nil || o.jobWorkers < 1 || o.jobWorkers > 10000 {
		return o, fmt.Errorf("invalid job workers %q: want a whole number from 1 to 10000", jobWorkers)
	}
	if o.jobLease, err = time.ParseDuration(jobLease); err != nil || o.jobLease < time.Second {
		return o, fmt.Errorf("invalid job lease %q: want a duration of at least 1s", jobLease)
	}
	if o.jobRetention, err = time.ParseDuration(jobRetention); err != nil || o.jobRetention < time.Minute {
		return o, fmt.Errorf("invalid job retention %q: want a duration of at least 1m", jobRetention)
	}
	if o.embeddingsTimeout, err = time.ParseDuration(embTimeout); err != nil || o.embeddingsTimeout <= 0 {
		return o, fmt.Errorf("invalid classifier embeddings timeout %q", embTimeout)
	}
	var ws [3]float64
	parts := strings.Split(weights, ",")
	for i := range ws {
		if len(parts) != 3 {
			break
		}
		if ws[i], err = strconv.ParseFloat(strings.TrimSpace(parts[i]), 64); err != nil || ws[i] < 0 {
			break
		}
	}
	if len(parts) != 3 || err != nil || ws == [3]float64{} || ws[0] < 0 || ws[1] < 0 || ws[2] < 0 {
		return o, fmt.Errorf("invalid classifier weights %q: want three non-negative numbers, policy,tag,similarity", weights)
	}
	o.classifierWeights = classify.Balancer{Policy: ws[0], Token: ws[1], Similarity: ws[2]}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	d, err := time.ParseDuration(timeout)
	if err != nil || d <= 0 {
		return o, fmt.Errorf("invalid shutdown timeout %q", timeout)
	}
	o.shutdownTimeout = d
	if o.flushInterval, err = time.ParseDuration(flush); err != nil || o.flushInterval <= 0 || o.flushInterval > time.Minute {
		return o, fmt.Errorf("invalid usage flush interval %q: want a duration above 0 and at most 1m", flush)
	}
	if o.maxHeaderBytes, err = gcfloor.ParseSize(maxHeader); err != nil || o.maxHeaderBytes < 1<<10 || o.maxHeaderBytes > 1<<30 {
		return o, fmt.Errorf("invalid header limit %q: want a size from 1KiB to 1GiB", maxHeader)
	}
	if o.usageLogMax, err = gcfloor.ParseSize(logMax); err != nil || o.usageLogMax == 0 || o.usageLogMax > math.MaxInt64 {
		return o, fmt.Errorf("invalid usage log size %q: want a size above 0 such as 1GiB", logMax)
	}
	if o.usageLogSync, err = time.ParseDuration(logSync); err != nil || o.usageLogSync <= 0 || o.usageLogSync > time.Minute {
		return o, fmt.Errorf("invalid usage log sync interval %q: want a duration above 0 and at most 1m", logSync)
	}
	switch {
	case o.usageLog == "off":
		o.usageLog = ""
	case o.usageLog != "":
	case o.databaseURL != "":
		o.usageLog = "logos-usage-log"
	default:
		o.usageLog = o.sqlitePath + ".usage-log"
	}
	if o.retention, err = time.ParseDuration(retention); err != nil || o.retention < 0 {
		return o, fmt.Errorf("invalid snapshot retention %q: want a duration, 0 to keep snapshots forever", retention)
	}
	if o.usageRetention, err = time.ParseDuration(usageRetention); err != nil || o.usageRetention < 0 ||
		(o.usageRetention > 0 && o.usageRetention < 31*24*time.Hour) {
		return o, fmt.Errorf("invalid usage retention %q: want 0 (forever) or a duration of at least 744h (a month)", usageRetention)
	}
	if o.retention == 0 {
		o.retention = -1 // logos.Config: negative keeps them forever
	}
	if o.gcMinHeap, err = gcfloor.Resolve(gcMin, getenv); err != nil {
		return o, fmt.Errorf("invalid GC minimum heap %q: %w", gcMin, err)
	}
	if o.corsOrigins, err = router.ParseCORSOrigins(cors); err != nil {
		return o, err
	}
	return o, nil
}

// parsePrefixes parses a comma-separated list of IP addresses and CIDRs.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// startGCFloor keeps the collector's heap goal at minHeap or above (see
// package gcfloor), unless minHeap is 0 or GOGC is set, in which case the
// operator's GOGC governs and it returns nil.
func startGCFloor(minHeap uint64, getenv func(string) string, log *slog.Logger) *gcfloor.Floor {
	if minHeap == 0 {
		return nil
	}
	if v := getenv("GOGC"); v != "" {
		log.Info("GOGC is set: --gc-min-heap is ignored", "GOGC", v)
		return nil
	}
	return gcfloor.Start(minHeap, 100)
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid log level %q", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// run is logosd: it opens the store, serves until ctx ends, then drains
// in-flight requests and flushes usage before returning.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 1 && (args[0] == "version" || args[0] == "--version") {
		fmt.Fprintln(stdout, versionLine(debug.ReadBuildInfo()))
		return nil
	}
	if len(args) > 0 && args[0] == "healthcheck" {
		o, err := parseOptions(args[1:], getenv, stderr)
		if err != nil {
			return err
		}
		return healthcheck(ctx, o.listen, stdout)
	}
	opts, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(opts.logLevel, stderr)
	if err != nil {
		return err
	}
	if opts.check {
		if opts.configPath == "" {
			return errors.New("--check needs --config")
		}
		_, d, err := readConfig(opts.configPath)
		if err == nil {
			// The ${VAR}s logosd would need at start-up must be set too.
			if err = config.CheckEnv(d, getenv); err != nil {
				err = fmt.Errorf("%s:\n%w", opts.configPath, err)
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			return fmt.Errorf("%s is not valid", opts.configPath)
		}
		fmt.Fprintf(stdout, "%s: OK\n", opts.configPath)
		return nil
	}
	var (
		doc     *config.Document
		docData []byte
	)
	if opts.configPath != "" {
		if docData, doc, err = readConfig(opts.configPath); err != nil {
			return err
		}
	}

	if f := startGCFloor(opts.gcMinHeap, getenv, log); f != nil {
		defer f.Stop()
	}

	st, err := openStore(ctx, opts, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if stop := startUsagePartitions(ctx, st, opts.usageRetention); stop != nil {
		defer stop()
	}

	var secretKey []byte
	if v := getenv("LOGOS_SECRET_KEY"); v != "" {
		if secretKey, err = logos.ParseSecretKey(v); err != nil {
			return fmt.Errorf("LOGOS_SECRET_KEY: %w", err)
		}
	} else {
		log.Warn("LOGOS_SECRET_KEY is not set: provider credentials are stored unencrypted")
	}
	sched, closeSched, err := newScheduler(opts.scheduler, log, opts.maxQueue, opts.acrossModels)
	if err != nil {
		return err
	}
	defer closeSched()
	laneProfiles, err := readLaneProfiles(opts.laneProfiles)
	if err != nil {
		return err
	}
	tracer, stopTracing, err := newTracing(ctx, opts.otel, getenv, log)
	if err != nil {
		return err
	}
	defer func() {
		// After the Router's Close: every request's spans have ended.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := stopTracing(sctx); err != nil {
			log.Warn("OpenTelemetry spans not all exported", "err", err)
		}
	}()
	cc := classify.Config{Balancer: opts.classifierWeights, Logger: log}
	var catalogueEmbeddings string
	switch {
	case opts.embeddingsURL != "":
		model := cmp.Or(opts.embeddingsModel, "nomic-embed-text")
		emb, err := classify.NewEmbeddings(classify.EmbeddingsConfig{
			Embedder: &classify.HTTPEmbedder{URL: opts.embeddingsURL, Model: model, APIKey: getenv("LOGOS_CLASSIFIER_EMBEDDINGS_KEY")},
			Logger:   log,
		})
		if err != nil {
			return err
		}
		defer emb.Close()
		cc.Similarity, cc.SimilarityTimeout = emb, opts.embeddingsTimeout
		log.Info("classifier similarity stage: embeddings", "url", opts.embeddingsURL, "model", model)
	case opts.embeddingsModel != "":
		catalogueEmbeddings, cc.SimilarityTimeout = opts.embeddingsModel, opts.embeddingsTimeout
		log.Info("classifier similarity stage: embeddings through the catalogue", "model", catalogueEmbeddings, "process", logos.SystemProcessName)
	}
	router, err := logos.New(logos.Config{
		ClassifierConfig:     cc,
		Store:                st,
		Providers:            builtin.Registry(),
		Scheduler:            sched,
		LaneProfiles:         laneProfiles,
		Logger:               log,
		UsageSpillPath:       opts.spillPath,
		UsageFlushInterval:   opts.flushInterval,
		UsageLogDir:          opts.usageLog,
		UsageLogMaxBytes:     int64(opts.usageLogMax),
		UsageLogSyncInterval: opts.usageLogSync,
		DisableSetup:         doc != nil,
		SecretKey:            secretKey,
		Getenv:               importEnv(getenv),
		// GET /metrics requires this bearer token; unset, it answers 403.
		MetricsToken:      getenv("LOGOS_METRICS_TOKEN"),
		BodyReadTimeout:   opts.bodyReadTimeout,
		WriteTimeout:      opts.writeTimeout,
		BreakerThreshold:  opts.breakerFails,
		BreakerCoolOff:    opts.breakerCoolOff,
		MaxQueueTimeout:   opts.maxQueueTimeout,
		TrustedProxies:    opts.trustedProxies,
		SnapshotRetention: opts.retention,
		JobWorkers:        opts.jobWorkers,
		JobLease:          opts.jobLease,
		JobRetention:      opts.jobRetention,
		CORSOrigins:       opts.corsOrigins,
		TracerProvider:    tracer,

		// An embeddings model of the catalogue, or "".
		ClassifierEmbeddingsModel: catalogueEmbeddings,
	})
	if err != nil {
		return err
	}
	if err := bootstrap(ctx, router, st, getenv("LOGOS_ROOT_KEY"), doc != nil, log); err != nil {
		_ = router.Close(context.Background())
		return err
	}

	apply := func(ctx context.Context, data []byte) error {
		rep, err := router.ApplyConfig(ctx, data, logos.ApplyConfigOptions{Getenv: getenv, Prune: opts.prune})
		for _, line := range append(append(rep.Created, rep.Updated...), rep.Deleted...) {
			log.Info("config: " + line)
		}
		if err != nil {
			return fmt.Errorf("applying %s: %w", opts.configPath, err)
		}
		if len(rep.Created)+len(rep.Updated)+len(rep.Deleted) == 0 {
			log.Info("config: no changes", "file", opts.configPath)
		}
		return nil
	}
	if doc != nil {
		if err := apply(ctx, docData); err != nil {
			_ = router.Close(context.Background())
			return err
		}
		// SIGHUP re-reads and re-applies the file; a bad file is logged and
		// the running catalogue stays.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					data, _, err := readConfig(opts.configPath)
					if err == nil {
						err = apply(ctx, data)
					}
					if err != nil {
						log.Error("config reload failed; keeping the running catalogue", "err", err)
						continue
					}
					log.Info("config reloaded", "file", opts.configPath)
				}
			}
		}()
	}

	ln, err := net.Listen("tcp", opts.listen)
	if err != nil {
		_ = router.Close(context.Background())
		return fmt.Errorf("listen: %w", err)
	}
	if opts.maxConnections > 0 {
		ln = newLimitListener(ln, opts.maxConnections)
	}
	srv := &http.Server{
		Handler:           router,
		ReadHeaderTimeout: 10 * time.Second,
		// net/http answers 431 above it (it allows 4 KiB of slack).
		MaxHeaderBytes: int(opts.maxHeaderBytes),
		IdleTimeout:    120 * time.Second,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// The debug address listens before the announcement below, so whoever
	// waits for it (a script, a test) can use both addresses at once.
	if opts.debugListen != "" {
		dsrv, err := serveDebug(opts.debugListen, log)
		if err != nil {
			_ = ln.Close()
			_ = router.Close(context.Background())
			return err
		}
		defer dsrv.Close()
	}
	fmt.Fprintf(stdout, "logosd listening on http://%s\n", ln.Addr())
	log.Info("logosd started", "addr", ln.Addr().String(), "store", storeName(opts))

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		_ = router.Close(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down: draining requests and flushing usage", "timeout", opts.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), opts.shutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(sctx)
	if shutdownErr != nil {
		// Requests still running after the timeout are cut off; their usage
		// records are still written below.
		_ = srv.Close()
	}
	<-serveErr
	if err := router.Close(sctx); err != nil {
		return fmt.Errorf("flushing usage: %w", err)
	}
	if shutdownErr != nil && !errors.Is(shutdownErr, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", shutdownErr)
	}
	log.Info("logosd stopped")
	return nil
}

func storeName(o options) string {
	if o.databaseURL != "" {
		return "postgres"
	}
	return "sqlite:" + o.sqlitePath
}

func openStore(ctx context.Context, o options, log *slog.Logger) (store.Store, error) {
	if o.databaseURL != "" {
		s, err := postgres.Open(ctx, postgres.Config{URL: o.databaseURL, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("opening PostgreSQL store: %w", err)
		}
		return s, nil
	}
	s, err := sqlite.Open(ctx, sqlite.Config{Path: o.sqlitePath, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("opening SQLite store %s: %w", o.sqlitePath, err)
	}
	return s, nil
}

// readConfig reads and validates a config file, and returns its text and
// document.
func readConfig(path string) ([]byte, *config.Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %w", err)
	}
	d, err := config.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s:\n%w", path, err)
	}
	return data, d, nil
}

// bootstrap sets up an empty store from LOGOS_ROOT_KEY, or says that the
// instance awaits POST /logosdb/setup.
func bootstrap(ctx context.Context, r *logos.Router, st store.Store, rootKey string, fromFile bool, log *slog.Logger) error {
	ok, err := st.Initialized(ctx)
	if err != nil {
		return fmt.Errorf("checking store: %w", err)
	}
	if ok {
		return nil
	}
	rootKey = strings.TrimSpace(rootKey)
	if rootKey == "" {
		if fromFile {
			return nil // admins and keys come from the config file
		}
		log.Warn("store is empty: this instance awaits POST /logosdb/setup, which creates the admin and returns the root key once (or set LOGOS_ROOT_KEY)")
		return nil
	}
	if _, err := r.Bootstrap(ctx, rootKey); err != nil {
		if errors.Is(err, store.ErrConflict) {
			// Another replica set the store up at the same moment.
			return nil
		}
		return fmt.Errorf("bootstrapping from LOGOS_ROOT_KEY: %w", err)
	}
	log.Info("store set up with the root key from LOGOS_ROOT_KEY")
	return nil
}

// importEnv is the environment that documents imported over the admin API may
// reference: only variables named config.ImportEnvPrefix + "...", so that an
// admin cannot read the server's environment (the secret key, the database
// URL, ${HOME}, ${PGPASSWORD}) back through a credential. The config file
// given with --config may reference any variable.
func importEnv(getenv func(string) string) func(string) string {
	return func(name string) string {
		if !strings.HasPrefix(name, config.ImportEnvPrefix) {
			return ""
		}
		return getenv(name)
	}
}
