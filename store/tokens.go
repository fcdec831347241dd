package store

// Token types whose counts make up a request's total.
const (
	TokenTypeTotal      = "total_tokens"
	TokenTypePrompt     = "prompt_tokens"
	TokenTypeCompletion = "completion_tokens"
)

// TotalTokens returns the total token count of one request: the count of
// "total_tokens" when it is positive, else "prompt_tokens" plus
// "completion_tokens". Subsets such as "prompt_cached_tokens" or
// "completion_reasoning_tokens" are already part of those counts and never
// add to the total. Counts of the same type are added up first, as the stores
// do when they store them.
func TotalTokens(tokens []TokenCount) int64 {
	var total, prompt, completion int64
	for _, t := range tokens {
		switch t.Type {
		case TokenTypeTotal:
			total += t.Count
		case TokenTypePrompt:
			prompt += t.Count
		case TokenTypeCompletion:
			completion += t.Count
		}
	}
	if total > 0 {
		return total
	}
	return prompt + completion
}
