package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// LoadOptions describe one load run against one target.
type LoadOptions struct {
	// Mode is "closed" (Clients goroutines sending back to back) or "open"
	// (RPS request starts a second, whatever the answers).
	Mode     string
	Clients  int
	RPS      float64
	Duration time.Duration
	// Stream asks for SSE answers.
	Stream bool
	// Timeout bounds one request.
	Timeout time.Duration
	// MaxInFlight bounds the requests open at once in open-loop mode.
	MaxInFlight int
	// Warmup comes before Duration: closed-loop clients start evenly spread
	// over it (so thousands of clients do not all connect at once) and
	// requests started in it are sent but not sampled.
	Warmup time.Duration
}

// sample is the outcome of one request.
type sample struct {
	latency time.Duration // to the last byte, from the (scheduled) start
	ttfb    time.Duration // to the first body byte
	// overhead is the answer's X-Logos-Overhead-Ms (Logos's own time on
	// the request), -1 when it carried none.
	overhead time.Duration
	// overUpstream is the time from sending the request to its first body
	// byte less the mock's X-Mock-Wait-Us: what everything between client
	// and mock added to the first byte. -1 when the answer carried no wait.
	overUpstream time.Duration
	ok           bool
	warmup       bool // started during the warm-up: counted, not sampled
}

// LoadResult is what one load run measured.
type LoadResult struct {
	Requests int           // requests sent, errors included
	Errors   int           // transport errors, non-2xx answers, streams without [DONE]
	Elapsed  time.Duration // from the first start to the last answer
	Latency  []time.Duration
	TTFB     []time.Duration
	// Overhead holds the X-Logos-Overhead-Ms values of the answers that
	// carried one (only Logos sends it).
	Overhead []time.Duration
	// OverUpstream holds each answer's time to first byte, counted from
	// when the request was sent, less the mock's own wait before its first
	// byte (X-Mock-Wait-Us): the first-byte overhead of the path.
	OverUpstream []time.Duration
	// WarmupRequests were sent during the warm-up and are not in the
	// other figures.
	WarmupRequests int
	// FirstError is one error message, for the report.
	FirstError string
}

// Merge adds o's requests and samples to r.
func (r *LoadResult) Merge(o LoadResult) {
	r.Requests += o.Requests
	r.WarmupRequests += o.WarmupRequests
	r.Errors += o.Errors
	r.Elapsed += o.Elapsed
	r.Latency = append(r.Latency, o.Latency...)
	r.TTFB = append(r.TTFB, o.TTFB...)
	r.Overhead = append(r.Overhead, o.Overhead...)
	r.OverUpstream = append(r.OverUpstream, o.OverUpstream...)
	if r.FirstError == "" {
		r.FirstError = o.FirstError
	}
}

