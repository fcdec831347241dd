package ollama_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/ollama"
)

// psSeveral is an /api/ps answer in Ollama's shape with three loaded models:
// nanosecond expiry in a negative offset, one in UTC with Z, and one whose
// expiry is missing.
const psSeveral = `{"models":[
{"name":"llama3:latest","model":"llama3:latest","size":5137025024,"digest":"365c0bd3c000","details":{"format":"gguf","family":"llama","parameter_size":"8.0B","quantization_level":"Q4_0"},"expires_at":"2024-06-04T14:38:31.837530128-07:00","size_vram":5137025024,"context_length":8192},
{"name":"qwen2.5:7b","model":"qwen2.5:7b","size":6000000000,"digest":"abc","details":{},"expires_at":"2024-06-04T21:40:00Z","size_vram":4000000000},
{"model":"all-minilm:latest","size":45960996,"size_vram":45960996}
]}`

func TestParsePS(t *testing.T) {
	got, err := ollama.ParsePS([]byte(psSeveral))
	if err != nil {
		t.Fatal(err)
	}
	want := []providers.LoadedModel{
		{Name: "llama3:latest", Model: "llama3:latest", Size: 5137025024, SizeVRAM: 5137025024,
			ExpiresAt: time.Date(2024, 6, 4, 21, 38, 31, 837530128, time.UTC)},
		{Name: "qwen2.5:7b", Model: "qwen2.5:7b", Size: 6000000000, SizeVRAM: 4000000000,
			ExpiresAt: time.Date(2024, 6, 4, 21, 40, 0, 0, time.UTC)},
		{Name: "all-minilm:latest", Model: "all-minilm:latest", Size: 45960996, SizeVRAM: 45960996},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ParsePS (-want +got):\n%s", d)
	}
	if off := got[0].ExpiresAt; off.Nanosecond() != 837530128 {
		t.Errorf("nanoseconds lost: %v", off)
	}
}

func TestParsePSNone(t *testing.T) {
	got, err := ollama.ParsePS([]byte(`{"models":[]}`))
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("ParsePS of no models = %#v, %v; want an empty, non-nil list", got, err)
	}
	for _, bad := range []string{``, `{}`, `{"models":{}}`, `[`, `{"error":"boom"}`} {
		if _, err := ollama.ParsePS([]byte(bad)); err == nil {
			t.Errorf("ParsePS(%q) succeeded, want an error", bad)
		}
	}
	// An unreadable expiry is unknown, not now+1h.
	got, err = ollama.ParsePS([]byte(`{"models":[{"name":"a","size_vram":1,"expires_at":"soon"}]}`))
	if err != nil || !got[0].ExpiresAt.IsZero() {
		t.Errorf("ParsePS with expires_at soon = %+v, %v; want a zero expiry", got, err)
	}
}

func TestParseTags(t *testing.T) {
	got, err := ollama.ParseTags([]byte(`{"models":[{"name":"llama3:latest","model":"llama3:latest"},{"model":"x:1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"llama3:latest", "x:1"}, got); d != "" {
		t.Errorf("ParseTags (-want +got):\n%s", d)
	}
	if _, err := ollama.ParseTags([]byte(`nope`)); err == nil {
		t.Error("ParseTags of invalid JSON succeeded")
	}
}

func TestPollState(t *testing.T) {
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		switch r.URL.Path {
		case "/ollama/api/ps":
			_, _ = w.Write([]byte(psSeveral))
		case "/ollama/api/tags":
			_, _ = w.Write([]byte(`{"models":[{"name":"llama3:latest"}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	p := ollama.New()
	tgt := providers.Target{Kind: providers.KindOllama, BaseURL: "http://inference.invalid", Credential: "sekrit"}
	st, err := p.PollState(context.Background(), srv.Client(), tgt, providers.PollOptions{AdminURL: srv.URL + "/ollama/v1"})
	if err != nil {
		t.Fatal(err)
	}
	if !st.LoadedKnown || len(st.Loaded) != 3 || st.VRAMUsedBytes != 5137025024+4000000000+45960996 {
		t.Errorf("state = %+v", st)
	}
	if d := cmp.Diff([]string{"llama3:latest"}, st.Available); d != "" {
		t.Errorf("Available (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"GET /ollama/api/ps Bearer sekrit", "GET /ollama/api/tags Bearer sekrit"}, auth); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}

	if _, err := p.PollState(context.Background(), srv.Client(), tgt, providers.PollOptions{}); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("PollState without an admin URL = %v, want ErrUnsupported", err)
	}
	_, err = p.PollState(context.Background(), srv.Client(), tgt, providers.PollOptions{AdminURL: srv.URL + "/elsewhere"})
	if err == nil || !strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "sekrit") {
		t.Errorf("PollState against a 404 = %v, want an error naming the status and not the credential", err)
	}
}
