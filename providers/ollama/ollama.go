// Package ollama is the Logos provider for Ollama (provider kind
// providers.KindOllama), directly or behind an authenticating proxy.
//
// # URLs
//
// Target.BaseURL is the Ollama server, e.g. "http://gpu1:11434" or
// "https://gpu.example/ollama".
//
//   - Native operations ("api/chat", "api/generate", "api/embed",
//     "api/tags", "api/ps", "api/show", and any other "api/..." path) go to
//     {base}/{operation}; a trailing "/v1" on the base is stripped first.
//     api/chat and api/generate stream NDJSON.
//   - Every other operation is an OpenAI-format one and goes to Ollama's
//     OpenAI-compatible API at {base}/v1/{operation}; a base that already
//     ends in "/v1" is not duplicated.
//
// Target.Endpoint overrides the mapping: an absolute http(s) URL is used
// verbatim, anything else is a path joined to the base as is. The client's
// query parameters are added where the URL does not already carry that name.
//
// Method is Call.Method, else GET for "api/tags", "api/ps", "api/version",
// "models" and "models/{id}", else POST.
//
// # Authentication
//
// Ollama itself has no authentication; without Target.Credential no auth
// header is sent. Behind a proxy, a credential without Target.AuthHeader is
// sent as "Authorization: Bearer <credential>". Errors never contain the
// credential.
package ollama

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/openaicompat"
)

// Provider builds requests for Ollama. The zero value is ready to use and
// safe for concurrent use.
type Provider struct{}

var _ providers.Provider = (*Provider)(nil)

// New returns a Provider.
func New() *Provider { return &Provider{} }

// IsNative reports whether op is a native Ollama operation ("api/..."),
// as opposed to one of the OpenAI-compatible API.
func IsNative(op string) bool {
	op = strings.TrimLeft(op, "/")
	return op == "api" || strings.HasPrefix(op, "api/")
}

// NewRequest returns the upstream request for c against t; see the package
// documentation for the URL, method and authentication rules.
func (*Provider) NewRequest(ctx context.Context, t providers.Target, c providers.Call) (*http.Request, error) {
	u, err := resolveURL(t, c)
	if err != nil {
		return nil, err
	}
	method := openaicompat.DefaultMethod(c, "api/tags", "api/ps", "api/version", "models")
	return openaicompat.NewHTTPRequest(ctx, "ollama", method, u, t, c, openaicompat.BearerAuth())
}

func resolveURL(t providers.Target, c providers.Call) (*url.URL, error) {
	secret := t.Credential
	if t.Endpoint != "" {
		var base *url.URL
		if !openaicompat.IsAbsoluteURL(t.Endpoint) {
			b, err := openaicompat.ParseBaseURL(t.BaseURL, secret)
			if err != nil {
				return nil, openaicompat.RedactedErrorf(secret, "ollama: %v", err)
			}
			base = b
		}
		u, err := openaicompat.ResolveEndpoint(base, t.Endpoint, secret)
		if err != nil {
			return nil, openaicompat.RedactedErrorf(secret, "ollama: %v", err)
		}
		return u, nil
	}
	base, err := openaicompat.ParseBaseURL(t.BaseURL, secret)
	if err != nil {
		return nil, openaicompat.RedactedErrorf(secret, "ollama: %v", err)
	}
	op, err := openaicompat.CleanOperation(c.Operation, secret)
	if err != nil {
		return nil, fmt.Errorf("ollama: %w", err)
	}
	root, hasV1 := openaicompat.TrimPathSuffix(base, "/v1")
	var u *url.URL
	switch {
	case IsNative(op):
		u, err = openaicompat.JoinPath(root, op)
	case hasV1:
		u, err = openaicompat.JoinPath(base, op)
	default:
		u, err = openaicompat.JoinPath(base, "v1", op)
	}
	if err != nil {
		return nil, openaicompat.RedactedErrorf(secret, "ollama: %v", err)
	}
	return u, nil
}
