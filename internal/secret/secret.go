// Package secret encrypts provider credentials at rest with AES-256-GCM.
//
// A sealed value is the text "enc:v1:" followed by the unpadded base64url
// encoding of a random 12-byte nonce, the ciphertext and the 16-byte GCM tag.
// Values without the prefix are plaintext stored before a key was configured;
// Open passes them through, so a deployment can turn encryption on without a
// migration and re-seal values as they are rewritten.
//
// Errors never contain the secret, the sealed value or the key.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Prefix marks a sealed value and its format version.
const Prefix = "enc:v1:"

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

var (
	// ErrInvalidKey means a key is not 32 bytes, or LOGOS_SECRET_KEY is not
	// in one of the accepted encodings.
	ErrInvalidKey = errors.New("secret: invalid key")
	// ErrNoKey means a sealed value must be opened but no key is configured
	// (the Box is nil).
	ErrNoKey = errors.New("secret: value is encrypted but no key is configured (set LOGOS_SECRET_KEY)")
	// ErrMalformed means a value carries the prefix but is not a well-formed
	// sealed value.
	ErrMalformed = errors.New("secret: malformed encrypted value")
	// ErrDecrypt means a sealed value failed authentication: it was sealed
	// with another key or has been altered.
	ErrDecrypt = errors.New("secret: cannot decrypt value (wrong key or tampered data)")
)

// Box seals and opens secrets with one key. It is safe for concurrent use. A
// nil *Box means no key is configured: Seal passes plaintext through and Open
// fails on sealed values with ErrNoKey.
type Box struct {
	aead cipher.AEAD // prepends a random nonce on Seal, reads it back on Open
}

// NewBox returns a Box for a 32-byte key. The key is not retained beyond the
// derived cipher state.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: need %d bytes, got %d", ErrInvalidKey, KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("secret: initialising AES-GCM: %w", err)
	}
	return &Box{aead: aead}, nil
}

// ParseKey decodes the value of LOGOS_SECRET_KEY: 64 hexadecimal characters, or
// the standard or URL-safe base64 encoding (padded or not) of 32 bytes.
// Surrounding whitespace is ignored. Any other value is an error wrapping
// ErrInvalidKey that says what is expected; it never includes the value.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: LOGOS_SECRET_KEY is empty; %s", ErrInvalidKey, keyHint)
	}
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		if k, err := enc.Strict().DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: LOGOS_SECRET_KEY (%d characters) is not a 32-byte key; %s",
		ErrInvalidKey, len(s), keyHint)
}

const keyHint = "expected 64 hex characters or base64 of 32 bytes (e.g. from `openssl rand -hex 32`)"

// Seal encrypts plaintext and returns Prefix + base64url(nonce ‖ ciphertext ‖
// tag), with a fresh random nonce each call. The empty string stays empty, and
// a nil Box returns plaintext unchanged.
func (b *Box) Seal(plaintext string) (string, error) {
	if b == nil || plaintext == "" {
		return plaintext, nil
	}
	// The AEAD draws the nonce from crypto/rand and prepends it.
	sealed := b.aead.Seal(nil, nil, []byte(plaintext), nil)
	return Prefix + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open reverses Seal. A value without Prefix is returned as is. A sealed value
// needs a Box (else ErrNoKey) and must decode (else ErrMalformed) and
// authenticate (else ErrDecrypt) under its key.
func (b *Box) Open(s string) (string, error) {
	payload, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return s, nil
	}
	if b == nil {
		return "", ErrNoKey
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return "", fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	if len(raw) < b.aead.Overhead() {
		return "", fmt.Errorf("%w: payload is %d bytes, shorter than nonce and tag", ErrMalformed, len(raw))
	}
	plain, err := b.aead.Open(nil, nil, raw, nil)
	if err != nil {
		return "", ErrDecrypt
	}
	return string(plain), nil
}

// IsSealed reports whether s carries the Prefix of a sealed value.
func IsSealed(s string) bool { return strings.HasPrefix(s, Prefix) }
