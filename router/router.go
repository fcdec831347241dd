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
	"sync"
	"time"

	"github.com/logos-llm/logos/internal/catalog"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/pipeline"
	"github.com/logos-llm/logos/router/ui"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// Config configures a Handler.
type Config struct {
	// Store is where keys, catalogue and usage live. Required; the proxied
	// API needs only store.Core. The admin API under /logosdb/ (and setup)
	// needs a store.Store and answers 501 without one; the statistics,
	// budget and monitor views also use the optional interfaces they name.
	Store store.Core
	// Logger receives request errors. Defaults to slog.Default().
	Logger *slog.Logger
	// OnChange is called after a request changed keys or the catalogue, so the
	// caller can refresh its snapshot. Optional.
	OnChange func(ctx context.Context)
	// Pipeline serves the OpenAI-compatible API (/v1/..., /openai/...) and the
	// Ollama-native API (/api/...), through its entry points Serve, Answer
	// and Submit; it bounds their request bodies. Optional; without it those
	// paths answer 404.
	Pipeline *pipeline.Pipeline
	// Ready reports whether the instance should get traffic (GET /readyz).
	// Defaults to pinging the Store.
	Ready func(ctx context.Context) error
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
	// Live reports the providers' polled state and the deployments'
	// rate-limit state for scheduler_state. Optional; without it those
	// parts are left out.
	Live LiveState
	// Metrics serves the Prometheus exposition at GET /metrics (for example
	// promhttp.HandlerFor). Optional; without it /metrics answers 404.
	Metrics http.Handler
	// MetricsToken is the bearer token GET /metrics requires. Without one
	// /metrics answers 403: metrics are never exposed unauthenticated.
	MetricsToken string
	// Jobs stores asynchronous jobs and serves /jobs/... (with Pipeline).
	// Optional; without it those paths answer 501.
	Jobs store.JobQueue
	// JobRunner is told about submitted and cancelled jobs. Optional.
	JobRunner JobRunner
	// CORSOrigins are the origins browsers may call Logos from, as
	// ParseCORSOrigins returns them; "*" allows any. Empty (the default)
	// allows none: the dashboard at /ui/ is same-origin and needs none.
	// Preflights from other origins get 403.
	CORSOrigins []string
}

// Sealer encrypts a secret for storage.
type Sealer interface {
	Seal(plaintext string) (string, error)
}

// Handler serves Logos over HTTP.
type Handler struct {
	cfg Config
	// db is cfg.Store when it implements store.Store (what the admin API
	// reads and writes), nil otherwise: the admin API then answers 501.
	db  store.Store
	log *slog.Logger
	mux *routeMux
	// cors is nil unless Config.CORSOrigins allows some origin.
	cors *cors
	// openapi renders /openapi.json once.
	openapi func() []byte
	// cat makes every change the admin API asks for.
	cat *catalog.Catalog
}

// New returns a Handler. It decides no values of its own: a Router's are
// decided in logos.Config.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, mux: &routeMux{ServeMux: http.NewServeMux()}, openapi: sync.OnceValue(renderOpenAPI), cors: newCORS(cfg.CORSOrigins)}
	if db, ok := cfg.Store.(store.Store); ok {
		h.db = db
	}
	if h.db != nil {
		h.cat = catalog.New(h.db, catalog.Options{Seal: h.sealFunc(), Logger: cfg.Logger})
	}
	h.routes()
	return h
}

func (h *Handler) routes() {
	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.HandleFunc("GET /readyz", h.readyz)
	h.mux.HandleFunc("GET /metrics", h.metrics)
	h.mux.HandleFunc("GET /openapi.json", h.openAPI)
	h.mux.HandleFunc("POST /logosdb/setup", h.setup)
	h.adminIdentityRoutes()
	h.adminCatalogRoutes()
	h.adminStatsRoutes()
	h.adminBudgetRoutes()
	h.adminMonitorRoutes(h.cfg.Scheduler)
	h.adminDashboardRoutes()
	h.adminJobRoutes()
	h.mux.Handle("GET "+ui.Prefix, ui.Handler())
	h.mux.Handle("GET /ui", http.RedirectHandler(ui.Prefix, http.StatusMovedPermanently))
	if h.cfg.Pipeline != nil {
		h.proxyRoutes()
		if h.cfg.Jobs != nil {
			h.jobRoutes()
		} else {
			h.noJobRoutes()
		}
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		oaierr.Write(w, oaierr.New(http.StatusNotFound, "Unknown path "+r.URL.Path).WithCode("unknown_url"))
	})
}

