package logos

import (
	"context"
	"errors"
	"testing"
)

// TestSystemEmbedderRefusesRecursion: an embeddings call made while the
// system's own embeddings request is being served (which would mean that
// request was classified) fails at once instead of recursing.
func TestSystemEmbedderRefusesRecursion(t *testing.T) {
	e := &systemEmbedder{model: "embedder"}
	ctx := context.WithValue(context.Background(), systemCallKey{}, true)
	if _, err := e.Embed(ctx, []string{"x"}); !errors.Is(err, ErrEmbeddingsRecursion) {
		t.Fatalf("Embed inside a system call: %v, want ErrEmbeddingsRecursion", err)
	}
	if _, err := e.Embed(context.Background(), []string{"x"}); !errors.Is(err, ErrNoSystemProcess) {
		t.Fatalf("Embed before the Router is bound: %v, want ErrNoSystemProcess", err)
	}
}
