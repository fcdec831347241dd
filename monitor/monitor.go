// Package monitor defines the Prometheus metrics of Logos. Everything is
// registered on an injected prometheus.Registerer (no global registry), and
// the request path reaches it through a few nil-safe methods: a nil *Metrics
// records nothing.
//
// Label values are resolved when the decision is made (the model when it is
// resolved, the provider when the scheduler grants a deployment) and read from
// the finished usage record, so no series is labelled with a placeholder for a
// request that had a model. Cardinality is bounded:
//
//   - model and provider are catalogue names ("none" when the request ended
//     before one was chosen);
//   - operation is one of the known operations (KnownOperations), else "other";
//   - status is the exact HTTP status code (100–599; "other" outside), which
//     is a bounded set and keeps 429/499/503 distinguishable;
//   - outcome is one of store's Outcome values;
//   - type is a token type of the usage record when it is one of
//     KnownTokenTypes, else "other" (upstreams may send any usage field);
//     note that total_tokens repeats prompt plus completion tokens, so sum
//     over type only with that in mind;
//   - currency is a catalogue currency code.
package monitor

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logos-llm/logos/internal/usagelog"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// KnownOperations are the operation label values kept as they are; any other
// operation is reported as "other".
var KnownOperations = map[string]bool{
	"chat/completions":     true,
	"completions":          true,
	"embeddings":           true,
	"responses":            true,
	"moderations":          true,
	"images/generations":   true,
	"images/edits":         true,
	"images/variations":    true,
	"audio/speech":         true,
	"audio/transcriptions": true,
	"audio/translations":   true,
	"rerank":               true,
	"api/chat":             true,
	"api/generate":         true,
	"api/embed":            true,
	"api/embeddings":       true,
}

// KnownTokenTypes are the token type label values kept as they are (the
// meter's names); any other type is reported as "other".
var KnownTokenTypes = map[string]bool{
	"prompt_tokens":                         true,
	"completion_tokens":                     true,
	"total_tokens":                          true,
	"audio_milliseconds":                    true,
	"prompt_cached_tokens":                  true,
	"prompt_audio_tokens":                   true,
	"prompt_text_tokens":                    true,
	"prompt_image_tokens":                   true,
	"completion_reasoning_tokens":           true,
	"completion_audio_tokens":               true,
	"completion_text_tokens":                true,
	"completion_accepted_prediction_tokens": true,
	"completion_rejected_prediction_tokens": true,
}

// TokenType returns the type label for a token type.
func TokenType(t string) string {
	if KnownTokenTypes[t] {
		return t
	}
	return "other"
}

// none labels a model or provider that was never chosen.
const none = "none"

// Latency buckets in seconds: from sub-millisecond overheads to multi-minute
// cold starts and long streams.
var (
	durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	overheadBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}
)

// Metrics holds the request metrics. Create it with New.
type Metrics struct {
	reg prometheus.Registerer

	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	ttft          *prometheus.HistogramVec
	inFlight      prometheus.Gauge
	queueWait     *prometheus.HistogramVec
	overhead      prometheus.Histogram
	tokens        *prometheus.CounterVec
	cost          *prometheus.CounterVec
	rateLimited   prometheus.Counter
	budgetRefused prometheus.Counter
	retries       *prometheus.CounterVec
}

// New creates the request metrics and registers them on reg, which is
// required. Register the usage writer and scheduler collectors with
// WatchUsage and WatchScheduler.
func New(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("monitor: a prometheus.Registerer is required")
	}
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logos_requests_total",
			Help: "Authenticated requests by operation, model, provider, outcome and HTTP status code.",
		}, []string{"operation", "model", "provider", "outcome", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "logos_request_duration_seconds",
			Help:    "Time from receiving a request to completing its response (queue wait included).",
			Buckets: durationBuckets,
		}, []string{"operation", "model", "provider", "outcome"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "logos_time_to_first_token_seconds",
			Help:    "Streamed requests: time from receiving the request to the first byte of the upstream answer relayed.",
			Buckets: durationBuckets,
		}, []string{"model", "provider"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logos_requests_in_flight",
			Help: "Authenticated requests begun and not yet finished.",
		}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "logos_queue_wait_seconds",
			Help:    "Time scheduled requests waited for a free deployment.",
			Buckets: durationBuckets,
		}, []string{"model"}),
		overhead: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logos_overhead_seconds",
			Help:    "Time Logos spent on a request before forwarding it, queue wait excluded (what X-Logos-Overhead-Ms reports).",
			Buckets: overheadBuckets,
		}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logos_tokens_total",
			Help: "Tokens metered by model, provider and token type.",
		}, []string{"model", "provider", "type"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logos_cost_micros_total",
			Help: "Cost of completed requests in millionths of the currency unit.",
		}, []string{"model", "provider", "currency"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logos_rate_limited_total",
			Help: "Requests refused with 429 by a rate limit.",
		}),
		budgetRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logos_budget_refused_total",
			Help: "Requests refused with 402 because a budget was exhausted.",
		}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logos_upstream_retries_total",
			Help: "Upstream attempts that failed before any byte reached the client and were tried again on another deployment, by reason (connect, timeout, status_5xx, status_429).",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.ttft, m.inFlight, m.queueWait,
		m.overhead, m.tokens, m.cost, m.rateLimited, m.budgetRefused, m.retries} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// RequestBegan counts a request in flight; ObserveRequest ends it.
