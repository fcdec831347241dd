package classify

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Embedder turns texts into vectors, one per text, in order.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// HTTPEmbedder calls an OpenAI-compatible embeddings endpoint (OpenAI
// text-embedding-3-small, Ollama's /v1/embeddings with nomic-embed-text, …).
// For a model of Logos's own catalogue, logos.Config.ClassifierEmbeddingsModel
// sends these requests through the Router in process instead (with an
// HTTPEmbedder whose Client never leaves the process).
type HTTPEmbedder struct {
	// URL is the endpoint, for example http://localhost:11434/v1/embeddings.
	URL string
	// Model is the embeddings model name sent upstream.
	Model string
	// APIKey, when set, is sent as "Authorization: Bearer <APIKey>". It never
	// appears in errors.
	APIKey string
	// Client sends the requests. Defaults to http.DefaultClient.
	Client *http.Client
}

// maxEmbeddingResponse bounds the body HTTPEmbedder reads.
const maxEmbeddingResponse = 64 << 20

// Embed posts {"model", "input"} and returns the vectors ordered by index.
func (h *HTTPEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	body, err := json.Marshal(struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}{h.Model, texts})
	if err != nil {
		return nil, fmt.Errorf("classify: encoding embeddings request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("classify: embeddings request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if h.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+h.APIKey)
	}
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("classify: embeddings request: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxEmbeddingResponse))
	if err != nil {
		return nil, fmt.Errorf("classify: reading embeddings response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("classify: embeddings endpoint answered %d", resp.StatusCode)
	}
	var out struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("classify: decoding embeddings response: %w", err)
	}
	if len(out.Data) != len(texts) {
		return nil, fmt.Errorf("classify: embeddings endpoint returned %d vectors for %d inputs", len(out.Data), len(texts))
	}
	vecs := make([][]float32, len(texts))
	for _, d := range out.Data {
		if d.Index < 0 || d.Index >= len(texts) || vecs[d.Index] != nil || len(d.Embedding) == 0 {
			return nil, errors.New("classify: embeddings response has a bad or repeated index or an empty vector")
		}
		vecs[d.Index] = d.Embedding
	}
	return vecs, nil
}

// ErrClosed is returned by an Embeddings stage after Close.
var ErrClosed = errors.New("classify: closed")

// EmbeddingsConfig configures an Embeddings stage.
type EmbeddingsConfig struct {
	// Embedder computes the vectors. Required.
	Embedder Embedder
	// QueryPrefix and DocumentPrefix are put before the prompt and the
	// description texts, for models trained with them ("search_query: " and
	// "search_document: " for nomic-embed-text). Default "".
	QueryPrefix, DocumentPrefix string
	// FillTimeout bounds the background embedding of descriptions, which
	// goes on after a request's own deadline passed so that later requests
	// find them cached. Defaults to 30s.
	FillTimeout time.Duration
	// Logger receives fill failures. Defaults to slog.Default().
	Logger *slog.Logger
}

// Embeddings is a similarity stage that compares embedding vectors: cosine
// similarity of the user prompt with each model's description (and tags),
// rescaled so the best candidate scores 1 and the worst 0. Description
// vectors are cached per model until its text changes; concurrent requests
// that miss the same descriptions fill them with one embeddings call. Close
// stops background fills.
type Embeddings struct {
	cfg    EmbeddingsConfig
	ctx    context.Context
	cancel context.CancelFunc
	sf     singleflight.Group
	wg     sync.WaitGroup

	mu     sync.RWMutex
	closed bool
	cache  map[int64]docVec // by model id
}

type docVec struct {
	text string
	vec  []float32 // unit length
}

// NewEmbeddings returns an Embeddings stage.
func NewEmbeddings(cfg EmbeddingsConfig) (*Embeddings, error) {
	if cfg.Embedder == nil {
		return nil, errors.New("classify: EmbeddingsConfig.Embedder is required")
	}
	if cfg.FillTimeout <= 0 {
		cfg.FillTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Embeddings{cfg: cfg, ctx: ctx, cancel: cancel, cache: map[int64]docVec{}}, nil
}

// Name returns "embeddings".
func (e *Embeddings) Name() string { return "embeddings" }

// Close stops background fills and waits for them.
func (e *Embeddings) Close() error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	return nil
}

