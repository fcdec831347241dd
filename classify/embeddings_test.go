package classify

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeEmbeddings is an OpenAI-compatible /v1/embeddings server whose vectors
// are hashed bags of words: texts sharing words point the same way. It is a
// stand-in for a real embeddings model in tests, not a model of its quality.
type fakeEmbeddings struct {
	srv    *httptest.Server
	calls  atomic.Int64 // requests
	inputs atomic.Int64 // texts embedded
	mu     sync.Mutex
	delay  time.Duration
	status int
}

func newFakeEmbeddings(t testing.TB) *fakeEmbeddings {
	f := &fakeEmbeddings{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEmbeddings) setDelay(d time.Duration) { f.mu.Lock(); f.delay = d; f.mu.Unlock() }

func (f *fakeEmbeddings) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	f.mu.Lock()
	delay, status := f.delay, f.status
	f.mu.Unlock()
	if r.URL.Path != "/v1/embeddings" || r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer sk-test" {
		http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
		return
	}
	if status != 0 {
		http.Error(w, `{"error":{"message":"down"}}`, status)
		return
	}
	var req struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil || req.Model != "fake-embed" {
		http.Error(w, `{"error":{"message":"bad body"}}`, http.StatusBadRequest)
		return
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	f.inputs.Add(int64(len(req.Input)))
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	resp := struct {
		Object string `json:"object"`
		Data   []item `json:"data"`
		Model  string `json:"model"`
	}{Object: "list", Model: req.Model}
	for i := len(req.Input) - 1; i >= 0; i-- { // out of order on purpose: clients must use index
		resp.Data = append(resp.Data, item{Object: "embedding", Index: i, Embedding: hashEmbed(req.Input[i])})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func hashEmbed(text string) []float32 {
	v := make([]float32, 256)
	forEachTerm(text, nil, func(term []byte) {
		h := fnv.New32a()
		h.Write(term)
		v[h.Sum32()%256]++
	})
	v[0] += 0.01 // never the zero vector
	return v
}

func (f *fakeEmbeddings) embedder() *HTTPEmbedder {
	return &HTTPEmbedder{URL: f.srv.URL + "/v1/embeddings", Model: "fake-embed", APIKey: "sk-test", Client: f.srv.Client()}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestEmbeddingsCachesDescriptions(t *testing.T) {
	f := newFakeEmbeddings(t)
	emb, err := NewEmbeddings(EmbeddingsConfig{Embedder: f.embedder(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	p := New(Config{Similarity: emb, SimilarityTimeout: 5 * time.Second, Logger: quietLogger()})
	ms := testModels()
	p.SetModels(ms)
	req := Request{User: "prove this math theorem with deep reasoning", Policy: DefaultPolicy(), Models: ms}
	got, err := p.Classify(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].ModelID != 3 || got[0].Similarity != "embeddings" || got[0].Scores.Similarity != 1 {
		t.Fatalf("want the reasoning model first by embeddings, got %+v", got)
	}
	if n := f.inputs.Load(); n != 4 {
		t.Errorf("first request embedded %d texts, want 3 descriptions + 1 prompt", n)
	}
	if _, err := p.Classify(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if n := f.inputs.Load(); n != 5 {
		t.Errorf("second request embedded %d more texts, want only the prompt", n-4)
	}
	ms[0].Description = "changed"
	p.SetModels(ms)
	req.Models = ms
	if _, err := p.Classify(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if n := f.inputs.Load(); n != 7 {
		t.Errorf("after a description change %d texts embedded, want the changed one and the prompt", n-5)
	}
	if p.Fallbacks() != 0 {
		t.Errorf("Fallbacks = %d", p.Fallbacks())
	}
}

func TestEmbeddingsSingleflight(t *testing.T) {
	f := newFakeEmbeddings(t)
	f.setDelay(200 * time.Millisecond)
	emb, err := NewEmbeddings(EmbeddingsConfig{Embedder: f.embedder(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	p := New(Config{Similarity: emb, SimilarityTimeout: 5 * time.Second, Logger: quietLogger()})
	ms := testModels()
	p.SetModels(ms)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Classify(context.Background(), Request{User: "write a summary", Policy: DefaultPolicy(), Models: ms}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// 8 prompts plus the three descriptions, filled once.
	if n := f.inputs.Load(); n != 8+3 {
		t.Errorf("embedded %d texts, want 11 (descriptions filled once)", n)
	}
}

func TestEmbeddingsDeadlineFallsBackToLexical(t *testing.T) {
	f := newFakeEmbeddings(t)
	f.setDelay(time.Second)
	emb, err := NewEmbeddings(EmbeddingsConfig{Embedder: f.embedder(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{Similarity: emb, SimilarityTimeout: 20 * time.Millisecond, Logger: quietLogger()})
	ms := testModels()
	got, err := p.Classify(context.Background(), Request{User: "prove this math theorem", Policy: DefaultPolicy(), Models: ms})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Similarity != "lexical_fallback" || p.Fallbacks() != 1 {
		t.Errorf("source %q, fallbacks %d; want lexical_fallback, 1", got[0].Similarity, p.Fallbacks())
	}
	if got[0].ModelID != 3 {
		t.Errorf("lexical fallback should still pick the reasoning model: %+v", got)
	}
	// Close cancels the background fill still waiting on the slow server.
	done := make(chan struct{})
	go func() { _ = emb.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the background fill")
	}
	if err := emb.Similarity(context.Background(), p.Snapshot(), "x", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

func TestEmbeddingsUpstreamErrorFallsBack(t *testing.T) {
	f := newFakeEmbeddings(t)
	f.status = http.StatusServiceUnavailable
	emb, _ := NewEmbeddings(EmbeddingsConfig{Embedder: f.embedder(), Logger: quietLogger()})
	defer emb.Close()
	p := New(Config{Similarity: emb, Logger: quietLogger()})
	got, err := p.Classify(context.Background(), Request{User: "math", Policy: DefaultPolicy(), Models: testModels()})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Similarity != "lexical_fallback" || p.Fallbacks() != 1 {
		t.Errorf("source %q fallbacks %d", got[0].Similarity, p.Fallbacks())
	}
}

func TestHTTPEmbedderErrorsHideKey(t *testing.T) {
	f := newFakeEmbeddings(t)
	e := f.embedder()
	e.APIKey = "sk-secret-value"
	_, err := e.Embed(context.Background(), []string{"a"})
	if err == nil || strings.Contains(err.Error(), "sk-secret-value") {
		t.Fatalf("err = %v; want an error without the key", err)
	}
}
