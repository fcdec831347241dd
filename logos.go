package logos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/internal/config"
	"github.com/logos-llm/logos/internal/secret"
	"github.com/logos-llm/logos/internal/usagelog"
	"github.com/logos-llm/logos/monitor"
	"github.com/logos-llm/logos/monitor/lifecycle"
	"github.com/logos-llm/logos/monitor/live"
	"github.com/logos-llm/logos/pipeline"
	"github.com/logos-llm/logos/pipeline/budget"
	"github.com/logos-llm/logos/pipeline/jobs"
	"github.com/logos-llm/logos/pipeline/ratelimit"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/router"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
)

// The interfaces a Router is composed of, re-exported so that embedding code
// needs only this package for the common case.
type (
	// Store is what a Router requires of its store (store.Core: keys,
	// catalogue, usage sink); every other capability of package store is
	// optional and found by type assertion (see the package documentation
	// of store).
	Store = store.Core
	// Provider builds upstream requests for one wire format; see package providers.
	Provider = providers.Provider
	// Scheduler admits requests onto deployments; see package scheduler.
	Scheduler = scheduler.Scheduler
	// Classifier ranks models for policy-based requests; see package classify.
	Classifier = classify.Classifier
	// UsageRecord is the record every authenticated request leaves.
	UsageRecord = store.UsageRecord
)

// ErrInvalidConfig is returned by New for a Config it cannot use; the message
// names the field.
var ErrInvalidConfig = errors.New("logos: invalid config")

