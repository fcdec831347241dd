package pipeline

import (
	"path"
	"strings"

	"github.com/logos-llm/logos/store"
)

// knownOperations are the OpenAI-compatible operations (paths below /v1)
// Logos forwards to any provider, as path.Match patterns. Other paths reach
// a provider only when it lists them in its ExtraOperations: the provider's
// key also opens its account's fine-tuning, batch and file endpoints, which
// no tenant should reach unmetered.
var knownOperations = []string{
	"chat/completions", "completions", "embeddings",
	"responses", "responses/*", "responses/*/cancel",
	"audio/transcriptions", "audio/translations", "audio/speech",
	"images/generations", "images/edits", "images/variations",
	"moderations", "rerank",
}

// knownOperation reports whether op is one Logos forwards to any provider.
// Native (Ollama) operations are routed by name in package router and are
// always known.
func knownOperation(op string) bool {
	return matchOperation(knownOperations, op)
}

func matchOperation(patterns []string, op string) bool {
	for _, p := range patterns {
		if p == op {
			return true
		}
		if strings.Contains(p, "*") || strings.Contains(p, "?") || strings.Contains(p, "[") {
			if ok, _ := path.Match(p, op); ok {
				return true
			}
		}
	}
	return false
}

// allowsOperation reports whether provider p accepts op: a known operation,
// or one its admin listed in ExtraOperations.
func allowsOperation(p *store.Provider, op string) bool {
	return knownOperation(op) || matchOperation(p.ExtraOperations, op)
}

// anyProviderAllows reports whether some provider of the catalogue lists op
// among its ExtraOperations.
func (c *Catalog) anyProviderAllows(op string) bool {
	for _, p := range c.providers {
		if matchOperation(p.ExtraOperations, op) {
			return true
		}
	}
	return false
}
