// Package azure is the Logos provider for Azure OpenAI (provider kind
// providers.KindAzure).
//
// # URLs
//
// Deployment-scoped operations (chat/completions, completions, embeddings,
// audio/..., images/...) go to
//
//	{base}/openai/deployments/{deployment}/{operation}?api-version={version}
//
// where deployment is Target.UpstreamModel (path-escaped) and version is
// Target.APIVersion, default DefaultAPIVersion. The base is the resource
// endpoint, e.g. "https://myres.openai.azure.com"; a base that already ends
// in "/openai", "/openai/deployments" or "/openai/deployments/{deployment}"
// is not duplicated.
//
// Operations that are not deployment-scoped:
//
//   - "responses" (and "responses/{id}...") use the Responses API at
//     {base}/openai/responses?api-version={version}. The deployment is named
//     by the body's "model" field, which the caller rewrites to
//     Target.UpstreamModel. The Responses API needs api-version
//     2025-03-01-preview or later: Target.APIVersion is used when it is at
//     least that recent, otherwise DefaultResponsesAPIVersion.
//   - "models" (and "models/{id}") list the resource's models at
//     {base}/openai/models?api-version={version}.
//
// A base ending in "/openai/v1" selects Azure's v1 API, which is
// OpenAI-shaped: {base}/{operation}, with api-version only when
// Target.APIVersion is set.
//
// Target.Endpoint overrides the mapping: an absolute http(s) URL is used
// verbatim and a relative one is joined to the base; in both cases
// api-version is added only if the endpoint has none. The client's query
// parameters are added where the URL does not already carry that name.
//
// Native Ollama operations ("api/...") yield providers.ErrUnsupported.
//
// # Authentication
//
// With Target.Credential set and no Target.AuthHeader the header is
// "api-key: <credential>"; otherwise Target.AuthHeader/AuthFormat apply as
// for every provider (e.g. "Authorization"/"Bearer {}" for Entra ID tokens).
// Errors never contain the credential.
package azure

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/openaicompat"
)

const (
	// DefaultAPIVersion is the api-version used when Target.APIVersion is
	// empty: the 2024-10-21 GA version of the Azure OpenAI data-plane API.
	DefaultAPIVersion = "2024-10-21"
	// DefaultResponsesAPIVersion is the api-version used for the Responses
	// API when Target.APIVersion is empty or older than this version.
	DefaultResponsesAPIVersion = "2025-03-01-preview"
)

// Provider builds requests for Azure OpenAI. The zero value is ready to use
// and safe for concurrent use.
type Provider struct{}

var _ providers.Provider = (*Provider)(nil)

// New returns a Provider.
func New() *Provider { return &Provider{} }

// auth is Azure's default credential header.
func auth() openaicompat.DefaultAuth {
	return openaicompat.DefaultAuth{Header: "api-key", Format: "{}"}
}

// NewRequest returns the upstream request for c against t; see the package
// documentation for the URL and authentication rules. Method is c.Method,
// else GET for "models" and "models/{id}", else POST.
func (*Provider) NewRequest(ctx context.Context, t providers.Target, c providers.Call) (*http.Request, error) {
	u, err := resolveURL(t, c)
	if err != nil {
		return nil, err
	}
	return openaicompat.NewHTTPRequest(ctx, "azure", openaicompat.DefaultMethod(c, "models"), u, t, c, auth())
}

// apiVersion returns the api-version for operation op.
func apiVersion(t providers.Target, op string) string {
	if isOp(op, "responses") {
		return responsesVersion(t.APIVersion)
	}
	if t.APIVersion != "" {
		return t.APIVersion
	}
	return DefaultAPIVersion
}

// responsesVersion returns v when it is at least as recent as
// DefaultResponsesAPIVersion, else that default. Azure api-versions start
// with an ISO date, so comparing the date prefix orders them.
func responsesVersion(v string) string {
	const minDate = "2025-03-01"
	if len(v) >= len(minDate) && v[:len(minDate)] >= minDate {
		return v
	}
	return DefaultResponsesAPIVersion
}