func (m *Metrics) RequestBegan() {
	if m == nil {
		return
	}
	m.inFlight.Inc()
}

// RequestDiscarded takes a request that leaves no usage record (an accepted
// job submission) out of the in-flight gauge; it pairs with RequestBegan.
func (m *Metrics) RequestDiscarded() {
	if m == nil {
		return
	}
	m.inFlight.Dec()
}

// ObserveRequest records a finished request from its usage record and takes
// it out of the in-flight gauge (it pairs with RequestBegan). It is the one
// call the request path makes when a request ends.
func (m *Metrics) ObserveRequest(rec store.UsageRecord) {
	if m == nil {
		return
	}
	m.inFlight.Dec()
	op := Operation(rec.Operation)
	model, provider := name(rec.ModelName), name(rec.ProviderName)
	outcome := string(rec.Outcome)
	m.requests.WithLabelValues(op, model, provider, outcome, Status(rec.StatusCode)).Inc()
	if !rec.CompletedAt.IsZero() && !rec.ReceivedAt.IsZero() {
		m.duration.WithLabelValues(op, model, provider, outcome).Observe(seconds(rec.CompletedAt.Sub(rec.ReceivedAt)))
	}
	if rec.Stream && !rec.FirstTokenAt.IsZero() && !rec.ReceivedAt.IsZero() {
		m.ttft.WithLabelValues(model, provider).Observe(seconds(rec.FirstTokenAt.Sub(rec.ReceivedAt)))
	}
	if rec.DeploymentID != 0 {
		// Granted a deployment by the scheduler (a zero wait included).
		m.queueWait.WithLabelValues(model).Observe(seconds(rec.QueueWait))
	}
	for _, t := range rec.Tokens {
		if t.Count > 0 {
			m.tokens.WithLabelValues(model, provider, TokenType(t.Type)).Add(float64(t.Count))
		}
	}
	if rec.CostMicros > 0 && rec.Currency != "" {
		m.cost.WithLabelValues(model, provider, rec.Currency).Add(float64(rec.CostMicros))
	}
}

// ObserveOverhead records the overhead reported in X-Logos-Overhead-Ms.
func (m *Metrics) ObserveOverhead(d time.Duration) {
	if m == nil {
		return
	}
	m.overhead.Observe(seconds(d))
}

// RateLimited counts a request refused by a rate limit.
func (m *Metrics) RateLimited() {
	if m == nil {
		return
	}
	m.rateLimited.Inc()
}

// BudgetRefused counts a request refused because a budget was exhausted.
func (m *Metrics) BudgetRefused() {
	if m == nil {
		return
	}
	m.budgetRefused.Inc()
}

// Retried counts an upstream attempt tried again on another deployment;
// reason is one of connect, timeout, status_5xx and status_429.
func (m *Metrics) Retried(reason string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(reason).Inc()
}

// BreakerSource reports the per-deployment circuit breakers at scrape time
// (pipeline.Breakers): Each calls fn with every deployment that has a
// breaker state (state is "closed", "open" or "half_open"), and Opened
// counts the times a breaker opened.
type BreakerSource interface {
	EachState(fn func(deploymentID int64, state string))
	Opened() int64
}

// WatchBreakers registers logos_circuit_breaker_state (1 for the current
// state of each deployment that failed lately, by deployment id and state)
// and logos_circuit_breaker_opened_total, read from src at scrape time.
// Deployments absent from the state gauge are closed with no failures.
func (m *Metrics) WatchBreakers(src BreakerSource) error {
	if m == nil || src == nil {
		return nil
	}
	return m.reg.Register(breakerCollector{src})
}

var (
	breakerStateDesc = prometheus.NewDesc("logos_circuit_breaker_state",
		"Circuit breaker state of deployments that failed lately: 1 for the current state (closed, open, half_open).", []string{"deployment_id", "state"}, nil)
	breakerOpenedDesc = prometheus.NewDesc("logos_circuit_breaker_opened_total",
		"Times a deployment's circuit breaker opened.", nil, nil)
)

type breakerCollector struct{ src BreakerSource }

func (c breakerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- breakerStateDesc
	ch <- breakerOpenedDesc
}

func (c breakerCollector) Collect(ch chan<- prometheus.Metric) {
	c.src.EachState(func(id int64, state string) {
		ch <- prometheus.MustNewConstMetric(breakerStateDesc, prometheus.GaugeValue, 1, strconv.FormatInt(id, 10), state)
	})
	ch <- prometheus.MustNewConstMetric(breakerOpenedDesc, prometheus.CounterValue, float64(c.src.Opened()))
}

// Operation returns the operation label for op: op itself when it is known,
// else "other".
func Operation(op string) string {
	if KnownOperations[op] {
		return op
	}
	return "other"
}

// Status returns the status label for an HTTP status code.
func Status(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}

