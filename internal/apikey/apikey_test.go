package apikey

import (
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	a, b := Generate("Root Process"), Generate("Root Process")
	if a == b {
		t.Fatal("two generated keys are equal")
	}
	if !strings.HasPrefix(a, "lg-root-process-") {
		t.Fatalf("key %q does not carry the name", a[:20])
	}
	if got := len(a) - len("lg-root-process-"); got != randomChars {
		t.Fatalf("random part has %d chars, want %d", got, randomChars)
	}
	for _, c := range a {
		if !strings.ContainsRune(alphabet+"-", c) {
			t.Fatalf("key has non url-safe char %q", c)
		}
	}
	// A name with nothing usable adds no "<name>-" part (the random part may
	// itself start with '-', so check the length, not the characters).
	if k := Generate("???"); !strings.HasPrefix(k, "lg-") || len(k) != len("lg-")+randomChars {
		t.Fatalf("key for an empty slug has length %d", len(k))
	}
}

func TestHashAndEqual(t *testing.T) {
	k := Generate("x")
	if !Equal(Hash(k), Hash(k)) {
		t.Fatal("hash of the same key differs")
	}
	if Equal(Hash(k), Hash(k+"y")) {
		t.Fatal("hashes of different keys are equal")
	}
	if len(Hash(k)) != 32 {
		t.Fatal("hash is not SHA-256 sized")
	}
}

func TestPrefixNeverRevealsShortKeys(t *testing.T) {
	if p := Prefix("short"); p != "sho" {
		t.Fatalf("Prefix(short) = %q", p)
	}
	k := Generate("svc")
	if p := Prefix(k); p != k[:prefixLen] {
		t.Fatalf("Prefix = %q", p)
	}
}

func TestValidate(t *testing.T) {
	if Validate("too-short") == nil {
		t.Fatal("short key accepted")
	}
	if err := Validate(strings.Repeat("k", MinLength)); err != nil {
		t.Fatal(err)
	}
}
