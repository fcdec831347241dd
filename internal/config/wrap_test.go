package config_test

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/logos-llm/logos/internal/config"
	"github.com/logos-llm/logos/store"
)

// TestParseErrorsWrapYAML checks that a problem found by the YAML decoder
// keeps its error: errors.As finds a *yaml.TypeError in a type mismatch
// (also through ApplyDocument), and a syntax error unwraps to the parser's
// error, while the messages stay as users see them.
func TestParseErrorsWrapYAML(t *testing.T) {
	typeDoc := []byte("providers:\n  - name: p\n    kind: openai\n    base_url: https://api.example.com/v1\n    parallel_capacity: many\n")
	_, err := config.Parse(typeDoc)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		t.Errorf("Parse of a type mismatch: errors.As(%v, *yaml.TypeError) is false", err)
	}
	if got, want := err.Error(), "line 5: providers[0].parallel_capacity: must be an integer, not a string (many)"; got != want {
		t.Errorf("Parse of a type mismatch: %q, want %q", got, want)
	}
	if ps := config.Errors(err); len(ps) != 1 || !errors.As(ps[0], &te) {
		t.Errorf("Errors of a type mismatch = %v, want one problem wrapping a *yaml.TypeError", ps)
	}

	eachStore(t, func(t *testing.T, s store.Store, _ func() store.Store) {
		_, err := config.ApplyDocument(t.Context(), s, typeDoc, config.ApplyOptions{})
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			t.Errorf("ApplyDocument of a type mismatch: errors.As(%v, *yaml.TypeError) is false", err)
		}
	})

	_, err = config.Parse([]byte("providers: []\nmodels: name: x\n"))
	ps := config.Errors(err)
	if len(ps) != 1 {
		t.Fatalf("Parse of a syntax error: %v, want one problem", err)
	}
	if got, want := ps[0].Error(), "line 2: invalid YAML: mapping values are not allowed in this context"; got != want {
		t.Errorf("Parse of a syntax error: %q, want %q", got, want)
	}
	if inner := errors.Unwrap(ps[0]); inner == nil || !strings.HasPrefix(inner.Error(), "yaml: line 2: ") {
		t.Errorf("Parse of a syntax error: unwraps to %v, want the YAML parser's error", inner)
	}
}
