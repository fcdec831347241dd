package logos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/router"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// The interfaces a Router is composed of, re-exported so that embedding code
// needs only this package for the common case.
type (
	// Store persists keys, catalogue and usage; see package store.
	Store = store.Store
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

// Config configures a Router. The zero value of every field but Store is usable.
type Config struct {
	// Store persists keys, catalogue and usage. Required. The Router does not
	// close it.
	Store Store
	// Providers maps a provider kind ("openai", "azure", "ollama",
	// "openai_compatible") to its implementation. Defaults to none, in which
	// case no request can be forwarded; cmd/logosd registers all built-in ones.
	Providers providers.Registry
	// Scheduler admits requests onto deployments. Defaults to nil (no queueing).
	Scheduler Scheduler
	// Classifier ranks models for requests that state a policy instead of a
	// model. Defaults to nil (such requests are refused).
	Classifier Classifier
	// Logger receives operational logs. Defaults to slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies; larger ones get 413.
	// Defaults to 32 MiB.
	MaxBodyBytes int64
	// UsageBatchSize is the most usage records written in one insert.
	// Defaults to 500.
	UsageBatchSize int
	// UsageFlushInterval is the longest a usage record waits to be written.
	// Defaults to 50ms.
	UsageFlushInterval time.Duration
	// UsageBufferSize is how many usage records may wait to be written before
	// requests wait for the database (backpressure). Defaults to 65536.
	UsageBufferSize int
	// UsageSpillPath names a file where usage records that could not be stored
	// by Close are saved and replayed on the next start. Defaults to "" (none).
	UsageSpillPath string
}

func (c *Config) validate() error {
	if c.Store == nil {
		return fmt.Errorf("%w: Store is required", ErrInvalidConfig)
	}
	if c.MaxBodyBytes < 0 {
		return fmt.Errorf("%w: MaxBodyBytes must not be negative", ErrInvalidConfig)
	}
	for kind, p := range c.Providers {
		if p == nil {
			return fmt.Errorf("%w: Providers[%q] is nil", ErrInvalidConfig, kind)
		}
	}
	return nil
}

// Router is the Logos gateway: an http.Handler serving the OpenAI-compatible
// API, the admin API and health checks. Create it with New and stop it with Close.
type Router struct {
	cfg     Config
	log     *slog.Logger
	usage   *store.UsageWriter
	handler *router.Handler

	closeOnce sync.Once
	closeErr  error
}

// New returns a Router and starts its background work (the usage writer).
func New(cfg Config) (*Router, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	usage, err := store.NewUsageWriter(store.UsageWriterConfig{
		Inserter:      cfg.Store,
		BatchSize:     cfg.UsageBatchSize,
		FlushInterval: cfg.UsageFlushInterval,
		BufferSize:    cfg.UsageBufferSize,
		SpillPath:     cfg.UsageSpillPath,
		Logger:        cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("logos: starting usage writer: %w", err)
	}
	r := &Router{cfg: cfg, log: cfg.Logger, usage: usage}
	r.handler = router.New(router.Config{
		Store:        cfg.Store,
		Logger:       cfg.Logger,
		MaxBodyBytes: cfg.MaxBodyBytes,
	})
	return r, nil
}

// ServeHTTP serves one request.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.handler.ServeHTTP(w, req)
}

// Bootstrap sets up an empty store with an admin user and a root process whose
// key is key (generated when empty) and returns the key. It returns an error
// wrapping store.ErrConflict when the store is already set up.
func (r *Router) Bootstrap(ctx context.Context, key string) (string, error) {
	_, key, err := router.Bootstrap(ctx, r.cfg.Store, key)
	if err != nil {
		return "", fmt.Errorf("logos: bootstrap: %w", err)
	}
	return key, nil
}

// FlushUsage waits until every usage record of the requests served so far is stored.
func (r *Router) FlushUsage(ctx context.Context) error {
	return r.usage.Flush(ctx)
}

// Close stops background work and stores every pending usage record, waiting
// at most until ctx ends. It does not close the Store. Close is idempotent.
func (r *Router) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.closeErr = r.usage.Close(ctx)
	})
	return r.closeErr
}
