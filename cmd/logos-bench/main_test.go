package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos/internal/gcfloor"
)

// TestMain lets the test binary serve as the proxy target, as the harness
// binary does: startProxy re-executes os.Executable.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == serveProxyFlag {
		if err := serveProxy(os.Args[2:], os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x) * time.Millisecond
		}
		return d
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	thousand := make([]time.Duration, 1000)
	for i := range thousand {
		thousand[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name string
		d    []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99.9, 7 * time.Millisecond},
		{"median odd", ms(1, 2, 3), 50, 2 * time.Millisecond},
		{"median even", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p100", ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{"p90 of 100", hundred, 90, 90 * time.Millisecond},
		{"p99 of 100", hundred, 99, 99 * time.Millisecond},
		{"p99.9 of 100", hundred, 99.9, 100 * time.Millisecond},
		{"p99.9 of 1000", thousand, 99.9, 999 * time.Millisecond},
		{"tiny p", hundred, 0.001, 1 * time.Millisecond},
	} {
		if got := Percentile(tc.d, tc.p); got != tc.want {
			t.Errorf("%s: Percentile(p=%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
	q := quantiles([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond})
	if q.P50 != 2 || q.Max != 3 || q.P999 != 3 {
		t.Errorf("quantiles = %+v, want p50 2, p99.9 3, max 3", q)
	}
}

func TestParseStatCPU(t *testing.T) {
	// Field 2 holds a space and a parenthesis; utime=150, stime=50 ticks.
	line := "1234 (we ird) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 8 0 100 1000 200\n"
	got, err := parseStatCPU([]byte(line), 100)
	if err != nil || got != 2*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 2s", got, err)
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if rss, err := procPeakRSS(os.Getpid()); err != nil || rss <= 0 {
		t.Errorf("procPeakRSS = %d, %v", rss, err)
	}
}

func postChat(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return resp
}

func TestMockJSON(t *testing.T) {
	srv := httptest.NewServer(NewMockHandler(MockOptions{Chunks: 3, PromptTokens: 5, CompletionTokens: 7}))
	defer srv.Close()
	resp := postChat(t, srv.URL, `{"model":"m1","messages":[{"role":"user","content":"hi"}]}`)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var out struct {
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Message      struct{ Role, Content string }
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage mockUsage `json:"usage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Object != "chat.completion" || out.Model != "m1" || len(out.Choices) != 1 ||
		out.Choices[0].Message.Content != "tok tok tok" || out.Choices[0].FinishReason != "stop" {
		t.Errorf("answer %+v", out)
	}
	if out.Usage != (mockUsage{PromptTokens: 5, CompletionTokens: 7, TotalTokens: 12}) {
		t.Errorf("usage %+v", out.Usage)
	}
}

// readSSE returns the data payloads of an SSE body, checking the framing.
func readSSE(t *testing.T, r io.Reader) []string {
	t.Helper()
	var events []string
	sc := bufio.NewScanner(r)
	expectBlank := false
	for sc.Scan() {
		line := sc.Text()
		if expectBlank {
			if line != "" {
				t.Fatalf("event not followed by a blank line: %q", line)
			}
			expectBlank = false
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("line %q is not a data line", line)
		}
		events = append(events, data)
		expectBlank = true
	}
	if expectBlank {
		t.Fatal("last event not terminated by a blank line")
	}
	return events
}

func TestMockSSE(t *testing.T) {
	srv := httptest.NewServer(NewMockHandler(MockOptions{Chunks: 4, ChunkInterval: time.Millisecond, PromptTokens: 3}))
	defer srv.Close()
	for _, includeUsage := range []bool{false, true} {
		body := `{"model":"m2","stream":true,"messages":[]}`
		if includeUsage {
			body = `{"model":"m2","stream":true,"stream_options":{"include_usage":true},"messages":[]}`
		}
		resp := postChat(t, srv.URL, body)
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("Content-Type %q", ct)
		}
		events := readSSE(t, resp.Body)
		want := 1 + 4 + 1 // role, content, [DONE]
		if includeUsage {
			want++
		}
		if len(events) != want || events[len(events)-1] != "[DONE]" {
			t.Fatalf("include_usage=%v: events %q", includeUsage, events)
		}
		var content strings.Builder
		var usage *mockUsage
		finishes := 0
		for _, e := range events[:len(events)-1] {
			var c struct {
				Object  string `json:"object"`
				Choices []struct {
					Delta        struct{ Content string }
					FinishReason *string `json:"finish_reason"`
				} `json:"choices"`
				Usage *mockUsage `json:"usage"`
			}
			if err := json.Unmarshal([]byte(e), &c); err != nil {
				t.Fatalf("chunk %q: %v", e, err)
			}
			if c.Object != "chat.completion.chunk" {
				t.Errorf("object %q", c.Object)
			}
			for _, ch := range c.Choices {
				content.WriteString(ch.Delta.Content)
				if ch.FinishReason != nil {
					finishes++
				}
			}
			if c.Usage != nil {
				if len(c.Choices) != 0 {
					t.Errorf("usage chunk has choices: %q", e)
				}
				usage = c.Usage
			}
		}
		if content.String() != "tok tok tok tok " || finishes != 1 {
			t.Errorf("content %q, %d finish reasons", content.String(), finishes)
		}
		if includeUsage != (usage != nil) {
			t.Fatalf("include_usage=%v but usage %v", includeUsage, usage)
		}
		if usage != nil && *usage != (mockUsage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}) {
			t.Errorf("usage %+v", *usage)
		}
	}
}

func TestMockLatency(t *testing.T) {
	srv := httptest.NewServer(NewMockHandler(MockOptions{Latency: 30 * time.Millisecond, Chunks: 3, ChunkInterval: 20 * time.Millisecond}))
	defer srv.Close()
	c := newClient(1, 5*time.Second)
	s, err := doRequest(context.Background(), c, srv.URL+"/v1/chat/completions", "", chatBody(true), true, time.Now())
	if err != nil || !s.ok {
		t.Fatalf("doRequest = %+v, %v", s, err)
	}
	if s.ttfb < 30*time.Millisecond || s.latency < 70*time.Millisecond || s.latency < s.ttfb+40*time.Millisecond {
		t.Errorf("ttfb %v, latency %v; want ≥30 ms and ≥ttfb+40 ms", s.ttfb, s.latency)
	}
	// The mock's 30 ms before the first byte are its own, not the path's.
	for _, stream := range []bool{true, false} {
		s, err := doRequest(context.Background(), c, srv.URL+"/v1/chat/completions", "", chatBody(stream), stream, time.Now())
		if err != nil || !s.ok {
			t.Fatalf("stream %v: doRequest = %+v, %v", stream, s, err)
		}
		if s.overUpstream < 0 || s.overUpstream > s.ttfb-30*time.Millisecond {
			t.Errorf("stream %v: first byte over upstream %v with ttfb %v; want 0 to ttfb-30ms", stream, s.overUpstream, s.ttfb)
		}
	}
}

func TestOpenLoopCountsFromSchedule(t *testing.T) {
	// The target takes 50 ms, but only one request is served at a time;
	// open loop at 100/s must see the queue grow in its latencies.
	block := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		block <- struct{}{}
		time.Sleep(50 * time.Millisecond)
		<-block
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	res, err := RunLoad(context.Background(), newClient(64, 5*time.Second), srv.URL, "", LoadOptions{Mode: "open", RPS: 100, Duration: 300 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 30 || res.Errors != 0 {
		t.Fatalf("requests %d errors %d (%s), want 30 and 0", res.Requests, res.Errors, res.FirstError)
	}
	q := quantiles(res.Latency)
	// The 30th request is served about 1.5 s after the first start but was
	// scheduled 0.29 s after it.
	if q.Max < 1000 {
		t.Errorf("max latency %v ms: queueing hidden", q.Max)
	}
}

func TestWarmupIsSentNotSampled(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		time.Sleep(10 * time.Millisecond)
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	res, err := RunLoad(context.Background(), newClient(4, 5*time.Second), srv.URL, "", LoadOptions{
		Mode: "closed", Clients: 4, Warmup: 200 * time.Millisecond, Duration: 200 * time.Millisecond, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.WarmupRequests == 0 || res.Requests == 0 {
		t.Fatalf("warm-up %d, measured %d requests; want both > 0", res.WarmupRequests, res.Requests)
	}
	if got := int64(res.Requests + res.WarmupRequests); got != served.Load() {
		t.Errorf("counted %d requests, server saw %d", got, served.Load())
	}
	if len(res.Latency) != res.Requests {
		t.Errorf("%d latency samples for %d measured requests", len(res.Latency), res.Requests)
	}
	if res.Elapsed > 400*time.Millisecond {
		t.Errorf("elapsed %v includes the warm-up", res.Elapsed)
	}
}

func TestSmokeDirectAndProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, stream := range []bool{false, true} {
		rep, err := Run(ctx, Config{
			Load:    LoadOptions{Mode: "closed", Clients: 2, Duration: 300 * time.Millisecond, Stream: stream, Timeout: 5 * time.Second},
			Mock:    MockOptions{Chunks: 5},
			Rounds:  1,
			Targets: []string{"direct", "proxy", "logos-postgres"},
			Command: "test",
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Targets) != 2 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "logos-postgres skipped") {
			t.Fatalf("targets %+v notes %q", rep.Targets, rep.Notes)
		}
		auto := gcfloor.AutoMinHeap(func(string) string { return "" }, os.ReadFile)
		if want := fmt.Sprintf("same as logosd's (GC floor %d MiB)", auto>>20); rep.Settings.ProxyGC != want {
			t.Errorf("proxy GC %q, want logosd's default floor", rep.Settings.ProxyGC)
		}
		for _, tr := range rep.Targets {
			if tr.Requests < 10 || tr.Errors != 0 || tr.RPS <= 0 {
				t.Errorf("%s: %d requests, %d errors (%s), %v req/s", tr.Name, tr.Requests, tr.Errors, tr.FirstError, tr.RPS)
			}
			l := tr.Latency
			if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max && l.Max < 5000) {
				t.Errorf("%s: latency %+v", tr.Name, l)
			}
			if stream != (tr.TTFB != nil) {
				t.Errorf("%s: stream %v, TTFB %v", tr.Name, stream, tr.TTFB)
			}
			if tr.TTFB != nil && (tr.TTFB.P50 <= 0 || tr.TTFB.P50 > l.P50) {
				t.Errorf("%s: TTFB %+v vs latency %+v", tr.Name, *tr.TTFB, l)
			}
			if stream != (tr.TTFBOverUpstream != nil) {
				t.Errorf("%s: stream %v, TTFB over upstream %v", tr.Name, stream, tr.TTFBOverUpstream)
			}
			if o := tr.TTFBOverUpstream; o != nil && (o.P50 <= 0 || o.P50 > tr.TTFB.P50 || o.Max > tr.TTFB.Max) {
				t.Errorf("%s: TTFB over upstream %+v vs TTFB %+v", tr.Name, *o, *tr.TTFB)
			}
			proc := tr.CPUSecondsPer1k != nil && tr.PeakRSSMB != nil && *tr.PeakRSSMB > 1
			if (tr.Name == "proxy") != proc {
				t.Errorf("%s: CPU/1k %v, RSS %v", tr.Name, tr.CPUSecondsPer1k, tr.PeakRSSMB)
			}
			if tr.UsageRecords != nil {
				t.Errorf("%s: usage records reported", tr.Name)
			}
			if tr.Overhead != nil {
				t.Errorf("%s: X-Logos-Overhead-Ms reported: %+v", tr.Name, *tr.Overhead)
			}
		}
		dir := t.TempDir()
		if err := rep.Write(dir); err != nil {
			t.Fatal(err)
		}
		md, _ := os.ReadFile(dir + "/report.md")
		for _, want := range []string{"| direct |", "| proxy |", "p99.9 ms", "logos-postgres skipped"} {
			if !strings.Contains(string(md), want) {
				t.Errorf("report.md lacks %q:\n%s", want, md)
			}
		}
		var back Report
		js, _ := os.ReadFile(dir + "/report.json")
		if err := json.Unmarshal(js, &back); err != nil || len(back.Targets) != 2 {
			t.Errorf("report.json: %v, %d targets", err, len(back.Targets))
		}
	}
}

// TestSmokeLogosSQLite builds and starts logosd; skipped with -short.
func TestSmokeLogosSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts logosd")
	}
	// Compiling logosd is not part of the run's budget: under "go test
	// -race ./..." on a loaded machine it alone can take minutes, and go
	// test's -timeout bounds it.
	bin, err := buildLogosd(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{
		Logosd:  bin,
		Load:    LoadOptions{Mode: "open", RPS: 200, Duration: 300 * time.Millisecond, Stream: true, Timeout: 5 * time.Second},
		Mock:    MockOptions{Chunks: 3},
		Rounds:  1,
		Targets: []string{"logos-sqlite"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := rep.Targets[0]
	if tr.Requests != 60 || tr.Errors != 0 {
		t.Fatalf("%d requests, %d errors (%s)", tr.Requests, tr.Errors, tr.FirstError)
	}
	if tr.UsageRecords == nil || *tr.UsageRecords != int64(tr.RequestsSent) || tr.RequestsSent < 61 {
		t.Errorf("usage records %v, requests sent %d, count error %q", tr.UsageRecords, tr.RequestsSent, tr.UsageCountFailed)
	}
	if tr.DroppedRecords == nil || *tr.DroppedRecords != 0 {
		t.Errorf("dropped-records metric %v (scrape error %q), want 0", tr.DroppedRecords, tr.DroppedScrapeError)
	}
	// Every answer carried X-Logos-Overhead-Ms, and Logos's own time is a
	// part of the time to the first byte.
	if o := tr.Overhead; o == nil || o.P50 <= 0 || o.Max > tr.TTFB.Max {
		t.Errorf("overhead %+v, TTFB %+v", tr.Overhead, tr.TTFB)
	}
	// logosd passes the mock's X-Mock-Wait-Us through, so every answer
	// has a first-byte overhead over the upstream.
	if tr.TTFBOverUpstream == nil {
		t.Errorf("no TTFB over upstream through logosd")
	}
}

func TestOverheadHeader(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"0.125": 125 * time.Microsecond, "12": 12 * time.Millisecond, "": -1, "x": -1, "-1": -1, "NaN": -1, "+Inf": -1,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("X-Logos-Overhead-Ms", v)
		}
		if got := overheadHeader(h); got != want {
			t.Errorf("overheadHeader(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestParseEnv(t *testing.T) {
	got, err := parseEnv(" GOMEMLIMIT=350MiB  GOGC=50 ")
	if err != nil || len(got) != 2 || got[0] != "GOMEMLIMIT=350MiB" || got[1] != "GOGC=50" {
		t.Errorf("parseEnv = %q, %v", got, err)
	}
	for _, bad := range []string{"GOGC", "=50", "A=1 B"} {
		if _, err := parseEnv(bad); err == nil {
			t.Errorf("parseEnv(%q): no error", bad)
		}
	}
}

func TestCPUByRound(t *testing.T) {
	rep := &Report{Targets: []TargetReport{
		{Name: "direct"},
		{Name: "proxy", CPUPer1kByRound: []float64{0.2, 0.4}},
		{Name: "logos-sqlite", CPUPer1kByRound: []float64{0.25, 0.44}},
	}}
	var b strings.Builder
	if err := rep.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| target | round 1 | round 2 |",
		"| proxy | 0.200 | 0.400 |",
		"| logos-sqlite | 0.250 (1.25×) | 0.440 (1.10×) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "| direct | -") {
		t.Errorf("a target without CPU figures got a by-round row:\n%s", md)
	}

	one := &Report{Targets: []TargetReport{{Name: "proxy", CPUPer1kByRound: []float64{0.2}}}}
	b.Reset()
	if err := one.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "by round") {
		t.Errorf("a one-round report has a by-round table:\n%s", b.String())
	}
}

func TestMetricValue(t *testing.T) {
	text := "# HELP logos_usage_records_dropped_total Usage records lost.\n# TYPE logos_usage_records_dropped_total counter\nlogos_usage_records_dropped_total_x 9\nlogos_usage_records_dropped_total 3\n"
	if v, err := metricValue(strings.NewReader(text), droppedMetric); err != nil || v != 3 {
		t.Errorf("metricValue = %v, %v; want 3", v, err)
	}
	if _, err := metricValue(strings.NewReader("other 1\n"), droppedMetric); err == nil {
		t.Error("a missing metric gave no error")
	}
}
