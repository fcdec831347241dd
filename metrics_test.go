package logos_test

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers/providertest"
)

const metricsToken = "metrics-token-for-tests"

// scrape reads GET /metrics with the metrics token and returns the samples by
// their full series name (name{labels}).
func (e *env) scrape() map[string]float64 {
	e.t.Helper()
	code, _, body := e.do(http.MethodGet, "/metrics", "", "Authorization", "Bearer "+metricsToken)
	if code != http.StatusOK {
		e.t.Fatalf("GET /metrics with the token: %d %s", code, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			e.t.Fatalf("unparsable sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetricsEndToEnd(t *testing.T) {
	e := newEnv(t, func(c *logos.Config) { c.MetricsToken = metricsToken })
	up := providertest.NewOpenAI(t, providertest.Options{Credential: "sk-upstream"})
	e.deploy("team-model", up.Target(), nil)

	chat := `{"model":"team-model","messages":[{"role":"user","content":"Hi"}]}`
	for range 3 {
		if code, _, body := e.do(http.MethodPost, "/v1/chat/completions", chat); code != http.StatusOK {
			t.Fatalf("chat: %d %s", code, body)
		}
	}
	stream := `{"model":"team-model","stream":true,"messages":[{"role":"user","content":"Hi"}]}`
	if code, _, body := e.do(http.MethodPost, "/v1/chat/completions", stream); code != http.StatusOK {
		t.Fatalf("stream: %d %s", code, body)
	}
	if code, _, _ := e.do(http.MethodPost, "/v1/chat/completions", `{"model":"no-such-model","messages":[]}`); code != http.StatusNotFound {
		t.Fatalf("unknown model: %d, want 404", code)
	}
	recs := e.usage() // every request ended and its record is stored

	// Never served without the token.
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + e.key} {
		code, _, body := e.do(http.MethodGet, "/metrics", "", "Authorization", auth)
		if code != http.StatusUnauthorized {
			t.Fatalf("GET /metrics with Authorization %q: %d, want 401", auth, code)
		}
		if bytes.Contains(body, []byte("logos_requests_total")) {
			t.Fatalf("metrics exposed without the token: %s", body)
		}
	}

	m := e.scrape()
	prov := recs[len(recs)-1].ProviderName
	if prov == "" {
		t.Fatalf("usage record has no provider: %+v", recs[len(recs)-1])
	}
	ok := `logos_requests_total{model="team-model",operation="chat/completions",outcome="success",provider="` + prov + `",status="200"}`
	if m[ok] != 4 {
		t.Fatalf("%s = %v, want 4; scraped:\n%v", ok, m[ok], m)
	}
	refused := `logos_requests_total{model="none",operation="chat/completions",outcome="rejected",provider="none",status="404"}`
	if m[refused] != 1 {
		t.Fatalf("%s = %v, want 1", refused, m[refused])
	}
	for series, want := range map[string]float64{
		"logos_usage_records_dropped_total":                  0,
		"logos_usage_records_accepted_total":                 float64(len(recs)),
		"logos_usage_records_stored_total":                   float64(len(recs)),
		"logos_usage_records_pending":                        0,
		"logos_usage_insert_failures_total":                  0,
		"logos_requests_in_flight":                           0,
		"logos_queue_depth":                                  0,
		"logos_rate_limited_total":                           0,
		"logos_budget_refused_total":                         0,
		`logos_queue_wait_seconds_count{model="team-model"}`: 4,
		`logos_time_to_first_token_seconds_count{model="team-model",provider="` + prov + `"}`: 1,
		"logos_overhead_seconds_count": 4,
		`logos_request_duration_seconds_count{model="team-model",operation="chat/completions",outcome="success",provider="` + prov + `"}`: 4,
	} {
		got, present := m[series]
		if !present || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, present, want)
		}
	}
	if m[`logos_tokens_total{model="team-model",provider="`+prov+`",type="prompt_tokens"}`] <= 0 {
		t.Errorf("no prompt tokens counted for team-model")
	}
}

func TestMetricsWithoutTokenAreNotServed(t *testing.T) {
	e := newEnv(t)
	for _, auth := range []string{"", "Bearer ", "Bearer " + e.key} {
		code, _, body := e.do(http.MethodGet, "/metrics", "", "Authorization", auth)
		if code != http.StatusForbidden || bytes.Contains(body, []byte("logos_")) {
			t.Fatalf("GET /metrics with no token configured, Authorization %q: %d %s, want 403", auth, code, body)
		}
	}
}

func TestMetricsOnInjectedRegisterer(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *logos.Config) { c.Registerer = reg; c.MetricsToken = metricsToken })
	up := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("team-model", up.Target(), nil)
	if code, _, body := e.do(http.MethodPost, "/v1/chat/completions", `{"model":"team-model","messages":[{"role":"user","content":"Hi"}]}`); code != http.StatusOK {
		t.Fatalf("chat: %d %s", code, body)
	}
	e.usage()
	n, err := testutil.GatherAndCount(reg, "logos_requests_total", "logos_usage_records_dropped_total")
	if err != nil || n != 2 {
		t.Fatalf("series on the injected registry = %d, %v; want 2", n, err)
	}
	// The same registry backs /metrics.
	if m := e.scrape(); m["logos_usage_records_accepted_total"] != 1 {
		t.Fatalf("accepted = %v, want 1", m["logos_usage_records_accepted_total"])
	}
	// A second Router cannot register the same metrics on it.
	if _, err := logos.New(logos.Config{Store: e.store, Scheduler: e.sched, Registerer: reg}); err == nil {
		t.Fatal("a second Router registered its metrics on the same registry")
	}
}
