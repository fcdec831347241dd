package classify

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// Similarity is the third stage: how well each model's description fits the
// user prompt. Implementations write a score in [0, 1] for snapshot model
// idx[i] into out[i] (len(out) == len(idx)); higher is more similar.
type Similarity interface {
	Name() string
	Similarity(ctx context.Context, s *Snapshot, prompt string, idx []int, out []float64) error
}

// Balancer combines the stage scores into one weight.
type Balancer struct {
	Policy     float64
	Token      float64
	Similarity float64
}

// DefaultBalancer returns the original's weights: 3.4·policy + 1.9·token +
// 1.0·similarity.
func DefaultBalancer() Balancer { return Balancer{Policy: 3.4, Token: 1.9, Similarity: 1.0} }

// Weight returns the weighted sum of s.
func (b Balancer) Weight(s Scores) float64 {
	return b.Policy*s.Policy + b.Token*s.Token + b.Similarity*s.Similarity
}

// Stage names, as Decider reports them.
const (
	StageFilter     = "filter" // only one model passed the hard filters
	StagePolicy     = "policy"
	StageToken      = "token"
	StageSimilarity = "similarity"
	StageTie        = "tie" // the best two weigh the same; the lower model id won
)

// Decider names the stage that put the first candidate ahead of the second:
// the one whose weighted score difference between them is largest.
func (b Balancer) Decider(c []Candidate) string {
	switch len(c) {
	case 0:
		return ""
	case 1:
		return StageFilter
	}
	a, z := c[0].Scores, c[1].Scores
	d := []struct {
		name string
		v    float64
	}{
		{StagePolicy, b.Policy * (a.Policy - z.Policy)},
		{StageToken, b.Token * (a.Token - z.Token)},
		{StageSimilarity, b.Similarity * (a.Similarity - z.Similarity)},
	}
	best, name := 0.0, StageTie
	for _, x := range d {
		if x.v > best {
			best, name = x.v, x.name
		}
	}
	return name
}

// Config configures a Pipeline. The zero value is usable.
type Config struct {
	// Balancer weighs the stages. Defaults to DefaultBalancer when zero.
	Balancer Balancer
	// Similarity is the similarity stage. Defaults to Lexical.
	Similarity Similarity
	// SimilarityTimeout bounds a similarity stage other than Lexical; when it
	// passes or the stage fails, Lexical answers instead (logged and counted
	// in Fallbacks). Defaults to 250ms.
	SimilarityTimeout time.Duration
	// Logger receives fallback warnings. Defaults to slog.Default().
	Logger *slog.Logger
}

// Pipeline is the built-in Classifier: policy stage, tag stage, similarity
// stage, balancer. It reads an immutable Snapshot of the catalogue that
// SetModels replaces atomically; models of a request that the snapshot does
// not know (or knows with other text) are prepared on the fly, so the answer
// never depends on whether SetModels was called.
type Pipeline struct {
	bal       Balancer
	sim       Similarity
	lexical   bool
	timeout   time.Duration
	log       *slog.Logger
	snap      atomic.Pointer[Snapshot]
	fallbacks atomic.Uint64
}

