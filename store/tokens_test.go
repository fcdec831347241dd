package store

import "testing"

func TestTotalTokens(t *testing.T) {
	tok := func(typ string, n int64) TokenCount { return TokenCount{Type: typ, Count: n} }
	for _, c := range []struct {
		name   string
		tokens []TokenCount
		want   int64
	}{
		{"none", nil, 0},
		{"prompt only", []TokenCount{tok("prompt_tokens", 7)}, 7},
		{"completion only", []TokenCount{tok("completion_tokens", 3)}, 3},
		{"prompt and completion", []TokenCount{tok("prompt_tokens", 100), tok("completion_tokens", 20)}, 120},
		{"total wins", []TokenCount{tok("prompt_tokens", 100), tok("completion_tokens", 20), tok("total_tokens", 125)}, 125},
		{"subsets ignored", []TokenCount{
			tok("prompt_tokens", 100), tok("prompt_cached_tokens", 80),
			tok("completion_tokens", 20), tok("completion_reasoning_tokens", 15),
		}, 120},
		{"subsets ignored with total", []TokenCount{
			tok("total_tokens", 120), tok("prompt_tokens", 100), tok("prompt_cached_tokens", 80),
			tok("completion_tokens", 20), tok("completion_reasoning_tokens", 15),
		}, 120},
		{"zero total falls back", []TokenCount{tok("total_tokens", 0), tok("prompt_tokens", 4), tok("completion_tokens", 5)}, 9},
		{"negative total falls back", []TokenCount{tok("total_tokens", -1), tok("prompt_tokens", 4)}, 4},
		{"total alone", []TokenCount{tok("total_tokens", 42)}, 42},
		{"other types only", []TokenCount{tok("image_tokens", 9), tok("prompt_cached_tokens", 3)}, 0},
		{"repeated types add up", []TokenCount{tok("prompt_tokens", 10), tok("prompt_tokens", 5), tok("completion_tokens", 3)}, 18},
	} {
		if got := TotalTokens(c.tokens); got != c.want {
			t.Errorf("%s: TotalTokens = %d, want %d", c.name, got, c.want)
		}
	}
}
