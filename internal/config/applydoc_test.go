package config_test

import (
	"strings"
	"testing"

	"github.com/logos-llm/logos/internal/config"
	"github.com/logos-llm/logos/store"
)

// rot13Box seals by rotating letters, and can open what it sealed.
type rot13Box struct{}

func (rot13Box) Seal(s string) (string, error) { return "sealed:" + rot13(s), nil }
func (rot13Box) Open(s string) (string, error) { return rot13(strings.TrimPrefix(s, "sealed:")), nil }

func rot13(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return 'a' + (r-'a'+13)%26
		case r >= 'A' && r <= 'Z':
			return 'A' + (r-'A'+13)%26
		}
		return r
	}, s)
}

// sealOnly seals and cannot open.
type sealOnly struct{}

func (sealOnly) Seal(s string) (string, error) { return "x" + s, nil }

// TestApplyDocument: the path of Router.ApplyConfig and the admin import
// parses, refuses a bad document with *Error problems and writes nothing,
// and applies a good one; WithSealer takes Open only from a sealer that has
// it, so that applying the same document again changes nothing.
func TestApplyDocument(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store, _ func() store.Store) {
		ctx := t.Context()
		bad := []byte("providers:\n  - name: p\n    kind: openai\n    base_url: api.example.com\n")
		rep, err := config.ApplyDocument(ctx, s, bad, config.ApplyOptions{})
		if len(config.Errors(err)) != 1 || rep.Changed() {
			t.Fatalf("ApplyDocument(bad) = %+v, %v; want one problem and no change", rep, err)
		}
		if ps, _ := s.ListProviders(ctx); len(ps) != 0 {
			t.Fatalf("a refused document wrote %d providers", len(ps))
		}
		if rep, err := config.ApplyDocument(ctx, s, []byte("providers: [\n"), config.ApplyOptions{}); len(config.Errors(err)) == 0 || rep.Changed() {
			t.Fatalf("ApplyDocument(invalid YAML) = %+v, %v; want a problem", rep, err)
		}

		good := []byte("providers:\n  - name: p\n    kind: openai\n    base_url: https://api.example.com/v1\n    credential: sk-test\n")
		opts := config.ApplyOptions{}.WithSealer(rot13Box{})
		if opts.Seal == nil || opts.Open == nil {
			t.Fatal("WithSealer of a box that opens: Seal or Open missing")
		}
		if o := (config.ApplyOptions{}).WithSealer(sealOnly{}); o.Seal == nil || o.Open != nil {
			t.Fatal("WithSealer of a sealer that cannot open: want Seal only")
		}
		if o := (config.ApplyOptions{Prune: true}).WithSealer(nil); o.Seal != nil || !o.Prune {
			t.Fatal("WithSealer(nil) changed the options")
		}
		if rep, err := config.ApplyDocument(ctx, s, good, opts); err != nil || len(rep.Created) != 1 {
			t.Fatalf("ApplyDocument(good) = %+v, %v", rep, err)
		}
		ps, err := s.ListProviders(ctx)
		if err != nil || len(ps) != 1 || ps[0].Credential != "sealed:"+rot13("sk-test") {
			t.Fatalf("providers = %+v, %v; want one with the sealed credential", ps, err)
		}
		if rep, err := config.ApplyDocument(ctx, s, good, opts); err != nil || rep.Changed() {
			t.Fatalf("ApplyDocument(good) again = %+v, %v; want no change", rep, err)
		}
	})
}
