package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func newBox(t *testing.T, b byte) *Box {
	t.Helper()
	box, err := NewBox(testKey(b))
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func TestRoundTrip(t *testing.T) {
	box := newBox(t, 1)
	for _, p := range []string{"sk-abc123", "x", "ünïcødé 🔑", strings.Repeat("long ", 1000), "enc:v1:looks-sealed"} {
		s, err := box.Seal(p)
		if err != nil {
			t.Fatal(err)
		}
		if !IsSealed(s) {
			t.Fatalf("Seal(%q) = %q lacks the prefix", p, s)
		}
		if len(p) >= 8 && strings.Contains(s, p) { // short strings may occur by chance
			t.Fatalf("sealed value contains the plaintext")
		}
		payload := strings.TrimPrefix(s, Prefix)
		raw, err := base64.RawURLEncoding.DecodeString(payload)
		if err != nil {
			t.Fatalf("payload is not unpadded base64url: %v", err)
		}
		if want := 12 + len(p) + 16; len(raw) != want {
			t.Fatalf("payload is %d bytes, want nonce+ciphertext+tag = %d", len(raw), want)
		}
		got, err := box.Open(s)
		if err != nil {
			t.Fatal(err)
		}
		if got != p {
			t.Fatalf("Open(Seal(%q)) = %q", p, got)
		}
	}
}

func TestEmptyStaysEmpty(t *testing.T) {
	box := newBox(t, 1)
	if s, err := box.Seal(""); s != "" || err != nil {
		t.Fatalf("Seal(\"\") = %q, %v", s, err)
	}
	if s, err := box.Open(""); s != "" || err != nil {
		t.Fatalf("Open(\"\") = %q, %v", s, err)
	}
}

func TestFreshNonce(t *testing.T) {
	box := newBox(t, 1)
	seen := map[string]bool{}
	for range 100 {
		s, err := box.Seal("same")
		if err != nil {
			t.Fatal(err)
		}
		if seen[s] {
			t.Fatal("two seals of the same plaintext are equal")
		}
		seen[s] = true
	}
}

func TestPlaintextPassesThrough(t *testing.T) {
	box := newBox(t, 1)
	for _, p := range []string{"sk-legacy", "enc:v2:other", "ENC:V1:x", " enc:v1:x"} {
		got, err := box.Open(p)
		if err != nil || got != p {
			t.Fatalf("Open(%q) = %q, %v; want it unchanged", p, got, err)
		}
	}
}

func TestTamperingDetected(t *testing.T) {
	box := newBox(t, 1)
	s, err := box.Seal("sk-secret-value")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, Prefix))
	for i := range raw { // nonce, ciphertext and tag are all authenticated
		bad := bytes.Clone(raw)
		bad[i] ^= 0x01
		tampered := Prefix + base64.RawURLEncoding.EncodeToString(bad)
		got, err := box.Open(tampered)
		if !errors.Is(err, ErrDecrypt) {
			t.Fatalf("flipping byte %d: Open = %q, %v; want ErrDecrypt", i, got, err)
		}
		if strings.Contains(err.Error(), tampered) || strings.Contains(err.Error(), "sk-secret") {
			t.Fatalf("error leaks the value: %v", err)
		}
	}
	// Truncation.
	short := Prefix + base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1])
	if _, err := box.Open(short); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("truncated: err = %v", err)
	}
}

func TestMalformed(t *testing.T) {
	box := newBox(t, 1)
	for _, s := range []string{
		Prefix,
		Prefix + "!!!not base64!!!",
		Prefix + "AAAA",              // too short for nonce and tag
		Prefix + "abc+/def",          // standard, not URL alphabet
		Prefix + "c2stc2VjcmV0 c2st", // embedded space
	} {
		_, err := box.Open(s)
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("Open(%q): err = %v, want ErrMalformed", s, err)
		}
		if payload := strings.TrimPrefix(s, Prefix); payload != "" && strings.Contains(err.Error(), payload) {
			t.Fatalf("error leaks the value: %v", err)
		}
	}
}

func TestPaddedPayloadAccepted(t *testing.T) {
	box := newBox(t, 1)
	s, _ := box.Seal("pad me") // 12+6+16 = 34 bytes: unpadded encoding has 46 chars
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, Prefix))
	padded := Prefix + base64.URLEncoding.EncodeToString(raw)
	if !strings.HasSuffix(padded, "=") {
		t.Fatal("test value needs padding")
	}
	if got, err := box.Open(padded); err != nil || got != "pad me" {
		t.Fatalf("Open(padded) = %q, %v", got, err)
	}
}

