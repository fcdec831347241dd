// Package pipeline is one request's life in Logos: authenticate → resolve the
// model to deployments → schedule → forward to the provider → relay and meter
// the answer → record usage. It works on an immutable catalogue snapshot, so
// the request path never waits on the database.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/monitor"
	"github.com/logos-llm/logos/pipeline/budget"
	"github.com/logos-llm/logos/pipeline/ratelimit"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// UsageSink takes usage records off the request path (store.UsageWriter).
type UsageSink interface {
	Write(ctx context.Context, rec store.UsageRecord) error
}

// UsageStarter is a UsageSink that also takes note of requests as they
// start, so that a crash leaves a trace of them (store.UsageWriter with a
// usage log). An error refuses the request: there would be nowhere to
// record it.
type UsageStarter interface {
	Started(rec *store.UsageRecord) error
}

// Config configures a Pipeline. Its zero values switch a bound off rather
// than pick one: the values a Router runs with are decided in one place,
// logos.Config (see its withDefaults), which fills in every field.
type Config struct {
	// Providers maps provider kinds to implementations. Required.
	Providers providers.Registry
	// Scheduler admits requests onto deployments. Required.
	Scheduler scheduler.Scheduler
	// Usage receives one record per authenticated request. Required.
	Usage UsageSink
	// Client sends upstream requests. Nil uses a client with NewTransport
	// (pooled, no overall timeout: streams may run long). Redirects are
	// never followed, whatever the client says.
	Client *http.Client
	// Logger receives operational logs. Nil logs to slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil is time.Now.
	Now func() time.Time
	// MaxBodyBytes bounds a proxied request's body; a larger one gets 413.
	// Zero sets no bound.
	MaxBodyBytes int64
	// BodyReadTimeout bounds the time a proxied request's body may take to
	// arrive; a slower one gets 408 and its connection is closed. Zero or
	// negative sets no bound.
	BodyReadTimeout time.Duration
	// QueueTimeout is the default longest wait for a free deployment; a
	// request may lower or raise it with the Logos-Queue-Timeout header or
	// the timeout_s body field. Zero leaves it to the scheduler. It must
	// not exceed MaxQueueTimeout.
	QueueTimeout time.Duration
	// MaxQueueTimeout caps the queue timeout a request may ask for with
	// Logos-Queue-Timeout or timeout_s; longer ones are clamped to it. Zero
	// sets no cap.
	MaxQueueTimeout time.Duration
	// MaxResponseBytes bounds how much of a non-streaming (JSON) answer is
	// read before its status is sent, so that an upstream that breaks off
	// mid-body becomes a 502 rather than a 200 with half a document. A
	// longer answer is forwarded as it arrives, as streams are. Zero holds
	// nothing back.
	MaxResponseBytes int64
	// CaptureLimit bounds the response bytes kept for FULL logging. Zero
	// keeps none.
	CaptureLimit int
	// WriteTimeout bounds each write of a relayed answer to the client; the
	// deadline is renewed before every write, so a long stream to a client
	// that reads is never cut, while a client that stops reading loses the
	// connection (and frees its deployment slot) after WriteTimeout. Zero or
	// negative sets no bound.
	WriteTimeout time.Duration
	// Limiter enforces the rate limits in process settings. Nil enforces
	// none.
	Limiter *ratelimit.Limiter
	// Budgets enforces spending limits per process and per user. Nil
	// enforces none.
	Budgets *budget.Tracker
	// Metrics records Prometheus metrics of every request. Nil records
	// none.
	Metrics *monitor.Metrics
	// Classifier ranks models for requests that name none (resource mode:
	// no model, a logos-v model string). When it implements
	// classify.CatalogueReceiver it is given every catalogue snapshot. Nil
	// refuses those requests with 400 classifier_unavailable; a Router
	// always sets one (logos.Config.Classifier).
	Classifier classify.Classifier
	// TrustedProxies are the peer addresses whose X-Forwarded-For is
	// believed for a record's client_ip. Empty believes none: client_ip is
	// the peer's address.
	TrustedProxies []netip.Prefix
	// Upstream is told of every upstream response, for the rate-limit
	// state of deployments. Nil tells nobody.
	Upstream UpstreamObserver
	// RateLimits, when set, keeps a deployment whose upstream said it is
	// rate limited (a 429 before its retry time, or nothing remaining
	// before a reset) out of a request's candidates, as long as another
	// candidate is not. Nil keeps every deployment a candidate.
	RateLimits RateLimitChecker
	// Breakers are the per-deployment circuit breakers: deployments whose
	// breaker is open are left out of requests' candidates. Defaults to
	// NewBreakers(0, 0) (5 consecutive failures open a breaker for 30s).
	Breakers *Breakers
	// RetryBackoff is the base of the jittered backoff before another
	// attempt on the next deployment: about RetryBackoff·2ⁿ⁻¹ before the
	// (n+1)-th attempt, at most 1s. Defaults to 50ms; negative waits not at
	// all. How many attempts, and for how long, is per model
	// (store.RetryPolicy).
	RetryBackoff time.Duration
	// Tracer, when set, traces every request with OpenTelemetry spans
	// (trace.go): a server span per request joined to the caller's W3C
	// traceparent, children for authentication, classification, queueing,
	// each upstream attempt (whose traceparent is sent upstream) and the
	// usage record. Nil traces nothing and sends no traceparent upstream.
	Tracer trace.TracerProvider
}