// ServeHTTP assigns the request ids, recovers from panics and dispatches.
//
// Every request gets a new id from NewRequestID, the id of its usage record,
// sent back as X-Logos-Request-ID. X-Request-ID echoes the client's own
// X-Request-ID when it is a sane token, so clients can correlate with it, and
// carries the generated id otherwise. The client's id is never used as the
// record's id: clients reuse ids (retries, fixed headers), and a reused one
// would make the second record a duplicate the store skips.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The ids are set in another function: this frame stays on the stack of
	// every open stream (see pipeline.Pipeline.Serve).
	r, ids := h.withIDs(w, r)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("panic serving request", "request_id", ids.id, "client_request_id", ids.client, "path", r.URL.Path, "panic", v)
			// If the response had started this write fails silently; the
			// connection is then closed by net/http.
			oaierr.Write(w, oaierr.New(http.StatusInternalServerError, "Internal server error"))
		}
	}()
	if h.cors != nil && h.cors.handle(w, r) {
		return
	}
	h.mux.ServeHTTP(w, r)
}

// withIDs assigns r its request ids, sets the response headers that carry
// them and returns r with the ids in its context.
func (h *Handler) withIDs(w http.ResponseWriter, r *http.Request) (*http.Request, requestIDs) {
	ids := requestIDs{id: NewRequestID(), client: ClientRequestID(r)}
	echo := ids.id
	if ids.client != "" {
		echo = ids.client
	}
	// The keys in canonical form, as Header.Set would store them, without
	// canonicalizing (and allocating) them again for every request.
	hdr := w.Header()
	hdr["X-Request-Id"] = []string{echo}
	hdr["X-Logos-Request-Id"] = []string{ids.id}
	return r.WithContext(withRequestIDs(r.Context(), ids)), ids
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if h.cfg.Ready != nil {
		if err := h.cfg.Ready(ctx); err != nil {
			h.log.Warn("readiness check failed", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
	} else if err := h.cfg.Store.Ping(ctx); err != nil {
		h.log.Warn("readiness check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "store unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

type ctxKey struct{}

// requestIDs are the ids of one request, kept in its context.
type requestIDs struct {
	id     string // generated by NewRequestID; the usage record's RequestID
	client string // the client's X-Request-ID if valid, else ""
}

func withRequestIDs(ctx context.Context, ids requestIDs) context.Context {
	return context.WithValue(ctx, ctxKey{}, ids)
}

// RequestIDFrom returns the request id the Handler generated for ctx's
// request: the id of its usage record, sent as X-Logos-Request-ID. It is
// empty if ctx did not come from the Handler.
func RequestIDFrom(ctx context.Context) string {
	ids, _ := ctx.Value(ctxKey{}).(requestIDs)
	return ids.id
}

// ClientRequestIDFrom returns the client's X-Request-ID of ctx's request as
// ClientRequestID accepted it: empty if the client sent none or an invalid
// one, or if ctx did not come from the Handler.
func ClientRequestIDFrom(ctx context.Context) string {
	ids, _ := ctx.Value(ctxKey{}).(requestIDs)
	return ids.client
}

// ClientRequestID returns the client's X-Request-ID if it is a sane token (1
// to 128 characters of letters, digits and -_.:), and "" otherwise. It is
// kept for correlation only and need not be unique.
func ClientRequestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); validRequestID(id) {
		return id
	}
	return ""
}

// NewRequestID returns a new request id: 32 lowercase hex characters that
// encode 16 bytes, the Unix time in milliseconds as a 48-bit big-endian
// number followed by 80 random bits (the layout of a UUIDv7 without its
// version and variant bits).
//
// The ids are time-ordered: an id made in a later millisecond sorts after
// every id made earlier, as bytes and as a string. Usage records are keyed by
// it in a unique index, so records written around the same time land at the
// end of that btree, on the same few pages. Random ids would put each record
// of a batch on a page of its own, and in SQLite every one of those pages is
// dirtied and written at each commit. Within one millisecond the order is
// random; 80 random bits keep collisions out of reach.
func NewRequestID() string {
	return newRequestID(time.Now())
}

// newRequestID returns a request id for the time now.
func newRequestID(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	b[0] = byte(ms >> 40)
	b[1] = byte(ms >> 32)
	b[2] = byte(ms >> 24)
	b[3] = byte(ms >> 16)
	b[4] = byte(ms >> 8)
	b[5] = byte(ms)
	_, _ = rand.Read(b[6:]) // never fails (crypto/rand)
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
