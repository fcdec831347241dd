// Package meter counts what an upstream answer cost while it is relayed to
// the client unchanged: it extracts token usage from OpenAI, Azure OpenAI,
// Responses API, vLLM and Ollama bodies and streams (ParseUsage,
// UsageFromJSON), and forwards SSE, NDJSON and JSON responses byte for byte
// with per-event flushing while tapping that usage (Relay).
package meter

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/logos-llm/logos/internal/jsonobj"
)

// Tokens maps a token type to its count, e.g. "prompt_tokens": 15,
// "completion_tokens": 10, "total_tokens": 25, "prompt_cached_tokens": 3.
// Zero counts are never stored.
type Tokens map[string]int64

// Token type names produced by the mappings of ParseUsage.
const (
	PromptTokens      = "prompt_tokens"
	CompletionTokens  = "completion_tokens"
	TotalTokens       = "total_tokens"
	AudioMilliseconds = "audio_milliseconds"
)

// ParseUsage flattens an upstream "usage" object into Tokens:
//
//   - every top-level non-negative integer field is copied under its own
//     name (floats with a zero fraction such as 12.0 count as integers);
//     strings, booleans, objects (Azure's latency_checkpoint), negative and
//     fractional numbers are skipped;
//   - prompt_tokens_details.X becomes prompt_X and
//     completion_tokens_details.X becomes completion_X (prompt_cached_tokens,
//     completion_reasoning_tokens, ...); other "*tokens_details" objects and
//     null details are ignored;
//   - Responses API names: input_tokens → prompt_tokens, output_tokens →
//     completion_tokens, input_tokens_details.X → prompt_X,
//     output_tokens_details.X → completion_X (also the singular
//     input_token_details/output_token_details of the audio APIs);
//   - Ollama timing and meta fields (approximate_total, eval_count,
//     eval_duration, load_duration, prompt_eval_count, prompt_eval_duration,
//     total_duration) and any name containing "/s" (prompt_token/s, ...) are
//     not copied; "cost" (a price, not a token count) is skipped too;
//   - Ollama's prompt_eval_count → prompt_tokens and eval_count →
//     completion_tokens, with total_tokens their sum;
//   - Whisper's duration "seconds" → audio_milliseconds, rounded up.
//
// A mapped name never overrides a field the object carries under the target
// name itself (OpenWebUI sends both prompt_tokens and prompt_eval_count).
// Zero counts are dropped. Invalid JSON or a non-object yields an empty map.
// The result is never nil.
func ParseUsage(usage []byte) Tokens {
	t := Tokens{}
	m, ok := jsonobj.Members(usage)
	if !ok {
		return t
	}
	// Pass 1: fields under their own name.
	for k, v := range m {
		switch {
		case k == "prompt_tokens_details":
			flattenDetails(t, "prompt_", v, true)
		case k == "completion_tokens_details":
			flattenDetails(t, "completion_", v, true)
		case isMappedName(k), isSkippedName(k):
		default:
			if n, ok := count(v); ok {
				t.add(k, n, true)
			}
		}
	}
	// Pass 2: mapped names, only where the object had no own field.
	ownPrompt, ownCompletion := hasField(m, PromptTokens), hasField(m, CompletionTokens)
	for k, v := range m {
		switch k {
		case "input_tokens":
			if n, ok := count(v); ok && !ownPrompt {
				t.add(PromptTokens, n, false)
			}
		case "output_tokens":
			if n, ok := count(v); ok && !ownCompletion {
				t.add(CompletionTokens, n, false)
			}
		case "input_tokens_details", "input_token_details":
			flattenDetails(t, "prompt_", v, false)
		case "output_tokens_details", "output_token_details":
			flattenDetails(t, "completion_", v, false)
		case "seconds":
			if ms, ok := secondsToMillis(v); ok {
				t.add(AudioMilliseconds, ms, false)
			}
		}
	}
	// Pass 3: Ollama counts, only when no OpenAI-style counts exist.
	if !ownPrompt && !ownCompletion && !hasField(m, "input_tokens") && !hasField(m, "output_tokens") {
		p, okP := count(m["prompt_eval_count"])
		c, okC := count(m["eval_count"])
		if okP || okC {
			t.add(PromptTokens, p, false)
			t.add(CompletionTokens, c, false)
			if !hasField(m, TotalTokens) {
				t.add(TotalTokens, p+c, false)
			}
		}
	}
	return t
}