// New returns a Pipeline with an empty catalogue.
func New(cfg Config) *Pipeline {
	p := &Pipeline{bal: cfg.Balancer, sim: cfg.Similarity, timeout: cfg.SimilarityTimeout, log: cfg.Logger}
	if p.bal == (Balancer{}) {
		p.bal = DefaultBalancer()
	}
	if p.sim == nil {
		p.sim = Lexical{}
	}
	_, p.lexical = p.sim.(Lexical)
	if p.timeout <= 0 {
		p.timeout = 250 * time.Millisecond
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.snap.Store(NewSnapshot(nil))
	return p
}

// SetModels replaces the catalogue snapshot; the next Classify sees it.
func (p *Pipeline) SetModels(models []Model) { p.snap.Store(NewSnapshot(models)) }

// Snapshot returns the current catalogue snapshot.
func (p *Pipeline) Snapshot() *Snapshot { return p.snap.Load() }

// Balancer returns the weights the pipeline uses.
func (p *Pipeline) Balancer() Balancer { return p.bal }

// Fallbacks returns how often the lexical stage answered for a similarity
// stage that failed or missed its deadline.
func (p *Pipeline) Fallbacks() uint64 { return p.fallbacks.Load() }

// Classify ranks r.Models for r, best first. It fails with a *NoModelError
// when the hard filters leave nothing and with ErrInvalidPolicy for a policy
// with an unknown privacy level.
func (p *Pipeline) Classify(ctx context.Context, r Request) ([]Candidate, error) {
	pol := r.Policy
	polRank := 3
	if pol.ThresholdPrivacy != "" {
		if polRank = privacyRank(pol.ThresholdPrivacy); polRank < 0 {
			return nil, fmt.Errorf("%w: unknown privacy level %q", ErrInvalidPolicy, pol.ThresholdPrivacy)
		}
	}
	if len(r.Models) == 0 {
		return nil, &NoModelError{Filter: FilterNone}
	}
	snap := p.snap.Load()
	n := len(r.Models)
	sc := snap.getScratch()
	defer func() { snap.putScratch(sc) }()
	sc.idx = slices.Grow(sc.idx[:0], 2*n)
	idx := sc.idx[:0]
	for i := range r.Models {
		j, ok := snap.lookup(&r.Models[i])
		if !ok {
			// Not prepared (or prepared with other text): prepare this request's models.
			snap.putScratch(sc)
			snap = NewSnapshot(r.Models)
			sc = snap.getScratch()
			sc.idx = slices.Grow(sc.idx[:0], 2*n)
			idx = sc.idx[:0]
			for k := range r.Models {
				idx = append(idx, k)
			}
			break
		}
		idx = append(idx, j)
	}

	// Hard filters: privacy (model, then providers), then cost. pos holds
	// the positions in r.Models that pass, passIdx their snapshot indices.
	pos := sc.pos[:0]
	left := [2]int{}
	for i := range r.Models {
		m := &r.Models[i]
		mr := privacyRank(m.Privacy)
		if mr < 0 {
			mr = 3 // unknown: only the most permissive policy allows it
		}
		if mr > polRank {
			continue
		}
		left[0]++
		if len(m.Providers) > 0 && !slices.ContainsFunc(m.Providers, func(p Provider) bool { return providerPasses(p, polRank) }) {
			continue
		}
		left[1]++
		pos = append(pos, i)
	}
	// Sentinels: ±1024 mean the best/worst weight among the models still in
	// the running — for cost those that passed the privacy filters, for the
	// soft thresholds those that passed every filter — so that a model the
	// policy removes never moves a threshold.
	cost := resolveSentinel(pol.Cost, r.Models, pos, func(m *Model) int { return m.Cost })
	kept := pos[:0]
	for _, i := range pos {
		if r.Models[i].Cost >= cost {
			kept = append(kept, i)
		}
	}
	pos = kept
	sc.pos = pos
	if len(pos) == 0 {
		f := FilterCost
		switch {
		case left[0] == 0:
			f = FilterPrivacy
		case left[1] == 0:
			f = FilterProviderPrivacy
		}
		return nil, &NoModelError{Filter: f, Models: len(r.Models)}
	}
	latency := resolveSentinel(pol.Latency, r.Models, pos, func(m *Model) int { return m.Latency })
	accuracy := resolveSentinel(pol.Accuracy, r.Models, pos, func(m *Model) int { return m.Accuracy })
	quality := resolveSentinel(pol.Quality, r.Models, pos, func(m *Model) int { return m.Quality })

	cands := slices.Grow(sc.cands[:0], len(pos))[:len(pos)]
	sc.cands = cands
	passIdx := sc.idx[n : n+len(pos)] // room for n more after idx
	for k, i := range pos {
		m := &r.Models[i]
		passIdx[k] = idx[i]
		var provs []int64
		if len(m.Providers) > 0 && !allProvidersPass(m.Providers, polRank) {
			for _, pr := range m.Providers {
				if providerPasses(pr, polRank) {
					provs = append(provs, pr.ID)
				}
			}
		}
		cands[k] = Candidate{
			ModelID:   m.ID,
			Priority:  pol.Priority,
			Providers: provs,
			Scores: Scores{Policy: sigmoid(m.Latency, latency) +
				sigmoid(m.Accuracy, accuracy) +
				sigmoid(m.Quality, quality)},
		}
	}

	// Tag stage: share of a model's tags found in the system prompt.
	if r.System != "" {
		low := appendLower(sc.low[:0], r.System)
		sc.low = low
		for i := range cands {
			tags := snap.tags[passIdx[i]]
			if len(tags) == 0 {
				continue
			}
			hit := 0
			for _, t := range tags {
				if bytes.Contains(low, t) {
					hit++
				}
			}
			cands[i].Scores.Token = float64(hit) / float64(len(tags))
		}
	}

	// Similarity stage.
	source := p.sim.Name()
	if r.User != "" {
		sims := slices.Grow(sc.sims[:0], len(cands))[:len(cands)]
		sc.sims = sims
		if p.lexical {
			_ = Lexical{}.Similarity(ctx, snap, r.User, passIdx, sims)
		} else {
			sctx, cancel := context.WithTimeout(ctx, p.timeout)
			err := p.sim.Similarity(sctx, snap, r.User, passIdx, sims)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				p.fallbacks.Add(1)
				p.log.LogAttrs(ctx, slog.LevelWarn, "classify: similarity stage failed, lexical stage answers",
					slog.String("stage", p.sim.Name()), slog.String("error", err.Error()))
				source = "lexical_fallback"
				_ = Lexical{}.Similarity(ctx, snap, r.User, passIdx, sims)
			}
		}
		for i := range cands {
			cands[i].Scores.Similarity = sims[i]
		}
	}
	// Sort small keys rather than the candidates, then copy out in order.
	keys := sc.keys[:0]
	for i := range cands {
		cands[i].Similarity = source
		cands[i].Weight = p.bal.Weight(cands[i].Scores)
		keys = append(keys, sortKey{cands[i].Weight, cands[i].ModelID, i})
	}
	sc.keys = keys
	slices.SortFunc(keys, func(a, b sortKey) int {
		return cmp.Or(cmp.Compare(b.weight, a.weight), cmp.Compare(a.id, b.id))
	})
	out := make([]Candidate, len(cands))
	for i, k := range keys {
		out[i] = cands[k.i]
		cands[k.i] = Candidate{} // drop references held by the pooled scratch
	}
	return out, nil
}