func TestWrongKey(t *testing.T) {
	s, err := newBox(t, 1).Seal("sk-secret")
	if err != nil {
		t.Fatal(err)
	}
	got, err := newBox(t, 2).Open(s)
	if !errors.Is(err, ErrDecrypt) || got != "" {
		t.Fatalf("Open with another key = %q, %v; want ErrDecrypt", got, err)
	}
	if strings.Contains(err.Error(), s) || strings.Contains(err.Error(), "sk-secret") {
		t.Fatalf("error leaks the value: %v", err)
	}
}

func TestNilBox(t *testing.T) {
	var box *Box
	if s, err := box.Seal("sk-plain"); s != "sk-plain" || err != nil {
		t.Fatalf("nil Seal = %q, %v", s, err)
	}
	if s, err := box.Open("sk-plain"); s != "sk-plain" || err != nil {
		t.Fatalf("nil Open(plain) = %q, %v", s, err)
	}
	sealed, _ := newBox(t, 1).Seal("sk-secret")
	s, err := box.Open(sealed)
	if !errors.Is(err, ErrNoKey) || s != "" {
		t.Fatalf("nil Open(sealed) = %q, %v; want ErrNoKey", s, err)
	}
	if strings.Contains(err.Error(), sealed) {
		t.Fatalf("error leaks the value: %v", err)
	}
}

func TestNewBoxKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := NewBox(make([]byte, n)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("NewBox(%d bytes): err = %v, want ErrInvalidKey", n, err)
		}
	}
}

func TestIsSealed(t *testing.T) {
	for s, want := range map[string]bool{
		"enc:v1:abc": true, "enc:v1:": true, "": false, "enc:v1": false, "sk-enc:v1:x": false,
	} {
		if got := IsSealed(s); got != want {
			t.Errorf("IsSealed(%q) = %v", s, got)
		}
	}
}

func TestParseKey(t *testing.T) {
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(i*7 + 250) // includes bytes that differ between the base64 alphabets
	}
	valid := map[string]string{
		"hex lower":       hex.EncodeToString(key),
		"hex upper":       strings.ToUpper(hex.EncodeToString(key)),
		"base64 std":      base64.StdEncoding.EncodeToString(key),
		"base64 std raw":  base64.RawStdEncoding.EncodeToString(key),
		"base64 url":      base64.URLEncoding.EncodeToString(key),
		"base64 url raw":  base64.RawURLEncoding.EncodeToString(key),
		"with whitespace": "  " + hex.EncodeToString(key) + "\n",
	}
	if enc := base64.StdEncoding.EncodeToString(key); enc == base64.URLEncoding.EncodeToString(key) {
		t.Fatal("test key does not exercise both base64 alphabets")
	}
	for name, s := range valid {
		got, err := ParseKey(s)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, key) {
			t.Errorf("%s: decoded to a different key", name)
		}
	}

	invalid := map[string]string{
		"empty":              "",
		"blank":              "   ",
		"short hex":          hex.EncodeToString(key[:16]),
		"long hex":           hex.EncodeToString(append(bytes.Clone(key), 1)),
		"hex with a non-hex": "zz" + hex.EncodeToString(key)[2:],
		"base64 of 16":       base64.StdEncoding.EncodeToString(key[:16]),
		"base64 of 48":       base64.StdEncoding.EncodeToString(append(bytes.Clone(key), key[:16]...)),
		"passphrase":         "correct horse battery staple",
		"mixed alphabets":    "+" + base64.RawURLEncoding.EncodeToString(key)[1:42] + "_",
	}
	for name, s := range invalid {
		k, err := ParseKey(s)
		if !errors.Is(err, ErrInvalidKey) || k != nil {
			t.Errorf("%s: ParseKey = %x, %v; want ErrInvalidKey", name, k, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "64 hex characters or base64 of 32 bytes") {
			t.Errorf("%s: error does not say what is expected: %v", name, err)
		}
		if v := strings.TrimSpace(s); v != "" && strings.Contains(msg, v) {
			t.Errorf("%s: error echoes the value: %v", name, err)
		}
		if len(s) > 8 && strings.Contains(msg, strings.TrimSpace(s)[:8]) {
			t.Errorf("%s: error echoes part of the value: %v", name, err)
		}
	}
}

func TestParsedKeyWorks(t *testing.T) {
	k, err := ParseKey(strings.Repeat("ab", KeySize))
	if err != nil {
		t.Fatal(err)
	}
	box, err := NewBox(k)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := box.Seal("v")
	if got, err := box.Open(s); err != nil || got != "v" {
		t.Fatalf("round trip = %q, %v", got, err)
	}
}

func TestConcurrentUse(t *testing.T) {
	box := newBox(t, 3)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 200 {
				p := strings.Repeat("k", i+1)
				s, err := box.Seal(p)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := box.Open(s); err != nil || got != p {
					t.Errorf("Open = %q, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
