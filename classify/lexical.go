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

// posting is one document's precomputed BM25 weight for a term.
type posting struct {
	doc    int32
	weight float32
}

// lexIndex is an inverted BM25 index over model descriptions and tags.
// Immutable once built.
type lexIndex struct {
	postings map[string][]posting
}

// newLexIndex indexes the description and tags of each model; document i is
// models[i].
func newLexIndex(models []Model) lexIndex {
	n := len(models)
	tfs := make([]map[string]int, n)
	lens := make([]int, n)
	df := map[string]int{}
	total := 0
	var buf []byte
	for i, m := range models {
		tf := map[string]int{}
		add := func(text string) {
			buf = forEachTerm(text, buf, func(term []byte) {
				tf[string(term)]++
				lens[i]++
			})
		}
		add(m.Description)
		add(m.Tags)
		for t := range tf {
			df[t]++
		}
		tfs[i] = tf
		total += lens[i]
	}
	idx := lexIndex{postings: make(map[string][]posting, len(df))}
	if n == 0 {
		return idx
	}
	avg := float64(total) / float64(n)
	if avg == 0 {
		avg = 1
	}
	for i, tf := range tfs {
		norm := bm25K1 * (1 - bm25B + bm25B*float64(lens[i])/avg)
		for t, c := range tf {
			idf := math.Log(1 + (float64(n)-float64(df[t])+0.5)/(float64(df[t])+0.5))
			w := idf * float64(c) * (bm25K1 + 1) / (float64(c) + norm)
			idx.postings[t] = append(idx.postings[t], posting{doc: int32(i), weight: float32(w)})
		}
	}
	return idx
}

// Lexical is the default similarity stage: Okapi BM25 of the user prompt
// against each model's description and tags, divided by the best score among
// the candidates so the best model scores 1 (all 0 when no term matches).
// Terms are lower-cased ASCII words with a light suffix stemmer, truncated to
// six bytes. It needs no
// model weights and no network, and it allocates nothing per request.
type Lexical struct{}

// Name returns "lexical".
func (Lexical) Name() string { return "lexical" }

// Similarity scores the snapshot models idx against prompt into out.
func (Lexical) Similarity(_ context.Context, s *Snapshot, prompt string, idx []int, out []float64) error {
	sc := s.getScratch()
	acc := sc.acc
	sc.buf = forEachTerm(prompt, sc.buf, func(term []byte) {
		for _, p := range s.lex.postings[string(term)] {
			acc[p.doc] += float64(p.weight)
		}
	})
	best := 0.0
	for i, j := range idx {
		out[i] = acc[j]
		best = max(best, acc[j])
	}
	for i := range idx {
		if best > 0 {
			out[i] /= best
		}
	}
	s.putScratch(sc)
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