// Config configures a Router. The zero value of every field but Store and
// Scheduler is usable: each field's documentation names its default, and
// New applies them all in one place (withDefaults).
type Config struct {
	// Store persists keys, catalogue and usage. Required: it must implement
	// store.Core; the admin API, jobs, provider snapshots, rate limits,
	// budgets and statistics each work only when it also implements their
	// interface (store.Store, store.JobQueue, ...; see package store). The
	// Router does not close it.
	Store Store
	// Providers maps a provider kind ("openai", "azure", "ollama",
	// "openai_compatible") to its implementation. Defaults to none, in which
	// case no request can be forwarded; cmd/logosd registers all built-in ones.
	Providers providers.Registry
	// Scheduler admits requests onto deployments. Required; scheduler/fcfs is
	// the standard one (first come, first served by priority, honouring each
	// deployment's parallel capacity).
	Scheduler Scheduler
	// Classifier ranks models for requests that name none: no model, a
	// logos-v model string, or a policy header (see package classify and the
	// README). It is given every catalogue snapshot when it implements
	// classify.CatalogueReceiver. Defaults to the built-in classify.Pipeline
	// configured by ClassifierConfig.
	Classifier Classifier
	// ClassifierConfig configures the built-in classifier when Classifier is
	// nil: the balancer's weights and the similarity stage (lexical by
	// default; ClassifierEmbeddingsModel for an embeddings model of the
	// catalogue, classify.NewEmbeddings for an endpoint of your own). Its
	// defaults are classify.New's. New refuses it beside a Classifier
	// (it would be ignored), and refuses negative or non-finite weights.
	ClassifierConfig classify.Config
	// ClassifierEmbeddingsModel names an embeddings model of this Router's
	// catalogue (for example "nomic-embed-text" deployed on Ollama, or
	// "text-embedding-3-small" on OpenAI) that the built-in classifier's
	// similarity stage compares prompts and model descriptions with. Its
	// requests go through this Router in process, as the system process
	// (see SystemProcessName): no key and no network hop to Logos, the
	// deployment's scheduling and credentials, and a usage record each.
	// Past ClassifierConfig.SimilarityTimeout, or while the model is
	// missing, the lexical stage answers. Defaults to "": the lexical stage
	// (or ClassifierConfig.Similarity, which it must not be set beside).
	ClassifierEmbeddingsModel string
	// Logger receives operational logs. Defaults to slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies; larger ones get 413.
	// Defaults to 32 MiB.
	MaxBodyBytes int64
	// BodyReadTimeout bounds how long a proxied request's body may take to
	// arrive; a slower one gets 408. Defaults to 60s; negative disables it.
	BodyReadTimeout time.Duration
	// WriteTimeout bounds each write of a relayed answer to the client. The
	// deadline is renewed before every write, so streams that the client
	// reads run as long as they last, while a client that stops reading is
	// cut off (freeing its deployment slot) after WriteTimeout. Defaults to
	// 60s; negative disables it.
	WriteTimeout time.Duration
	// BreakerThreshold is how many consecutive failures of a deployment
	// (connection errors, timeouts before headers, 5xx answers) open its
	// circuit breaker, and BreakerCoolOff how long it then stays out of
	// requests' candidates before one probe request may use it. Default 5
	// and 30s. How often and how long a request is retried on other
	// deployments is set per model (store.RetryPolicy).
	BreakerThreshold int
	BreakerCoolOff   time.Duration
	// MaxQueueTimeout caps the queue wait a client may ask for with
	// Logos-Queue-Timeout or timeout_s; longer requests are clamped to it.
	// Defaults to 600s or QueueTimeout, whichever is longer; set below
	// QueueTimeout it lowers that too.
	MaxQueueTimeout time.Duration
	// TrustedProxies are the networks of reverse proxies whose
	// X-Forwarded-For header is believed for usage records' client_ip.
	// Defaults to none: client_ip is always the connection's peer address.
	TrustedProxies []netip.Prefix
	// QueueTimeout is the default longest wait for a free deployment; clients
	// may set their own with the Logos-Queue-Timeout header. Defaults to 300s.
	QueueTimeout time.Duration
	// CatalogRefreshInterval is how often the catalogue snapshot is reloaded
	// from the store, so changes made by other replicas take effect. Changes
	// made through this Router take effect at once. Defaults to 1s.
	CatalogRefreshInterval time.Duration
	// HTTPClient sends upstream requests and provider polls. Defaults to
	// nil: upstream requests use a pooled client with no overall timeout
	// (pipeline.NewTransport; streams may run long), polls
	// http.DefaultClient (each bounded by its provider's timeout).
	HTTPClient *http.Client
	// SecretKey encrypts provider and deployment credentials at rest with
	// AES-256-GCM (32 bytes; cmd/logosd reads it from LOGOS_SECRET_KEY).
	// Defaults to nil: credentials are stored as given.
	SecretKey []byte
	// Getenv resolves ${VAR} references in documents imported through the
	// admin API. Defaults to a function that finds nothing.
	Getenv func(string) string
	// BudgetEstimateMicros is the cost a request of a key without completed
	// requests is assumed to have while it is in flight, for budgets.
	// Defaults to 10,000 (0.01 of the budget's currency).
	BudgetEstimateMicros int64
	// DisableSetup makes POST /logosdb/setup refuse, for instances whose
	// admins and keys come from a config file. Defaults to false.
	DisableSetup bool
	// UsageBatchSize is the most usage records written in one insert.
	// Defaults to 500.
	UsageBatchSize int
	// UsageFlushInterval is the longest a usage record waits to be written.
	// Defaults to 250ms. Budgets do not wait for it: they count a request's
	// cost as soon as it completes.
	UsageFlushInterval time.Duration
	// UsageBufferSize is how many usage records may wait to be written before
	// requests wait for the database (backpressure). Defaults to 65536.
	UsageBufferSize int
	// UsageSpillPath names a file where usage records that could not be stored
	// by Close are saved and replayed on the next start. Defaults to "" (none).
	// With a UsageLogDir, Close leaves such records in the log instead; an
	// existing spill file is still replayed.
	UsageSpillPath string
	// UsageLogDir is the directory of a local write-ahead log of usage
	// records (see internal/usagelog): every record is written there before it
	// is queued for the store, so that a crash of the process loses none, a
	// restart records requests that were in flight as "interrupted", and a
	// store outage fills the log instead of holding up requests. Defaults to
	// "" (no log: records wait in memory, UsageBufferSize of them, and
	// requests wait for the store beyond that).
	UsageLogDir string
	// UsageLogMaxBytes bounds the log on disk; above it new requests are
	// refused with 503 until the store has caught up. Defaults to 1 GiB.
	UsageLogMaxBytes int64
	// UsageLogHighWaterBytes is the backlog above which GET /readyz answers
	// 503. Defaults to half of UsageLogMaxBytes.
	UsageLogHighWaterBytes int64
	// UsageLogSyncInterval is how often the log is fsynced (it is written to
	// the operating system at once, which survives the process). Defaults to
	// 100ms.
	UsageLogSyncInterval time.Duration
	// Registerer receives the Router's Prometheus metrics (see package
	// monitor). Defaults to a new private registry. GET /metrics serves the
	// registry when it is also a prometheus.Gatherer (as *prometheus.Registry
	// is); otherwise the embedding application exposes it and /metrics
	// answers 404.
	Registerer prometheus.Registerer
	// MetricsToken is the bearer token GET /metrics requires
	// ("Authorization: Bearer <token>", compared in constant time). Defaults
	// to "": /metrics answers 403, metrics are never served unauthenticated.
	MetricsToken string
	// DisableJobs turns the asynchronous job API (/jobs/...) and the job
	// runner off; the job paths then answer 501. Defaults to false: they run
	// when the Store implements store.JobQueue (both built-in stores do).
	DisableJobs bool
	// JobWorkers bounds the jobs this replica runs at a time. Defaults to 8.
	JobWorkers int
	// JobLease is how long a replica's claim on a running job lasts without
	// renewal: a job of a replica that died is picked up again (or, if it
	// had reached the provider, failed) after at most this long. Defaults
	// to 30s.
	JobLease time.Duration
	// JobRetention is how long finished jobs and their results are kept.
	// Defaults to 7 days.
	JobRetention time.Duration
	// SnapshotRetention is how long provider snapshots (one per poll of a
	// provider's monitoring URL) are kept; older ones are deleted in
	// batches every hour. Defaults to 7 days; negative keeps them forever.
	SnapshotRetention time.Duration
	// LaneProfiles give models' memory footprints and transition times, by
	// upstream model name, to a Scheduler that manages model lifecycles
	// (one implementing scheduler.LifecycleUser, such as scheduler/core's
	// Adapter): the Router hands it a lifecycle executor (see package
	// monitor/lifecycle) that wakes, sleeps, loads and unloads models on
	// the catalogue's Ollama and vLLM providers. Defaults to none:
	// footprints are unknown unless Ollama reports them.
	LaneProfiles map[string]lifecycle.Profile
	// CORSOrigins are the origins browsers may call Logos from (see
	// router.ParseCORSOrigins; "*" allows any). Defaults to none; the
	// dashboard at /ui/ is same-origin and needs none.
	CORSOrigins []string
	// TracerProvider, when set, traces every proxied request with
	// OpenTelemetry: a server span named after the GenAI operation and
	// model ("chat gpt-4o") that joins the caller's W3C traceparent, with
	// children for authentication (logos.auth), classification
	// (logos.classify), the scheduler's wait (logos.queue), each upstream
	// attempt (logos.upstream, whose traceparent is sent upstream) and the
	// usage record's hand-off (logos.usage), and attributes of the GenAI
	// semantic conventions (gen_ai.request.model, gen_ai.usage.input_tokens,
	// ...). Keys, credentials and payloads are never recorded. The Router
	// does not shut it down. Defaults to nil: tracing off, no work done for
	// it, and no traceparent sent upstream.
	TracerProvider trace.TracerProvider
}