// newClient returns a keep-alive client for clients concurrent requests to
// one host.
func newClient(clients int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        clients + 16,
		MaxIdleConnsPerHost: clients + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// chatBody returns the request body every load request sends.
func chatBody(stream bool) []byte {
	if stream {
		return []byte(`{"model":"bench-model","messages":[{"role":"user","content":"Say something."}],"stream":true,"stream_options":{"include_usage":true}}`)
	}
	return []byte(`{"model":"bench-model","messages":[{"role":"user","content":"Say something."}]}`)
}

var doneMarker = []byte("[DONE]")

// doRequest sends one chat completion to url and reads the whole answer.
// Times are measured from start, which in open-loop mode is the scheduled
// start rather than the moment the request left.
func doRequest(ctx context.Context, c *http.Client, url, key string, body []byte, stream bool, start time.Time) (sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return sample{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	sent := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return sample{latency: time.Since(start), overUpstream: -1}, err
	}
	defer resp.Body.Close()
	var (
		s    sample
		buf  [16 << 10]byte
		tail []byte
	)
	s.overhead = overheadHeader(resp.Header)
	s.overUpstream = -1
	wait := mockWait(resp.Header)
	for {
		n, rerr := resp.Body.Read(buf[:])
		if n > 0 {
			if s.ttfb == 0 {
				now := time.Now()
				s.ttfb = now.Sub(start)
				if wait >= 0 {
					s.overUpstream = max(now.Sub(sent)-wait, 0)
				}
			}
			tail = append(tail, buf[:n]...)
			if len(tail) > 64 {
				tail = tail[len(tail)-64:]
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			s.latency = time.Since(start)
			return s, rerr
		}
	}
	s.latency = time.Since(start)
	if s.ttfb == 0 {
		s.ttfb = s.latency
	}
	if resp.StatusCode/100 != 2 {
		return s, fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(tail))
	}
	if stream && !bytes.Contains(tail, doneMarker) {
		return s, errors.New("stream ended without [DONE]")
	}
	s.ok = true
	return s, nil
}

// overheadHeader returns the X-Logos-Overhead-Ms of an answer, or -1.
func overheadHeader(h http.Header) time.Duration {
	v := h.Get("X-Logos-Overhead-Ms")
	if v == "" {
		return -1
	}
	ms, err := strconv.ParseFloat(v, 64)
	if err != nil || ms < 0 || math.IsInf(ms, 0) || math.IsNaN(ms) {
		return -1
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// mockWait returns the answer's X-Mock-Wait-Us, or -1 (as overheadHeader).
func mockWait(h http.Header) time.Duration {
	us, err := strconv.ParseInt(h.Get(mockWaitHeader), 10, 64)
	if err != nil || us < 0 {
		return -1
	}
	return time.Duration(us) * time.Microsecond
}

// recorder collects samples from concurrent requests.
type recorder struct {
	mu  sync.Mutex
	res LoadResult
}

func (r *recorder) add(s sample, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.warmup {
		r.res.WarmupRequests++
		if err != nil && r.res.FirstError == "" {
			r.res.FirstError = "warm-up: " + err.Error()
		}
		return
	}
	r.res.Requests++
	if err != nil || !s.ok {
		r.res.Errors++
		if r.res.FirstError == "" && err != nil {
			r.res.FirstError = err.Error()
		}
	}
	r.res.Latency = append(r.res.Latency, s.latency)
	r.res.TTFB = append(r.res.TTFB, s.ttfb)
	if s.overhead >= 0 {
		r.res.Overhead = append(r.res.Overhead, s.overhead)
	}
	if s.overUpstream >= 0 {
		r.res.OverUpstream = append(r.res.OverUpstream, s.overUpstream)
	}
}

// RunLoad drives load at url (a chat completions endpoint) for o.Duration
// and waits for the requests still open, at most o.Timeout longer.
func RunLoad(ctx context.Context, c *http.Client, url, key string, o LoadOptions) (LoadResult, error) {
	if o.Duration <= 0 {
		return LoadResult{}, errors.New("duration must be positive")
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	body := chatBody(o.Stream)
	// Requests still open at the end of the duration may finish; nothing
	// runs past Duration+Timeout.
	ctx, cancel := context.WithTimeout(ctx, o.Warmup+o.Duration+o.Timeout)
	defer cancel()
	var rec recorder
	var wg sync.WaitGroup
	begin := time.Now()
	measured := begin.Add(o.Warmup) // samples start here
	deadline := measured.Add(o.Duration)
	switch o.Mode {
	case "closed":
		if o.Clients < 1 {
			return LoadResult{}, errors.New("closed loop needs at least 1 client")
		}
		for i := range o.Clients {
			wg.Go(func() {
				if o.Warmup > 0 {
					// Client i starts at i/Clients of the warm-up.
					delay := time.Duration(int64(o.Warmup) * int64(i) / int64(o.Clients))
					t := time.NewTimer(delay)
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
						return
					}
				}
				for time.Now().Before(deadline) && ctx.Err() == nil {
					start := time.Now()
					s, err := doRequest(ctx, c, url, key, body, o.Stream, start)
					s.warmup = start.Before(measured)
					rec.add(s, err)
					if err != nil {
						// A dead target must not turn the loop into a spin.
						time.Sleep(time.Millisecond)
					}
				}
			})
		}
	case "open":
		if o.RPS <= 0 {
			return LoadResult{}, errors.New("open loop needs a positive rate")
		}
		if o.MaxInFlight < 1 {
			o.MaxInFlight = 4096
		}
		interval := time.Duration(float64(time.Second) / o.RPS)
		total := int((o.Warmup + o.Duration).Seconds() * o.RPS)
		sem := make(chan struct{}, o.MaxInFlight)
		timer := time.NewTimer(0)
		defer timer.Stop()
	schedule:
		for i := range total {
			// Start i is due at begin+i*interval. Latency counts from
			// then, so a slow target cannot hide queueing by delaying
			// the next start (coordinated omission).
			due := begin.Add(time.Duration(i) * interval)
			if d := time.Until(due); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
					break schedule
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				break schedule
			}
			wg.Go(func() {
				defer func() { <-sem }()
				s, err := doRequest(ctx, c, url, key, body, o.Stream, due)
				s.warmup = due.Before(measured)
				rec.add(s, err)
			})
		}
	default:
		return LoadResult{}, fmt.Errorf("unknown mode %q (want closed or open)", o.Mode)
	}
	wg.Wait()
	rec.res.Elapsed = time.Since(measured)
	return rec.res, nil
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values at
// or below it. It is 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps float error (99.9/100*1000 = 999.0000000000001)
	// from moving the rank up by one.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Quantiles are the latency percentiles of the report, in milliseconds.
type Quantiles struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p99_9_ms"`
	Max  float64 `json:"max_ms"`
}

// quantiles sorts d in place and returns its percentiles.
func quantiles(d []time.Duration) Quantiles {
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return math.Round(float64(x)/1e3) / 1e3 }
	q := Quantiles{
		P50:  ms(Percentile(d, 50)),
		P90:  ms(Percentile(d, 90)),
		P99:  ms(Percentile(d, 99)),
		P999: ms(Percentile(d, 99.9)),
	}
	if len(d) > 0 {
		q.Max = ms(d[len(d)-1])
	}
	return q
}
