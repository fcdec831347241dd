package meter_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/logos-llm/logos/pipeline/meter"
	"github.com/logos-llm/logos/providers/providertest"
)

// fixedNow is the clock the relay tests inject.
var fixedNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func now() time.Time { return fixedNow }

// chunkReader returns its data in chunks of random sizes (1..max).
type chunkReader struct {
	data []byte
	rng  *rand.Rand
	max  int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(1+c.rng.IntN(c.max), len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

type namedReader struct {
	name string
	r    io.Reader
}

// readers returns several readers over the same data: whole, one byte at a
// time, and random chunk sizes (small and large, several seeds).
func readers(data []byte) []namedReader {
	rs := []namedReader{
		{"whole", bytes.NewReader(data)},
		{"one byte", iotest.OneByteReader(bytes.NewReader(data))},
		{"half reader", iotest.HalfReader(bytes.NewReader(data))},
	}
	for seed := uint64(1); seed <= 4; seed++ {
		rs = append(rs,
			namedReader{fmt.Sprintf("random small seed %d", seed), &chunkReader{data: data, rng: rand.New(rand.NewPCG(seed, 7)), max: 7}},
			namedReader{fmt.Sprintf("random large seed %d", seed), &chunkReader{data: data, rng: rand.New(rand.NewPCG(seed, 9)), max: 300}},
		)
	}
	return rs
}

// flushRecorder records writes and counts flushes.
type flushRecorder struct {
	bytes.Buffer
	flushes int
}

func (f *flushRecorder) Flush() { f.flushes++ }

// crlf and cr rewrite LF line endings.
func crlf(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }
func cr(b []byte) []byte   { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r")) }

type sseCase struct {
	name       string
	body       func(t *testing.T) []byte
	want       meter.Tokens
	wantEvents int
}

func sseCases() []sseCase {
	return []sseCase{
		{"azure_streaming.txt", shared("azure_streaming.txt"), meter.Tokens{"prompt_tokens": 15, "completion_tokens": 10, "total_tokens": 25}, 12},
		{"openwebui_streaming.txt", shared("openwebui_streaming.txt"), meter.Tokens{"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}, 10},
		{"openai include_usage", own("openai_streaming_include_usage.txt"),
			meter.Tokens{"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29, "prompt_cached_tokens": 3, "completion_reasoning_tokens": 5}, 10},
		{"responses api", own("responses_streaming.txt"), meter.Tokens{"prompt_tokens": 37, "completion_tokens": 11, "total_tokens": 48}, 11},
		{"ollama v1 include_usage", own("ollama_v1_streaming_include_usage.txt"), meter.Tokens{"prompt_tokens": 26, "completion_tokens": 9, "total_tokens": 35}, 6},
	}
}

func TestRelaySSEIsByteIdentical(t *testing.T) {
	variants := []struct {
		name    string
		rewrite func([]byte) []byte
	}{
		{"LF", func(b []byte) []byte { return b }},
		{"CRLF", crlf},
		{"CR", cr},
	}
	for _, tc := range sseCases() {
		for _, v := range variants {
			t.Run(tc.name+"/"+v.name, func(t *testing.T) {
				in := v.rewrite(tc.body(t))
				for _, rd := range readers(in) {
					var out flushRecorder
					res, err := meter.Relay(&out, rd.r, meter.Options{Format: meter.FormatSSE, Now: now})
					if err != nil {
						t.Fatalf("%s: Relay: %v", rd.name, err)
					}
					if !bytes.Equal(out.Bytes(), in) {
						t.Fatalf("%s: output differs from input:\n got %q\nwant %q", rd.name, out.Bytes(), in)
					}
					if diff := cmp.Diff(tc.want, res.Usage); diff != "" {
						t.Errorf("%s: usage mismatch (-want +got):\n%s", rd.name, diff)
					}
					if res.Events != tc.wantEvents {
						t.Errorf("%s: Events = %d, want %d", rd.name, res.Events, tc.wantEvents)
					}
					if !res.SawDone {
						t.Errorf("%s: SawDone = false", rd.name)
					}
					if res.BytesIn != int64(len(in)) || res.BytesOut != int64(len(in)) {
						t.Errorf("%s: BytesIn/Out = %d/%d, want %d", rd.name, res.BytesIn, res.BytesOut, len(in))
					}
					if !res.FirstByteAt.Equal(fixedNow) {
						t.Errorf("%s: FirstByteAt = %v, want %v", rd.name, res.FirstByteAt, fixedNow)
					}
					if out.flushes == 0 {
						t.Errorf("%s: never flushed", rd.name)
					}
					if len(res.Captured) != 0 {
						t.Errorf("%s: captured %d bytes with CaptureLimit 0", rd.name, len(res.Captured))
					}
				}
			})
		}
	}
}

// withoutUsageChunk returns the stream minus the single usage-only event
// (choices empty, usage non-null) and that event.
func withoutUsageChunk(t *testing.T, in []byte, sep string) (rest, dropped []byte) {
	t.Helper()
	var out []byte
	for _, ev := range bytes.SplitAfter(in, []byte(sep)) {
		if bytes.Contains(ev, []byte(`"choices":[]`)) && bytes.Contains(ev, []byte(`"usage":{`)) {
			if dropped != nil {
				t.Fatal("fixture has two usage-only chunks")
			}
			dropped = ev
			continue
		}
		out = append(out, ev...)
	}
	if dropped == nil {
		t.Fatal("fixture has no usage-only chunk")
	}
	return out, dropped
}

func TestRelayDropInjectedUsage(t *testing.T) {
	fixtures := []struct {
		name string
		want meter.Tokens
	}{
		{"openai_streaming_include_usage.txt", meter.Tokens{"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29, "prompt_cached_tokens": 3, "completion_reasoning_tokens": 5}},
		{"ollama_v1_streaming_include_usage.txt", meter.Tokens{"prompt_tokens": 26, "completion_tokens": 9, "total_tokens": 35}},
	}
	variants := []struct {
		name    string
		rewrite func([]byte) []byte
		sep     string
	}{
		{"LF", func(b []byte) []byte { return b }, "\n\n"},
		{"CRLF", crlf, "\r\n\r\n"},
		{"CR", cr, "\r\r"},
	}
	for _, fx := range fixtures {
		for _, v := range variants {
			t.Run(fx.name+"/"+v.name, func(t *testing.T) {
				in := v.rewrite(providertest.WithModel(providertest.Testdata(t, fx.name), "gpt-4o-mini"))
				want, dropped := withoutUsageChunk(t, in, v.sep)
				if len(want)+len(dropped) != len(in) {
					t.Fatalf("test bug: %d + %d != %d", len(want), len(dropped), len(in))
				}
				for _, rd := range readers(in) {
					var out flushRecorder
					res, err := meter.Relay(&out, rd.r, meter.Options{Format: meter.FormatSSE, DropInjectedUsage: true})
					if err != nil {
						t.Fatalf("%s: Relay: %v", rd.name, err)
					}
					if !bytes.Equal(out.Bytes(), want) {
						t.Fatalf("%s: output is not the input minus the usage chunk:\n got %q\nwant %q", rd.name, out.Bytes(), want)
					}
					if diff := cmp.Diff(fx.want, res.Usage); diff != "" {
						t.Errorf("%s: dropped usage not counted (-want +got):\n%s", rd.name, diff)
					}
					if !res.SawDone {
						t.Errorf("%s: SawDone = false; [DONE] must pass through", rd.name)
					}
					if res.BytesOut != int64(len(want)) || res.BytesIn != int64(len(in)) {
						t.Errorf("%s: BytesIn/Out = %d/%d, want %d/%d", rd.name, res.BytesIn, res.BytesOut, len(in), len(want))
					}
				}
			})
		}
	}
}

func TestRelayDropKeepsChunksWithChoices(t *testing.T) {
	// The Azure fixture carries usage on a chunk with a non-empty choices
	// array, and vLLM's continuous usage stats put usage on every chunk:
	// those are content and must never be dropped.
	cases := map[string][]byte{
		"azure": providertest.WithModel(providertest.SharedFixture(t, "azure_streaming.txt"), "gpt-4o"),
		"vllm continuous usage": []byte(
			`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":4,"completion_tokens":1,"total_tokens":5}}` + "\n\n" +
				`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"b"}}],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}` + "\n\n" +
				"data: [DONE]\n\n"),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			res, err := meter.Relay(&out, iotest.OneByteReader(bytes.NewReader(in)), meter.Options{Format: meter.FormatSSE, DropInjectedUsage: true})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), in) {
				t.Fatalf("output differs:\n got %q\nwant %q", out.Bytes(), in)
			}
			if res.Usage["total_tokens"] == 0 {
				t.Errorf("usage not counted: %v", res.Usage)
			}
		})
	}
	// The last non-null usage wins.
	var out bytes.Buffer
	res, err := meter.Relay(&out, bytes.NewReader(cases["vllm continuous usage"]), meter.Options{Format: meter.FormatSSE})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(meter.Tokens{"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}, res.Usage); diff != "" {
		t.Errorf("last usage must win (-want +got):\n%s", diff)
	}
}

func TestRelaySSEFieldsAndComments(t *testing.T) {
	in := "\xEF\xBB\xBFdata:{\"usage\":{\"prompt_tokens\":1}}\n\n" + // BOM, no space after colon
		": keep-alive comment\n\n" +
		"event: message\nid: 7\nretry: 1000\nx-unknown: field\ndata: {\"choices\":[],\n" +
		"data: \"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3}}\n\n" + // JSON split over two data lines
		"datum: {\"usage\":{\"prompt_tokens\":99}}\n\n" + // another field, not data
		"data: {\"usage\" : null, \"choices\":[]}\n\n" + // null usage is not a usage
		"data\n\n" + // empty data
		"data: [DONE]" // unterminated at EOF
	for _, rd := range readers([]byte(in)) {
		var out bytes.Buffer
		res, err := meter.Relay(&out, rd.r, meter.Options{Format: meter.FormatSSE, DropInjectedUsage: true})
		if err != nil {
			t.Fatalf("%s: %v", rd.name, err)
		}
		// The split usage-only event is dropped (choices empty, usage set).
		want := strings.Replace(in, "event: message\nid: 7\nretry: 1000\nx-unknown: field\ndata: {\"choices\":[],\n"+
			"data: \"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3}}\n\n", "", 1)
		if out.String() != want {
			t.Fatalf("%s: output\n got %q\nwant %q", rd.name, out.String(), want)
		}
		if diff := cmp.Diff(meter.Tokens{"prompt_tokens": 2, "completion_tokens": 3}, res.Usage); diff != "" {
			t.Errorf("%s: usage (-want +got):\n%s", rd.name, diff)
		}
		if !res.SawDone || res.Events != 7 {
			t.Errorf("%s: SawDone = %v, Events = %d; want true, 7", rd.name, res.SawDone, res.Events)
		}
	}
}

func TestRelaySSETrailingPartialEvent(t *testing.T) {
	in := "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":4}}\n"
	var out bytes.Buffer
	res, err := meter.Relay(&out, iotest.OneByteReader(strings.NewReader(in)), meter.Options{Format: meter.FormatSSE})
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != in {
		t.Fatalf("trailing partial event not forwarded as is: %q", out.String())
	}
	if res.Usage["prompt_tokens"] != 4 || res.SawDone {
		t.Errorf("Usage = %v, SawDone = %v", res.Usage, res.SawDone)
	}
}

// signalWriter reports each flushed batch on a channel.
type signalWriter struct {
	buf     bytes.Buffer
	flushed chan string
}

func (s *signalWriter) Write(p []byte) (int, error) { return s.buf.Write(p) }
func (s *signalWriter) Flush() {
	s.flushed <- s.buf.String()
	s.buf.Reset()
}

func TestRelaySSEForwardsEachEventWithoutWaiting(t *testing.T) {
	in := providertest.WithModel(providertest.Testdata(t, "openai_streaming.txt"), "m")
	events := providertest.SplitSSE(in)
	pr, pw := io.Pipe()
	w := &signalWriter{flushed: make(chan string, 1)}
	done := make(chan error, 1)
	go func() {
		_, err := meter.Relay(w, pr, meter.Options{Format: meter.FormatSSE})
		done <- err
	}()
	wait := func(what string) string {
		t.Helper()
		select {
		case got := <-w.flushed:
			return got
		case <-time.After(5 * time.Second):
			t.Fatalf("%s was not flushed to the client before more upstream data arrived", what)
			return ""
		}
	}
	for i, ev := range events {
		// Send the event in two halves: the first half must be held back,
		// the second must release the whole event at once.
		half := len(ev) / 2
		if _, err := pw.Write(ev[:half]); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-w.flushed:
			t.Fatalf("event %d: partial event forwarded: %q", i, got)
		case <-time.After(5 * time.Millisecond):
		}
		if _, err := pw.Write(ev[half:]); err != nil {
			t.Fatal(err)
		}
		if got := wait(fmt.Sprintf("event %d", i)); got != string(ev) {
			t.Fatalf("event %d: flushed %q, want %q", i, got, ev)
		}
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// failingReader returns data then err.
func failingReader(data []byte, err error) io.Reader {
	return io.MultiReader(bytes.NewReader(data), iotest.ErrReader(err))
}

func TestRelaySSEUpstreamError(t *testing.T) {
	in := providertest.WithModel(providertest.SharedFixture(t, "azure_streaming.txt"), "gpt-4o")
	events := providertest.SplitSSE(in)
	cause := errors.New("read tcp: connection reset by peer")
	frame := `data: {"error":{"message":"upstream stream interrupted: read tcp: connection reset by peer","type":"api_error","param":null,"code":"upstream_error"}}` + "\n\n" + "data: [DONE]\n\n"
	three := bytes.Join(events[:3], nil)

	tests := []struct {
		name     string
		upstream []byte
		opts     meter.Options
		want     string
	}{
		{"cut inside an event", append(append([]byte{}, three...), events[3][:20]...), meter.Options{}, string(three) + frame},
		{"cut at an event boundary", three, meter.Options{}, string(three) + frame},
		{"cut inside the blank line", append(append([]byte{}, three...), events[3][:len(events[3])-1]...), meter.Options{}, string(three) + frame},
		{"nothing complete yet", events[0][:30], meter.Options{}, ""},
		{"nothing at all", nil, meter.Options{}, ""},
		{"oversized event already partly forwarded", append(append([]byte{}, three...), events[3][:100]...), meter.Options{MaxEventSize: 64},
			string(three) + string(events[3][:100]) + "\n\n" + frame},
		{"after [DONE] nothing is added", append(bytes.Clone(in), '\n'), meter.Options{}, string(in) + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, rd := range []namedReader{
				{"whole", failingReader(tc.upstream, cause)},
				{"one byte", iotest.OneByteReader(failingReader(tc.upstream, cause))},
			} {
				var out flushRecorder
				opts := tc.opts
				opts.Format = meter.FormatSSE
				res, err := meter.Relay(&out, rd.r, opts)
				if !errors.Is(err, meter.ErrUpstream) || !errors.Is(err, cause) || errors.Is(err, meter.ErrClient) {
					t.Fatalf("%s: err = %v, want ErrUpstream wrapping the cause", rd.name, err)
				}
				if out.String() != tc.want {
					t.Fatalf("%s: client got\n%q\nwant\n%q", rd.name, out.String(), tc.want)
				}
				if res.BytesOut != int64(len(tc.want)) {
					t.Errorf("%s: BytesOut = %d, want %d", rd.name, res.BytesOut, len(tc.want))
				}
				if tc.want != "" && out.flushes == 0 {
					t.Errorf("%s: error frame not flushed", rd.name)
				}
			}
		})
	}
}

func TestRelayClientError(t *testing.T) {
	in := providertest.WithModel(providertest.SharedFixture(t, "azure_streaming.txt"), "gpt-4o")
	broken := errors.New("write: broken pipe")
	for _, format := range []meter.Format{meter.FormatSSE, meter.FormatNDJSON, meter.FormatJSON} {
		t.Run(format.String(), func(t *testing.T) {
			src := &countingReader{r: iotest.OneByteReader(bytes.NewReader(in))}
			dst := &failWriter{after: 300, err: broken}
			_, err := meter.Relay(dst, src, meter.Options{Format: format})
			if !errors.Is(err, meter.ErrClient) || !errors.Is(err, broken) || errors.Is(err, meter.ErrUpstream) {
				t.Fatalf("err = %v, want ErrClient wrapping the write error", err)
			}
			if src.n >= int64(len(in)) {
				t.Errorf("relay kept reading the upstream (%d of %d bytes) after the client failed", src.n, len(in))
			}
		})
	}
	t.Run("flush error", func(t *testing.T) {
		dst := &flushErrWriter{err: broken}
		_, err := meter.Relay(dst, bytes.NewReader(in), meter.Options{Format: meter.FormatSSE})
		if !errors.Is(err, meter.ErrClient) || !errors.Is(err, broken) {
			t.Fatalf("err = %v, want ErrClient wrapping the flush error", err)
		}
	})
	t.Run("short write", func(t *testing.T) {
		_, err := meter.Relay(shortWriter{}, bytes.NewReader(in), meter.Options{Format: meter.FormatSSE})
		if !errors.Is(err, meter.ErrClient) || !errors.Is(err, io.ErrShortWrite) {
			t.Fatalf("err = %v, want ErrClient wrapping io.ErrShortWrite", err)
		}
	})
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type failWriter struct {
	n, after int
	err      error
}

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n+len(p) > f.after {
		return 0, f.err
	}
	f.n += len(p)
	return len(p), nil
}

type flushErrWriter struct {
	bytes.Buffer
	err error
}

func (f *flushErrWriter) FlushError() error { return f.err }

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestRelayNDJSON(t *testing.T) {
	tests := []struct {
		name       string
		want       meter.Tokens
		wantEvents int
	}{
		{"ollama_chat_stream.ndjson", meter.Tokens{"prompt_tokens": 26, "completion_tokens": 290, "total_tokens": 316}, 9},
		{"ollama_generate_stream.ndjson", meter.Tokens{"prompt_tokens": 13, "completion_tokens": 42, "total_tokens": 55}, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := providertest.WithModel(providertest.Testdata(t, tc.name), "llama3")
			for _, rd := range readers(in) {
				var out flushRecorder
				res, err := meter.Relay(&out, rd.r, meter.Options{Format: meter.FormatNDJSON, Now: now, CaptureLimit: 1 << 20})
				if err != nil {
					t.Fatalf("%s: %v", rd.name, err)
				}
				if !bytes.Equal(out.Bytes(), in) || !bytes.Equal(res.Captured, in) {
					t.Fatalf("%s: output or capture differs from input", rd.name)
				}
				if diff := cmp.Diff(tc.want, res.Usage); diff != "" {
					t.Errorf("%s: usage (-want +got):\n%s", rd.name, diff)
				}
				if !res.SawDone || res.Events != tc.wantEvents || out.flushes == 0 {
					t.Errorf("%s: SawDone = %v, Events = %d (want %d), flushes = %d", rd.name, res.SawDone, res.Events, tc.wantEvents, out.flushes)
				}
			}
		})
	}
}

func TestRelayNDJSONUpstreamError(t *testing.T) {
	in := providertest.WithModel(providertest.Testdata(t, "ollama_chat_stream.ndjson"), "llama3")
	lines := providertest.SplitLines(in)
	two := bytes.Join(lines[:2], nil)
	cause := io.ErrUnexpectedEOF
	const errLine = `{"error":"upstream stream interrupted"}` + "\n"
	tests := []struct {
		name     string
		upstream []byte
		opts     meter.Options
		want     string
	}{
		{"cut inside a line", append(append([]byte{}, two...), lines[2][:10]...), meter.Options{}, string(two) + errLine},
		{"cut at a line end", two, meter.Options{}, string(two) + errLine},
		{"nothing forwarded", lines[0][:10], meter.Options{}, ""},
		{"oversized line partly forwarded", append(append([]byte{}, two...), lines[2][:40]...), meter.Options{MaxEventSize: 16},
			string(two) + string(lines[2][:40]) + "\n" + errLine},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			opts := tc.opts
			opts.Format = meter.FormatNDJSON
			_, err := meter.Relay(&out, failingReader(tc.upstream, cause), opts)
			if !errors.Is(err, meter.ErrUpstream) || !errors.Is(err, cause) {
				t.Fatalf("err = %v, want ErrUpstream wrapping %v", err, cause)
			}
			if out.String() != tc.want {
				t.Fatalf("client got\n%q\nwant\n%q", out.String(), tc.want)
			}
		})
	}
}

func TestRelayJSON(t *testing.T) {
	in := providertest.WithModel(providertest.SharedFixture(t, "azure_sync.json"), "gpt-4o")
	for _, limit := range []int{0, 10, len(in), 1 << 20} {
		t.Run(fmt.Sprintf("capture %d", limit), func(t *testing.T) {
			var out bytes.Buffer
			res, err := meter.Relay(&out, iotest.OneByteReader(bytes.NewReader(in)), meter.Options{CaptureLimit: limit, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), in) {
				t.Fatal("output differs from input")
			}
			if want := in[:min(limit, len(in))]; !bytes.Equal(res.Captured, want) {
				t.Errorf("Captured = %q, want %q", res.Captured, want)
			}
			if diff := cmp.Diff(meter.Tokens{"prompt_tokens": 15, "completion_tokens": 10, "total_tokens": 25}, res.Usage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			if !res.SawDone || res.Events != 0 || !res.FirstByteAt.Equal(fixedNow) || res.BytesIn != int64(len(in)) {
				t.Errorf("Result = %+v", res)
			}
		})
	}
	t.Run("upstream error", func(t *testing.T) {
		var out bytes.Buffer
		res, err := meter.Relay(&out, failingReader(in[:50], io.ErrUnexpectedEOF), meter.Options{})
		if !errors.Is(err, meter.ErrUpstream) {
			t.Fatalf("err = %v, want ErrUpstream", err)
		}
		if out.String() != string(in[:50]) || res.SawDone || res.Usage != nil {
			t.Errorf("JSON body must be copied as far as it came and nothing added: %q, %+v", out.String(), res)
		}
	})
}

func TestRelayCaptureSSE(t *testing.T) {
	in := providertest.WithModel(providertest.Testdata(t, "openai_streaming_include_usage.txt"), "m")
	want, _ := withoutUsageChunk(t, in, "\n\n")
	var out bytes.Buffer
	res, err := meter.Relay(&out, iotest.OneByteReader(bytes.NewReader(in)), meter.Options{Format: meter.FormatSSE, DropInjectedUsage: true, CaptureLimit: 700})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Captured, want[:700]) {
		t.Errorf("Captured = %q, want the first 700 forwarded bytes", res.Captured)
	}
	res, err = meter.Relay(io.Discard, bytes.NewReader(in), meter.Options{Format: meter.FormatSSE, DropInjectedUsage: true, CaptureLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Captured, want) {
		t.Error("Captured must hold what was forwarded, without the dropped chunk")
	}
}

func TestRelayOversizedEventPassesThrough(t *testing.T) {
	in := providertest.WithModel(providertest.Testdata(t, "openai_streaming_include_usage.txt"), "m")
	var out bytes.Buffer
	res, err := meter.Relay(&out, iotest.OneByteReader(bytes.NewReader(in)), meter.Options{Format: meter.FormatSSE, DropInjectedUsage: true, MaxEventSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	// Every event exceeds 64 bytes: all are forwarded as they arrive, none
	// can be inspected or dropped.
	if !bytes.Equal(out.Bytes(), in) {
		t.Fatal("oversized events must pass through unchanged")
	}
	if res.Usage != nil || res.Events != 10 {
		t.Errorf("Usage = %v, Events = %d; want nil, 10", res.Usage, res.Events)
	}
}

// zeroReader returns (0, nil) forever.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestRelayNoProgress(t *testing.T) {
	_, err := meter.Relay(io.Discard, zeroReader{}, meter.Options{Format: meter.FormatSSE})
	if !errors.Is(err, meter.ErrUpstream) || !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("err = %v, want ErrUpstream wrapping io.ErrNoProgress", err)
	}
}

func TestRelayThroughResponseWriter(t *testing.T) {
	in := providertest.WithModel(providertest.Testdata(t, "responses_streaming.txt"), "gpt-4o")
	rec := httptest.NewRecorder()
	var w http.ResponseWriter = rec
	res, err := meter.Relay(w, iotest.OneByteReader(bytes.NewReader(in)), meter.Options{Format: meter.FormatSSE})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Flushed || !bytes.Equal(rec.Body.Bytes(), in) {
		t.Errorf("Flushed = %v, body identical = %v", rec.Flushed, bytes.Equal(rec.Body.Bytes(), in))
	}
	if !res.SawDone || res.Usage["total_tokens"] != 48 {
		t.Errorf("SawDone = %v, Usage = %v", res.SawDone, res.Usage)
	}
}

func TestFormatForContentType(t *testing.T) {
	tests := map[string]meter.Format{
		"text/event-stream":                meter.FormatSSE,
		"text/event-stream; charset=utf-8": meter.FormatSSE,
		"Text/Event-Stream":                meter.FormatSSE,
		"application/x-ndjson":             meter.FormatNDJSON,
		"application/ndjson":               meter.FormatNDJSON,
		"application/json":                 meter.FormatJSON,
		"application/json; charset=utf-8":  meter.FormatJSON,
		"text/plain":                       meter.FormatJSON,
		"":                                 meter.FormatJSON,
		"text/event-stream;;bad":           meter.FormatSSE,
	}
	for ct, want := range tests {
		if got := meter.FormatForContentType(ct); got != want {
			t.Errorf("FormatForContentType(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestRelaySSEMixedTerminators(t *testing.T) {
	usage := `data: {"choices":[],"usage":{"prompt_tokens":1}}`
	for _, sep := range []string{"\n\n", "\r\n\r\n", "\r\r", "\r\n\n", "\n\r\n", "\n\r", "\r\n\r"} {
		t.Run(fmt.Sprintf("%q", sep), func(t *testing.T) {
			first := "event: a\r\ndata: {\"choices\":[{\"delta\":{}}]}" + sep
			dropped := usage + sep
			last := "data: [DONE]" + sep
			in := first + dropped + last
			for _, rd := range readers([]byte(in)) {
				var out bytes.Buffer
				res, err := meter.Relay(&out, rd.r, meter.Options{Format: meter.FormatSSE, DropInjectedUsage: true})
				if err != nil {
					t.Fatalf("%s: %v", rd.name, err)
				}
				if out.String() != first+last {
					t.Fatalf("%s: got %q, want %q", rd.name, out.String(), first+last)
				}
				if res.Events != 3 || !res.SawDone || res.Usage["prompt_tokens"] != 1 {
					t.Errorf("%s: Events %d, SawDone %v, Usage %v", rd.name, res.Events, res.SawDone, res.Usage)
				}
			}
		})
	}
}

// sizeRecorder is a reader that records the size of every buffer it is
// offered.
type sizeRecorder struct {
	r     io.Reader
	sizes []int
}

func (s *sizeRecorder) Read(p []byte) (int, error) {
	s.sizes = append(s.sizes, len(p))
	return s.r.Read(p)
}

// A relay starts with a small read buffer (an open stream holds it for its
// whole life) and moves to a larger one once a read fills it; bodies pass
// unchanged across the switch.
func TestRelayGrowsItsBufferForLargeBodies(t *testing.T) {
	var big bytes.Buffer
	big.WriteString(`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"`)
	big.WriteString(strings.Repeat("word ", 40000))
	big.WriteString(`"}}],"usage":{"prompt_tokens":3,"completion_tokens":40000,"total_tokens":40003}}`)
	var sse bytes.Buffer
	for i := range 2000 {
		fmt.Fprintf(&sse, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t%d \"}}]}\n\n", i)
	}
	sse.WriteString("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2000,\"total_tokens\":2001}}\n\ndata: [DONE]\n\n")
	for _, tc := range []struct {
		name   string
		in     []byte
		format meter.Format
		want   meter.Tokens
	}{
		{"json", big.Bytes(), meter.FormatJSON, meter.Tokens{"prompt_tokens": 3, "completion_tokens": 40000, "total_tokens": 40003}},
		{"sse", sse.Bytes(), meter.FormatSSE, meter.Tokens{"prompt_tokens": 1, "completion_tokens": 2000, "total_tokens": 2001}},
	} {
		for _, nr := range readers(tc.in) {
			t.Run(tc.name+"/"+nr.name, func(t *testing.T) {
				var out bytes.Buffer
				res, err := meter.Relay(&out, nr.r, meter.Options{Format: tc.format, Now: now})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), tc.in) {
					t.Fatalf("output differs from input (%d bytes, want %d)", out.Len(), len(tc.in))
				}
				if diff := cmp.Diff(tc.want, res.Usage); diff != "" {
					t.Errorf("usage (-want +got):\n%s", diff)
				}
			})
		}
	}

	t.Run("read sizes", func(t *testing.T) {
		// Small pieces never fill the first buffer: it is kept.
		small := &sizeRecorder{r: &chunkReader{data: sse.Bytes(), rng: rand.New(rand.NewPCG(1, 2)), max: 300}}
		if _, err := meter.Relay(io.Discard, small, meter.Options{Format: meter.FormatSSE}); err != nil {
			t.Fatal(err)
		}
		first := small.sizes[0]
		for _, n := range small.sizes {
			if n != first {
				t.Fatalf("buffer changed from %d to %d although no read filled it", first, n)
			}
		}
		if first > 8<<10 {
			t.Errorf("first read buffer is %d bytes; an open stream should hold a small one", first)
		}
		// A whole body fills it at once: the next reads get a larger one.
		whole := &sizeRecorder{r: bytes.NewReader(big.Bytes())}
		if _, err := meter.Relay(io.Discard, whole, meter.Options{}); err != nil {
			t.Fatal(err)
		}
		if len(whole.sizes) < 2 || whole.sizes[1] <= whole.sizes[0] {
			t.Errorf("read sizes %v: want a larger buffer after a full read", whole.sizes[:min(3, len(whole.sizes))])
		}
		if last := whole.sizes[len(whole.sizes)-1]; last < 16<<10 {
			t.Errorf("a %d-byte body is still read %d bytes at a time; want the buffer to keep growing while reads fill it", big.Len(), last)
		}
		// An explicit BufferSize is kept.
		fixed := &sizeRecorder{r: bytes.NewReader(big.Bytes())}
		if _, err := meter.Relay(io.Discard, fixed, meter.Options{BufferSize: 1000}); err != nil {
			t.Fatal(err)
		}
		for _, n := range fixed.sizes {
			if n != 1000 {
				t.Fatalf("read size %d with BufferSize 1000", n)
			}
		}
	})
}
