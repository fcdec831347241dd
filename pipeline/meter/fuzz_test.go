package meter_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/logos-llm/logos/pipeline/meter"
)

// fuzzReader returns src in reads of at most n bytes (n from the fuzzer),
// so event and line boundaries fall anywhere within reads.
type fuzzReader struct {
	src []byte
	n   int
}

func (r *fuzzReader) Read(p []byte) (int, error) {
	if len(r.src) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n, len(r.src))
	copy(p, r.src[:k])
	r.src = r.src[k:]
	return k, nil
}

// FuzzRelay feeds arbitrary upstream bodies, in arbitrary reads, through
// the SSE, NDJSON and JSON usage extraction. Relay must not panic; without
// AddToUsage it must forward every byte unchanged; with AddToUsage a valid
// JSON body stays valid JSON. The seed corpus (testdata/fuzz/FuzzRelay and
// the recorded fixtures added below) runs under plain go test.
func FuzzRelay(f *testing.F) {
	seeds := []string{
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5,\"total_tokens\":8}}\n\ndata: [DONE]\n\n",
		"data: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}}\r\n\r\n",
		"{\"model\":\"m\",\"done\":false}\n{\"model\":\"m\",\"done\":true,\"prompt_eval_count\":4,\"eval_count\":9}\n",
		"{\"id\":\"x\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":1}}}",
		"{\"usage\":{}}",
		": comment\n\nevent: ping\ndata:\n\n",
		"\xef\xbb\xbfdata: {\"usage\":null}\n\n",
	}
	for _, s := range seeds {
		for format := range 3 {
			f.Add([]byte(s), uint8(format), uint8(7), false)
		}
	}
	for _, name := range []string{"azure_streaming.txt", "openwebui_streaming.txt", "azure_sync.json", "openwebui_sync.json"} {
		b, err := os.ReadFile(filepath.Join("../../../shared/fixtures", name))
		if err != nil {
			continue // the committed corpus holds them too
		}
		format := uint8(meter.FormatSSE)
		if filepath.Ext(name) == ".json" {
			format = uint8(meter.FormatJSON)
		}
		f.Add(b, format, uint8(13), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, format, chunk uint8, addCost bool) {
		opts := meter.Options{Format: meter.Format(format % 3), MaxEventSize: 1 << 12}
		if addCost {
			opts.AddToUsage = func(meter.Tokens) []byte { return []byte(`"cost":0.5`) }
		}
		var out bytes.Buffer
		res, err := meter.Relay(&out, &fuzzReader{src: body, n: int(chunk)%64 + 1}, opts)
		if err != nil {
			t.Fatalf("Relay of a complete body: %v", err)
		}
		if res.BytesIn != int64(len(body)) {
			t.Fatalf("BytesIn %d, body %d bytes", res.BytesIn, len(body))
		}
		if !addCost && !bytes.Equal(out.Bytes(), body) {
			t.Fatalf("forwarded body differs:\nin  %q\nout %q", body, out.Bytes())
		}
		if addCost && opts.Format == meter.FormatJSON && json.Valid(body) && !json.Valid(out.Bytes()) {
			t.Fatalf("cost members broke a valid JSON body:\nin  %q\nout %q", body, out.Bytes())
		}
		if !res.Modified && !bytes.Equal(out.Bytes(), body) {
			t.Fatalf("body changed without Modified:\nin  %q\nout %q", body, out.Bytes())
		}
	})
}
