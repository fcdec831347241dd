package providertest

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// testdata holds this package's own recorded fixtures. They are embedded so
// that tests in any package can use the servers, whatever their working
// directory.
//
//go:embed testdata
var testdata embed.FS

// Placeholder is the model-name placeholder in every fixture.
const Placeholder = "{{MODEL}}"

// Testdata returns one of providertest's own fixtures (the files in
// providertest/testdata, e.g. "openai_streaming_include_usage.txt"),
// failing the test if it does not exist.
func Testdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := testdata.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatalf("providertest: fixture %s: %v", name, err)
	}
	return b
}

// mustFixture returns an embedded fixture; the servers only ask for files
// that exist, so a missing one is a bug in this package.
func mustFixture(name string) []byte {
	b, err := testdata.ReadFile("testdata/" + name)
	if err != nil {
		panic("providertest: " + err.Error())
	}
	return b
}

// ErrNoSharedFixtures means the shared fixture directory could not be found.
var ErrNoSharedFixtures = errors.New("providertest: shared fixtures not found")

// SharedFixturesDir returns the directory of the shared recorded fixtures
// (azure_sync.json, azure_streaming.txt, openwebui_*), which live outside
// the module at ../shared/fixtures relative to the module root. The module
// root is found by walking up from the working directory to the nearest
// go.mod, so it works from any package's tests.
func SharedFixturesDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoSharedFixtures, err)
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			fixtures := filepath.Join(dir, "..", "shared", "fixtures")
			if st, err := os.Stat(fixtures); err == nil && st.IsDir() {
				return filepath.Clean(fixtures), nil
			}
			return "", fmt.Errorf("%w: no directory %s", ErrNoSharedFixtures, filepath.Clean(fixtures))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod above %s", ErrNoSharedFixtures, wd)
		}
		dir = parent
	}
}

// SharedFixture returns the named shared fixture (e.g. "azure_streaming.txt"),
// still containing the {{MODEL}} placeholder. It skips the test with a clear
// message when the shared fixtures are not available.
func SharedFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	dir, err := SharedFixturesDir()
	if err != nil {
		tb.Skipf("skipping: %v (expected ../shared/fixtures next to the module root)", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		tb.Skipf("skipping: shared fixture %s is absent from %s", name, dir)
	}
	if err != nil {
		tb.Fatalf("providertest: shared fixture %s: %v", name, err)
	}
	return b
}

// WithModel returns b with every {{MODEL}} placeholder replaced by model,
// escaped for use inside a JSON string.
func WithModel(b []byte, model string) []byte {
	q, err := json.Marshal(model)
	if err != nil { // cannot happen for a string
		return b
	}
	return bytes.ReplaceAll(b, []byte(Placeholder), q[1:len(q)-1])
}

// SplitSSE splits an SSE body into events, each keeping its terminating
// blank line; a trailing unterminated event is the last element.
// Concatenating the result gives b back.
func SplitSSE(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\n\n"))
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i+2])
		b = b[i+2:]
	}
	return out
}

// SplitLines splits an NDJSON body into lines, each keeping its newline.
// Concatenating the result gives b back.
func SplitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i+1])
		b = b[i+1:]
	}
	return out
}