type sortKey struct {
	weight float64
	id     int64
	i      int
}

// resolveSentinel replaces a threshold of 1024 or more by the highest weight
// of the models at pos, and one of -1024 or less by the lowest (0 without
// models); other thresholds are returned as they are.
func resolveSentinel(t int, ms []Model, pos []int, w func(*Model) int) int {
	if t < 1024 && t > -1024 {
		return t
	}
	if len(pos) == 0 {
		return 0
	}
	lo, hi := w(&ms[pos[0]]), w(&ms[pos[0]])
	for _, i := range pos[1:] {
		v := w(&ms[i])
		lo, hi = min(lo, v), max(hi, v)
	}
	if t >= 1024 {
		return hi
	}
	return lo
}

func allProvidersPass(ps []Provider, polRank int) bool {
	for _, p := range ps {
		if !providerPasses(p, polRank) {
			return false
		}
	}
	return true
}

func providerPasses(p Provider, polRank int) bool {
	if p.Privacy == "" {
		return true
	}
	r := privacyRank(p.Privacy)
	return r >= 0 && r <= polRank
}

// sigmoid is the policy stage's soft score: 1/(1+e^(−(w−t)/16)), 0.5 when the
// weight meets the threshold.
func sigmoid(w, t int) float64 { return 1 / (1 + math.Exp(-0.0625*float64(w-t))) }

// appendLower appends s lower-cased (ASCII) to dst.
func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// CheckPolicy applies the policy stage's hard filters (privacy of the model
// and of its providers, cost) to one model, as a guardrail on a request that
// names its model. Sentinel cost thresholds resolve over allowed (the models
// the caller may use) as in Classify. It returns nil when m passes and a
// *NoModelError naming the filter otherwise, or an error wrapping
// ErrInvalidPolicy.
func CheckPolicy(p Policy, m Model, allowed []Model) error {
	polRank := 3
	if p.ThresholdPrivacy != "" {
		if polRank = privacyRank(p.ThresholdPrivacy); polRank < 0 {
			return fmt.Errorf("%w: unknown privacy level %q", ErrInvalidPolicy, p.ThresholdPrivacy)
		}
	}
	privOK := func(m *Model) bool {
		mr := privacyRank(m.Privacy)
		if mr < 0 {
			mr = 3
		}
		return mr <= polRank
	}
	provOK := func(m *Model) bool {
		return len(m.Providers) == 0 || slices.ContainsFunc(m.Providers, func(pr Provider) bool { return providerPasses(pr, polRank) })
	}
	if !privOK(&m) {
		return &NoModelError{Filter: FilterPrivacy, Models: 1}
	}
	if !provOK(&m) {
		return &NoModelError{Filter: FilterProviderPrivacy, Models: 1}
	}
	var pos []int
	for i := range allowed {
		if privOK(&allowed[i]) && provOK(&allowed[i]) {
			pos = append(pos, i)
		}
	}
	if m.Cost < resolveSentinel(p.Cost, allowed, pos, func(m *Model) int { return m.Cost }) {
		return &NoModelError{Filter: FilterCost, Models: 1}
	}
	return nil
}
