// Package logos is an embeddable LLM gateway. Applications send
// OpenAI-compatible requests to a Router; it checks who may use which model,
// queues and schedules requests onto limited backends, forwards them to the
// provider (OpenAI, Azure OpenAI, Ollama, any OpenAI-compatible server), streams
// the answer back unchanged and records usage, tokens and cost.
//
// A Router is composed of pluggable parts: a Store (store/sqlite,
// store/postgres), Providers (providers/...), a Scheduler and a Classifier. It
// is an http.Handler: mount it on a mux, or run cmd/logosd for a standalone proxy.
package logos
