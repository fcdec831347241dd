package pipeline

import (
	"encoding/json"
	"strings"
)

// prompts returns the last system and the last user prompt of a request, as
// the classifier reads them: from messages (chat completions, Ollama
// /api/chat), from instructions and input (Responses API) or from system and
// prompt (Ollama /api/generate, completions). Content given as a list of parts
// contributes the text of its text parts, joined by spaces. A "developer"
// message counts as a system prompt. Unreadable fields give empty prompts.
func prompts(fields map[string]json.RawMessage) (system, user string) {
	if raw, ok := fields["messages"]; ok {
		system, user = lastPrompts(raw)
	}
	if raw, ok := fields["input"]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			user = s
		} else {
			sys, u := lastPrompts(raw)
			system, user = first(sys, system), first(u, user)
		}
	}
	for _, k := range []string{"instructions", "system"} {
		if raw, ok := fields[k]; ok {
			var s string
			if json.Unmarshal(raw, &s) == nil && s != "" {
				system = s
			}
		}
	}
	if raw, ok := fields["prompt"]; ok && user == "" {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			user = s
		}
	}
	return system, user
}

// lastPrompts reads a list of messages (or Responses API input items).
func lastPrompts(raw json.RawMessage) (system, user string) {
	var msgs []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &msgs) != nil {
		return "", ""
	}
	for _, m := range msgs {
		switch m.Role {
		case "system", "developer":
			system = contentText(m.Content)
		case "user":
			user = contentText(m.Content)
		}
	}
	return system, user
}

// contentText returns a message content's text: the string itself, or the
// text of its text parts (type text or input_text) joined by spaces.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var texts []string
	for _, p := range parts {
		if (p.Type == "text" || p.Type == "input_text") && p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, " ")
}