// documentText is what is embedded for a model.
func documentText(m *Model) string {
	t := strings.TrimSpace(m.Description + "\n" + m.Tags)
	if t == "" {
		t = m.Name
	}
	return t
}

// Similarity embeds prompt, makes sure every candidate's description vector
// is cached (filling missing ones in the background, shared between
// requests) and scores by cosine similarity. It returns ctx's error when the
// deadline passes first.
func (e *Embeddings) Similarity(ctx context.Context, s *Snapshot, prompt string, idx []int, out []float64) error {
	type miss struct {
		id   int64
		text string
	}
	var missing []miss
	docs := make([][]float32, len(idx))
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return ErrClosed
	}
	for i, j := range idx {
		m := &s.models[j]
		t := documentText(m)
		if d, ok := e.cache[m.ID]; ok && d.text == t {
			docs[i] = d.vec
		} else {
			missing = append(missing, miss{m.ID, t})
		}
	}
	e.mu.RUnlock()

	var fill <-chan singleflight.Result
	if len(missing) > 0 {
		slices.SortFunc(missing, func(a, b miss) int { return cmp.Compare(a.id, b.id) })
		h := fnv.New64a()
		ids := make([]int64, len(missing))
		texts := make([]string, len(missing))
		for i, m := range missing {
			ids[i], texts[i] = m.id, e.cfg.DocumentPrefix+m.text
			fmt.Fprintf(h, "%d:%d:%s\x00", m.id, len(m.text), m.text)
		}
		key := strconv.FormatUint(h.Sum64(), 16)
		plain := make([]string, len(missing))
		for i, m := range missing {
			plain[i] = m.text
		}
		fill = e.sf.DoChan(key, func() (any, error) { return nil, e.fill(ids, plain, texts) })
	}

	q, err := e.cfg.Embedder.Embed(ctx, []string{e.cfg.QueryPrefix + prompt})
	if err != nil {
		return fmt.Errorf("classify: embedding the prompt: %w", err)
	}
	if len(q) != 1 || len(q[0]) == 0 {
		return errors.New("classify: embedder returned no vector for the prompt")
	}
	qv := unit(q[0])

	if fill != nil {
		select {
		case res := <-fill:
			if res.Err != nil {
				return res.Err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		e.mu.RLock()
		for i, j := range idx {
			if docs[i] == nil {
				docs[i] = e.cache[s.models[j].ID].vec
			}
		}
		e.mu.RUnlock()
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, d := range docs {
		if len(d) != len(qv) {
			return fmt.Errorf("classify: embedding sizes differ (%d and %d)", len(d), len(qv))
		}
		var dot float64
		for k := range d {
			dot += float64(d[k]) * float64(qv[k])
		}
		out[i] = dot
		lo, hi = min(lo, dot), max(hi, dot)
	}
	for i := range out[:len(idx)] {
		if hi > lo {
			out[i] = (out[i] - lo) / (hi - lo)
		} else {
			out[i] = 1
		}
	}
	return nil
}

// fill embeds descriptions and caches them under their model ids. It runs
// under e.ctx, not a request's context, so a request that gives up does not
// waste the work.
func (e *Embeddings) fill(ids []int64, plain, texts []string) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	e.wg.Add(1)
	e.mu.Unlock()
	defer e.wg.Done()
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.FillTimeout)
	defer cancel()
	vecs, err := e.cfg.Embedder.Embed(ctx, texts)
	if err == nil && len(vecs) != len(texts) {
		err = fmt.Errorf("embedder returned %d vectors for %d texts", len(vecs), len(texts))
	}
	if err != nil {
		e.cfg.Logger.Warn("classify: embedding model descriptions failed", "models", len(ids), "error", err.Error())
		return fmt.Errorf("classify: embedding model descriptions: %w", err)
	}
	e.mu.Lock()
	for i, id := range ids {
		e.cache[id] = docVec{text: plain[i], vec: unit(vecs[i])}
	}
	e.mu.Unlock()
	return nil
}

// unit returns v scaled to length 1 (a copy).
func unit(v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	if n == 0 {
		return out
	}
	n = math.Sqrt(n)
	for i, x := range v {
		out[i] = float32(float64(x) / n)
	}
	return out
}
