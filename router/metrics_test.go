package router

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestMetricsEndpointAuth(t *testing.T) {
	exposition := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("logos_requests_in_flight 0\n"))
	})
	get := func(h *Handler, auth string) (int, string) {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}

	h := New(Config{Metrics: exposition, MetricsToken: "s3cret-token"})
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"Bearer s3cret-token-longer", http.StatusUnauthorized},
		{"Bearer s3cret-toke", http.StatusUnauthorized},
		{"s3cret-token", http.StatusUnauthorized}, // the scheme is required
		{"Basic s3cret-token", http.StatusUnauthorized},
		{"Bearer s3cret-token", http.StatusOK},
		{"bearer  s3cret-token ", http.StatusOK},
	} {
		code, body := get(h, tc.auth)
		if code != tc.want {
			t.Errorf("Authorization %q: status %d, want %d (%s)", tc.auth, code, tc.want, body)
		}
		if code != http.StatusOK && body == "logos_requests_in_flight 0\n" {
			t.Errorf("Authorization %q: metrics exposed to an unauthenticated caller", tc.auth)
		}
	}

	// No token configured: never served, whatever the caller sends.
	open := New(Config{Metrics: exposition})
	for _, auth := range []string{"", "Bearer ", "Bearer anything"} {
		if code, body := get(open, auth); code != http.StatusForbidden {
			t.Errorf("no token configured, Authorization %q: status %d, want 403 (%s)", auth, code, body)
		}
	}
	// No metrics handler: 404.
	if code, _ := get(New(Config{MetricsToken: "t"}), "Bearer t"); code != http.StatusNotFound {
		t.Errorf("no metrics handler: status %d, want 404", code)
	}
	// Other methods are not served.
	req := httptest.NewRequest(http.MethodPost, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer s3cret-token")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code == http.StatusOK {
		t.Errorf("POST /metrics answered 200")
	}
}