func (c *Config) validate() error {
	if c.Store == nil {
		return fmt.Errorf("%w: Store is required", ErrInvalidConfig)
	}
	if c.Scheduler == nil {
		return fmt.Errorf("%w: Scheduler is required (for example fcfs.New(fcfs.Config{}))", ErrInvalidConfig)
	}
	if len(c.SecretKey) != 0 && len(c.SecretKey) != 32 {
		return fmt.Errorf("%w: SecretKey must be 32 bytes", ErrInvalidConfig)
	}
	if c.MaxBodyBytes < 0 {
		return fmt.Errorf("%w: MaxBodyBytes must not be negative", ErrInvalidConfig)
	}
	for kind, p := range c.Providers {
		if p == nil {
			return fmt.Errorf("%w: Providers[%q] is nil", ErrInvalidConfig, kind)
		}
	}
	return c.validateClassifier()
}

// validateClassifier refuses a classifier configuration that would be
// ignored or could not classify: a nil pointer or function as Classifier,
// a ClassifierConfig beside a Classifier, balancer weights that are
// negative or not finite, a negative similarity timeout.
func (c *Config) validateClassifier() error {
	if c.Classifier != nil {
		switch v := reflect.ValueOf(c.Classifier); v.Kind() {
		case reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice, reflect.Chan, reflect.Interface:
			if v.IsNil() {
				return fmt.Errorf("%w: Classifier is a nil %T", ErrInvalidConfig, c.Classifier)
			}
		}
		cc := c.ClassifierConfig
		if cc.Balancer != (classify.Balancer{}) || cc.Similarity != nil || cc.SimilarityTimeout != 0 || cc.Logger != nil || c.ClassifierEmbeddingsModel != "" {
			return fmt.Errorf("%w: ClassifierConfig and ClassifierEmbeddingsModel configure the built-in classifier and would be ignored beside Classifier; set one of them", ErrInvalidConfig)
		}
		return nil
	}
	b := c.ClassifierConfig.Balancer
	for name, w := range map[string]float64{"Policy": b.Policy, "Token": b.Token, "Similarity": b.Similarity} {
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("%w: ClassifierConfig.Balancer.%s must be a finite weight of 0 or more, not %v", ErrInvalidConfig, name, w)
		}
	}
	if m := c.ClassifierEmbeddingsModel; m != "" {
		if c.ClassifierConfig.Similarity != nil {
			return fmt.Errorf("%w: ClassifierEmbeddingsModel and ClassifierConfig.Similarity both choose the similarity stage; set one of them", ErrInvalidConfig)
		}
		if classify.IsModelString(m) || strings.TrimSpace(m) != m {
			return fmt.Errorf("%w: ClassifierEmbeddingsModel %q is not a model name", ErrInvalidConfig, m)
		}
	}
	if c.ClassifierConfig.SimilarityTimeout < 0 {
		return fmt.Errorf("%w: ClassifierConfig.SimilarityTimeout must not be negative", ErrInvalidConfig)
	}
	return nil
}

