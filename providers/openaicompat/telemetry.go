package openaicompat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/logos-llm/logos/providers"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var (
	_ providers.StatePoller     = (*Provider)(nil)
	_ providers.RateLimitReader = (*Provider)(nil)
)

// MaxTelemetryBytes bounds the monitoring responses read by pollers.
const MaxTelemetryBytes = 8 << 20

// ReadRateLimit reads OpenAI's x-ratelimit-* headers and a 429's
// Retry-After; see providers.ReadRateLimitHeaders.
func (*Provider) ReadRateLimit(status int, h http.Header, now time.Time, rl *providers.RateLimit) bool {
	return providers.ReadRateLimitHeaders(status, h, now, rl)
}

// PollState reads a vLLM server's state: o.AdminURL is its metrics URL (a
// URL ending in /metrics is used as is, any other gets /metrics appended),
// giving the running and waiting requests and the KV-cache use; with
// o.SleepMode, /is_sleeping on the same server gives the sleep state (a
// failure there leaves it unknown). Without an AdminURL it returns
// providers.ErrUnsupported.
func (*Provider) PollState(ctx context.Context, client *http.Client, t providers.Target, o providers.PollOptions) (providers.State, error) {
	var st providers.State
	if strings.TrimSpace(o.AdminURL) == "" {
		return st, fmt.Errorf("openaicompat: no metrics URL: %w", providers.ErrUnsupported)
	}
	metricsURL, err := ParseBaseURL(o.AdminURL, t.Credential)
	if err != nil {
		return st, errorf(t.Credential, "openaicompat: metrics URL: %v", err)
	}
	// root is the server (where /is_sleeping lives), metricsURL its page.
	root, _ := TrimPathSuffix(metricsURL, "/metrics")
	if metricsURL, err = JoinPath(root, "metrics"); err != nil {
		return st, errorf(t.Credential, "openaicompat: metrics URL: %v", err)
	}
	body, err := GetTelemetry(ctx, client, "openaicompat", metricsURL, t, BearerAuth())
	if err != nil {
		return st, err
	}
	m, err := ParseVLLMMetrics(bytes.NewReader(body))
	if err != nil {
		return st, err
	}
	st.Running, st.Waiting, st.QueueKnown = m.Running, m.Waiting, m.QueueKnown
	st.KVCacheUsage, st.KVCacheKnown = m.KVCacheUsage, m.KVCacheKnown
	if o.SleepMode {
		if u, err := JoinPath(root, "is_sleeping"); err == nil {
			if b, err := GetTelemetry(ctx, client, "openaicompat", u, t, BearerAuth()); err == nil {
				st.Sleep = ParseIsSleeping(b)
			}
		}
	}
	return st, nil
}

// VLLMMetrics are the figures Logos reads from a vLLM /metrics page.
type VLLMMetrics struct {
	// Running and Waiting sum vllm:num_requests_running and
	// vllm:num_requests_waiting over every model served; QueueKnown says
	// at least one of them was present.
	Running, Waiting int
	QueueKnown       bool
	// KVCacheUsage is the highest vllm:kv_cache_usage_perc (vLLM V1) or
	// vllm:gpu_cache_usage_perc (V0) as a fraction 0..1.
	KVCacheUsage float64
	KVCacheKnown bool
}

// ParseVLLMMetrics reads a vLLM /metrics page in the Prometheus text format.
// A page without vLLM's metrics is not an error: its figures stay unknown.
func ParseVLLMMetrics(r io.Reader) (VLLMMetrics, error) {
	var m VLLMMetrics
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return m, fmt.Errorf("openaicompat: reading vLLM metrics: %w", err)
	}
	sum := func(name string) (float64, bool) {
		f := families[name]
		if f == nil || len(f.GetMetric()) == 0 {
			return 0, false
		}
		var s float64
		for _, mt := range f.GetMetric() {
			s += metricValue(mt.GetGauge().GetValue(), mt.GetCounter().GetValue(), mt.GetUntyped().GetValue())
		}
		return s, true
	}
	running, okR := sum("vllm:num_requests_running")
	waiting, okW := sum("vllm:num_requests_waiting")
	if okR || okW {
		m.Running, m.Waiting, m.QueueKnown = int(math.Round(running)), int(math.Round(waiting)), true
	}
	for _, name := range []string{"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"} {
		f := families[name]
		if f == nil {
			continue
		}
		for _, mt := range f.GetMetric() {
			v := metricValue(mt.GetGauge().GetValue(), 0, mt.GetUntyped().GetValue())
			if !m.KVCacheKnown || v > m.KVCacheUsage {
				m.KVCacheUsage, m.KVCacheKnown = v, true
			}
		}
		if m.KVCacheKnown {
			break
		}
	}
	return m, nil
}

// metricValue returns the one non-zero of a metric's typed values (only one
// is set for a metric).
func metricValue(vs ...float64) float64 {
	for _, v := range vs {
		if v != 0 && !math.IsNaN(v) {
			return v
		}
	}
	return 0
}

// ParseIsSleeping reads vLLM's /is_sleeping answer ({"is_sleeping": true});
// anything else is unknown.
func ParseIsSleeping(body []byte) providers.Sleep {
	var v struct {
		IsSleeping *bool `json:"is_sleeping"`
	}
	if json.Unmarshal(body, &v) != nil || v.IsSleeping == nil {
		return providers.SleepUnknown
	}
	if *v.IsSleeping {
		return providers.Asleep
	}
	return providers.Awake
}

// ErrTelemetryStatus is wrapped by GetTelemetry's error for an HTTP status
// other than 200.
var ErrTelemetryStatus = errors.New("unexpected status")

// GetTelemetry sends GET u with t's credential (def when t names no auth
// header) and returns the body of a 200 answer, at most MaxTelemetryBytes.
// pkg prefixes errors, which never contain the credential or u's user
// information.
func GetTelemetry(ctx context.Context, client *http.Client, pkg string, u *url.URL, t providers.Target, def DefaultAuth) ([]byte, error) {
	req, err := NewHTTPRequest(ctx, pkg, http.MethodGet, u, t, providers.Call{Method: http.MethodGet}, def)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry user information
		}
		return nil, errorf(t.Credential, "%s: GET %s: %v", pkg, logURL(u), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("%s: GET %s: %w %d", pkg, logURL(u), ErrTelemetryStatus, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxTelemetryBytes+1))
	if err != nil {
		return nil, errorf(t.Credential, "%s: GET %s: reading body: %v", pkg, logURL(u), err)
	}
	if len(body) > MaxTelemetryBytes {
		return nil, fmt.Errorf("%s: GET %s: answer larger than %d bytes", pkg, logURL(u), MaxTelemetryBytes)
	}
	return body, nil
}

// logURL is u as errors may show it: scheme, host and path, without user
// information or query (either may carry a secret).
func logURL(u *url.URL) string {
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return c.String()
}
