package oaierr

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	e := New(429, "slow down").WithCode("rate_limited")
	e.RetryAfter = 7
	Write(rec, e)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "7" || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d headers %v", rec.Code, rec.Header())
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{"error": {"message": "slow down", "type": "rate_limit_error", "param": nil, "code": "rate_limited"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("body (-want +got):\n%s", d)
	}
}

func TestTypeFor(t *testing.T) {
	for status, want := range map[int]string{
		400: "invalid_request_error", 401: "authentication_error", 402: "insufficient_quota",
		403: "permission_error", 404: "not_found_error", 405: "invalid_request_error",
		409: "conflict_error", 413: "invalid_request_error", 422: "invalid_request_error",
		429: "rate_limit_error", 500: "api_error", 502: "api_error", 503: "api_error", 504: "timeout_error",
	} {
		if got := TypeFor(status); got != want {
			t.Errorf("TypeFor(%d) = %q, want %q", status, got, want)
		}
	}
}
