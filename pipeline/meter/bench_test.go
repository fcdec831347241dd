package meter_test

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/logos-llm/logos/pipeline/meter"
	"github.com/logos-llm/logos/providers/providertest"
)

// arrivalWriter records when each flushed event reaches the "client".
type arrivalWriter struct {
	arrived chan time.Time
}

func (a *arrivalWriter) Write(p []byte) (int, error) { return len(p), nil }
func (a *arrivalWriter) Flush()                      { a.arrived <- time.Now() }

// BenchmarkRelaySSE measures the latency the relay adds to each event: an
// upstream goroutine writes one SSE event into an io.Pipe, the relay reads
// and forwards it to a writer that records when it was flushed, and the
// upstream waits for that before sending the next event. It reports the
// mean and the maximum delay between the upstream write and the client
// flush ("ns/event-delay", "max-ns/event-delay") and the 99th percentile
// ("p99-ns/event-delay"); each event should reach the client well within a
// millisecond. The maximum mostly measures the machine (scheduling, GC),
// not the relay.
func BenchmarkRelaySSE(b *testing.B) {
	in := providertest.WithModel(providertest.Testdata(b, "openai_streaming_include_usage.txt"), "gpt-4o-mini")
	events := providertest.SplitSSE(in)
	// A typical content chunk (not the usage chunk) is what a stream is made of.
	ev := events[2]

	pr, pw := io.Pipe()
	w := &arrivalWriter{arrived: make(chan time.Time, 1)}
	done := make(chan error, 1)
	go func() {
		_, err := meter.Relay(w, pr, meter.Options{Format: meter.FormatSSE, DropInjectedUsage: true})
		done <- err
	}()

	var total, worst time.Duration
	delays := make([]time.Duration, b.N)
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := pw.Write(ev); err != nil {
			b.Fatal(err)
		}
		d := (<-w.arrived).Sub(start)
		delays[i] = d
		total += d
		worst = max(worst, d)
	}
	b.StopTimer()
	pw.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/event-delay")
	b.ReportMetric(float64(worst.Nanoseconds()), "max-ns/event-delay")
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)*99/100].Nanoseconds()), "p99-ns/event-delay")
}

// BenchmarkRelaySSEThroughput relays a whole recorded stream from memory,
// dropping the injected usage chunk, to measure CPU cost and allocations.
func BenchmarkRelaySSEThroughput(b *testing.B) {
	in := providertest.WithModel(providertest.Testdata(b, "openai_streaming_include_usage.txt"), "gpt-4o-mini")
	in = bytes.Repeat(in, 20)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	r := bytes.NewReader(in)
	for range b.N {
		r.Reset(in)
		if _, err := meter.Relay(io.Discard, r, meter.Options{Format: meter.FormatSSE, DropInjectedUsage: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelayJSON is the usage tap of a non-streaming answer: a recorded
// chat completion relayed from memory while its usage is read.
func BenchmarkRelayJSON(b *testing.B) {
	in := providertest.Testdata(b, "openai_sync.json")
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := meter.Relay(io.Discard, bytes.NewReader(in), meter.Options{Format: meter.FormatJSON})
		if err != nil {
			b.Fatal(err)
		}
		if res.Usage[meter.PromptTokens] == 0 {
			b.Fatalf("no usage found: %v", res.Usage)
		}
	}
}

// BenchmarkParseUsage flattens a usage object with token details, as OpenAI
// sends it.
func BenchmarkParseUsage(b *testing.B) {
	usage := []byte(`{"prompt_tokens":1117,"completion_tokens":46,"total_tokens":1163,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`)
	b.ReportAllocs()
	for b.Loop() {
		if t := meter.ParseUsage(usage); t[meter.PromptTokens] != 1117 {
			b.Fatalf("ParseUsage = %v", t)
		}
	}
}
