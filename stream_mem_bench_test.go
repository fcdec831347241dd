package logos_test

import (
	"bufio"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/logos-llm/logos/providers"
)

// BenchmarkOpenStreamMemory measures the memory one open, idle SSE stream
// holds: b.N streams are opened and left waiting for their next event, then
// the goroutine stacks and live heap are read after a collection. Client and
// upstream are in the same process, so "direct" is the baseline the others
// are read against; "proxy" is a bare httputil.ReverseProxy.
//
//	go test -run '^$' -bench OpenStreamMemory -benchtime 2000x .
func BenchmarkOpenStreamMemory(b *testing.B) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant"}}]}` + "\n\n"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	defer close(release)

	run := func(b *testing.B, url, key string) {
		tr := &http.Transport{MaxIdleConnsPerHost: b.N}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		goroutines := runtime.NumGoroutine()
		bodies := make([]*bufio.Reader, 0, b.N)
		resps := make([]*http.Response, 0, b.N)
		for range b.N {
			req, _ := http.NewRequest("POST", url, strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			br := bufio.NewReaderSize(resp.Body, 16)
			if _, err := br.ReadString('\n'); err != nil {
				b.Fatal(err)
			}
			resps = append(resps, resp)
			bodies = append(bodies, br)
		}
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(runtime.NumGoroutine()-goroutines)/float64(b.N), "goroutines/stream")
		b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/float64(b.N), "stack-B/stream")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-B/stream")
		// New goroutines start with a stack the size of the average one at
		// the last collection: deep handler stacks make every goroutine
		// (the transport's readLoop and writeLoop too) start larger.
		start := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
		metrics.Read(start)
		b.ReportMetric(float64(start[0].Value.Uint64()), "stack-start-B")
		for _, r := range resps {
			_ = r.Body.Close()
		}
		runtime.KeepAlive(bodies)
	}

	b.Run("direct", func(b *testing.B) {
		run(b, up.URL+"/v1/chat/completions", "")
	})
	b.Run("proxy", func(b *testing.B) {
		u, _ := url.Parse(up.URL)
		rp := &httputil.ReverseProxy{
			Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(u) },
			Transport:     &http.Transport{MaxIdleConnsPerHost: 10000},
			FlushInterval: -1,
			ErrorLog:      log.New(io.Discard, "", 0), // streams cut at the end
		}
		srv := httptest.NewServer(rp)
		defer srv.Close()
		run(b, srv.URL+"/v1/chat/completions", "")
	})
	b.Run("logos", func(b *testing.B) {
		e := newEnv(b)
		e.deploy("m", providers.Target{Kind: "openai", BaseURL: up.URL + "/v1"}, nil)
		run(b, e.srv.URL+"/v1/chat/completions", e.key)
	})
}
