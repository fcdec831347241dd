package config_test

import (
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/logos-llm/logos/internal/config"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
	"github.com/logos-llm/logos/store/sqlite"
)

// cmpIgnoreLines compares documents without the lines they were parsed from.
var cmpIgnoreLines = cmpopts.IgnoreFields(config.Document{}, "Lines")

// quiet discards the stores' log records.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// storeKinds open a fresh, empty store of each implementation; the
// PostgreSQL one skips when LOGOS_TEST_POSTGRES_URL is unset.
var storeKinds = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"sqlite", func(t *testing.T) store.Store {
		t.Helper()
		s, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "logos.db"), Logger: quiet})
		if err != nil {
			t.Fatalf("sqlite.Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"postgres", func(t *testing.T) store.Store {
		t.Helper()
		url := pgtest.NewMigratedDatabase(t)
		s, err := postgres.Open(t.Context(), postgres.Config{URL: url, Logger: quiet})
		if err != nil {
			t.Fatalf("postgres.Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
}

// eachStore runs test against a fresh store of every implementation; the
// returned function opens another fresh store of the same kind.
func eachStore(t *testing.T, test func(t *testing.T, s store.Store, fresh func() store.Store)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			test(t, k.open(t), func() store.Store { return k.open(t) })
		})
	}
}

// env is a fake environment.
type env map[string]string

// getenv is an ApplyOptions.Getenv.
func (e env) getenv(name string) string { return e[name] }

// exampleEnv resolves every reference of examples/logos.yaml.
var exampleEnv = env{
	"OPENAI_API_KEY":        "sk-openai-example-credential",
	"AZURE_OPENAI_API_KEY":  "azure-example-credential",
	"VLLM_API_KEY":          "vllm-example-credential",
	"LOGOS_ADMIN_KEY":       "lg-admin-0123456789abcdefghijklmnopqrstuvwxyz",
	"LOGOS_CODE_REVIEW_KEY": "lg-code-review-0123456789abcdefghijklmnopqrstuvwxyz",
}

// mustParse parses a document or fails t.
func mustParse(t *testing.T, yaml string) *config.Document {
	t.Helper()
	d, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

// mustApply applies d or fails t.
func mustApply(t *testing.T, s store.Store, d *config.Document, opts config.ApplyOptions) config.Report {
	t.Helper()
	rep, err := config.Apply(t.Context(), s, d, opts)
	if err != nil {
		t.Fatalf("Apply: %v\nreport so far: %+v", err, rep)
	}
	return rep
}

// sorted returns a sorted copy of list.
func sorted(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return out
}
