package config

import (
	"net/url"
	"strings"
)

// RedactedURLPart replaces the user information, each query value and the
// fragment of a URL in a redacted export and in what non-admins see.
const RedactedURLPart = "REDACTED"

// RedactURL hides what a provider URL may carry as a secret: user
// information (https://user:pass@host) becomes REDACTED@, each query value
// (?token=…) becomes REDACTED and a fragment #REDACTED. Scheme, host, port,
// path and query names are kept. A URL that cannot be parsed is replaced by
// Redacted whole if it contains '@', '?' or '#', and returned unchanged
// otherwise. Applying a document whose URL equals RedactURL of the stored one
// keeps the stored URL, as for Redacted credentials.
func RedactURL(raw string) string {
	if !strings.ContainsAny(raw, "@?#") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Redacted
	}
	if u.User != nil {
		u.User = url.User(RedactedURLPart)
	}
	if u.RawQuery != "" || u.ForceQuery {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			name, _, _ := strings.Cut(p, "=")
			if name == "" && p == "" {
				continue
			}
			parts[i] = name + "=" + RedactedURLPart
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	if u.Fragment != "" || u.RawFragment != "" {
		u.Fragment, u.RawFragment = RedactedURLPart, ""
	}
	return u.String()
}

// keepRedactedURL returns stored when want is the redaction of stored (a
// redacted export applied back), and want otherwise.
func keepRedactedURL(stored, want string) string {
	if want != stored && want == RedactURL(stored) {
		return stored
	}
	return want
}
