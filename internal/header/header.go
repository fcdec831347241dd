// Package header holds the one check of an HTTP header name shared by the
// catalogue (a provider's auth_header, from the admin API and the config
// file) and the providers that send it. It is a leaf: it imports only the
// standard library.
package header

// ValidName reports whether s is a valid HTTP header name: a non-empty RFC
// 9110 token (letters, digits and !#$%&'*+-.^_`|~).
func ValidName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '!', c == '#', c == '$', c == '%', c == '&', c == '\'', c == '*',
			c == '+', c == '-', c == '.', c == '^', c == '_', c == '`', c == '|', c == '~':
		default:
			return false
		}
	}
	return s != ""
}