// add stores n under name unless n is zero, or, when override is false,
// name is already set.
func (t Tokens) add(name string, n int64, override bool) {
	if n <= 0 {
		return
	}
	if _, ok := t[name]; ok && !override {
		return
	}
	t[name] = n
}

// ollamaTokens builds Tokens from Ollama's native counts.
func ollamaTokens(promptEval, eval json.RawMessage) Tokens {
	t := Tokens{}
	p, _ := count(promptEval)
	c, _ := count(eval)
	t.add(PromptTokens, p, false)
	t.add(CompletionTokens, c, false)
	t.add(TotalTokens, p+c, false)
	return t
}

func hasField(m map[string]json.RawMessage, name string) bool {
	v, ok := m[name]
	return ok && !isNull(v)
}

// isMappedName reports whether a top-level usage field is handled by a
// mapping rather than copied.
func isMappedName(k string) bool {
	switch k {
	case "input_tokens", "output_tokens", "input_token_details", "output_token_details", "seconds":
		return true
	}
	return false
}

// isSkippedName reports whether a top-level usage field is never copied.
func isSkippedName(k string) bool {
	switch k {
	case "approximate_total", "eval_count", "eval_duration", "load_duration",
		"prompt_eval_count", "prompt_eval_duration", "total_duration", "cost":
		return true
	}
	return strings.Contains(k, "tokens_details") || strings.Contains(k, "/s")
}

// flattenDetails copies the non-negative integer fields of a details object
// as prefix+name. null or non-object details are ignored.
func flattenDetails(t Tokens, prefix string, raw json.RawMessage, override bool) {
	if isNull(raw) {
		return
	}
	d, ok := jsonobj.Members(raw)
	if !ok {
		return
	}
	for k, v := range d {
		if n, ok := count(v); ok {
			t.add(prefix+k, n, override)
		}
	}
}

// count returns the value of a JSON number that is a non-negative integer.
// An integral float such as 12.0 or 1e3 is accepted; negative numbers,
// fractions, numbers beyond int64, strings, objects, booleans and null are
// not.
func count(raw []byte) (int64, bool) {
	s := bytes.TrimSpace(raw)
	if len(s) == 0 || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return 0, false
	}
	if n, err := strconv.ParseInt(string(s), 10, 64); err == nil {
		return n, n >= 0
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil || f < 0 || f != math.Trunc(f) || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// secondsToMillis converts a non-negative JSON number of seconds to whole
// milliseconds, rounding up, exactly (8.47 → 8470, 8.4701 → 8471).
func secondsToMillis(raw []byte) (int64, bool) {
	s := bytes.TrimSpace(raw)
	if len(s) == 0 || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil || f < 0 || f >= math.MaxInt64/1000 {
		return 0, false
	}
	// The shortest decimal form of f, so the rounding is decimal-exact.
	dec := strconv.FormatFloat(f, 'f', -1, 64)
	intPart, frac, _ := strings.Cut(dec, ".")
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return 0, false
	}
	ms := n * 1000
	for i := 0; i < 3; i++ {
		d := int64(0)
		if i < len(frac) {
			d = int64(frac[i] - '0')
		}
		ms += d * int64(math.Pow10(2-i))
	}
	if len(frac) > 3 && strings.TrimRight(frac[3:], "0") != "" {
		ms++
	}
	return ms, true
}

func isNull(raw []byte) bool {
	s := bytes.TrimSpace(raw)
	return len(s) == 0 || string(s) == "null"
}

// UsageFromJSON extracts usage from a complete non-streaming response body:
// the top-level "usage" object (OpenAI, Azure, vLLM, Responses API bodies),
// else "response.usage" (a Responses API event or wrapper), else Ollama's
// native top-level prompt_eval_count/eval_count. ok reports whether the body
// carried usage at all (the Tokens may still be empty when every count is
// zero). The body is scanned without being decoded as a whole, so large
// bodies such as embedding batches cost no extra memory.
func UsageFromJSON(body []byte) (Tokens, bool) {
	var s usageScanner
	s.Write(body)
	return s.Tokens()
}
