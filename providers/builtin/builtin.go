// Package builtin registers the providers that ship with Logos, for programs
// that want all of them (cmd/logosd does).
package builtin

import (
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/azure"
	"github.com/logos-llm/logos/providers/ollama"
	"github.com/logos-llm/logos/providers/openaicompat"
)

// Registry returns a registry with every built-in provider kind: openai and
// openai_compatible (OpenAI, vLLM, LM Studio, OpenWebUI, ...), azure and ollama.
func Registry() providers.Registry {
	oa := openaicompat.New()
	return providers.Registry{
		providers.KindOpenAI:           oa,
		providers.KindOpenAICompatible: oa,
		providers.KindAzure:            azure.New(),
		providers.KindOllama:           ollama.New(),
	}
}