// Values a Router runs with that Config does not expose.
const (
	// maxResponseBytes bounds the non-streaming answer held before its
	// status is sent (pipeline.Config.MaxResponseBytes).
	maxResponseBytes = 32 << 20
	// captureLimit bounds the answer kept at log level FULL
	// (pipeline.Config.CaptureLimit).
	captureLimit = 1 << 20
)

// withDefaults returns c with every unset field at the default its
// documentation names. It is the one place that decides a Router's
// defaults: router.New and pipeline.New pick none, and the usage writer's
// come from store.UsageWriterConfig.WithDefaults. c must be valid.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Providers == nil {
		c.Providers = providers.Registry{}
	}
	if c.Classifier == nil {
		cc := c.ClassifierConfig
		if cc.Logger == nil {
			cc.Logger = c.Logger
		}
		c.Classifier = classify.New(cc)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 32 << 20
	}
	if c.BodyReadTimeout == 0 {
		c.BodyReadTimeout = 60 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 60 * time.Second
	}
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = 300 * time.Second
	}
	if c.MaxQueueTimeout <= 0 {
		c.MaxQueueTimeout = max(600*time.Second, c.QueueTimeout)
	}
	c.QueueTimeout = min(c.QueueTimeout, c.MaxQueueTimeout)
	if c.CatalogRefreshInterval <= 0 {
		c.CatalogRefreshInterval = time.Second
	}
	if c.BudgetEstimateMicros == 0 {
		c.BudgetEstimateMicros = 10_000
	}
	w := store.UsageWriterConfig{BatchSize: c.UsageBatchSize, FlushInterval: c.UsageFlushInterval, BufferSize: c.UsageBufferSize}.WithDefaults()
	c.UsageBatchSize, c.UsageFlushInterval, c.UsageBufferSize = w.BatchSize, w.FlushInterval, w.BufferSize
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	return c
}