// RateLimitChecker reports whether an upstream asked, at now, not to be
// called for a deployment. Unknown must be false. package live implements it.
type RateLimitChecker interface {
	RateLimited(deploymentID int64, now time.Time) bool
}

// UpstreamObserver is told the status and headers of every upstream
// response as soon as they arrive, before the body is relayed. It runs on
// the request path and must be cheap (package live implements it).
type UpstreamObserver interface {
	ObserveResponse(deploymentID, providerID int64, providerName string, p providers.Provider, status int, h http.Header)
}

// Pipeline serves proxied requests. It is safe for concurrent use.
type Pipeline struct {
	cfg      Config
	log      *slog.Logger
	catalog  atomic.Pointer[Catalog]
	inFlight atomic.Int64 // exchanges begun and not ended
	tracer   trace.Tracer // nil: tracing off
}

// InFlight returns how many requests have begun and not yet handed over their
// usage record.
func (p *Pipeline) InFlight() int64 { return p.inFlight.Load() }

// New returns a Pipeline with an empty catalogue. It refuses a Config
// without its required fields, with negative bounds, or with a
// QueueTimeout above MaxQueueTimeout.
func New(cfg Config) (*Pipeline, error) {
	switch {
	case cfg.Providers == nil:
		return nil, errors.New("pipeline: Config.Providers is required")
	case cfg.Scheduler == nil:
		return nil, errors.New("pipeline: Config.Scheduler is required")
	case cfg.Usage == nil:
		return nil, errors.New("pipeline: Config.Usage is required")
	case cfg.MaxBodyBytes < 0, cfg.QueueTimeout < 0, cfg.MaxQueueTimeout < 0, cfg.MaxResponseBytes < 0, cfg.CaptureLimit < 0:
		return nil, errors.New("pipeline: Config.MaxBodyBytes, QueueTimeout, MaxQueueTimeout, MaxResponseBytes and CaptureLimit must not be negative")
	case cfg.MaxQueueTimeout > 0 && cfg.QueueTimeout > cfg.MaxQueueTimeout:
		return nil, fmt.Errorf("pipeline: Config.QueueTimeout %s exceeds MaxQueueTimeout %s", cfg.QueueTimeout, cfg.MaxQueueTimeout)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: NewTransport()}
	}
	// Redirects are never followed: the next hop would get the provider's
	// credential headers. A 3xx reaches the client as it came.
	c := *cfg.Client
	c.CheckRedirect = noRedirect
	cfg.Client = &c
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Breakers == nil {
		cfg.Breakers = NewBreakers(0, 0)
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = defaultRetryBackoff
	}
	p := &Pipeline{cfg: cfg, log: cfg.Logger}
	if cfg.Tracer != nil {
		p.tracer = cfg.Tracer.Tracer(tracerName)
	}
	p.catalog.Store(NewCatalog(store.Catalog{}, time.Time{}))
	return p, nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// NewTransport returns the upstream transport: pooled keep-alive connections,
