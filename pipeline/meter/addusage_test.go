package meter_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/logos-llm/logos/pipeline/meter"
	"github.com/logos-llm/logos/providers/providertest"
)

const costMembers = `"cost":0.5,"cost_currency":"EUR"`

// costHook returns an AddToUsage hook adding costMembers that records the
// usage it was called with.
func costHook(calls *[]meter.Tokens) func(meter.Tokens) []byte {
	return func(t meter.Tokens) []byte {
		*calls = append(*calls, t)
		return []byte(costMembers)
	}
}

// withCost is the test's own oracle: it inserts costMembers into the first
// usage object after marker in b, after its last member (or into the empty
// object). The usage objects of the fixtures hold no strings with braces.
func withCost(t *testing.T, b []byte, marker string) []byte {
	t.Helper()
	i := bytes.Index(b, []byte(marker))
	if i < 0 {
		t.Fatalf("test bug: %q not in %q", marker, b)
	}
	open := i + len(marker) - 1
	if b[open] != '{' {
		t.Fatalf("test bug: marker %q must end with {", marker)
	}
	depth, end := 0, -1
	for j := open; j < len(b) && end < 0; j++ {
		switch b[j] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				end = j
			}
		}
	}
	at := end
	for at > open+1 && strings.ContainsRune(" \t\r\n", rune(b[at-1])) {
		at--
	}
	ins := costMembers
	if at == open+1 {
		at = end
	} else {
		ins = "," + ins
	}
	return slicesConcat(b[:at], []byte(ins), b[at:])
}

func slicesConcat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// sseWithCost applies withCost to every event of in (separated by sep)
// that carries a non-null usage object.
func sseWithCost(t *testing.T, in []byte, sep string) (out []byte, modified int) {
	t.Helper()
	for _, ev := range bytes.SplitAfter(in, []byte(sep)) {
		if bytes.Contains(ev, []byte(`"usage":{`)) {
			ev = withCost(t, ev, `"usage":{`)
			modified++
		}
		out = append(out, ev...)
	}
	return out, modified
}

