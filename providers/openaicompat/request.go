package openaicompat

// This file holds the building blocks every Logos provider shares: parsing
// the target's URLs, joining paths, merging queries and assembling the
// upstream *http.Request with forwarded headers and the credential header.
// The azure and ollama providers use them too, so that authentication and
// credential hygiene are implemented exactly once.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/logos-llm/logos/internal/header"
	"github.com/logos-llm/logos/providers"
)

// DefaultAuth is the credential header a provider uses when the target has a
// Credential but no AuthHeader.
type DefaultAuth struct {
	// Header is the header name, e.g. "Authorization" or "api-key".
	Header string
	// Format is the value template with a "{}" placeholder, e.g. "Bearer {}".
	Format string
}

// BearerAuth is the default of OpenAI, OpenAI-compatible servers and Ollama:
// "Authorization: Bearer <credential>".
func BearerAuth() DefaultAuth { return DefaultAuth{Header: "Authorization", Format: "Bearer {}"} }

// RedactedErrorf builds an error whose message never contains secret
// (every occurrence is replaced by "[REDACTED]"). The providers use it for
// every error they return, so a credential that ends up in a URL, a header
// name or a standard-library error is masked. The result deliberately wraps
// nothing: callers could otherwise unwrap a cause and print it unmasked.
func RedactedErrorf(secret, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "[REDACTED]")
	}
	return errors.New(msg)
}

func errorf(secret, format string, args ...any) error {
	return RedactedErrorf(secret, format, args...)
}

// unsupportedf returns an error wrapping providers.ErrUnsupported, with the
// secret masked.
func unsupportedf(secret, format string, args ...any) error {
	return fmt.Errorf("%w: %w", providers.ErrUnsupported, errorf(secret, format, args...))
}

