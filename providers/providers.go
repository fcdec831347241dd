// Package providers defines how Logos talks to an upstream: a Provider knows one
// wire format and URL scheme and builds the upstream HTTP request for a call.
// Implementations live in sub-packages (openaicompat, azure, ollama); the
// response is relayed to the client unchanged by the caller.
package providers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// Provider kinds, as stored in the catalogue.
const (
	KindOpenAI           = "openai"
	KindAzure            = "azure"
	KindOllama           = "ollama"
	KindOpenAICompatible = "openai_compatible"
)

// ErrUnsupported means a provider cannot perform the requested operation.
var ErrUnsupported = errors.New("providers: operation not supported")

// Target is where a call goes: one deployment, resolved with its provider's
// settings (deployment overrides already applied).
type Target struct {
	Kind    string // one of the Kind constants
	BaseURL string
	// Endpoint overrides the URL: an absolute URL (http:// or https://) is used
	// verbatim, anything else is a path joined to BaseURL. Empty means the
	// provider maps the operation to its own URL.
	Endpoint string
	// UpstreamModel is the model name the upstream knows (the Azure deployment name).
	UpstreamModel string
	APIVersion    string
	// AuthHeader is the credential header's name, AuthFormat its value template
	// with one "{}" placeholder. Credential is the secret.
	AuthHeader string
	AuthFormat string
	Credential string
}

// Call is one operation to perform upstream.
type Call struct {
	// Operation is the OpenAI path below /v1, without a leading slash:
	// "chat/completions", "completions", "embeddings", "responses", "models",
	// or any other path forwarded as is. Native Ollama calls use "api/chat",
	// "api/generate", "api/embed" and "api/tags".
	Operation string
	// Method is the HTTP method; empty means POST.
	Method string
	// Body is sent as is (the caller has already rewritten the model).
	Body []byte
	// Header holds client headers to forward (already filtered of Logos and
	// credential headers); the provider adds its own auth and content type.
	Header http.Header
	// Query is the client's query string, forwarded where the URL has no
	// conflicting parameter.
	Query url.Values
}

// Provider builds upstream requests for one wire format.
type Provider interface {
	// NewRequest returns the upstream request for c against t. It never logs
	// or returns t.Credential in an error.
	NewRequest(ctx context.Context, t Target, c Call) (*http.Request, error)
}

// Registry maps a provider kind to its Provider.
type Registry map[string]Provider

// Lookup returns the Provider for kind.
func (r Registry) Lookup(kind string) (Provider, bool) {
	p, ok := r[kind]
	return p, ok
}
