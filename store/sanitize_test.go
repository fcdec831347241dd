package store

import (
	"encoding/json"
	"testing"
)

func TestSanitizeJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"plain object", `{"a":1,"b":"x"}`, `{"a":1,"b":"x"}`},
		{"nul escape dropped", `{"a":"x\u0000y"}`, `{"a":"xy"}`},
		{"nul escape in key", `{"k\u0000":1}`, `{"k":1}`},
		{"escaped backslash kept", `{"a":"\\u0000"}`, `{"a":"\\u0000"}`},
		{"other escapes kept", `{"a":"\u0041\n\""}`, `{"a":"\u0041\n\""}`},
		{"raw nul removed", "{\"a\":1}\x00", `{"a":1}`},
		{"invalid utf8 replaced", "{\"a\":\"\xff\"}", "{\"a\":\"\uFFFD\"}"},
		{"not json becomes string", "<html>oops</html>", `"\u003chtml\u003eoops\u003c/html\u003e"`},
		{"truncated json becomes string", `{"a":`, `"{\"a\":"`},
		{"array", `[1,"\u0000",null]`, `[1,"",null]`},
		{"lone surrogate replaced", `{"a":"\ud800x"}`, "{\"a\":\"\uFFFDx\"}"},
		{"surrogate pair kept", `{"a":"\ud83d\ude00","n":1.50}`, "{\"a\":\"\U0001F600\",\"n\":1.50}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(SanitizeJSON([]byte(tt.in)))
			if got != tt.want {
				t.Fatalf("SanitizeJSON(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got != "" && !json.Valid([]byte(got)) {
				t.Fatalf("result %q is not valid JSON", got)
			}
		})
	}
}

func TestSanitizeJSONDoesNotAlias(t *testing.T) {
	in := []byte(`{"a":1}`)
	out := SanitizeJSON(in)
	in[2] = 'b'
	if string(out) != `{"a":1}` {
		t.Fatalf("output aliases input: %s", out)
	}
}

func FuzzSanitizeJSON(f *testing.F) {
	for _, s := range []string{`{"a":"\u0000"}`, "\x00", "\xff\xfe", `[1,2]`, `"\\u0000"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out := SanitizeJSON(b)
		if len(b) == 0 {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q from %q", out, b)
		}
		for _, c := range out {
			if c == 0 {
				t.Fatalf("raw NUL in %q", out)
			}
		}
	})
}