// Router is the Logos gateway: an http.Handler serving the OpenAI-compatible
// API, the admin API and health checks. Create it with New and stop it with Close.
type Router struct {
	cfg      Config
	log      *slog.Logger
	usage    *store.UsageWriter
	usageLog *usagelog.Log // nil without a UsageLogDir
	pipeline *pipeline.Pipeline
	handler  *router.Handler
	jobs     *jobs.Runner        // nil when jobs are off
	box      *secret.Box         // nil without a SecretKey
	limiter  *ratelimit.Limiter  // nil when the store keeps no rate windows
	budgets  *budget.Tracker     // nil when the store keeps no budgets
	live     *live.Monitor       // polls providers, tracks rate limits
	life     *lifecycle.Executor // nil unless the scheduler manages lifecycles
	bgCancel context.CancelFunc  // stops the budget tracker
	bgDone   chan struct{}
	sys      *systemStage                      // nil without ClassifierEmbeddingsModel
	system   atomic.Pointer[pipeline.Identity] // the system process, once it exists

	reloadMu        sync.Mutex // serialises catalogue reloads
	lastSettingsErr string     // guarded by reloadMu
	lastSystemErr   string     // guarded by reloadMu
	systemService   int64      // the system service's id once known; guarded by reloadMu
	stop            chan struct{}
	done            chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// New returns a Router: it loads the catalogue from the store and starts its
// background work (the usage writer and the catalogue refresher), which Close stops.
func New(cfg Config) (*Router, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	sys, err := newSystemStage(&cfg)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var ulog *usagelog.Log
	wcfg := store.UsageWriterConfig{
		Inserter:      cfg.Store,
		BatchSize:     cfg.UsageBatchSize,
		FlushInterval: cfg.UsageFlushInterval,
		BufferSize:    cfg.UsageBufferSize,
		SpillPath:     cfg.UsageSpillPath,
		Logger:        cfg.Logger,
	}
	if cfg.UsageLogDir != "" {
		l, err := usagelog.Open(usagelog.Config{
			Dir:            cfg.UsageLogDir,
			MaxBytes:       cfg.UsageLogMaxBytes,
			HighWaterBytes: cfg.UsageLogHighWaterBytes,
			SyncInterval:   cfg.UsageLogSyncInterval,
			Logger:         cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("logos: opening the usage log: %w", err)
		}
		ulog = l
		wcfg.Log = l
	}
	usage, err := store.NewUsageWriter(wcfg)
	if err != nil {
		if ulog != nil {
			_ = ulog.Close()
		}
		return nil, fmt.Errorf("logos: starting usage writer: %w", err)
	}
	closeUsage := func() {
		_ = usage.Close(context.Background())
		if ulog != nil {
			_ = ulog.Close()
		}
	}
	metrics, err := monitor.New(cfg.Registerer)
	if err == nil {
		err = metrics.WatchUsage(usage)
	}
	if err == nil && ulog != nil {
		err = metrics.WatchUsageLog(ulog)
	}
	if err == nil {
		if sr, ok := cfg.Scheduler.(scheduler.StateReporter); ok {
			err = metrics.WatchScheduler(sr)
		}
	}
	if fc, ok := cfg.Classifier.(interface{ Fallbacks() uint64 }); ok && err == nil {
		err = cfg.Registerer.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "logos_classifier_similarity_fallbacks_total",
			Help: "Classifications in which the lexical stage answered because the configured similarity stage failed or missed its deadline.",
		}, func() float64 { return float64(fc.Fallbacks()) }))
	}
	if err != nil {
		closeUsage()
		return nil, fmt.Errorf("logos: registering metrics: %w", err)
	}
	var metricsHandler http.Handler
	if g, ok := cfg.Registerer.(prometheus.Gatherer); ok {
		metricsHandler = promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelError)})
	}
	var limiter *ratelimit.Limiter
	if rs, ok := cfg.Store.(store.RateLimitStore); ok {
		if limiter, err = ratelimit.New(ratelimit.Config{Store: rs, Logger: cfg.Logger}); err != nil {
			closeUsage()
			return nil, fmt.Errorf("logos: %w", err)
		}
	}
	var budgets *budget.Tracker
	if bs, ok := cfg.Store.(store.BudgetStore); ok {
		if budgets, err = budget.New(budget.Config{Store: bs, Logger: cfg.Logger, DefaultEstimateMicros: cfg.BudgetEstimateMicros}); err != nil {
			closeUsage()
			return nil, fmt.Errorf("logos: %w", err)
		}
	}
	client := cfg.HTTPClient
	if client == nil {
		client = http.DefaultClient // each poll is bounded by its provider's timeout
	}
	lcfg := live.Config{
		Providers:  cfg.Providers,
		Client:     client,
		Logger:     cfg.Logger,
		Registerer: cfg.Registerer,
		Retention:  cfg.SnapshotRetention,
	}
	if es, ok := cfg.Store.(live.SnapshotStore); ok {
		lcfg.Store = es // without it, polls are not recorded
	}
	mon, err := live.New(lcfg)
	if err != nil {
		_ = usage.Close(context.Background())
		return nil, fmt.Errorf("logos: %w", err)
	}
	p, err := pipeline.New(pipeline.Config{
		Budgets:          budgets,
		Limiter:          limiter,
		Providers:        cfg.Providers,
		Scheduler:        cfg.Scheduler,
		Usage:            usage,
		Client:           cfg.HTTPClient,
		Logger:           cfg.Logger,
		MaxBodyBytes:     cfg.MaxBodyBytes,
		BodyReadTimeout:  cfg.BodyReadTimeout,
		QueueTimeout:     cfg.QueueTimeout,
		MaxQueueTimeout:  cfg.MaxQueueTimeout,
		MaxResponseBytes: maxResponseBytes,
		CaptureLimit:     captureLimit,
		Metrics:          metrics,
		Classifier:       cfg.Classifier,
		WriteTimeout:     cfg.WriteTimeout,
		TrustedProxies:   cfg.TrustedProxies,
		Upstream:         mon,
		RateLimits:       mon,
		Breakers:         pipeline.NewBreakers(cfg.BreakerThreshold, cfg.BreakerCoolOff),
		Tracer:           cfg.TracerProvider,
	})
	if err == nil {
		err = metrics.WatchBreakers(p.Breakers())
	}
	if err != nil {
		mon.Close()
		closeUsage()
		return nil, fmt.Errorf("logos: %w", err)
	}
	r := &Router{cfg: cfg, log: cfg.Logger, usage: usage, usageLog: ulog, pipeline: p, limiter: limiter, budgets: budgets, live: mon,
		stop: make(chan struct{}), done: make(chan struct{}), bgDone: make(chan struct{}), sys: sys}
	lu, manages := cfg.Scheduler.(scheduler.LifecycleUser)
	if manages {
		if r.life, err = lifecycle.New(lifecycle.Config{
			Providers: cfg.Providers, Client: client, Logger: cfg.Logger, Registerer: cfg.Registerer,
			Profiles: cfg.LaneProfiles, State: mon,
		}); err != nil {
			mon.Close()
			closeUsage()
			return nil, fmt.Errorf("logos: %w", err)
		}
	}
	if len(cfg.SecretKey) > 0 {
		if r.box, err = secret.NewBox(cfg.SecretKey); err != nil {
			mon.Close()
			closeUsage()
			return nil, fmt.Errorf("%w: SecretKey: %v", ErrInvalidConfig, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Reload(ctx); err != nil {
		mon.Close()
		closeUsage()
		return nil, err
	}
	if manages {
		// The lanes start in the state the first polls report (a poll
		// that fails or takes too long leaves them awake).
		_ = mon.WaitPolled(ctx)
		lu.SetLifecycle(r.life)
	}
	var state scheduler.StateReporter
	if sr, ok := cfg.Scheduler.(scheduler.StateReporter); ok {
		state = sr
	}
	var sealer router.Sealer
	if r.box != nil {
		sealer = r.box
	}
	var queue store.JobQueue
	if q, ok := cfg.Store.(store.JobQueue); ok && !cfg.DisableJobs {
		queue = q
	}
	hooks := &jobHooks{}
	r.handler = router.New(router.Config{
		Jobs:         queue,
		JobRunner:    hooks,
		Sealer:       sealer,
		Getenv:       cfg.Getenv,
		DisableSetup: cfg.DisableSetup,
		Scheduler:    state,
		Live:         mon,
		Store:        cfg.Store,
		Logger:       cfg.Logger,
		Pipeline:     p,
		Started:      time.Now(),
		Ready:        r.ready,
		Metrics:      metricsHandler,
		MetricsToken: cfg.MetricsToken,
		CORSOrigins:  cfg.CORSOrigins,
		OnChange: func(ctx context.Context) {
			if err := r.Reload(context.WithoutCancel(ctx)); err != nil {
				r.log.Error("reloading the catalogue after a change failed", "err", err)
			}
			if r.budgets != nil {
				if err := r.budgets.Refresh(context.WithoutCancel(ctx)); err != nil {
					r.log.Error("reloading budgets after a change failed", "err", err)
				}
			}
		},
	})
	if sys != nil {
		sys.embedder.start(r) // its requests go to r.handler
	}
	if queue != nil {
		r.jobs, err = jobs.New(jobs.Config{
			Queue:       queue,
			Exec:        r.handler.ExecuteJob,
			MaxInFlight: cfg.JobWorkers,
			Lease:       cfg.JobLease,
			Retention:   cfg.JobRetention,
			Logger:      cfg.Logger,
		})
		if err != nil {
			_ = usage.Close(context.Background())
			return nil, fmt.Errorf("logos: %w", err)
		}
		hooks.runner.Store(r.jobs)
	}
	go r.refresh()
	bgCtx, cancel := context.WithCancel(context.Background())
	r.bgCancel = cancel
	go func() {
		defer close(r.bgDone)
		if r.budgets != nil {
			r.budgets.Run(bgCtx)
		}
	}()
	return r, nil
}

// errUsageBacklog is the readiness error while the usage log is over its
// high-water mark.
var errUsageBacklog = errors.New("usage records are backing up: the database is not taking them")

// ready is GET /readyz: without a usage log the store must answer; with one,
// the log's backlog must be below its high-water mark (the store may be
// down meanwhile: records wait in the log and requests are served).
func (r *Router) ready(ctx context.Context) error {
	if r.usageLog == nil {
		if err := r.cfg.Store.Ping(ctx); err != nil {
			return errors.New("store unreachable")
		}
		return nil
	}
	if !r.usageLog.Ready() {
		return errUsageBacklog
	}
	return nil
}

// Reload replaces the catalogue snapshot with the store's current catalogue.
func (r *Router) Reload(ctx context.Context) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	c, err := r.cfg.Store.LoadCatalog(ctx)
	if err != nil {
		return fmt.Errorf("logos: loading catalogue: %w", err)
	}
	c = r.ensureSystem(ctx, c)
	r.openCredentials(&c)
	cat := pipeline.NewCatalog(c, time.Now())
	if errs := errors.Join(cat.SettingsErrors()...); errs != nil && errs.Error() != r.lastSettingsErr {
		// Logged when it changes, not on every periodic reload.
		r.log.Error("process settings ignored; their rate limits are not enforced", "err", errs)
		r.lastSettingsErr = errs.Error()
	}
	if r.life != nil {
		// Before the pipeline sees new deployments, so that a scheduler
		// meeting one finds its lifecycle.
		r.life.Sync(c)
	}
	r.pipeline.SetCatalog(cat)
	// Pollers follow the catalogue: started, restarted or stopped as
	// providers are added, changed or removed, here or on another replica.
	r.live.Sync(c.Providers)
	return nil
}

// openCredentials decrypts the sealed credentials of a catalogue in place. A
// credential that cannot be opened (no or wrong SecretKey) is left empty, so
// the upstream refuses the request rather than receiving ciphertext.
func (r *Router) openCredentials(c *store.Catalog) {
	open := func(what string, id int64, cred *string) {
		if !secret.IsSealed(*cred) {
			return
		}
		plain, err := r.box.Open(*cred)
		if err != nil {
			r.log.Error("cannot decrypt a stored credential; check LOGOS_SECRET_KEY", what, id, "err", err)
			plain = ""
		}
		*cred = plain
	}
	for i := range c.Providers {
		open("provider_id", c.Providers[i].ID, &c.Providers[i].Credential)
	}
	for i := range c.Deployments {
		open("deployment_id", c.Deployments[i].ID, &c.Deployments[i].Credential)
	}
}

// refresh reloads the catalogue periodically until Close.
func (r *Router) refresh() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.CatalogRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := r.Reload(ctx); err != nil {
				r.log.Warn("catalogue refresh failed; serving the previous snapshot", "err", err)
			}
			cancel()
		}
	}
}