func TestRelayAddToUsageSSE(t *testing.T) {
	fixtures := []struct {
		name      string
		body      func(*testing.T) []byte
		want      meter.Tokens
		wantCalls int
	}{
		{"azure_streaming.txt", shared("azure_streaming.txt"), meter.Tokens{"prompt_tokens": 15, "completion_tokens": 10, "total_tokens": 25}, 1},
		{"openai include_usage", own("openai_streaming_include_usage.txt"),
			meter.Tokens{"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29, "prompt_cached_tokens": 3, "completion_reasoning_tokens": 5}, 1},
		{"responses api", own("responses_streaming.txt"), meter.Tokens{"prompt_tokens": 37, "completion_tokens": 11, "total_tokens": 48}, 1},
		{"vllm continuous usage", str(
			`data: {"id":"c","choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":4,"completion_tokens":1,"total_tokens":5}}` + "\n\n" +
				`data: {"id":"c","choices":[{"index":0,"delta":{"content":"b"}}],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}` + "\n\n" +
				"data: [DONE]\n\n"), meter.Tokens{"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}, 2},
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
				in := v.rewrite(fx.body(t))
				want, n := sseWithCost(t, in, v.sep)
				if n != fx.wantCalls {
					t.Fatalf("test bug: %d usage events, want %d", n, fx.wantCalls)
				}
				for _, rd := range readers(in) {
					var out flushRecorder
					var calls []meter.Tokens
					res, err := meter.Relay(&out, rd.r, meter.Options{Format: meter.FormatSSE, AddToUsage: costHook(&calls)})
					if err != nil {
						t.Fatalf("%s: Relay: %v", rd.name, err)
					}
					if !bytes.Equal(out.Bytes(), want) {
						t.Fatalf("%s: output is not the input with the cost inserted:\n got %q\nwant %q", rd.name, out.Bytes(), want)
					}
					if len(calls) != fx.wantCalls {
						t.Fatalf("%s: hook called %d times, want %d", rd.name, len(calls), fx.wantCalls)
					}
					if diff := cmp.Diff(fx.want, calls[len(calls)-1]); diff != "" {
						t.Errorf("%s: hook usage (-want +got):\n%s", rd.name, diff)
					}
					if diff := cmp.Diff(fx.want, res.Usage); diff != "" {
						t.Errorf("%s: Result.Usage (-want +got):\n%s", rd.name, diff)
					}
					if !res.Modified || !res.SawDone || res.BytesIn != int64(len(in)) || res.BytesOut != int64(len(want)) {
						t.Errorf("%s: Result = %+v, want Modified, SawDone, BytesIn %d, BytesOut %d", rd.name, res, len(in), len(want))
					}
				}
			})
		}
	}
}

// TestRelayAddToUsageSSEValidJSON checks that each modified event still
// decodes, carries the cost, and otherwise equals the original.
func TestRelayAddToUsageSSEValidJSON(t *testing.T) {
	for _, name := range []string{"openai_streaming_include_usage.txt", "responses_streaming.txt"} {
		in := providertest.WithModel(providertest.Testdata(t, name), "m")
		var out bytes.Buffer
		var calls []meter.Tokens
		if _, err := meter.Relay(&out, bytes.NewReader(in), meter.Options{Format: meter.FormatSSE, AddToUsage: costHook(&calls)}); err != nil {
			t.Fatal(err)
		}
		gotEvents, inEvents := providertest.SplitSSE(out.Bytes()), providertest.SplitSSE(in)
		if len(gotEvents) != len(inEvents) {
			t.Fatalf("%s: %d events, want %d", name, len(gotEvents), len(inEvents))
		}
		modified := 0
		for i := range gotEvents {
			if bytes.Equal(gotEvents[i], inEvents[i]) {
				continue
			}
			modified++
			got, orig := decodeData(t, gotEvents[i]), decodeData(t, inEvents[i])
			usage := findUsageMap(got)
			if usage == nil || usage["cost"] != 0.5 || usage["cost_currency"] != "EUR" {
				t.Errorf("%s: modified event lacks the cost: %s", name, gotEvents[i])
				continue
			}
			delete(usage, "cost")
			delete(usage, "cost_currency")
			if diff := cmp.Diff(orig, got); diff != "" {
				t.Errorf("%s: event changed beyond the cost (-want +got):\n%s", name, diff)
			}
		}
		if modified != 1 {
			t.Errorf("%s: %d events modified, want 1", name, modified)
		}
	}
}

func decodeData(t *testing.T, ev []byte) map[string]any {
	t.Helper()
	for line := range strings.Lines(string(ev)) {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			var m map[string]any
			if err := json.Unmarshal([]byte(d), &m); err != nil {
				t.Fatalf("invalid JSON %q: %v", d, err)
			}
			return m
		}
	}
	t.Fatalf("no data in %q", ev)
	return nil
}

// findUsageMap returns the decoded usage or response.usage object.
func findUsageMap(m map[string]any) map[string]any {
	if u, ok := m["usage"].(map[string]any); ok {
		return u
	}
	if r, ok := m["response"].(map[string]any); ok {
		u, _ := r["usage"].(map[string]any)
		return u
	}
	return nil
}