// isOp reports whether op is name or a sub-path of it.
func isOp(op, name string) bool {
	return op == name || strings.HasPrefix(op, name+"/")
}

func resolveURL(t providers.Target, c providers.Call) (*url.URL, error) {
	secret := t.Credential
	op := strings.Trim(c.Operation, "/")

	if t.Endpoint != "" {
		var base *url.URL
		if !openaicompat.IsAbsoluteURL(t.Endpoint) {
			b, err := openaicompat.ParseBaseURL(t.BaseURL, secret)
			if err != nil {
				return nil, openaicompat.RedactedErrorf(secret, "azure: %v", err)
			}
			base = b
		}
		u, err := openaicompat.ResolveEndpoint(base, t.Endpoint, secret)
		if err != nil {
			return nil, openaicompat.RedactedErrorf(secret, "azure: %v", err)
		}
		openaicompat.SetQueryIfAbsent(u, "api-version", apiVersion(t, op))
		return u, nil
	}

	base, err := openaicompat.ParseBaseURL(t.BaseURL, secret)
	if err != nil {
		return nil, openaicompat.RedactedErrorf(secret, "azure: %v", err)
	}
	clean, err := openaicompat.CleanOperation(c.Operation, secret)
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	if isOp(op, "api") {
		return nil, fmt.Errorf("azure: %w: %w", providers.ErrUnsupported, openaicompat.RedactedErrorf(secret, "native Ollama operation %q", op))
	}

	// Azure's v1 API is OpenAI-shaped and needs no api-version.
	if _, v1 := openaicompat.TrimPathSuffix(base, "/openai/v1"); v1 {
		u, err := openaicompat.JoinPath(base, clean)
		if err != nil {
			return nil, openaicompat.RedactedErrorf(secret, "azure: %v", err)
		}
		if t.APIVersion != "" {
			setQuery(u, "api-version", t.APIVersion)
		}
		return u, nil
	}

	root := resourceRoot(base, t.UpstreamModel)
	var elems []string
	switch {
	case isOp(op, "responses"), isOp(op, "models"):
		elems = []string{"openai", clean}
	default:
		if strings.TrimSpace(t.UpstreamModel) == "" {
			return nil, openaicompat.RedactedErrorf(secret, "azure: UpstreamModel (the deployment name) is empty")
		}
		elems = []string{"openai/deployments", url.PathEscape(t.UpstreamModel), clean}
	}
	u, err := openaicompat.JoinPath(root, elems...)
	if err != nil {
		return nil, openaicompat.RedactedErrorf(secret, "azure: %v", err)
	}
	if t.APIVersion != "" || isOp(op, "responses") {
		setQuery(u, "api-version", apiVersion(t, op))
	} else {
		openaicompat.SetQueryIfAbsent(u, "api-version", DefaultAPIVersion)
	}
	return u, nil
}

// resourceRoot strips a trailing "/openai/deployments/{deployment}",
// "/openai/deployments" or "/openai" from base, leaving the resource
// endpoint the operation paths are built on.
func resourceRoot(base *url.URL, deployment string) *url.URL {
	if deployment != "" {
		if u, ok := openaicompat.TrimPathSuffix(base, "/openai/deployments/"+url.PathEscape(deployment)); ok {
			return u
		}
	}
	for _, suffix := range []string{"/openai/deployments", "/openai"} {
		if u, ok := openaicompat.TrimPathSuffix(base, suffix); ok {
			return u
		}
	}
	return base
}

// setQuery sets name=value on u, replacing any value the base carried.
func setQuery(u *url.URL, name, value string) {
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
}

var _ providers.RateLimitReader = (*Provider)(nil)

// ReadRateLimit reads Azure OpenAI's x-ratelimit-* headers and a 429's
// Retry-After-Ms or Retry-After; see providers.ReadRateLimitHeaders.
func (*Provider) ReadRateLimit(status int, h http.Header, now time.Time, rl *providers.RateLimit) bool {
	return providers.ReadRateLimitHeaders(status, h, now, rl)
}
