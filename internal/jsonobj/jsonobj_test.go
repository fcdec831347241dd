package jsonobj

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// membersSeeds are usage objects as providers send them, and the malformed
// and tricky inputs the splitter must judge exactly as encoding/json does.
var membersSeeds = []string{
	`{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}`,
	` {"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"x":[1,2,{"a":null}],"y":"s\"\\\/\b\f\n\r\tA"} `,
	`{}`, `{ }`, `{"a":1,"a":2}`, `{"\u0061":1,"a":2}`, `{"k\u00e9":true,"n":false,"z":null}`,
	`{"n":-0.5e+10,"m":0,"o":1E3,"p":-12.25}`,
	"{\"bad\xffkey\":1}", "{\"v\":\"bad\xffvalue\"}",
	``, `null`, `[]`, `"s"`, `1`, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1}}`, `{"a":1} x`,
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":+1}`, `{"a":tru}`, `{"a":nul}`, `{"a":truex}`,
	"{\"a\":\"ctl\x01\"}", `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12G4"}`, `{"a":"unterminated}`,
	`{"a":[1,2,]}`, `{"a":[,]}`, `{"a":{"b":1,}}`, `{'a':1}`, `{a:1}`,
	"{\"a\":1}\n", "\t{\"a\" : [ ] }\r\n",
	`{"a":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
}

func checkMembers(t *testing.T, in []byte) {
	t.Helper()
	var want map[string]json.RawMessage
	wantOK := json.Unmarshal(in, &want) == nil && want != nil
	got, ok := Members(in)
	if ok != wantOK {
		t.Fatalf("Members(%q) ok = %v, json.Unmarshal agrees: %v", in, ok, wantOK)
	}
	if !ok {
		return
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b json.RawMessage) bool { return bytes.Equal(a, b) })); diff != "" {
		t.Fatalf("Members(%q) differs from json.Unmarshal (-want +got):\n%s", in, diff)
	}
}

func TestMembersAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range membersSeeds {
		checkMembers(t, []byte(s))
	}
}

func FuzzMembers(f *testing.F) {
	for _, s := range membersSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkMembers(t, in) })
}

// BenchmarkMembers splits a chat completion request body.
func BenchmarkMembers(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"` + strings.Repeat("Tell me about the sea. ", 40) + `"}],"temperature":0.2,"stream":false,"max_tokens":256}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if m, ok := Members(body); !ok || len(m) != 5 {
			b.Fatal("Members failed")
		}
	}
}

// BenchmarkMembersEncodingJSON is BenchmarkMembers with json.Unmarshal, for
// comparison.
func BenchmarkMembersEncodingJSON(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"` + strings.Repeat("Tell me about the sea. ", 40) + `"}],"temperature":0.2,"stream":false,"max_tokens":256}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil || len(m) != 5 {
			b.Fatal("Unmarshal failed")
		}
	}
}
