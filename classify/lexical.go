package classify

import (
	"context"
	"math"
)

// BM25 parameters of the lexical index.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
	// termPrefix is the length terms are truncated to after suffix
	// stripping (truncation stemming: "analyse", "analysis" and "analyze"
	// meet). Six measured best of 0, 4–7 on testdata/eval.
	termPrefix = 6
)

// posting is one document's count of a term.
type posting struct {
	doc int32
	tf  float32
}

// lexIndex is an inverted index over model descriptions and tags. Immutable
// once built. BM25's document frequencies and average length are computed at
// query time over the candidates only, so models that the policy removed (or
// the caller may not use) do not change the scores of the others.
type lexIndex struct {
	terms    map[string]int32 // term → index into postings
	postings [][]posting
	lens     []float64 // document lengths in terms
}

// newLexIndex indexes the description and tags of each model; document i is
// models[i].
func newLexIndex(models []Model) lexIndex {
	idx := lexIndex{terms: map[string]int32{}, lens: make([]float64, len(models))}
	var buf []byte
	for i, m := range models {
		tf := map[string]int{}
		add := func(text string) {
			buf = forEachTerm(text, buf, func(term []byte) {
				tf[string(term)]++
				idx.lens[i]++
			})
		}
		add(m.Description)
		add(m.Tags)
		for t, c := range tf {
			id, ok := idx.terms[t]
			if !ok {
				id = int32(len(idx.postings))
				idx.terms[t] = id
				idx.postings = append(idx.postings, nil)
			}
			idx.postings[id] = append(idx.postings[id], posting{doc: int32(i), tf: float32(c)})
		}
	}
	return idx
}

// Lexical is the default similarity stage: Okapi BM25 of the user prompt
// against each candidate's description and tags (statistics over the
// candidates), divided by the best candidate's score so the best scores 1
// (all 0 when no term matches). Terms are lower-cased ASCII words with a
// light suffix stemmer, truncated to six bytes. It needs no model weights and
// no network, and it allocates nothing per request.
type Lexical struct{}

// Name returns "lexical".
func (Lexical) Name() string { return "lexical" }

// Similarity scores the snapshot models idx against prompt into out.
func (Lexical) Similarity(_ context.Context, s *Snapshot, prompt string, idx []int, out []float64) error {
	sc := s.getScratch()
	defer s.putScratch(sc)
	acc := sc.acc // per document: -1 = not a candidate, else the score so far
	for i := range acc {
		acc[i] = -1
	}
	total := 0.0
	for _, j := range idx {
		acc[j] = 0
		total += s.lex.lens[j]
	}
	n := float64(len(idx))
	avg := total / max(n, 1)
	if avg == 0 {
		avg = 1
	}
	// Count the prompt's indexed terms, then score each distinct term once,
	// weighted by how often the prompt uses it.
	if cap(sc.qtf) < len(s.lex.postings) {
		sc.qtf = make([]float64, len(s.lex.postings))
	}
	qtf, touched := sc.qtf[:len(s.lex.postings)], sc.touched[:0]
	sc.buf = forEachTerm(prompt, sc.buf, func(term []byte) {
		id, ok := s.lex.terms[string(term)]
		if !ok {
			return
		}
		if qtf[id] == 0 {
			touched = append(touched, id)
		}
		qtf[id]++
	})
	sc.touched = touched
	norm := sc.norm[:0]
	for _, l := range s.lex.lens {
		norm = append(norm, bm25K1*(1-bm25B+bm25B*l/avg))
	}
	sc.norm = norm
	for _, id := range touched {
		q := qtf[id]
		qtf[id] = 0
		ps := s.lex.postings[id]
		df := 0.0
		for _, p := range ps {
			if acc[p.doc] >= 0 {
				df++
			}
		}
		if df == 0 {
			continue
		}
		w := q * math.Log(1+(n-df+0.5)/(df+0.5)) * (bm25K1 + 1)
		for _, p := range ps {
			if acc[p.doc] >= 0 {
				tf := float64(p.tf)
				acc[p.doc] += w * tf / (tf + norm[p.doc])
			}
		}
	}
	best := 0.0
	for i, j := range idx {
		out[i] = acc[j]
		best = max(best, acc[j])
	}
	if best > 0 {
		for i := range idx {
			out[i] /= best
		}
	}
	return nil
}

// forEachTerm calls f with every term of text, reusing buf (returned for
// reuse). A term is a run of ASCII letters and digits (or bytes of multi-byte
// UTF-8 characters), lower-cased, lightly stemmed and truncated to termPrefix
// bytes; stop words and one-letter terms are skipped.
func forEachTerm(text string, buf []byte, f func(term []byte)) []byte {
	buf = buf[:0]
	flush := func() {
		if len(buf) > 1 {
			t := stem(buf)
			if len(t) > termPrefix {
				t = t[:termPrefix]
			}
			if !isStopWord(t) {
				f(t)
			}
		}
		buf = buf[:0]
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c >= 0x80:
			buf = append(buf, c)
		case c >= 'A' && c <= 'Z':
			buf = append(buf, c+'a'-'A')
		default:
			flush()
		}
	}
	flush()
	return buf
}

// stem strips a few common English suffixes so that "tests", "testing" and
// "tested" meet "test". It returns a prefix of t.
func stem(t []byte) []byte {
	n := len(t)
	switch {
	case n > 5 && string(t[n-3:]) == "ing":
		t = t[:n-3]
	case n > 4 && string(t[n-3:]) == "ies":
		t = append(t[:n-3], 'y')
	case n > 4 && string(t[n-2:]) == "ed":
		t = t[:n-2]
	case n > 4 && string(t[n-2:]) == "es" && (t[n-3] == 's' || t[n-3] == 'x' || t[n-3] == 'h'):
		t = t[:n-2]
	case n > 3 && t[n-1] == 's' && t[n-2] != 's' && t[n-2] != 'u' && t[n-2] != 'i':
		t = t[:n-1]
	case n > 4 && string(t[n-2:]) == "ly":
		t = t[:n-2]
	}
	// Collapse a doubled final consonant left by -ing/-ed ("debugg" → "debug").
	if n = len(t); n > 3 && t[n-1] == t[n-2] && !isVowel(t[n-1]) && t[n-1] != 's' && t[n-1] != 'l' {
		t = t[:n-1]
	}
	return t
}

func isVowel(c byte) bool {
	switch c {
	case 'a', 'e', 'i', 'o', 'u':
		return true
	}
	return false
}

func isStopWord(t []byte) bool {
	switch string(t) {
	case "the", "and", "for", "with", "that", "this", "from", "into", "about", "your", "you",
		"are", "is", "be", "to", "of", "in", "on", "an", "or", "it", "as", "at", "by", "me",
		"my", "we", "our", "can", "will", "what", "how", "why", "which", "do", "doe", "does", "please",
		"one", "some", "all", "any", "but", "not", "no", "so", "if", "then", "than", "its", "has",
		"have", "was", "were", "them", "they", "their", "these", "those", "use", "us", "i":
		return true
	}
	return false
}
