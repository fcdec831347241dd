package openaicompat_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/openaicompat"
)

// vllmMetrics is an excerpt of a vLLM (V1) /metrics page serving two models.
const vllmMetrics = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
vllm:num_requests_running{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 2.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.0
vllm:num_requests_waiting{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.4375
vllm:kv_cache_usage_perc{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.125
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 123456.0
# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 12345.0
`

// vllmV0Metrics is the older page (gpu_cache_usage_perc).
const vllmV0Metrics = `# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 1.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} 4.0
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="m"} 0.9
`

func TestParseVLLMMetrics(t *testing.T) {
	for _, tc := range []struct {
		name, page string
		want       openaicompat.VLLMMetrics
	}{
		{"v1", vllmMetrics, openaicompat.VLLMMetrics{Running: 5, Waiting: 7, QueueKnown: true, KVCacheUsage: 0.4375, KVCacheKnown: true}},
		{"v0", vllmV0Metrics, openaicompat.VLLMMetrics{Running: 1, Waiting: 4, QueueKnown: true, KVCacheUsage: 0.9, KVCacheKnown: true}},
		{"idle", "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 0\n", openaicompat.VLLMMetrics{QueueKnown: true}},
		{"not vLLM", "# TYPE up gauge\nup 1\n", openaicompat.VLLMMetrics{}},
	} {
		got, err := openaicompat.ParseVLLMMetrics(strings.NewReader(tc.page))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: ParseVLLMMetrics = %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if _, err := openaicompat.ParseVLLMMetrics(strings.NewReader("<html>not metrics{</html>\n")); err == nil {
		t.Error("ParseVLLMMetrics of HTML succeeded")
	}
}

func TestParseIsSleeping(t *testing.T) {
	for body, want := range map[string]providers.Sleep{
		`{"is_sleeping":true}`: providers.Asleep, `{"is_sleeping":false}`: providers.Awake,
		`{}`: providers.SleepUnknown, `Not Found`: providers.SleepUnknown,
	} {
		if got := openaicompat.ParseIsSleeping([]byte(body)); got != want {
			t.Errorf("ParseIsSleeping(%s) = %v, want %v", body, got, want)
		}
	}
}

func TestPollStateVLLM(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		switch r.URL.Path {
		case "/metrics":
			_, _ = w.Write([]byte(vllmMetrics))
		case "/is_sleeping":
			_, _ = w.Write([]byte(`{"is_sleeping":true}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	p := openaicompat.New()
	tgt := providers.Target{Kind: providers.KindOpenAICompatible, BaseURL: srv.URL + "/v1"}
	for _, admin := range []string{srv.URL, srv.URL + "/metrics", srv.URL + "/metrics/"} {
		paths = nil
		st, err := p.PollState(context.Background(), srv.Client(), tgt, providers.PollOptions{AdminURL: admin, SleepMode: true})
		if err != nil {
			t.Fatalf("%s: %v", admin, err)
		}
		if !st.QueueKnown || st.Running != 5 || st.Waiting != 7 || st.KVCacheUsage != 0.4375 || st.Sleep != providers.Asleep || st.LoadedKnown {
			t.Errorf("%s: state = %+v", admin, st)
		}
		if strings.Join(paths, " ") != "/metrics /is_sleeping" {
			t.Errorf("%s: requested %v", admin, paths)
		}
	}
	paths = nil
	st, err := p.PollState(context.Background(), srv.Client(), tgt, providers.PollOptions{AdminURL: srv.URL})
	if err != nil || st.Sleep != providers.SleepUnknown || len(paths) != 1 {
		t.Errorf("without sleep mode: %+v, %v, requests %v; want no /is_sleeping", st, err, paths)
	}
	if _, err := p.PollState(context.Background(), srv.Client(), tgt, providers.PollOptions{}); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("without a metrics URL: %v, want ErrUnsupported", err)
	}
	if _, err := p.PollState(context.Background(), srv.Client(), tgt, providers.PollOptions{AdminURL: srv.URL + "/nothing/here"}); !errors.Is(err, openaicompat.ErrTelemetryStatus) {
		t.Errorf("against a 404: %v, want ErrTelemetryStatus", err)
	}
}

func TestTelemetryErrorsHideSecrets(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	p := openaicompat.New()
	tgt := providers.Target{Kind: providers.KindOpenAICompatible, BaseURL: srv.URL, Credential: "cred-123"}
	admin := strings.Replace(srv.URL, "http://", "http://user:pw-456@", 1) + "/metrics?token=tok-789"
	_, err := p.PollState(context.Background(), srv.Client(), tgt, providers.PollOptions{AdminURL: admin})
	if err == nil {
		t.Fatal("PollState against a 404 succeeded")
	}
	for _, secret := range []string{"cred-123", "pw-456", "tok-789"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q shows %s", err, secret)
		}
	}
	_, err = p.PollState(context.Background(), srv.Client(), tgt, providers.PollOptions{AdminURL: "http://user:pw-456@127.0.0.1:1/metrics?token=tok-789"})
	if err == nil || strings.Contains(err.Error(), "pw-456") || strings.Contains(err.Error(), "tok-789") {
		t.Errorf("transport error %v shows a secret", err)
	}
}