// ServeHTTP serves one request.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.handler.ServeHTTP(w, req)
}

// Bootstrap sets up an empty store with an admin user and a root process whose
// key is key (generated when empty) and returns the key. It returns an error
// wrapping store.ErrConflict when the store is already set up.
func (r *Router) Bootstrap(ctx context.Context, key string) (string, error) {
	ids, ok := r.cfg.Store.(store.IdentityStore)
	if !ok {
		return "", fmt.Errorf("logos: bootstrap: the store does not implement store.IdentityStore: %w", errors.ErrUnsupported)
	}
	_, key, err := router.Bootstrap(ctx, ids, key)
	if err != nil {
		return "", fmt.Errorf("logos: bootstrap: %w", err)
	}
	if err := r.Reload(ctx); err != nil {
		return "", err
	}
	return key, nil
}

// FlushUsage waits until no request is in flight and every usage record handed
// over so far is stored. Under continuous load it may wait until ctx ends; it
// is meant for tests and shutdown.
func (r *Router) FlushUsage(ctx context.Context) error {
	if err := r.waitIdle(ctx); err != nil {
		return fmt.Errorf("logos: flush usage: %w", err)
	}
	return r.usage.Flush(ctx)
}

// waitIdle waits until no request is in flight or ctx ends.
func (r *Router) waitIdle(ctx context.Context) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for r.pipeline.InFlight() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d requests in flight: %w", r.pipeline.InFlight(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Close stops background work, waits for requests in flight to hand over their
// usage records, and stores every pending record, waiting at most until ctx
// ends. It does not close the Store. Close is idempotent.
func (r *Router) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		if r.sys != nil {
			// Background description embeddings stop first: they are
			// requests of their own.
			_ = r.sys.stage.Close()
		}
		if r.jobs != nil {
			// Running jobs get half the time left; then they are
			// interrupted and still hand over their usage records.
			jctx, cancel := halfOf(ctx)
			if err := r.jobs.Close(jctx); err != nil {
				r.log.Warn("jobs interrupted by Close", "err", err)
			}
			cancel()
		}
		close(r.stop)
		<-r.done
		r.bgCancel()
		<-r.bgDone
		r.live.Close()
		// Requests still running hand their records over as they end; wait
		// for them (bounded by ctx) so none is refused by a closed writer.
		_ = r.waitIdle(ctx) // past ctx, usage.Close reports what is unwritten
		r.closeErr = r.usage.Close(ctx)
		if r.usageLog != nil {
			r.closeErr = errors.Join(r.closeErr, r.usageLog.Close())
		}
		if r.limiter != nil {
			r.closeErr = errors.Join(r.closeErr, r.limiter.Close(ctx))
		}
	})
	return r.closeErr
}

