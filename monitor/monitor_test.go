package monitor_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logos-llm/logos/monitor"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

func newMetrics(t *testing.T) (*monitor.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := monitor.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func TestNewRequiresRegisterer(t *testing.T) {
	if _, err := monitor.New(nil); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}

func TestNewTwiceOnOneRegistryFails(t *testing.T) {
	_, reg := newMetrics(t)
	if _, err := monitor.New(reg); err == nil {
		t.Fatal("registering the metrics twice succeeded")
	}
}

func TestNilMetricsIsNoOp(t *testing.T) {
	var m *monitor.Metrics
	m.RequestBegan()
	m.ObserveRequest(store.UsageRecord{})
	m.ObserveOverhead(time.Millisecond)
	m.RateLimited()
	m.BudgetRefused()
	if err := m.WatchUsage(fakeUsage{}); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchScheduler(fakeState{}); err != nil {
		t.Fatal(err)
	}
}

func TestObserveRequest(t *testing.T) {
	m, reg := newMetrics(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := store.UsageRecord{
		Operation:    "chat/completions",
		ModelName:    "gpt-4o",
		ProviderName: "azure-eu",
		DeploymentID: 7,
		Stream:       true,
		ReceivedAt:   t0,
		ForwardedAt:  t0.Add(300 * time.Millisecond),
		FirstTokenAt: t0.Add(500 * time.Millisecond),
		CompletedAt:  t0.Add(2 * time.Second),
		QueueWait:    250 * time.Millisecond,
		StatusCode:   200,
		Outcome:      store.OutcomeSuccess,
		Tokens: []store.TokenCount{
			{Type: "prompt_tokens", Count: 10},
			{Type: "completion_tokens", Count: 5},
			{Type: "total_tokens", Count: 15},
			{Type: "some_upstream_field", Count: 3},
		},
		CostMicros: 1234,
		Currency:   "EUR",
	}
	m.RequestBegan()
	m.RequestBegan()
	if got := testutil.ToFloat64(gauge(t, reg, "logos_requests_in_flight")); got != 2 {
		t.Fatalf("in flight = %v, want 2", got)
	}
	m.ObserveRequest(rec)
	// A request refused before a model was resolved, on an unknown operation.
	m.ObserveRequest(store.UsageRecord{Operation: "x/" + strings.Repeat("y", 50), StatusCode: 404,
		Outcome: store.OutcomeRejected, ReceivedAt: t0, CompletedAt: t0.Add(time.Millisecond)})

	want := `
# HELP logos_requests_total Authenticated requests by operation, model, provider, outcome and HTTP status code.
# TYPE logos_requests_total counter
logos_requests_total{model="gpt-4o",operation="chat/completions",outcome="success",provider="azure-eu",status="200"} 1
logos_requests_total{model="none",operation="other",outcome="rejected",provider="none",status="404"} 1
# HELP logos_requests_in_flight Authenticated requests begun and not yet finished.
# TYPE logos_requests_in_flight gauge
logos_requests_in_flight 0
# HELP logos_tokens_total Tokens metered by model, provider and token type.
# TYPE logos_tokens_total counter
logos_tokens_total{model="gpt-4o",provider="azure-eu",type="completion_tokens"} 5
logos_tokens_total{model="gpt-4o",provider="azure-eu",type="other"} 3
logos_tokens_total{model="gpt-4o",provider="azure-eu",type="prompt_tokens"} 10
logos_tokens_total{model="gpt-4o",provider="azure-eu",type="total_tokens"} 15
# HELP logos_cost_micros_total Cost of completed requests in millionths of the currency unit.
# TYPE logos_cost_micros_total counter
logos_cost_micros_total{currency="EUR",model="gpt-4o",provider="azure-eu"} 1234
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"logos_requests_total", "logos_requests_in_flight", "logos_tokens_total", "logos_cost_micros_total"); err != nil {
		t.Fatal(err)
	}

	// Histograms: one observation each, of the right size.
	checkHistogram(t, reg, "logos_request_duration_seconds", map[string]string{"model": "gpt-4o", "operation": "chat/completions"}, 1, 2)
	checkHistogram(t, reg, "logos_time_to_first_token_seconds", map[string]string{"model": "gpt-4o", "provider": "azure-eu"}, 1, 0.5)
	checkHistogram(t, reg, "logos_queue_wait_seconds", map[string]string{"model": "gpt-4o"}, 1, 0.25)
	// The refused request was never scheduled nor streamed.
	if n := testutil.CollectAndCount(collectorOf(t, reg, "logos_queue_wait_seconds")); n != 1 {
		t.Fatalf("queue wait series = %d, want 1", n)
	}
	if n := testutil.CollectAndCount(collectorOf(t, reg, "logos_time_to_first_token_seconds")); n != 1 {
		t.Fatalf("ttft series = %d, want 1", n)
	}
}

func TestCountersAndOverhead(t *testing.T) {
	m, reg := newMetrics(t)
	m.RateLimited()
	m.RateLimited()
	m.BudgetRefused()
	m.ObserveOverhead(2 * time.Millisecond)
	m.ObserveOverhead(-time.Millisecond) // clamped to 0
	want := `
# HELP logos_rate_limited_total Requests refused with 429 by a rate limit.
# TYPE logos_rate_limited_total counter
logos_rate_limited_total 2
# HELP logos_budget_refused_total Requests refused with 402 because a budget was exhausted.
# TYPE logos_budget_refused_total counter
logos_budget_refused_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "logos_rate_limited_total", "logos_budget_refused_total"); err != nil {
		t.Fatal(err)
	}
	checkHistogram(t, reg, "logos_overhead_seconds", nil, 2, 0.002)
}

func TestLabels(t *testing.T) {
	for op, want := range map[string]string{"chat/completions": "chat/completions", "api/chat": "api/chat", "embeddings": "embeddings", "foo/bar": "other", "": "other"} {
		if got := monitor.Operation(op); got != want {
			t.Errorf("Operation(%q) = %q, want %q", op, got, want)
		}
	}
	for code, want := range map[int]string{200: "200", 499: "499", 0: "other", 600: "other", 99: "other"} {
		if got := monitor.Status(code); got != want {
			t.Errorf("Status(%d) = %q, want %q", code, got, want)
		}
	}
}

type fakeUsage struct {
	s       store.UsageWriterStats
	pending int
}

func (f fakeUsage) Stats() store.UsageWriterStats { return f.s }
func (f fakeUsage) Pending() int                  { return f.pending }

func TestUsageCollector(t *testing.T) {
	m, reg := newMetrics(t)
	src := fakeUsage{s: store.UsageWriterStats{Accepted: 10, Stored: 7, Failures: 2, Dropped: 1, Invalid: 1}, pending: 3}
	if err := m.WatchUsage(src); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP logos_usage_records_accepted_total Usage records handed to the usage writer.
# TYPE logos_usage_records_accepted_total counter
logos_usage_records_accepted_total 10
# HELP logos_usage_records_stored_total Usage records the store confirmed.
# TYPE logos_usage_records_stored_total counter
logos_usage_records_stored_total 7
# HELP logos_usage_records_dropped_total Usage records lost: refused after Close, unwritten at Close without a spill file, or set aside as invalid. 0 in normal operation.
# TYPE logos_usage_records_dropped_total counter
logos_usage_records_dropped_total 1
# HELP logos_usage_records_pending Usage records accepted and not yet stored.
# TYPE logos_usage_records_pending gauge
logos_usage_records_pending 3
# HELP logos_usage_insert_failures_total Failed usage insert attempts (each retried).
# TYPE logos_usage_insert_failures_total counter
logos_usage_insert_failures_total 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"logos_usage_records_accepted_total", "logos_usage_records_stored_total", "logos_usage_records_dropped_total",
		"logos_usage_records_pending", "logos_usage_insert_failures_total"); err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(monitor.NewUsageCollector(src), strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

type fakeState struct{ depth int }

func (f fakeState) State() scheduler.State { return scheduler.State{QueueDepth: f.depth} }

type fakeDepth struct{ fakeState }

func (f fakeDepth) QueueDepth() int { return f.depth + 100 }

func TestSchedulerCollector(t *testing.T) {
	want := func(n string) string {
		return "# HELP logos_queue_depth Requests waiting for a free deployment.\n# TYPE logos_queue_depth gauge\nlogos_queue_depth " + n + "\n"
	}
	if err := testutil.CollectAndCompare(monitor.NewSchedulerCollector(fakeState{4}), strings.NewReader(want("4"))); err != nil {
		t.Fatal(err)
	}
	// QueueDepth, when offered, is preferred to building a State.
	if err := testutil.CollectAndCompare(monitor.NewSchedulerCollector(fakeDepth{fakeState{4}}), strings.NewReader(want("104"))); err != nil {
		t.Fatal(err)
	}
	m, reg := newMetrics(t)
	if err := m.WatchScheduler(fakeState{2}); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want("2")), "logos_queue_depth"); err != nil {
		t.Fatal(err)
	}
}

