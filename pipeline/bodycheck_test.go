package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/logos-llm/logos/internal/jsonobj"
)

// TestParseBodyRefusesAmbiguousMembers: bodies in which an upstream that
// decodes like Go's encoding/json would read another model, stream flag or
// Logos field than Logos read are refused with 400 naming the member.
func TestParseBodyRefusesAmbiguousMembers(t *testing.T) {
	for _, tc := range []struct {
		body, param, code string
	}{
		{`{"model":"llama3:8b","Model":"llama3:70b-private"}`, "Model", "ambiguous_member"},
		{`{"model":"llama3:8b","MODEL":"x"}`, "MODEL", "ambiguous_member"},
		{`{"Model":"x"}`, "Model", "ambiguous_member"},
		{`{"model":"a","model":"b"}`, "model", "duplicate_member"},
		{`{"model":"a","\u006dodel":"b"}`, "model", "duplicate_member"},
		{`{"model":"a","messages":[],"messages":[]}`, "messages", "duplicate_member"},
		{`{"model":"a","stream":false,"Stream":true}`, "Stream", "ambiguous_member"},
		{"{\"model\":\"a\",\"\u017ftream\":true}", "\u017ftream", "ambiguous_member"}, // ſ folds to S
		{`{"model":"a","STREAM_OPTIONS":{}}`, "STREAM_OPTIONS", "ambiguous_member"},
		{`{"model":"a","stream_options":{"Include_Usage":true}}`, "stream_options.Include_Usage", "ambiguous_member"},
		{`{"model":"a","stream_options":{"include_usage":false,"include_usage":true}}`, "stream_options.include_usage", "duplicate_member"},
		{`{"model":"a","Timeout_S":5}`, "Timeout_S", "ambiguous_member"},
		{"{\"model\":\"a\",\"t\u0131meout_s\":5}", "t\u0131meout_s", "ambiguous_member"},     // ı folds to I
		{"{\"model\":\"a\",\"logos_\u212aey\":\"k\"}", "logos_\u212aey", "ambiguous_member"}, // Kelvin sign
		{`{"model":"a","LOGOS_KEY":"k"}`, "LOGOS_KEY", "ambiguous_member"},
		{`{"model":"a","Logos_anything":1}`, "Logos_anything", "ambiguous_member"},
		{`{"model":"a","Use_Profile":1}`, "Use_Profile", "ambiguous_member"},
	} {
		for _, native := range []bool{false, true} {
			_, e := ParseBody([]byte(tc.body), native)
			if e == nil || e.Status != 400 || e.Param != tc.param || e.Code != tc.code {
				t.Errorf("ParseBody(%s, native=%v) = %+v, want 400 param %q code %q", tc.body, native, e, tc.param, tc.code)
			}
		}
	}
	for _, ok := range []string{
		`{"model":"a","models":["x"],"modelo":1,"stream":true,"stream_options":{"include_usage":true},"logos_key":"k","timeout_s":3}`,
		`{"model":"a","metadata":{"Model":"x","model":"y"},"messages":[{"role":"user","content":"model"}]}`,
		`{"model":"a","Top_P":1,"Seed":2,"USER":"u"}`,
	} {
		if _, e := ParseBody([]byte(ok), false); e != nil {
			t.Errorf("ParseBody(%s) = %v, want accepted", ok, e)
		}
	}
}

// goView is what an upstream decoding the body with Go's encoding/json
// reads of the members Logos authorises, rewrites or strips.
type goView struct {
	Model         *string          `json:"model"`
	Stream        *bool            `json:"stream"`
	StreamOptions *json.RawMessage `json:"stream_options"`
	TimeoutS      *json.RawMessage `json:"timeout_s"`
	LogosKey      *json.RawMessage `json:"logos_key"`
	UseProfile    *json.RawMessage `json:"use_profile"`
}

// FuzzRewriteBody checks the body rewriting against Go's decoder: for every
// body ParseBody accepts, what encoding/json reads from the rewritten body as
// model and stream is what Logos authorised, stream usage is on when Logos
// injected it, and no Logos field survives.
func FuzzRewriteBody(f *testing.F) {
	for _, s := range []string{
		`{"model":"llama3:8b","messages":[]}`,
		`{"model":"llama3:8b","Model":"llama3:70b-private"}`,
		`{"model":"a","model":"b"}`,
		`{"model":"a","stream":true,"stream_options":{"include_usage":false}}`,
		`{"model":"a","stream":true,"stream_options":{"Include_Usage":true}}`,
		"{\"model\":\"a\",\"\u017ftream\":true}",
		`{"model":"a","logos_key":"k","timeout_s":2,"use_profile":1,"logos_x":1}`,
		`{"model":"a","\u006dodel":"b"}`,
		`{"model":"a","stream":null,"stream_options":null}`,
	} {
		f.Add([]byte(s), "upstream-model", false, false)
		f.Add([]byte(s), "a", true, true)
	}
	f.Fuzz(func(t *testing.T, body []byte, upstream string, native, inject bool) {
		req, e := ParseBody(body, native)
		if e != nil || req.Model == "" {
			return
		}
		if !utf8.ValidString(upstream) {
			return
		}
		inject = inject && req.Stream
		out, err := rewriteBody(&req, upstream, inject)
		if err != nil {
			return
		}
		var v goView
		if err := json.Unmarshal(out, &v); err != nil {
			// Type errors elsewhere do not matter; the members we read must
			// have been decoded, so look at them only when Go got that far.
			var te *json.UnmarshalTypeError
			if !errors.As(err, &te) {
				t.Fatalf("rewritten body %q is not JSON: %v", out, err)
			}
			if strings.EqualFold(te.Field, "model") || strings.EqualFold(te.Field, "stream") {
				t.Fatalf("Go reads %s of %q as another type: %v", te.Field, out, err)
			}
		}
		if v.Model == nil || *v.Model != upstream {
			t.Fatalf("body %q authorised as %q, rewritten for %q; Go reads model %v from %q", body, req.Model, upstream, deref(v.Model), out)
		}
		stream := native
		if v.Stream != nil {
			stream = *v.Stream
		}
		if stream != req.Stream {
			t.Fatalf("Logos read stream=%v from %q; Go reads %v from %q", req.Stream, body, stream, out)
		}
		if inject {
			var so struct {
				IncludeUsage bool `json:"include_usage"`
			}
			if v.StreamOptions == nil || json.Unmarshal(*v.StreamOptions, &so) != nil || !so.IncludeUsage {
				t.Fatalf("usage injected but Go reads no include_usage from %q", out)
			}
		}
		if v.TimeoutS != nil || v.LogosKey != nil || v.UseProfile != nil {
			t.Fatalf("a Logos field survived in %q", out)
		}
		if m, ok := jsonobj.Members(out); ok {
			for k := range m {
				if strings.HasPrefix(strings.ToLower(k), "logos_") {
					t.Fatalf("Logos field %q survived in %q", k, out)
				}
			}
		}
		if bytes.Equal(out, body) && upstream != req.Model {
			t.Fatalf("model not rewritten in %q", out)
		}
	})
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// BenchmarkParseBodyStreamOptions measures the body check on a typical chat request: the
// one scan of top-level members plus the ambiguity checks.
func BenchmarkParseBodyStreamOptions(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in five words."}],"stream":true,"stream_options":{"include_usage":true},"temperature":0.2,"max_tokens":64,"user":"bench"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, e := ParseBody(body, false); e != nil {
			b.Fatal(e)
		}
	}
}
