package classify

import (
	"strings"
	"sync"
)

// Snapshot is an immutable catalogue prepared for classification: the models
// with their lower-cased tags and a lexical index of descriptions and tags.
// A Pipeline swaps in a new Snapshot on every catalogue change; requests
// already running keep the one they started with.
type Snapshot struct {
	models []Model
	tags   [][][]byte // lower-cased tags of models[i]; nil = no tags
	byID   map[int64]int
	lex    lexIndex
	pool   sync.Pool // of *scratch sized for this snapshot
}

// NewSnapshot prepares models for classification. The slice is copied.
func NewSnapshot(models []Model) *Snapshot {
	s := &Snapshot{
		models: make([]Model, len(models)),
		tags:   make([][][]byte, len(models)),
		byID:   make(map[int64]int, len(models)),
	}
	copy(s.models, models)
	for i, m := range s.models {
		s.byID[m.ID] = i
		for _, t := range strings.Fields(strings.ToLower(m.Tags)) {
			s.tags[i] = append(s.tags[i], []byte(t))
		}
	}
	s.lex = newLexIndex(s.models)
	s.pool.New = func() any { return new(scratch) }
	return s
}

// Len returns the number of models.
func (s *Snapshot) Len() int { return len(s.models) }

// Model returns model i (0 ≤ i < Len()).
func (s *Snapshot) Model(i int) Model { return s.models[i] }

// lookup returns the index of a model whose text fields match m, so that the
// prepared tags and index may be used for it.
func (s *Snapshot) lookup(m *Model) (int, bool) {
	i, ok := s.byID[m.ID]
	if !ok {
		return 0, false
	}
	sm := &s.models[i]
	return i, sm.Description == m.Description && sm.Tags == m.Tags
}

// scratch is per-request working memory, pooled per snapshot.
type scratch struct {
	acc  []float64 // per snapshot model
	buf  []byte
	idx  []int
	pos  []int
	sims []float64
	low  []byte
	// candidates being built, and their sort keys
	cands []Candidate
	keys  []sortKey
	// lexical stage
	qtf     []float64 // per index term, zero between requests
	touched []int32
	norm    []float64
}

// getScratch returns working memory with acc zeroed for every snapshot model.
func (s *Snapshot) getScratch() *scratch {
	sc := s.pool.Get().(*scratch)
	if n := len(s.models); cap(sc.acc) < n {
		sc.acc = make([]float64, n)
	}
	sc.acc = sc.acc[:len(s.models)]
	clear(sc.acc)
	return sc
}

func (s *Snapshot) putScratch(sc *scratch) { s.pool.Put(sc) }
