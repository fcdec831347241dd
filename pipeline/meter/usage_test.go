package meter_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/logos-llm/logos/pipeline/meter"
	"github.com/logos-llm/logos/providers/providertest"
)

func TestParseUsage(t *testing.T) {
	tests := []struct {
		name  string
		usage string
		want  meter.Tokens
	}{
		{
			name:  "openai basic",
			usage: `{"prompt_tokens":15,"completion_tokens":10,"total_tokens":25}`,
			want:  meter.Tokens{"prompt_tokens": 15, "completion_tokens": 10, "total_tokens": 25},
		},
		{
			name: "details flattened, zero details dropped",
			usage: `{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,
				"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},
				"completion_tokens_details":{"reasoning_tokens":5,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`,
			want: meter.Tokens{"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
				"prompt_cached_tokens": 3, "completion_reasoning_tokens": 5},
		},
		{
			name:  "null details ignored",
			usage: `{"prompt_tokens":5,"completion_tokens":1,"prompt_tokens_details":null,"completion_tokens_details":null}`,
			want:  meter.Tokens{"prompt_tokens": 5, "completion_tokens": 1},
		},
		{
			name:  "azure latency_checkpoint object skipped",
			usage: `{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"latency_checkpoint":{"t0":1.5,"t1":3}}`,
			want:  meter.Tokens{"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
		},
		{
			name:  "strings, negatives, fractions, bools, null and arrays skipped",
			usage: `{"prompt_tokens":"12","completion_tokens":-3,"total_tokens":12.5,"x_tokens":true,"y_tokens":null,"z_tokens":[1]}`,
			want:  meter.Tokens{},
		},
		{
			name:  "integral floats accepted",
			usage: `{"prompt_tokens":12.0,"completion_tokens":1e1,"total_tokens":2.2e1}`,
			want:  meter.Tokens{"prompt_tokens": 12, "completion_tokens": 10, "total_tokens": 22},
		},
		{
			name:  "out of range skipped, max int64 accepted",
			usage: `{"prompt_tokens":1e30,"completion_tokens":9223372036854775807,"total_tokens":99999999999999999999}`,
			want:  meter.Tokens{"completion_tokens": 9223372036854775807},
		},
		{
			name:  "zero counts dropped",
			usage: `{"prompt_tokens":0,"completion_tokens":4,"total_tokens":4}`,
			want:  meter.Tokens{"completion_tokens": 4, "total_tokens": 4},
		},
		{
			name:  "unknown integer fields copied",
			usage: `{"prompt_tokens":1,"cache_creation_input_tokens":7}`,
			want:  meter.Tokens{"prompt_tokens": 1, "cache_creation_input_tokens": 7},
		},
		{
			name:  "other tokens_details objects not copied",
			usage: `{"prompt_tokens":3,"audio_tokens_details":{"x":1},"tokens_details_count":4}`,
			want:  meter.Tokens{"prompt_tokens": 3},
		},
		{
			name:  "detail values type-checked",
			usage: `{"prompt_tokens_details":{"cached_tokens":"3","audio_tokens":-1,"image_tokens":2.0,"nested":{"a":1}}}`,
			want:  meter.Tokens{"prompt_image_tokens": 2},
		},
		{
			name: "responses api names",
			usage: `{"input_tokens":37,"input_tokens_details":{"cached_tokens":4},"output_tokens":11,
				"output_tokens_details":{"reasoning_tokens":2},"total_tokens":48}`,
			want: meter.Tokens{"prompt_tokens": 37, "prompt_cached_tokens": 4, "completion_tokens": 11,
				"completion_reasoning_tokens": 2, "total_tokens": 48},
		},
		{
			name:  "responses api null details",
			usage: `{"input_tokens":3,"input_tokens_details":null,"output_tokens":4,"output_tokens_details":null,"total_tokens":7}`,
			want:  meter.Tokens{"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
		},
		{
			name:  "own prompt_tokens win over input_tokens",
			usage: `{"prompt_tokens":5,"input_tokens":7}`,
			want:  meter.Tokens{"prompt_tokens": 5},
		},
		{
			name: "audio transcription token usage",
			usage: `{"type":"tokens","input_tokens":14,"input_token_details":{"text_tokens":10,"audio_tokens":4},
				"output_tokens":45,"total_tokens":59}`,
			want: meter.Tokens{"prompt_tokens": 14, "prompt_text_tokens": 10, "prompt_audio_tokens": 4,
				"completion_tokens": 45, "total_tokens": 59},
		},
		{
			name: "ollama native counts",
			usage: `{"total_duration":5191566416,"load_duration":2154458,"prompt_eval_count":26,
				"prompt_eval_duration":383809000,"eval_count":290,"eval_duration":4799921000}`,
			want: meter.Tokens{"prompt_tokens": 26, "completion_tokens": 290, "total_tokens": 316},
		},
		{
			name:  "ollama native prompt only (embeddings)",
			usage: `{"total_duration":14143917,"load_duration":1019500,"prompt_eval_count":8}`,
			want:  meter.Tokens{"prompt_tokens": 8, "total_tokens": 8},
		},
		{
			name: "openwebui usage with ollama timing keys",
			usage: `{"response_token/s":58.8,"prompt_token/s":303.2,"total_duration":5191566416,"load_duration":2154458,
				"prompt_eval_count":26,"prompt_tokens":26,"prompt_eval_duration":383809000,"eval_count":290,
				"completion_tokens":290,"eval_duration":4799921000,"approximate_total":"0h0m5s","total_tokens":316,
				"completion_tokens_details":{"reasoning_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`,
			want: meter.Tokens{"prompt_tokens": 26, "completion_tokens": 290, "total_tokens": 316},
		},
		{
			name:  "names containing /s skipped even when integral",
			usage: `{"prompt_tokens":2,"tokens/s":40,"approximate_total":12}`,
			want:  meter.Tokens{"prompt_tokens": 2},
		},
		{
			name:  "cost is not a token count",
			usage: `{"prompt_tokens":10,"cost":1,"cost_currency":"EUR"}`,
			want:  meter.Tokens{"prompt_tokens": 10},
		},
		{name: "whisper integral seconds", usage: `{"type":"duration","seconds":9}`, want: meter.Tokens{"audio_milliseconds": 9000}},
		{name: "whisper seconds exact", usage: `{"seconds":8.47}`, want: meter.Tokens{"audio_milliseconds": 8470}},
		{name: "whisper seconds rounded up", usage: `{"seconds":8.4701}`, want: meter.Tokens{"audio_milliseconds": 8471}},
		{name: "whisper tiny seconds", usage: `{"seconds":0.0001}`, want: meter.Tokens{"audio_milliseconds": 1}},
		{name: "whisper negative seconds", usage: `{"seconds":-2}`, want: meter.Tokens{}},
		{name: "invalid json", usage: `not json`, want: meter.Tokens{}},
		{name: "null", usage: `null`, want: meter.Tokens{}},
		{name: "array", usage: `[1,2]`, want: meter.Tokens{}},
		{name: "empty", usage: ``, want: meter.Tokens{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := meter.ParseUsage([]byte(tc.usage))
			if got == nil {
				t.Fatal("ParseUsage returned nil")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseUsage(%s) mismatch (-want +got):\n%s", tc.usage, diff)
			}
		})
	}
}

// usageDoc is a JSON body with the usage UsageFromJSON should find.
type usageDoc struct {
	name   string
	body   func(t *testing.T) []byte
	want   meter.Tokens
	wantOK bool
}

func str(s string) func(*testing.T) []byte { return func(*testing.T) []byte { return []byte(s) } }

func own(name string) func(*testing.T) []byte {
	return func(t *testing.T) []byte { return providertest.WithModel(providertest.Testdata(t, name), "m") }
}

func shared(name string) func(*testing.T) []byte {
	return func(t *testing.T) []byte { return providertest.WithModel(providertest.SharedFixture(t, name), "m") }
}

// bigEmbeddings is an embeddings response of about 2 MiB whose usage comes
// last, as OpenAI sends it.
func bigEmbeddings(*testing.T) []byte {
	var b bytes.Buffer
	b.WriteString(`{"object":"list","data":[`)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 64 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"object":"embedding","index":%d,"embedding":[`, i)
		for j := range 1536 {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%.9f", rng.Float64()*2-1)
		}
		b.WriteString("]}")
	}
	b.WriteString(`],"model":"text-embedding-3-small","usage":{"prompt_tokens":4096,"total_tokens":4096}}`)
	return b.Bytes()
}

func usageDocs() []usageDoc {
	return []usageDoc{
		{"azure sync fixture", shared("azure_sync.json"), meter.Tokens{"prompt_tokens": 15, "completion_tokens": 10, "total_tokens": 25}, true},
		{"openwebui sync fixture", shared("openwebui_sync.json"), meter.Tokens{"prompt_tokens": 12, "completion_tokens": 10, "total_tokens": 22}, true},
		{"openai sync with details", own("openai_sync.json"), meter.Tokens{"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29, "prompt_cached_tokens": 3, "completion_reasoning_tokens": 5}, true},
		{"responses api body", own("responses_sync.json"), meter.Tokens{"prompt_tokens": 37, "completion_tokens": 11, "total_tokens": 48}, true},
		{"openai embeddings", own("openai_embeddings.json"), meter.Tokens{"prompt_tokens": 8, "total_tokens": 8}, true},
		{"ollama chat", own("ollama_chat.json"), meter.Tokens{"prompt_tokens": 26, "completion_tokens": 290, "total_tokens": 316}, true},
		{"ollama generate (response is a string)", own("ollama_generate.json"), meter.Tokens{"prompt_tokens": 13, "completion_tokens": 42, "total_tokens": 55}, true},
		{"ollama embed", own("ollama_embed.json"), meter.Tokens{"prompt_tokens": 8, "total_tokens": 8}, true},
		{"ollama openai-compatible", own("ollama_v1_sync.json"), meter.Tokens{"prompt_tokens": 26, "completion_tokens": 9, "total_tokens": 35}, true},
		{"large body, usage last", bigEmbeddings, meter.Tokens{"prompt_tokens": 4096, "total_tokens": 4096}, true},
		{"responses event wrapper", str(`{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":3,"output_tokens":4,"total_tokens":7}}}`),
			meter.Tokens{"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}, true},
		{"top-level usage wins over response.usage", str(`{"response":{"usage":{"prompt_tokens":1}},"usage":{"prompt_tokens":2}}`), meter.Tokens{"prompt_tokens": 2}, true},
		{"whitespace everywhere", str("{ \"usage\" :\n { \"prompt_tokens\" : 2 ,\t\"total_tokens\":2 } }"), meter.Tokens{"prompt_tokens": 2, "total_tokens": 2}, true},
		{"usage in strings ignored", str(`{"text":"\"usage\":{\"prompt_tokens\":5}","usage":{"prompt_tokens":1}}`), meter.Tokens{"prompt_tokens": 1}, true},
		{"zero usage found but empty", str(`{"usage":{"prompt_tokens":0}}`), meter.Tokens{}, true},
		{"null usage", str(`{"id":"x","usage":null}`), meter.Tokens{}, false},
		{"no usage", str(`{"id":"x","choices":[]}`), meter.Tokens{}, false},
		{"nested usage is not top-level", str(`{"choices":[{"usage":{"prompt_tokens":1}}],"data":{"usage":{"prompt_tokens":2}}}`), meter.Tokens{}, false},
		{"usage not an object", str(`{"usage":12}`), meter.Tokens{}, false},
		{"response is a string", str(`{"response":"usage","done":true}`), meter.Tokens{}, false},
		{"truncated", str(`{"usage":{"prompt_tokens":1`), meter.Tokens{}, false},
		{"not json", str(`Internal Server Error`), meter.Tokens{}, false},
		{"top-level array", str(`[{"usage":{"prompt_tokens":1}}]`), meter.Tokens{}, false},
		{"empty", str(``), meter.Tokens{}, false},
	}
}

func TestUsageFromJSON(t *testing.T) {
	for _, tc := range usageDocs() {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body(t)
			got, ok := meter.UsageFromJSON(body)
			if ok != tc.wantOK {
				t.Errorf("ok = %v, want %v", ok, tc.wantOK)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("UsageFromJSON mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// referenceUsage decodes a whole valid JSON document the straightforward
// way; UsageFromJSON must agree with it.
func referenceUsage(body []byte) (meter.Tokens, bool) {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return meter.Tokens{}, false
	}
	isObj := func(r json.RawMessage) bool {
		r = bytes.TrimSpace(r)
		return len(r) > 0 && r[0] == '{'
	}
	if u := doc["usage"]; isObj(u) {
		return meter.ParseUsage(u), true
	}
	if resp := doc["response"]; isObj(resp) {
		var inner map[string]json.RawMessage
		if json.Unmarshal(resp, &inner) == nil && isObj(inner["usage"]) {
			return meter.ParseUsage(inner["usage"]), true
		}
	}
	p, okP := doc["prompt_eval_count"]
	c, okC := doc["eval_count"]
	if okP || okC {
		u, _ := json.Marshal(map[string]json.RawMessage{"prompt_eval_count": orNull(p), "eval_count": orNull(c)})
		return meter.ParseUsage(u), true
	}
	return meter.Tokens{}, false
}

func orNull(r json.RawMessage) json.RawMessage {
	if r == nil {
		return json.RawMessage("null")
	}
	return r
}

func FuzzUsageFromJSON(f *testing.F) {
	f.Add([]byte(`{"usage":{"prompt_tokens":15,"completion_tokens":10,"total_tokens":25}}`))
	f.Add([]byte(`{"response":{"usage":{"input_tokens":3,"output_tokens":4}}}`))
	f.Add([]byte(`{"prompt_eval_count":26,"eval_count":290,"response":"x"}`))
	f.Add([]byte(`{"a":[{"usage":1}],"usage":{"prompt_tokens_details":{"cached_tokens":2}}}`))
	f.Add([]byte(`{"response":[{"usage":{"prompt_tokens":1}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) || bytes.Contains(body, []byte(`\u`)) {
			// The scanner matches keys literally; escaped key spellings
			// are outside its contract.
			return
		}
		want, wantOK := referenceUsage(body)
		got, ok := meter.UsageFromJSON(body)
		if ok != wantOK || !cmp.Equal(want, got) {
			t.Fatalf("UsageFromJSON(%s) = %v, %v; reference %v, %v", body, got, ok, want, wantOK)
		}
	})
}

func TestUsageFromJSONAgreesWithReference(t *testing.T) {
	for _, tc := range usageDocs() {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body(t)
			if !json.Valid(body) {
				t.Skip("reference only defined for valid JSON")
			}
			want, wantOK := referenceUsage(body)
			got, ok := meter.UsageFromJSON(body)
			if ok != wantOK {
				t.Errorf("ok = %v, reference %v", ok, wantOK)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mismatch with reference (-ref +got):\n%s", diff)
			}
		})
	}
}

// TestRelayJSONUsageChunked checks that the streaming extraction used by
// Relay for JSON bodies finds the same usage however the body is split.
func TestRelayJSONUsageChunked(t *testing.T) {
	for _, tc := range usageDocs() {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body(t)
			for _, rd := range readers(body) {
				var out bytes.Buffer
				res, err := meter.Relay(&out, rd.r, meter.Options{Format: meter.FormatJSON})
				if err != nil {
					t.Fatalf("%s: Relay: %v", rd.name, err)
				}
				if !bytes.Equal(out.Bytes(), body) {
					t.Fatalf("%s: output differs from input", rd.name)
				}
				want := tc.want
				if !tc.wantOK {
					want = nil
				}
				if diff := cmp.Diff(want, res.Usage); diff != "" {
					t.Errorf("%s: usage mismatch (-want +got):\n%s", rd.name, diff)
				}
			}
		})
	}
}

func TestCountEdgeCasesViaParseUsage(t *testing.T) {
	// A number with surrounding exponent forms and -0.
	got := meter.ParseUsage([]byte(`{"a_tokens":-0,"b_tokens":1E2,"c_tokens":1.5e1,"d_tokens":0.0}`))
	want := meter.Tokens{"b_tokens": 100, "c_tokens": 15}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	if strings.Contains(fmt.Sprint(got), "a_tokens") {
		t.Error("-0 must be dropped as a zero count")
	}
}
