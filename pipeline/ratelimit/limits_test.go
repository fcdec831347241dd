package ratelimit_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/logos-llm/logos/pipeline/ratelimit"
)

func TestParseLimits(t *testing.T) {
	tests := []struct {
		in       string
		process  ratelimit.Limits
		perModel map[string]ratelimit.Limits
		wantErr  bool
	}{
		{in: ``},
		{in: `null`},
		{in: `{}`},
		{in: `{"budget": 5, "rpm": 60}`},
		{in: `{"requests_per_minute": 60, "tokens_per_minute": 100000}`, process: ratelimit.Limits{RequestsPerMinute: 60, TokensPerMinute: 100000}},
		{
			in:      `{"tokens_per_minute": 10, "models": {"gpt-4o": {"requests_per_minute": 5}, "llama": {"tokens_per_minute": 7, "requests_per_minute": null}, "free": {}}}`,
			process: ratelimit.Limits{TokensPerMinute: 10},
			perModel: map[string]ratelimit.Limits{
				"gpt-4o": {RequestsPerMinute: 5},
				"llama":  {TokensPerMinute: 7},
			},
		},
		{in: `[]`, wantErr: true},
		{in: `{"requests_per_minute": -1}`, wantErr: true},
		{in: `{"requests_per_minute": 1.5}`, wantErr: true},
		{in: `{"tokens_per_minute": "100"}`, wantErr: true},
		{in: `{"models": {"m": {"requests_per_minute": -3}}}`, wantErr: true},
		{in: `{"models": {"m": 5}}`, wantErr: true},
		{in: `{"models": []}`, wantErr: true},
	}
	for _, tc := range tests {
		p, m, err := ratelimit.ParseLimits(json.RawMessage(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseLimits(%s) error = %v, want error: %v", tc.in, err, tc.wantErr)
			continue
		}
		if p != tc.process || !reflect.DeepEqual(m, tc.perModel) {
			t.Errorf("ParseLimits(%s) = %+v, %v; want %+v, %v", tc.in, p, m, tc.process, tc.perModel)
		}
	}
}

func TestLimitsOrAndKey(t *testing.T) {
	got := ratelimit.Limits{RequestsPerMinute: 5}.Or(ratelimit.Limits{RequestsPerMinute: 60, TokensPerMinute: 1000})
	if got != (ratelimit.Limits{RequestsPerMinute: 5, TokensPerMinute: 1000}) {
		t.Errorf("Or = %+v", got)
	}
	if k := ratelimit.Key(42, ""); k != "process:42" {
		t.Errorf("Key(42) = %q", k)
	}
	if k := ratelimit.Key(42, "gpt-4o"); k != "process:42/model:gpt-4o" {
		t.Errorf("Key(42, gpt-4o) = %q", k)
	}
}

func TestSetHeaders(t *testing.T) {
	d := ratelimit.Decision{
		Allowed:    false,
		RetryAfter: 12*time.Second + 300*time.Millisecond,
		Requests:   ratelimit.Quota{Limit: 60, Remaining: 0, Reset: 12*time.Second + 300*time.Millisecond},
		Tokens:     ratelimit.Quota{Limit: 1000, Remaining: 250, Reset: 60 * time.Second},
	}
	h := http.Header{}
	d.SetHeaders(h)
	want := map[string]string{
		"x-ratelimit-limit-requests":     "60",
		"x-ratelimit-remaining-requests": "0",
		"x-ratelimit-reset-requests":     "13s",
		"x-ratelimit-limit-tokens":       "1000",
		"x-ratelimit-remaining-tokens":   "250",
		"x-ratelimit-reset-tokens":       "1m0s",
		"retry-after":                    "13",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	h = http.Header{}
	ratelimit.Decision{Allowed: true, Requests: ratelimit.Quota{Limit: 5, Remaining: 4, Reset: time.Second}}.SetHeaders(h)
	if h.Get("Retry-After") != "" || h.Get("x-ratelimit-limit-tokens") != "" || h.Get("x-ratelimit-remaining-requests") != "4" {
		t.Errorf("admitted request headers = %v", h)
	}
	h = http.Header{}
	ratelimit.Decision{Allowed: false, RetryAfter: 10 * time.Millisecond}.SetHeaders(h)
	if h.Get("Retry-After") != "1" {
		t.Errorf("Retry-After for 10ms = %q, want 1", h.Get("Retry-After"))
	}
}

func TestMerge(t *testing.T) {
	process := ratelimit.Decision{Allowed: true, Requests: ratelimit.Quota{Limit: 100, Remaining: 50, Reset: time.Second}}
	model := ratelimit.Decision{Allowed: false, RetryAfter: 20 * time.Second,
		Requests: ratelimit.Quota{Limit: 10, Remaining: 0, Reset: 20 * time.Second},
		Tokens:   ratelimit.Quota{Limit: 500, Remaining: 3, Reset: 20 * time.Second}}
	got := process.Merge(model)
	want := ratelimit.Decision{Allowed: false, RetryAfter: 20 * time.Second, Requests: model.Requests, Tokens: model.Tokens}
	if got != want {
		t.Errorf("Merge = %+v, want %+v", got, want)
	}
	if got := process.Merge(ratelimit.Decision{Allowed: true}); got != process {
		t.Errorf("Merge with an unlimited decision = %+v, want %+v", got, process)
	}
}
