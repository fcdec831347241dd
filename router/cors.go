package router

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/logos-llm/logos/internal/oaierr"
)

// ErrInvalidOrigin is returned by ParseCORSOrigins for an entry that is not
// "*" or a scheme://host[:port] origin.
var ErrInvalidOrigin = errors.New("invalid CORS origin")

// corsMaxAge is how long browsers may cache a preflight answer (seconds).
const corsMaxAge = "600"

// ParseCORSOrigins parses a comma-separated list of allowed origins such as
// "https://app.example.com, http://localhost:3000" into the normalised form
// Config.CORSOrigins expects. "*" allows every origin. An empty list allows
// none.
func ParseCORSOrigins(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		o, err := normalizeOrigin(f)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out, nil
}

// normalizeOrigin returns o as browsers send it in Origin: lowercase scheme
// and host, no path, no trailing slash.
func normalizeOrigin(o string) (string, error) {
	if o == "*" {
		return o, nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%w %q: want \"*\" or scheme://host[:port]", ErrInvalidOrigin, o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// cors answers cross-origin requests from the configured origins.
//
// Logos authenticates with bearer keys in a header, never with cookies, so it
// never sends Access-Control-Allow-Credentials: browsers do not attach
// cookies or client certificates to cross-origin calls, and an allowed origin
// still needs a key. That also makes "*" safe to answer literally.
type cors struct {
	any     bool
	origins map[string]bool
}

// newCORS returns the CORS policy for origins, or nil when none is allowed.
func newCORS(origins []string) *cors {
	if len(origins) == 0 {
		return nil
	}
	c := &cors{origins: map[string]bool{}}
	for _, o := range origins {
		if o == "*" {
			c.any = true
			continue
		}
		if n, err := normalizeOrigin(o); err == nil {
			c.origins[n] = true
		}
	}
	return c
}

// handle sets the CORS headers of r's response and answers preflights. It
// reports whether it answered r.
func (c *cors) handle(w http.ResponseWriter, r *http.Request) bool {
	hdr := w.Header()
	// The answer depends on Origin, also when there is none: caches must
	// not give a same-origin answer to a cross-origin request.
	hdr.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if origin == "" {
		return false
	}
	allowed := c.any || c.origins[strings.ToLower(origin)]
	if !allowed {
		if preflight {
			oaierr.Write(w, oaierr.New(http.StatusForbidden, "Origin "+origin+" is not allowed").WithCode("cors_origin_not_allowed"))
			return true
		}
		// Served without CORS headers: the browser withholds the answer.
		return false
	}
	if c.any {
		hdr.Set("Access-Control-Allow-Origin", "*")
	} else {
		hdr.Set("Access-Control-Allow-Origin", origin)
	}
	if !preflight {
		hdr.Set("Access-Control-Expose-Headers", "*")
		return false
	}
	hdr.Add("Vary", "Access-Control-Request-Method")
	hdr.Add("Vary", "Access-Control-Request-Headers")
	hdr.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" && validHeaderList(req) {
		hdr.Set("Access-Control-Allow-Headers", req)
	}
	hdr.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
	return true
}

// validHeaderList reports whether s is a comma-separated list of header names.
func validHeaderList(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == ',', c == ' ':
		default:
			return false
		}
	}
	return true
}