// a bounded dial, a small write buffer and no response timeout (cold model
// loads can take minutes).
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	// Each upstream connection keeps its write buffer for life, and one
	// is open per streaming answer; 1 KiB holds the request line and
	// headers, and a larger body bypasses the buffer anyway.
	t.WriteBufferSize = 1 << 10
	// The read buffer is held as long too. Headers and chunk-size lines
	// fit in 1 KiB (longer header lines are read in pieces), and the relay
	// reads bodies into buffers of its own at least that large, which
	// bypass this one; at 5,000 open streams 4 KiB each was 15 MB more.
	t.ReadBufferSize = 1 << 10
	return t
}

// SetCatalog swaps the catalogue snapshot atomically, and hands its models to
// a classifier that prepares them.
func (p *Pipeline) SetCatalog(c *Catalog) {
	if cr, ok := p.cfg.Classifier.(classify.CatalogueReceiver); ok {
		cr.SetModels(c.ClassifyModels())
	}
	p.catalog.Store(c)
}

// Breakers returns the pipeline's circuit breakers.
func (p *Pipeline) Breakers() *Breakers { return p.cfg.Breakers }

// Catalog returns the current snapshot.
func (p *Pipeline) Catalog() *Catalog { return p.catalog.Load() }

// Caller is an authenticated client: its process and selected profile, and the
// catalogue snapshot used for the whole request.
type Caller struct {
	Process *store.Process
	Profile *store.Profile
	Catalog *Catalog
}

// authenticate resolves a key and an optional profile id (the use-profile
// header) to a Caller.
func (p *Pipeline) authenticate(key, profile string) (Caller, *oaierr.Error) {
	if key == "" {
		return Caller{}, oaierr.New(http.StatusUnauthorized, "Missing Logos key: send it as 'Authorization: Bearer <key>'").WithCode("missing_api_key")
	}
	cat := p.catalog.Load()
	proc, ok := cat.ProcessByKey(key)
	if !ok {
		return Caller{}, oaierr.New(http.StatusUnauthorized, "Invalid Logos key").WithCode("invalid_api_key")
	}
	if !proc.RevokedAt.IsZero() {
		return Caller{}, oaierr.New(http.StatusUnauthorized, "This Logos key has been revoked").WithCode("invalid_api_key")
	}
	c := Caller{Process: proc, Catalog: cat}
	if profile == "" {
		ps := cat.Profiles(proc.ID)
		if len(ps) == 0 {
			return c, oaierr.New(http.StatusForbidden, "No profiles available for this key").WithCode("no_profile")
		}
		c.Profile = ps[0]
		return c, nil
	}
	id, err := strconv.ParseInt(strings.TrimSpace(profile), 10, 64)
	if err != nil {
		return c, oaierr.New(http.StatusBadRequest, "The use-profile header must be an integer profile id").WithParam("use-profile")
	}
	prof, ok := cat.Profile(id)
	if !ok {
		return c, oaierr.New(http.StatusNotFound, fmt.Sprintf("Profile %d not found", id)).WithParam("use-profile")
	}
	if prof.ProcessID != proc.ID {
		return c, oaierr.New(http.StatusForbidden, "Profile does not belong to this key").WithParam("use-profile")
	}
	c.Profile = prof
	return c, nil
}

// Models returns the models c may use, ordered by id.
func (c Caller) Models() []*store.Model { return c.Catalog.PermittedModels(c.Profile.ID) }

// Model returns the permitted model with exactly that name.
func (c Caller) Model(name string) (*store.Model, bool) {
	m, ok := c.Catalog.ModelByName(name)
	if !ok || !c.Catalog.Permitted(c.Profile.ID, m.ID) {
		return nil, false
	}
	return m, true
}
