package live

import (
	"encoding/json"
	"strconv"

	"github.com/logos-llm/logos/providers"
	"github.com/prometheus/client_golang/prometheus"
)

// Per-provider gauges, read from the Monitor at scrape time (nothing is
// updated on the request path). A figure the provider did not report is
// absent, never 0.
var (
	vramUsedDesc = prometheus.NewDesc("logos_provider_vram_used_bytes",
		"VRAM used by the provider's loaded models at its last successful poll.", []string{"provider"}, nil)
	vramTotalDesc = prometheus.NewDesc("logos_provider_vram_total_bytes",
		"The provider's configured VRAM capacity.", []string{"provider"}, nil)
	modelsLoadedDesc = prometheus.NewDesc("logos_provider_models_loaded",
		"Models loaded in the provider's memory at its last successful poll.", []string{"provider"}, nil)
	runningDesc = prometheus.NewDesc("logos_provider_requests_running",
		"Requests the provider reported running at its last successful poll.", []string{"provider"}, nil)
	waitingDesc = prometheus.NewDesc("logos_provider_requests_waiting",
		"Requests the provider reported queued at its last successful poll.", []string{"provider"}, nil)
	kvCacheDesc = prometheus.NewDesc("logos_provider_kv_cache_usage_ratio",
		"Fraction of the provider's KV cache in use at its last successful poll.", []string{"provider"}, nil)
	pollUpDesc = prometheus.NewDesc("logos_provider_poll_up",
		"1 if the provider's last poll succeeded, 0 if it failed.", []string{"provider"}, nil)
	rlRequestsDesc = prometheus.NewDesc("logos_deployment_ratelimit_remaining_requests",
		"Requests remaining in the upstream's rate-limit window, from its last response headers.", []string{"provider", "deployment_id"}, nil)
	rlTokensDesc = prometheus.NewDesc("logos_deployment_ratelimit_remaining_tokens",
		"Tokens remaining in the upstream's rate-limit window, from its last response headers.", []string{"provider", "deployment_id"}, nil)
)

// metrics are the Monitor's Prometheus metrics. A nil *metrics records
// nothing.
type metrics struct {
	polls    *prometheus.CounterVec
	failures *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, m *Monitor) (*metrics, error) {
	mt := &metrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logos_provider_polls_total",
			Help: "Polls of providers' monitoring URLs."}, []string{"provider"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logos_provider_poll_failures_total",
			Help: "Polls of providers' monitoring URLs that failed (timeout, HTTP or parse error)."}, []string{"provider"}),
	}
	for _, c := range []prometheus.Collector{mt.polls, mt.failures, collector{m}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return mt, nil
}

func (mt *metrics) polled(provider string, err error) {
	if mt == nil {
		return
	}
	mt.polls.WithLabelValues(provider).Inc()
	if err != nil {
		mt.failures.WithLabelValues(provider).Inc()
	} else {
		mt.failures.WithLabelValues(provider).Add(0) // so the series exists
	}
}

// forget drops a provider's counters when its poller stops.
func (mt *metrics) forget(provider string) {
	if mt == nil {
		return
	}
	mt.polls.DeleteLabelValues(provider)
	mt.failures.DeleteLabelValues(provider)
}

// collector exports the Monitor's states.
type collector struct{ m *Monitor }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{vramUsedDesc, vramTotalDesc, modelsLoadedDesc, runningDesc, waitingDesc,
		kvCacheDesc, pollUpDesc, rlRequestsDesc, rlTokensDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range c.m.ProviderStates() {
		if s.TotalVRAMBytes > 0 {
			gauge(vramTotalDesc, float64(s.TotalVRAMBytes), s.Name)
		}
		if s.PolledAt.IsZero() {
			continue
		}
		if s.Err != "" {
			gauge(pollUpDesc, 0, s.Name)
			continue
		}
		gauge(pollUpDesc, 1, s.Name)
		if s.LoadedKnown {
			gauge(vramUsedDesc, float64(s.VRAMUsedBytes), s.Name)
			gauge(modelsLoadedDesc, float64(len(s.Loaded)), s.Name)
		}
		if s.QueueKnown {
			gauge(runningDesc, float64(s.Running), s.Name)
			gauge(waitingDesc, float64(s.Waiting), s.Name)
		}
		if s.KVCacheKnown {
			gauge(kvCacheDesc, s.KVCacheUsage, s.Name)
		}
	}
	c.m.rlMu.RLock()
	type row struct {
		id   int64
		name string
		rl   providers.RateLimit
	}
	rows := make([]row, 0, len(c.m.rl))
	for id, e := range c.m.rl {
		e.mu.Lock()
		rows = append(rows, row{id, e.providerName, e.rl})
		e.mu.Unlock()
	}
	c.m.rlMu.RUnlock()
	now := c.m.cfg.Now()
	for _, r := range rows {
		if !c.m.fresh(&r.rl, now) {
			continue // stale: unknown
		}
		dep := strconv.FormatInt(r.id, 10)
		if r.rl.RemainingRequests >= 0 {
			gauge(rlRequestsDesc, float64(r.rl.RemainingRequests), r.name, dep)
		}
		if r.rl.RemainingTokens >= 0 {
			gauge(rlTokensDesc, float64(r.rl.RemainingTokens), r.name, dep)
		}
	}
}

// snapshotModel is one loaded model as stored in a snapshot (the original's
// shape plus the model field).
type snapshotModel struct {
	Name       string  `json:"name"`
	Model      string  `json:"model,omitempty"`
	Size       int64   `json:"size"`
	SizeVRAM   int64   `json:"size_vram"`
	SizeVRAMMB float64 `json:"size_vram_mb"`
	ExpiresAt  *string `json:"expires_at"`
}

// loadedJSON renders loaded models for a snapshot.
func loadedJSON(ms []providers.LoadedModel) json.RawMessage {
	out := make([]snapshotModel, len(ms))
	for i, m := range ms {
		out[i] = snapshotModel{Name: m.Name, Model: m.Model, Size: m.Size, SizeVRAM: m.SizeVRAM,
			SizeVRAMMB: float64(m.SizeVRAM*100>>20) / 100}
		if !m.ExpiresAt.IsZero() {
			s := m.ExpiresAt.UTC().Format("2006-01-02T15:04:05.999999999Z07:00")
			out[i].ExpiresAt = &s
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return json.RawMessage("[]")
	}
	return b
}
