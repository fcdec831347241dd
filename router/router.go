// Package router is the HTTP surface of Logos: the OpenAI-compatible /v1 API,
// the /logosdb admin API and the health endpoints. It is the one place where
// errors become OpenAI-format JSON with a status code.
package router

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/pipeline"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// Config configures a Handler.
type Config struct {
	// Store is where keys, catalogue and usage live. Required.
	Store store.Store
	// Logger receives request errors. Defaults to slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies; larger ones get 413. Defaults to 32 MiB.
	MaxBodyBytes int64
	// OnChange is called after a request changed keys or the catalogue, so the
	// caller can refresh its snapshot. Optional.
	OnChange func(ctx context.Context)
	// Pipeline serves the OpenAI-compatible API (/v1/..., /openai/...) and the
	// Ollama-native API (/api/...). Optional; without it those paths answer 404.
	Pipeline *pipeline.Pipeline
	// Started is reported as the creation time of listed models that have none.
	Started time.Time
	// Sealer encrypts provider and deployment credentials before they are
	// stored. Nil stores them as given.
	Sealer Sealer
	// Getenv resolves ${VAR} references in imported documents. Defaults to
	// a function that finds nothing.
	Getenv func(string) string
	// DisableSetup makes POST /logosdb/setup refuse (403): for instances
	// configured from a file, where the first caller must not become root.
	DisableSetup bool
	// Scheduler reports queue state for /logosdb/scheduler_state. Optional;
	// without it that endpoint answers 503.
	Scheduler scheduler.StateReporter
	// Metrics serves the Prometheus exposition at GET /metrics (for example
	// promhttp.HandlerFor). Optional; without it /metrics answers 404.
	Metrics http.Handler
	// MetricsToken is the bearer token GET /metrics requires. Without one
	// /metrics answers 403: metrics are never exposed unauthenticated.
	MetricsToken string
}

// Sealer encrypts a secret for storage.
type Sealer interface {
	Seal(plaintext string) (string, error)
}

// Handler serves Logos over HTTP.
type Handler struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// New returns a Handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 32 << 20
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	h.routes()
	return h
}

func (h *Handler) routes() {
	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.HandleFunc("GET /readyz", h.readyz)
	h.mux.HandleFunc("GET /metrics", h.metrics)
	h.mux.HandleFunc("POST /logosdb/setup", h.setup)
	h.adminIdentityRoutes()
	h.adminCatalogRoutes()
	h.adminStatsRoutes()
	h.adminBudgetRoutes()
	h.adminMonitorRoutes(h.cfg.Scheduler)
	if h.cfg.Pipeline != nil {
		h.proxyRoutes()
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		oaierr.Write(w, oaierr.New(http.StatusNotFound, "Unknown path "+r.URL.Path).WithCode("unknown_url"))
	})
}

// ServeHTTP assigns the request id, recovers from panics and dispatches.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := RequestID(r)
	w.Header().Set("X-Request-ID", id)
	r = r.WithContext(withRequestID(r.Context(), id))
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("panic serving request", "request_id", id, "path", r.URL.Path, "panic", v)
			// If the response had started this write fails silently; the
			// connection is then closed by net/http.
			oaierr.Write(w, oaierr.New(http.StatusInternalServerError, "Internal server error"))
		}
	}()
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.cfg.Store.Ping(ctx); err != nil {
		h.log.Warn("readiness check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "store unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

type ctxKey struct{}

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// RequestIDFrom returns the request id the Handler assigned to ctx's request.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// RequestID returns the client's X-Request-ID if it is a sane token (1 to 128
// characters of letters, digits and -_.:), and a new random id otherwise.
func RequestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-ID"); validRequestID(id) {
		return id
	}
	return NewRequestID()
}

// NewRequestID returns a random 32-character hex id.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}