// halfOf returns a context that ends at half of ctx's remaining time (or with
// ctx when it has no deadline).
func halfOf(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Until(d)/2)
}

// jobHooks passes the router's job notifications to the runner, which is
// started after the router's handler.
type jobHooks struct {
	runner atomic.Pointer[jobs.Runner]
}

func (h *jobHooks) Notify() {
	if r := h.runner.Load(); r != nil {
		r.Notify()
	}
}

func (h *jobHooks) Cancel(id int64) bool {
	if r := h.runner.Load(); r != nil {
		return r.Cancel(id)
	}
	return false
}

// ParseSecretKey parses a SecretKey as LOGOS_SECRET_KEY gives it (see
// Config.SecretKey for the accepted forms).
func ParseSecretKey(s string) ([]byte, error) { return secret.ParseKey(s) }

// ApplyConfigOptions configure ApplyConfig.
type ApplyConfigOptions struct {
	// Getenv resolves the document's "${VAR}" references (process keys,
	// credentials). Defaults to nil, which resolves nothing.
	Getenv func(string) string
	// Prune deletes what the document does not mention (users and services
	// excepted). Defaults to false: ApplyConfig only creates and updates.
	Prune bool
}

// ConfigReport lists what ApplyConfig changed, as sentences such as
// "created provider openai" and "updated model gpt-4o: quality 0 → 8".
// Secrets never appear in it.
type ConfigReport struct {
	Created, Updated, Deleted []string
}

