package logos_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/store/sqlite"
)

// TestNewRefusesUnusableClassifier: a classifier configuration that would
// be ignored (ClassifierConfig beside a Classifier) or could not classify
// (a nil Classifier behind an interface, weights that are negative or not
// finite) is refused by New with ErrInvalidConfig, never silently dropped;
// a nil Classifier is defaulted to the built-in one.
func TestNewRefusesUnusableClassifier(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "logos.db"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sched, err := fcfs.New(fcfs.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer sched.Close()
	base := logos.Config{Store: st, Scheduler: sched, Logger: quiet}
	var nilPipeline *classify.Pipeline
	var nilFunc classify.ClassifierFunc
	custom := classify.ClassifierFunc(func(context.Context, classify.Request) ([]classify.Candidate, error) { return nil, nil })
	for name, mod := range map[string]func(*logos.Config){
		"nil *classify.Pipeline":      func(c *logos.Config) { c.Classifier = nilPipeline },
		"nil ClassifierFunc":          func(c *logos.Config) { c.Classifier = nilFunc },
		"ClassifierConfig beside one": func(c *logos.Config) { c.Classifier, c.ClassifierConfig.Balancer = custom, classify.DefaultBalancer() },
		"similarity beside one":       func(c *logos.Config) { c.Classifier, c.ClassifierConfig.Similarity = custom, classify.Lexical{} },
		"negative weight": func(c *logos.Config) {
			c.ClassifierConfig.Balancer = classify.Balancer{Policy: -1, Token: 1, Similarity: 1}
		},
		"NaN weight": func(c *logos.Config) {
			c.ClassifierConfig.Balancer = classify.Balancer{Policy: 1, Token: math.NaN(), Similarity: 1}
		},
		"infinite weight": func(c *logos.Config) {
			c.ClassifierConfig.Balancer = classify.Balancer{Policy: 1, Token: 1, Similarity: math.Inf(1)}
		},
		"negative similarity timeout": func(c *logos.Config) { c.ClassifierConfig.SimilarityTimeout = -time.Second },
		"embeddings model beside one": func(c *logos.Config) { c.Classifier, c.ClassifierEmbeddingsModel = custom, "nomic-embed-text" },
		"embeddings model beside a similarity stage": func(c *logos.Config) {
			c.ClassifierEmbeddingsModel, c.ClassifierConfig.Similarity = "nomic-embed-text", classify.Lexical{}
		},
		// Its requests name it: a logos-v string would be classified.
		"embeddings model string": func(c *logos.Config) { c.ClassifierEmbeddingsModel = "logos-v1" },
		"embeddings model spaces": func(c *logos.Config) { c.ClassifierEmbeddingsModel = " nomic-embed-text" },
	} {
		cfg := base
		mod(&cfg)
		r, err := logos.New(cfg)
		if !errors.Is(err, logos.ErrInvalidConfig) {
			t.Errorf("%s: New returned %v, want ErrInvalidConfig", name, err)
		}
		if r != nil {
			_ = r.Close(ctx)
		}
	}
	for name, mod := range map[string]func(*logos.Config){
		"defaulted": func(*logos.Config) {},
		"built-in weights": func(c *logos.Config) {
			c.ClassifierConfig.Balancer = classify.Balancer{Policy: 1, Token: 0, Similarity: 2}
		},
		"custom":                      func(c *logos.Config) { c.Classifier = custom },
		"embeddings of the catalogue": func(c *logos.Config) { c.ClassifierEmbeddingsModel = "nomic-embed-text" },
	} {
		cfg := base
		mod(&cfg)
		r, err := logos.New(cfg)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := r.Close(ctx); err != nil {
			t.Errorf("%s: Close: %v", name, err)
		}
	}
}
