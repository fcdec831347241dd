package classify

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// benchRequest returns a catalogue of 50 models and a request with a 2 KB
// user prompt and a short system prompt.
func benchRequest() Request {
	r := rand.New(rand.NewPCG(42, 42))
	ms := make([]Model, 50)
	for i := range ms {
		ms[i] = randModel(r, int64(i+1))
		ms[i].Description = randText(r, 40) + " " + randText(r, 20)
		ms[i].Providers = nil
	}
	var b strings.Builder
	for b.Len() < 2048 {
		b.WriteString(randText(r, 12))
		b.WriteString(". Please review the attached notes and answer briefly. ")
	}
	return Request{System: "You are a coding assistant. Keep answers fast and add tests.", User: b.String()[:2048],
		Policy: DefaultPolicy(), Models: ms}
}

// BenchmarkClassify measures the pipeline with the lexical stage: 50 models,
// a 2 KB prompt.
func BenchmarkClassify(b *testing.B) {
	req := benchRequest()
	p := New(Config{})
	p.SetModels(req.Models)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Classify(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassifyEmbeddings measures the same request with the embeddings
// stage against a fake embeddings server on loopback: the descriptions are
// cached after the first request, so each request costs one prompt embedding
// round trip plus the cosine scores.
func BenchmarkClassifyEmbeddings(b *testing.B) {
	req := benchRequest()
	f := newFakeEmbeddings(b)
	emb, err := NewEmbeddings(EmbeddingsConfig{Embedder: f.embedder(), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer emb.Close()
	p := New(Config{Similarity: emb, SimilarityTimeout: 10 * time.Second, Logger: quietLogger()})
	p.SetModels(req.Models)
	ctx := context.Background()
	if _, err := p.Classify(ctx, req); err != nil { // fill the description cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Classify(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	if p.Fallbacks() != 0 {
		b.Fatalf("%d fallbacks", p.Fallbacks())
	}
}
