package router

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCORSOrigins(t *testing.T) {
	got, err := ParseCORSOrigins(" https://App.Example.com/ , http://localhost:3000,https://app.example.com,")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"https://app.example.com", "http://localhost:3000"}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if got, _ := ParseCORSOrigins(""); got != nil {
		t.Errorf("empty list = %v", got)
	}
	for _, bad := range []string{"example.com", "ftp://x.org", "https://x.org/path", "https://user@x.org", "https://", "https://x.org?q=1"} {
		if _, err := ParseCORSOrigins(bad); !errors.Is(err, ErrInvalidOrigin) {
			t.Errorf("ParseCORSOrigins(%q) = %v, want ErrInvalidOrigin", bad, err)
		}
	}
}

// corsDo sends a request with the given headers through a Handler allowing
// origins.
func corsDo(t *testing.T, origins []string, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	e := newIdentityEnv(t)
	h := New(Config{Store: e.st, CORSOrigins: origins})
	req := httptest.NewRequest(method, path, strings.NewReader("{}"))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if method == "POST" {
		req.Header.Set("Authorization", "Bearer "+e.rootKey)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestCORS(t *testing.T) {
	const app = "https://app.example.com"
	preflight := map[string]string{"Origin": app, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}

	t.Run("off by default", func(t *testing.T) {
		w := corsDo(t, nil, "OPTIONS", "/logosdb/get_role", preflight)
		if w.Header().Get("Access-Control-Allow-Origin") != "" || w.Code == http.StatusNoContent {
			t.Errorf("preflight without configured origins: %d %v", w.Code, w.Header())
		}
		w = corsDo(t, nil, "POST", "/logosdb/get_role", map[string]string{"Origin": app})
		if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("cross-origin POST without configured origins: %d %v", w.Code, w.Header())
		}
	})
	t.Run("preflight from an allowed origin", func(t *testing.T) {
		w := corsDo(t, []string{app}, "OPTIONS", "/logosdb/get_role", preflight)
		h := w.Header()
		if w.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != app ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
			h.Get("Access-Control-Allow-Headers") != "authorization, content-type" || h.Get("Access-Control-Max-Age") == "" ||
			!slices.Contains(h.Values("Vary"), "Origin") {
			t.Errorf("preflight: %d %v", w.Code, h)
		}
		if h.Get("Access-Control-Allow-Credentials") != "" {
			t.Error("credentials allowed: Logos authenticates with bearer keys, never cookies")
		}
	})
	t.Run("actual request from an allowed origin", func(t *testing.T) {
		w := corsDo(t, []string{app}, "POST", "/logosdb/get_role", map[string]string{"Origin": "https://APP.example.com"})
		if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "https://APP.example.com" || w.Header().Get("Access-Control-Expose-Headers") == "" {
			t.Errorf("allowed POST: %d %v", w.Code, w.Header())
		}
		if w.Header().Get("Access-Control-Allow-Credentials") != "" {
			t.Error("credentials allowed")
		}
	})
	t.Run("other origin", func(t *testing.T) {
		other := map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
		w := corsDo(t, []string{app}, "OPTIONS", "/logosdb/get_role", other)
		if w.Code != http.StatusForbidden || w.Header().Get("Access-Control-Allow-Origin") != "" || !strings.Contains(w.Body.String(), "cors_origin_not_allowed") {
			t.Errorf("preflight from another origin: %d %v %s", w.Code, w.Header(), w.Body)
		}
		w = corsDo(t, []string{app}, "POST", "/logosdb/get_role", map[string]string{"Origin": "https://evil.example"})
		if w.Header().Get("Access-Control-Allow-Origin") != "" || !slices.Contains(w.Header().Values("Vary"), "Origin") {
			t.Errorf("POST from another origin: %v", w.Header())
		}
	})
	t.Run("any origin", func(t *testing.T) {
		w := corsDo(t, []string{"*"}, "OPTIONS", "/v1/chat/completions", map[string]string{"Origin": "https://x.example", "Access-Control-Request-Method": "POST"})
		if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("wildcard preflight: %d %v", w.Code, w.Header())
		}
	})
	t.Run("bad requested headers", func(t *testing.T) {
		h := map[string]string{"Origin": app, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x\r\ny"}
		if w := corsDo(t, []string{app}, "OPTIONS", "/logosdb/get_role", h); w.Header().Get("Access-Control-Allow-Headers") != "" {
			t.Errorf("echoed invalid header list: %v", w.Header())
		}
	})
	t.Run("plain OPTIONS is not a preflight", func(t *testing.T) {
		w := corsDo(t, []string{app}, "OPTIONS", "/logosdb/get_role", map[string]string{"Origin": app})
		if w.Code == http.StatusNoContent {
			t.Errorf("OPTIONS without Access-Control-Request-Method answered as a preflight")
		}
	})
}
