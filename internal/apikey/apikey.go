// Package apikey generates, hashes and displays Logos API keys. Keys are random,
// so a single SHA-256 is a sound hash for lookup; only the hash and a short
// display prefix are ever stored.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"
)

// randomChars is the length of a key's random part (url-safe base64 alphabet,
// 6 bits each: 768 bits).
const randomChars = 128

// prefixLen is how much of a key is kept for display.
const prefixLen = 12

// MinLength is the shortest key Logos accepts from an operator (LOGOS_ROOT_KEY,
// config files).
const MinLength = 24

// ErrTooShort means an operator-supplied key is shorter than MinLength.
var ErrTooShort = errors.New("apikey: key is shorter than 24 characters")

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// Generate returns a new key "lg-<name>-<128 random url-safe characters>". The
// name is reduced to lower-case letters, digits and dashes (at most 24).
func Generate(name string) string {
	var b strings.Builder
	b.WriteString("lg-")
	if n := slug(name); n != "" {
		b.WriteString(n)
		b.WriteByte('-')
	}
	buf := make([]byte, randomChars)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(buf)
	for _, c := range buf {
		b.WriteByte(alphabet[c&63])
	}
	return b.String()
}

// Hash returns the SHA-256 of key.
func Hash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// Equal compares two hashes in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// Prefix returns the non-secret display prefix of key.
func Prefix(key string) string {
	if len(key) <= prefixLen {
		// Never display a whole short key.
		return key[:min(len(key), 3)]
	}
	return key[:prefixLen]
}

// Validate checks an operator-supplied key.
func Validate(key string) error {
	if len(key) < MinLength {
		return ErrTooShort
	}
	return nil
}

func slug(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || r == '_' || r == ' ' || r == '.':
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
				b.WriteByte('-')
			}
		}
		if b.Len() >= 24 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}