func TestRelayAddToUsageDroppedChunkGetsNothing(t *testing.T) {
	in := providertest.WithModel(providertest.Testdata(t, "openai_streaming_include_usage.txt"), "m")
	want, _ := withoutUsageChunk(t, in, "\n\n")
	var out bytes.Buffer
	var calls []meter.Tokens
	res, err := meter.Relay(&out, iotest.OneByteReader(bytes.NewReader(in)), meter.Options{Format: meter.FormatSSE, DropInjectedUsage: true, AddToUsage: costHook(&calls)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) || len(calls) != 0 || res.Modified {
		t.Errorf("a dropped usage chunk must get no cost: calls %d, Modified %v, output %q", len(calls), res.Modified, out.Bytes())
	}
	if res.Usage["total_tokens"] != 29 {
		t.Errorf("usage still counted: %v", res.Usage)
	}
}

func TestRelayAddToUsageNilMembers(t *testing.T) {
	cases := map[string]struct {
		format meter.Format
		body   []byte
	}{
		"sse":  {meter.FormatSSE, providertest.WithModel(providertest.Testdata(t, "openai_streaming_include_usage.txt"), "m")},
		"json": {meter.FormatJSON, providertest.WithModel(providertest.Testdata(t, "openai_sync.json"), "m")},
	}
	for name, tc := range cases {
		for _, ret := range []string{"", "  "} {
			called := 0
			hook := func(meter.Tokens) []byte {
				called++
				if ret == "" {
					return nil
				}
				return []byte(ret)
			}
			var out bytes.Buffer
			res, err := meter.Relay(&out, iotest.OneByteReader(bytes.NewReader(tc.body)), meter.Options{Format: tc.format, AddToUsage: hook})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), tc.body) || res.Modified || called != 1 {
				t.Errorf("%s %q: output changed (Modified %v, called %d):\n got %q\nwant %q", name, ret, res.Modified, called, out.Bytes(), tc.body)
			}
		}
	}
}

func TestRelayAddToUsageEdgeCases(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"empty usage", `data: {"choices":[],"usage":{}}` + "\n\n", `data: {"choices":[],"usage":{"cost":0.5,"cost_currency":"EUR"}}` + "\n\n"},
		{"empty usage with space", `data: {"choices":[],"usage":{ }}` + "\n\n", `data: {"choices":[],"usage":{ "cost":0.5,"cost_currency":"EUR"}}` + "\n\n"},
		{"whitespace", "data:{ \"usage\" : { \"prompt_tokens\" : 2 } }\n\n", "data:{ \"usage\" : { \"prompt_tokens\" : 2," + costMembers + " } }\n\n"},
		{"usage not first, other fields after", `data: {"usage":{"prompt_tokens":1},"x":"}"}` + "\n\n", `data: {"usage":{"prompt_tokens":1,` + costMembers + `},"x":"}"}` + "\n\n"},
		{"usage in strings and nested objects ignored",
			`data: {"text":"\"usage\":{\"a\":1}","choices":[{"usage":{"b":2}}],"usage":{"prompt_tokens":1}}` + "\n\n",
			`data: {"text":"\"usage\":{\"a\":1}","choices":[{"usage":{"b":2}}],"usage":{"prompt_tokens":1,` + costMembers + `}}` + "\n\n"},
		{"null usage untouched", `data: {"choices":[],"usage":null}` + "\n\n", `data: {"choices":[],"usage":null}` + "\n\n"},
		{"other fields and comments kept",
			": keep-alive\nevent: chunk\nid: 7\ndata: {\"usage\":{\"total_tokens\":3}}\nretry: 10\n\n",
			": keep-alive\nevent: chunk\nid: 7\ndata: {\"usage\":{\"total_tokens\":3," + costMembers + "}}\nretry: 10\n\n"},
		{"data split over lines",
			"data: {\"choices\":[],\ndata: \"usage\":{\"prompt_tokens\":1\ndata: }}\n\n",
			"data: {\"choices\":[],\ndata: \"usage\":{\"prompt_tokens\":1," + costMembers + "\ndata: }}\n\n"},
		{"byte order mark", utf8BOMString + "data: {\"usage\":{\"total_tokens\":3}}\r\n\r\n",
			utf8BOMString + "data: {\"usage\":{\"total_tokens\":3," + costMembers + "}}\r\n\r\n"},
		{"unterminated last event", "data: {\"usage\":{\"total_tokens\":3}}", "data: {\"usage\":{\"total_tokens\":3," + costMembers + "}}"},
		{"responses terminal event",
			"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":1},\"metadata\":{}}}\n\n",
			"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":1," + costMembers + "},\"metadata\":{}}}\n\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var calls []meter.Tokens
			for _, rd := range readers([]byte(tc.in)) {
				var out bytes.Buffer
				res, err := meter.Relay(&out, rd.r, meter.Options{Format: meter.FormatSSE, AddToUsage: costHook(&calls)})
				if err != nil {
					t.Fatal(err)
				}
				if out.String() != tc.want {
					t.Fatalf("%s:\n got %q\nwant %q", rd.name, out.String(), tc.want)
				}
				if res.Modified != (tc.in != tc.want) {
					t.Errorf("%s: Modified = %v", rd.name, res.Modified)
				}
			}
		})
	}
}