// gauge returns a collector that gathers the single metric name from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	return collectorOf(t, reg, name)
}

// collectorOf adapts the metric family name of reg to a Collector, for testutil.
func collectorOf(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	return gathererCollector{reg: reg, name: name}
}

type gathererCollector struct {
	reg  *prometheus.Registry
	name string
}

func (g gathererCollector) Describe(chan<- *prometheus.Desc) {}

func (g gathererCollector) Collect(ch chan<- prometheus.Metric) {
	mfs, _ := g.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != g.name {
			continue
		}
		for _, mm := range mf.GetMetric() {
			labels := prometheus.Labels{}
			for _, lp := range mm.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			desc := prometheus.NewDesc(g.name, "x", nil, labels)
			switch {
			case mm.GetGauge() != nil:
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, mm.GetGauge().GetValue())
			case mm.GetCounter() != nil:
				ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, mm.GetCounter().GetValue())
			case mm.GetHistogram() != nil:
				ch <- prometheus.MustNewConstHistogram(desc, mm.GetHistogram().GetSampleCount(), mm.GetHistogram().GetSampleSum(), nil)
			}
		}
	}
}

// checkHistogram finds the series of histogram name whose labels include
// match and checks its sample count and sum.
func checkHistogram(t *testing.T, reg *prometheus.Registry, name string, match map[string]string, count uint64, sum float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, mm := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range mm.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range match {
				if labels[k] != v {
					continue series
				}
			}
			h := mm.GetHistogram()
			if h.GetSampleCount() != count || h.GetSampleSum() < sum-1e-9 || h.GetSampleSum() > sum+1e-9 {
				t.Fatalf("%s%v: count %d sum %v, want %d and %v", name, labels, h.GetSampleCount(), h.GetSampleSum(), count, sum)
			}
			return
		}
	}
	t.Fatalf("no series of %s matches %v", name, match)
}

// BenchmarkObserveRequest measures the metrics a finished request updates
// (counters and histograms by operation, model, provider, outcome, tokens
// and cost), which run on every request after its answer.
//
//	go test -run '^$' -bench ObserveRequest -benchmem ./monitor
func BenchmarkObserveRequest(b *testing.B) {
	m, err := monitor.New(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	rec := store.UsageRecord{
		RequestID: "r", Operation: "chat/completions", ModelName: "llama3", ProviderName: "local",
		DeploymentID: 1, Outcome: store.OutcomeSuccess, StatusCode: 200,
		ReceivedAt: now, CompletedAt: now.Add(time.Millisecond), CostMicros: 12, Currency: "USD",
		Tokens: []store.TokenCount{{Type: "prompt", Count: 12}, {Type: "completion", Count: 20}},
	}
	b.ReportAllocs()
	for b.Loop() {
		m.RequestBegan()
		m.ObserveRequest(rec)
	}
}