func name(s string) string {
	if s == "" {
		return none
	}
	return s
}

func seconds(d time.Duration) float64 { return max(d, 0).Seconds() }

// UsageSource is what the usage collector reads at scrape time
// (store.UsageWriter).
type UsageSource interface {
	Stats() store.UsageWriterStats
	Pending() int
}

// WatchUsage registers a collector reading src at scrape time:
// logos_usage_records_{accepted,stored,dropped}_total,
// logos_usage_records_pending and logos_usage_insert_failures_total.
func (m *Metrics) WatchUsage(src UsageSource) error {
	if m == nil || src == nil {
		return nil
	}
	return m.reg.Register(NewUsageCollector(src))
}

// UsageLogSource is what the usage log collector reads at scrape time
// (*usagelog.Log).
type UsageLogSource interface {
	Stats() usagelog.Stats
}

// WatchUsageLog registers logos_usage_log_bytes and
// logos_usage_log_backlog_bytes, read from src at scrape time.
func (m *Metrics) WatchUsageLog(src UsageLogSource) error {
	if m == nil || src == nil {
		return nil
	}
	return m.reg.Register(usageLogCollector{src})
}

var (
	usageLogBytesDesc = prometheus.NewDesc("logos_usage_log_bytes",
		"Size of the local usage log on disk.", nil, nil)
	usageLogBacklogDesc = prometheus.NewDesc("logos_usage_log_backlog_bytes",
		"Bytes of the local usage log not yet confirmed stored in the database: the backlog an outage leaves.", nil, nil)
)

type usageLogCollector struct{ src UsageLogSource }

func (c usageLogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- usageLogBytesDesc
	ch <- usageLogBacklogDesc
}

func (c usageLogCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Stats()
	ch <- prometheus.MustNewConstMetric(usageLogBytesDesc, prometheus.GaugeValue, float64(s.Bytes))
	ch <- prometheus.MustNewConstMetric(usageLogBacklogDesc, prometheus.GaugeValue, float64(s.BacklogBytes))
}

// WatchScheduler registers logos_queue_depth, read from s at scrape time.
func (m *Metrics) WatchScheduler(s scheduler.StateReporter) error {
	if m == nil || s == nil {
		return nil
	}
	return m.reg.Register(NewSchedulerCollector(s))
}

var (
	usageAcceptedDesc = prometheus.NewDesc("logos_usage_records_accepted_total",
		"Usage records handed to the usage writer.", nil, nil)
	usageStoredDesc = prometheus.NewDesc("logos_usage_records_stored_total",
		"Usage records the store confirmed.", nil, nil)
	usageDroppedDesc = prometheus.NewDesc("logos_usage_records_dropped_total",
		"Usage records lost: refused after Close, unwritten at Close without a spill file, or set aside as invalid. 0 in normal operation.", nil, nil)
	usagePendingDesc = prometheus.NewDesc("logos_usage_records_pending",
		"Usage records accepted and not yet stored.", nil, nil)
	usageFailuresDesc = prometheus.NewDesc("logos_usage_insert_failures_total",
		"Failed usage insert attempts (each retried).", nil, nil)
	queueDepthDesc = prometheus.NewDesc("logos_queue_depth",
		"Requests waiting for a free deployment.", nil, nil)
)

// usageCollector reads a UsageSource at scrape time; it costs nothing on the
// request path.
type usageCollector struct{ src UsageSource }

// NewUsageCollector returns a collector of src's counters.
func NewUsageCollector(src UsageSource) prometheus.Collector { return usageCollector{src} }

func (c usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- usageAcceptedDesc
	ch <- usageStoredDesc
	ch <- usageDroppedDesc
	ch <- usagePendingDesc
	ch <- usageFailuresDesc
}

func (c usageCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Stats()
	ch <- prometheus.MustNewConstMetric(usageAcceptedDesc, prometheus.CounterValue, float64(s.Accepted))
	ch <- prometheus.MustNewConstMetric(usageStoredDesc, prometheus.CounterValue, float64(s.Stored))
	ch <- prometheus.MustNewConstMetric(usageDroppedDesc, prometheus.CounterValue, float64(s.Dropped))
	ch <- prometheus.MustNewConstMetric(usagePendingDesc, prometheus.GaugeValue, float64(max(c.src.Pending(), 0)))
	ch <- prometheus.MustNewConstMetric(usageFailuresDesc, prometheus.CounterValue, float64(s.Failures))
}

// queueDepther is the cheap alternative to State that scheduler/fcfs offers.
type queueDepther interface{ QueueDepth() int }

type schedulerCollector struct{ s scheduler.StateReporter }

// NewSchedulerCollector returns a collector of s's queue depth.
func NewSchedulerCollector(s scheduler.StateReporter) prometheus.Collector {
	return schedulerCollector{s}
}

func (c schedulerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDepthDesc }

func (c schedulerCollector) Collect(ch chan<- prometheus.Metric) {
	var n int
	if q, ok := c.s.(queueDepther); ok {
		n = q.QueueDepth()
	} else {
		n = c.s.State().QueueDepth
	}
	ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(n))
}
