// Package openaicompat is the Logos provider for OpenAI and any server that
// speaks the OpenAI HTTP API (vLLM, LM Studio, OpenWebUI, LiteLLM, ...).
// It serves the provider kinds providers.KindOpenAI and
// providers.KindOpenAICompatible.
//
// # URLs
//
// An operation is appended to Target.BaseURL with exactly one slash:
// BaseURL "https://api.openai.com/v1" and operation "chat/completions" give
// "https://api.openai.com/v1/chat/completions". The base URL is
// authoritative: if it does not end in /v1 (OpenWebUI serves
// "https://host/api/chat/completions", some gateways have no version
// segment at all), no /v1 is invented. Put /v1 into BaseURL when the server
// needs it.
//
// Target.Endpoint, when set, replaces the operation mapping: an absolute
// http(s) URL is used verbatim, anything else is a path joined to BaseURL.
// The client's query parameters (Call.Query) are added where the URL does not
// already carry the same name.
//
// # Authentication
//
// With Target.Credential set, the header is Target.AuthHeader with
// Target.AuthFormat's "{}" replaced by the credential (an empty AuthFormat
// sends the bare credential). With no AuthHeader the default is
// "Authorization: Bearer <credential>". Without a credential no auth header
// is sent. Errors never contain the credential.
//
// The package also exports the building blocks (URL joining, query merging,
// auth header, request assembly) that the azure and ollama providers share.
package openaicompat

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/logos-llm/logos/providers"
)

// Provider builds requests for OpenAI and OpenAI-compatible upstreams. The
// zero value is ready to use and safe for concurrent use.
type Provider struct{}

var _ providers.Provider = (*Provider)(nil)

// New returns a Provider.
func New() *Provider { return &Provider{} }

// NewRequest returns the upstream request for c against t; see the package
// documentation for the URL and authentication rules. Method is c.Method,
// else GET for "models" and "models/{id}", else POST. An invalid operation
// (empty or containing "." or ".." segments) yields an error wrapping
// providers.ErrUnsupported; other errors describe a misconfigured target.
func (*Provider) NewRequest(ctx context.Context, t providers.Target, c providers.Call) (*http.Request, error) {
	u, err := resolveURL(t, c)
	if err != nil {
		return nil, err
	}
	return NewHTTPRequest(ctx, "openaicompat", DefaultMethod(c, "models"), u, t, c, BearerAuth())
}

func resolveURL(t providers.Target, c providers.Call) (*url.URL, error) {
	secret := t.Credential
	if t.Endpoint != "" {
		var base *url.URL
		if !IsAbsoluteURL(t.Endpoint) {
			b, err := ParseBaseURL(t.BaseURL, secret)
			if err != nil {
				return nil, errorf(secret, "openaicompat: %v", err)
			}
			base = b
		}
		u, err := ResolveEndpoint(base, t.Endpoint, secret)
		if err != nil {
			return nil, errorf(secret, "openaicompat: %v", err)
		}
		return u, nil
	}
	base, err := ParseBaseURL(t.BaseURL, secret)
	if err != nil {
		return nil, errorf(secret, "openaicompat: %v", err)
	}
	op, err := CleanOperation(c.Operation, secret)
	if err != nil {
		return nil, fmt.Errorf("openaicompat: %w", err)
	}
	u, err := JoinPath(base, op)
	if err != nil {
		return nil, errorf(secret, "openaicompat: %v", err)
	}
	return u, nil
}