// ApplyConfig applies a config document (the YAML or JSON text of a logosd
// --config file) to the Router's store by name, through the same catalogue
// operations as the admin API, sealing credentials with Config.SecretKey,
// and reloads the catalogue. It validates the document and its "${VAR}"
// references first and writes nothing if any is invalid; on the stores of
// this module the writes are one transaction. The report lists what was
// changed, also when an error stopped the apply part way on a store without
// transactions.
func (r *Router) ApplyConfig(ctx context.Context, document []byte, opts ApplyConfigOptions) (ConfigReport, error) {
	full, ok := r.cfg.Store.(store.Store)
	if !ok {
		return ConfigReport{}, fmt.Errorf("logos: applying a config needs a store that writes the catalogue (store.Store): %w", errors.ErrUnsupported)
	}
	ao := config.ApplyOptions{Getenv: opts.Getenv, Prune: opts.Prune}
	if r.box != nil {
		ao = ao.WithSealer(r.box)
	}
	rep, err := config.ApplyDocument(ctx, full, document, ao)
	out := ConfigReport{Created: rep.Created, Updated: rep.Updated, Deleted: rep.Deleted}
	if err != nil {
		if rep.Changed() {
			if rerr := r.Reload(ctx); rerr != nil {
				r.log.Warn("catalogue reload after a partial config apply failed", "err", rerr)
			}
		}
		return out, err
	}
	return out, r.Reload(ctx)
}
