package logos_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/logos-llm/logos/providers"
)

// BenchmarkRouterChat measures one non-streaming chat request through the
// Router's handler (auth, body checks, routing, scheduling, forwarding,
// metering, usage hand-off) against an in-process upstream on loopback.
//
//	go test -run '^$' -bench RouterChat -benchmem .
func BenchmarkRouterChat(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`))
	}))
	defer up.Close()
	e := newEnv(b)
	e.deploy("m", providers.Target{Kind: "openai", BaseURL: up.URL + "/v1"}, nil)
	body := `{"model":"m","messages":[{"role":"user","content":"Hello there"}]}`
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.router.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d %s", rec.Code, rec.Body)
		}
	}
}