// IsAbsoluteURL reports whether s is an absolute http(s) URL, the test the
// Target.Endpoint rule uses (case-insensitive scheme).
func IsAbsoluteURL(s string) bool {
	l := strings.ToLower(strings.TrimSpace(s))
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// ParseBaseURL parses a target's BaseURL, which must be an absolute http or
// https URL with a host. The error names the problem but never echoes the
// URL, which may carry user information. A fragment is dropped.
func ParseBaseURL(raw, secret string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errorf(secret, "BaseURL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errorf(secret, "BaseURL is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errorf(secret, "BaseURL must be an absolute http or https URL")
	}
	if u.Host == "" {
		return nil, errorf(secret, "BaseURL has no host")
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// ResolveEndpoint applies the Target.Endpoint rule: an absolute http(s)
// endpoint is parsed and used verbatim; anything else is a path (optionally
// with a query) joined to base with exactly one slash, its query parameters
// overriding those of base. base may be nil only for absolute endpoints.
func ResolveEndpoint(base *url.URL, endpoint, secret string) (*url.URL, error) {
	endpoint = strings.TrimSpace(endpoint)
	if IsAbsoluteURL(endpoint) {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, errorf(secret, "Endpoint is not a valid URL")
		}
		if u.Host == "" {
			return nil, errorf(secret, "Endpoint has no host")
		}
		u.Scheme = strings.ToLower(u.Scheme)
		u.Fragment, u.RawFragment = "", ""
		return u, nil
	}
	if base == nil {
		return nil, errorf(secret, "relative Endpoint needs a BaseURL")
	}
	ref, err := url.Parse(endpoint)
	if err != nil || ref.Scheme != "" || ref.Host != "" {
		return nil, errorf(secret, "Endpoint is neither an absolute http(s) URL nor a path")
	}
	u, err := JoinPath(base, ref.EscapedPath())
	if err != nil {
		return nil, errorf(secret, "Endpoint: %v", err)
	}
	if ref.RawQuery != "" {
		q := u.Query()
		for k, vs := range ref.Query() {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	return u, nil
}

// JoinPath returns a copy of u whose path is u's path followed by each
// element, separated by exactly one slash. Elements are escaped paths (they
// may contain "/"); leading and trailing slashes of an element are dropped,
// except that a trailing slash of the last element is kept. The query of u
// is kept.
func JoinPath(u *url.URL, elems ...string) (*url.URL, error) {
	p := strings.TrimRight(u.EscapedPath(), "/")
	trailing := false
	for _, e := range elems {
		trailing = strings.HasSuffix(e, "/")
		e = strings.Trim(e, "/")
		if e == "" {
			continue
		}
		p += "/" + e
	}
	if trailing || p == "" {
		p += "/"
	}
	plain, err := url.PathUnescape(p)
	if err != nil {
		return nil, errors.New("invalid escape in path")
	}
	out := *u
	out.Path, out.RawPath = plain, p
	if out.EscapedPath() != p {
		// p is not a valid encoding of plain; let the URL encode it.
		out.RawPath = ""
	}
	return &out, nil
}

// TrimPathSuffix returns a copy of u with suffix (compared case-insensitively
// on the escaped path, after trailing slashes are dropped) removed from the
// end of its path, and whether it was present.
func TrimPathSuffix(u *url.URL, suffix string) (*url.URL, bool) {
	p := strings.TrimRight(u.EscapedPath(), "/")
	if len(p) < len(suffix) || !strings.EqualFold(p[len(p)-len(suffix):], suffix) {
		return u, false
	}
	p = p[:len(p)-len(suffix)]
	out := *u
	plain, err := url.PathUnescape(p)
	if err != nil {
		return u, false
	}
	out.Path, out.RawPath = plain, p
	if out.EscapedPath() != p {
		out.RawPath = ""
	}
	return &out, true
}

// CleanOperation validates a Call.Operation and returns it as an escaped
// path without leading or trailing slashes. The operation is an unescaped
// path below /v1 (e.g. "chat/completions" or "models/ft:gpt-4o:org"); each
// segment is percent-escaped, empty segments are dropped, and "." or ".."
// segments are rejected with an error wrapping providers.ErrUnsupported so a
// client cannot climb out of the upstream's API prefix.
func CleanOperation(op, secret string) (string, error) {
	segs := strings.Split(strings.Trim(op, "/"), "/")
	out := segs[:0]
	for _, s := range segs {
		switch s {
		case "":
			continue
		case ".", "..":
			return "", unsupportedf(secret, "operation %q contains a dot segment", op)
		}
		out = append(out, url.PathEscape(s))
	}
	if len(out) == 0 {
		return "", unsupportedf(secret, "empty operation")
	}
	return strings.Join(out, "/"), nil
}

// MergeQuery adds the client's query parameters to u, skipping any name u
// already carries: the provider's own parameters (api-version, ...) win.
func MergeQuery(u *url.URL, client url.Values) {
	if len(client) == 0 {
		return
	}
	q := u.Query()
	changed := false
	for k, vs := range client {
		if _, ok := q[k]; ok || len(vs) == 0 {
			continue
		}
		q[k] = append([]string(nil), vs...)
		changed = true
	}
	if changed {
		u.RawQuery = q.Encode()
	}
}

// SetQueryIfAbsent sets name=value on u unless u already has that parameter.
func SetQueryIfAbsent(u *url.URL, name, value string) {
	q := u.Query()
	if _, ok := q[name]; ok {
		return
	}
	q.Set(name, value)
	u.RawQuery = q.Encode()
}

// isDroppedHeader reports whether a client header (canonical name) is never
// forwarded: hop-by-hop headers, headers the transport computes,
// Accept-Encoding (so the transport negotiates and transparently decodes
// compression and the relay meters plain bytes), and credential headers, so
// a client's Logos key cannot reach an upstream even if the caller forgot to
// filter it.
func isDroppedHeader(name string) bool {
	switch name {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Host", "Content-Length", "Accept-Encoding",
		"Authorization", "Api-Key", "Cookie":
		return true
	}
	return false
}

// AuthValue returns the credential header name and value for t, and false
// when no credential is to be sent (Credential empty). If t.AuthHeader is
// set, the value is t.AuthFormat with every "{}" replaced by the credential
// (an empty AuthFormat means the bare credential). If t.AuthHeader is empty,
// def.Header is used with t.AuthFormat, or def.Format when that is empty too.
// Errors never contain the credential.
func AuthValue(t providers.Target, def DefaultAuth) (name, value string, ok bool, err error) {
	secret := t.Credential
	if secret == "" {
		return "", "", false, nil
	}
	name = strings.TrimSpace(t.AuthHeader)
	format := t.AuthFormat
	if name == "" {
		name = def.Header
		if format == "" {
			format = def.Format
		}
	}
	if !header.ValidName(name) {
		return "", "", false, errorf(secret, "AuthHeader is not a valid header name")
	}
	if format == "" {
		format = "{}"
	}
	if !strings.Contains(format, "{}") {
		return "", "", false, errorf(secret, "AuthFormat has no {} placeholder for the credential")
	}
	value = strings.ReplaceAll(format, "{}", secret)
	if !validHeaderValue(value) {
		return "", "", false, errorf(secret, "credential or AuthFormat contains characters not allowed in a header")
	}
	return http.CanonicalHeaderKey(name), value, true, nil
}

// NewHTTPRequest assembles the upstream request: method (POST when empty),
// URL u with the client's query merged in, body from c.Body, forwarded
// client headers (minus those isDroppedHeader names), Content-Type application/json when
// there is a body and the client did not send a Content-Type (so multipart
// uploads keep their boundary), and the credential header from AuthValue.
// pkg prefixes error messages. Errors never contain t.Credential.
func NewHTTPRequest(ctx context.Context, pkg, method string, u *url.URL, t providers.Target, c providers.Call, def DefaultAuth) (*http.Request, error) {
	secret := t.Credential
	if method == "" {
		method = http.MethodPost
	}
	name, value, hasAuth, err := AuthValue(t, def)
	if err != nil {
		return nil, errorf(secret, "%s: %v", pkg, err)
	}
	final := *u
	MergeQuery(&final, c.Query)

	var body *bytes.Reader
	if len(c.Body) > 0 {
		body = bytes.NewReader(c.Body)
	}
	// The request gets final itself: formatting it only for
	// NewRequestWithContext to parse it again cost two URL walks per
	// request. "/" stands in for it there (it sets the method, the body's
	// length and GetBody).
	var req *http.Request
	if body != nil {
		req, err = http.NewRequestWithContext(ctx, method, "/", body)
	} else {
		req, err = http.NewRequestWithContext(ctx, method, "/", nil)
	}
	if err != nil {
		return nil, errorf(secret, "%s: building upstream request: %v", pkg, err)
	}
	req.URL = &final
	req.Host = strings.TrimSuffix(final.Host, ":") // as NewRequest does for an empty port
	for k, vs := range c.Header {
		k = http.CanonicalHeaderKey(k)
		if isDroppedHeader(k) {
			continue
		}
		req.Header[k] = append(req.Header[k], vs...)
	}
	if t.AuthHeader != "" {
		// Never forward a client header that shares the credential's name.
		req.Header.Del(t.AuthHeader)
	}
	if hasAuth {
		req.Header.Set(name, value)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// DefaultMethod returns c.Method, or the method the operation needs when the
// caller left it empty: GET for read-only listings (see getOperations),
// POST otherwise.
func DefaultMethod(c providers.Call, getOperations ...string) string {
	if c.Method != "" {
		return c.Method
	}
	op := strings.Trim(c.Operation, "/")
	for _, g := range getOperations {
		if op == g || strings.HasPrefix(op, g+"/") {
			return http.MethodGet
		}
	}
	return http.MethodPost
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