const utf8BOMString = "\xEF\xBB\xBF"

func TestRelayAddToUsageMembersStayOnTheLine(t *testing.T) {
	in := "data: {\"usage\":{\"total_tokens\":3}}\n\n"
	hook := func(meter.Tokens) []byte { return []byte("\"cost\":\r\n0.5") }
	var out bytes.Buffer
	if _, err := meter.Relay(&out, strings.NewReader(in), meter.Options{Format: meter.FormatSSE, AddToUsage: hook}); err != nil {
		t.Fatal(err)
	}
	if want := "data: {\"usage\":{\"total_tokens\":3,\"cost\":  0.5}}\n\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestRelayAddToUsageJSON(t *testing.T) {
	cases := []struct {
		name   string
		body   func(*testing.T) []byte
		marker string
		want   meter.Tokens
	}{
		{"azure chat completion", shared("azure_sync.json"), `"usage": {`, meter.Tokens{"prompt_tokens": 15, "completion_tokens": 10, "total_tokens": 25}},
		{"openai chat completion", own("openai_sync.json"), `"usage": {`, meter.Tokens{"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29, "prompt_cached_tokens": 3, "completion_reasoning_tokens": 5}},
		{"responses api", own("responses_sync.json"), `"usage": {`, meter.Tokens{"prompt_tokens": 37, "completion_tokens": 11, "total_tokens": 48}},
		{"responses event wrapper", str(`{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":3,"output_tokens":4,"total_tokens":7}}}`),
			`"usage":{`, meter.Tokens{"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}},
		{"empty usage", str(`{"id":"x","usage":{}}`), `"usage":{`, meter.Tokens{}},
		{"large body, usage last", bigEmbeddings, `"usage":{`, meter.Tokens{"prompt_tokens": 4096, "total_tokens": 4096}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.body(t)
			want := withCost(t, in, tc.marker)
			if len(in) < 1<<20 {
				if bytes.Count(in, []byte(tc.marker)) != 1 {
					t.Fatalf("test bug: marker not unique")
				}
			}
			rds := []namedReader{{"whole", bytes.NewReader(in)}, {"one byte", iotest.OneByteReader(bytes.NewReader(in))}}
			if len(in) > 1<<20 {
				rds = rds[:1]
			}
			for _, rd := range rds {
				var out flushRecorder
				var calls []meter.Tokens
				res, err := meter.Relay(&out, rd.r, meter.Options{AddToUsage: costHook(&calls), CaptureLimit: 1 << 30})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), want) {
					t.Fatalf("%s: output is not the input with the cost inserted:\n got %q\nwant %q", rd.name, out.Bytes(), want)
				}
				if !json.Valid(out.Bytes()) {
					t.Fatalf("%s: output is not valid JSON", rd.name)
				}
				if len(calls) != 1 {
					t.Fatalf("%s: hook called %d times", rd.name, len(calls))
				}
				if diff := cmp.Diff(tc.want, calls[0]); diff != "" {
					t.Errorf("%s: hook usage (-want +got):\n%s", rd.name, diff)
				}
				if diff := cmp.Diff(tc.want, res.Usage); diff != "" {
					t.Errorf("%s: Result.Usage (-want +got):\n%s", rd.name, diff)
				}
				if !res.Modified || !res.SawDone || res.BytesIn != int64(len(in)) || res.BytesOut != int64(len(want)) || !bytes.Equal(res.Captured, want) {
					t.Errorf("%s: Result: Modified %v SawDone %v BytesIn %d BytesOut %d, want true true %d %d", rd.name, res.Modified, res.SawDone, res.BytesIn, res.BytesOut, len(in), len(want))
				}
			}
		})
	}
}

func TestRelayAddToUsageJSONUnchanged(t *testing.T) {
	cases := []struct {
		name string
		body func(*testing.T) []byte
		opts meter.Options
	}{
		{"ollama native counts, no usage object", own("ollama_chat.json"), meter.Options{}},
		{"no usage", str(`{"id":"x","choices":[]}`), meter.Options{}},
		{"null usage", str(`{"id":"x","usage":null}`), meter.Options{}},
		{"nested usage only", str(`{"choices":[{"usage":{"prompt_tokens":1}}]}`), meter.Options{}},
		{"invalid JSON", str(`{"usage":{"prompt_tokens":1}`), meter.Options{}},
		{"not JSON", str(`Internal Server Error`), meter.Options{}},
		{"beyond the hold limit", own("openai_sync.json"), meter.Options{MaxEventSize: 100}},
		{"ndjson", own("ollama_chat_stream.ndjson"), meter.Options{Format: meter.FormatNDJSON}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.body(t)
			for _, rd := range []namedReader{{"whole", bytes.NewReader(in)}, {"one byte", iotest.OneByteReader(bytes.NewReader(in))}} {
				var out bytes.Buffer
				var calls []meter.Tokens
				opts := tc.opts
				opts.AddToUsage = costHook(&calls)
				res, err := meter.Relay(&out, rd.r, opts)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), in) || res.Modified || len(calls) != 0 {
					t.Errorf("%s: body changed (Modified %v, %d calls):\n got %q\nwant %q", rd.name, res.Modified, len(calls), out.Bytes(), in)
				}
			}
		})
	}
	t.Run("upstream error forwards what arrived", func(t *testing.T) {
		in := providertest.WithModel(providertest.Testdata(t, "openai_sync.json"), "m")
		var out bytes.Buffer
		var calls []meter.Tokens
		res, err := meter.Relay(&out, failingReader(in[:50], io.ErrUnexpectedEOF), meter.Options{AddToUsage: costHook(&calls)})
		if !errors.Is(err, meter.ErrUpstream) {
			t.Fatalf("err = %v, want ErrUpstream", err)
		}
		if out.String() != string(in[:50]) || res.Modified || res.SawDone || len(calls) != 0 {
			t.Errorf("got %q, %+v, %d calls", out.String(), res, len(calls))
		}
	})
}

// BenchmarkRelayAddToUsage relays a recorded stream and a JSON body with
// and without the hook. With a nil AddToUsage nothing is held back or
// copied for it, so "sse/nil" and "json/nil" allocate exactly what the relay
// allocated before AddToUsage existed; "hook" shows the cost of the feature.
func BenchmarkRelayAddToUsage(b *testing.B) {
	sse := bytes.Repeat(providertest.WithModel(providertest.Testdata(b, "openai_streaming_include_usage.txt"), "gpt-4o-mini"), 20)
	body := providertest.WithModel(providertest.Testdata(b, "openai_sync.json"), "gpt-4o-mini")
	hook := func(meter.Tokens) []byte { return []byte(costMembers) }
	for _, bc := range []struct {
		name string
		in   []byte
		opts meter.Options
	}{
		{"sse/nil", sse, meter.Options{Format: meter.FormatSSE}},
		{"sse/hook", sse, meter.Options{Format: meter.FormatSSE, AddToUsage: hook}},
		{"json/nil", body, meter.Options{}},
		{"json/hook", body, meter.Options{AddToUsage: hook}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			r := bytes.NewReader(bc.in)
			for range b.N {
				r.Reset(bc.in)
				if _, err := meter.Relay(io.Discard, r, bc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
