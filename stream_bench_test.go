package logos_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos/providers"
)

// BenchmarkStreamEventDelay measures how long one SSE event takes from the
// upstream's flush to the client's read, directly and through Logos, one event
// in flight at a time. The difference is what Logos adds per event; the goal
// is well under 1 ms (nothing is buffered beyond the event).
//
//	go test -run '^$' -bench StreamEventDelay -benchtime 2000x .
func BenchmarkStreamEventDelay(b *testing.B) {
	// Each run gets its own channels, so a handler left from an earlier run
	// cannot take its events.
	type session struct {
		next chan struct{}
		sent chan time.Time
	}
	var current atomic.Pointer[session]
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next, sent := current.Load().next, current.Load().sent
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		// A first event at once, as real streams send the role chunk: Logos
		// commits its response on the first upstream byte (spec §12.40).
		_, _ = w.Write([]byte(`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant"}}]}` + "\n\n"))
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case _, ok := <-next:
				if !ok {
					_, _ = w.Write([]byte("data: [DONE]\n\n"))
					return
				}
			}
			_, _ = w.Write([]byte(`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"tok"}}]}` + "\n\n"))
			sent <- time.Now()
			w.(http.Flusher).Flush()
		}
	}))
	defer up.Close()

	run := func(b *testing.B, url, key string) {
		sess := &session{next: make(chan struct{}), sent: make(chan time.Time, 1)}
		current.Store(sess)
		next, sent := sess.next, sess.sent
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for range 2 { // the first event and its blank line
			if _, err := br.ReadString('\n'); err != nil {
				b.Fatal(err)
			}
		}
		delays := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			next <- struct{}{}
			if _, err := br.ReadString('\n'); err != nil { // the data line
				b.Fatal(err)
			}
			got := time.Now()
			delays = append(delays, got.Sub(<-sent))
			if _, err := br.ReadString('\n'); err != nil { // the blank line
				b.Fatal(err)
			}
		}
		b.StopTimer()
		slices.Sort(delays)
		var sum time.Duration
		for _, d := range delays {
			sum += d
		}
		b.ReportMetric(float64(sum.Microseconds())/float64(len(delays)), "µs-mean-delay")
		b.ReportMetric(float64(delays[len(delays)/2].Microseconds()), "µs-p50-delay")
		b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds()), "µs-p99-delay")
		b.ReportMetric(float64(delays[len(delays)-1].Microseconds()), "µs-max-delay")
	}

	b.Run("direct", func(b *testing.B) {
		run(b, up.URL+"/v1/chat/completions", "")
	})
	b.Run("through-logos", func(b *testing.B) {
		e := newEnv(b)
		e.deploy("m", providers.Target{Kind: "openai", BaseURL: up.URL + "/v1"}, nil)
		run(b, e.srv.URL+"/v1/chat/completions", e.key)
	})
}
