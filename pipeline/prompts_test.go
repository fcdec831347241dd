package pipeline

import (
	"testing"

	"github.com/logos-llm/logos/internal/jsonobj"
)

func TestPrompts(t *testing.T) {
	for _, tt := range []struct {
		name, body, system, user string
	}{
		{"chat", `{"messages":[{"role":"system","content":"s1"},{"role":"user","content":"u1"},{"role":"assistant","content":"a"},{"role":"system","content":"s2"},{"role":"user","content":"u2"}]}`, "s2", "u2"},
		{"parts", `{"messages":[{"role":"developer","content":[{"type":"text","text":"be"},{"type":"text","text":"brief"}]},{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"what is this"}]}]}`, "be brief", "what is this"},
		{"responses string", `{"instructions":"sys","input":"hello"}`, "sys", "hello"},
		{"responses items", `{"input":[{"role":"user","content":[{"type":"input_text","text":"hi there"}]}]}`, "", "hi there"},
		{"generate", `{"system":"sys","prompt":"p"}`, "sys", "p"},
		{"none", `{"messages":"nonsense"}`, "", ""},
		{"null content", `{"messages":[{"role":"user","content":null}]}`, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fields, ok := jsonobj.Members([]byte(tt.body))
			if !ok {
				t.Fatal("bad test body")
			}
			s, u := prompts(fields)
			if s != tt.system || u != tt.user {
				t.Errorf("prompts = %q, %q; want %q, %q", s, u, tt.system, tt.user)
			}
		})
	}
}
