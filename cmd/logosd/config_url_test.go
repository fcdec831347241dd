package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckRefusesSchemelessEndpoint: a config file whose deployment
// endpoint names a host without a scheme fails to load, with the field and
// what is wanted, as the admin API refuses it (catalog.EndpointProblem).
func TestCheckRefusesSchemelessEndpoint(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	doc := "providers:\n  - name: p\n    kind: openai_compatible\n    base_url: http://gpu:8000/v1\n" +
		"models:\n  - name: m\n    deployments:\n      - provider: p\n        endpoint: localhost:8080/v1\n"
	if err := os.WriteFile(bad, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"--config", bad, "--check"}, func(string) string { return "" }, io.Discard, &errOut)
	want := "line 9: models[0].deployments[0].endpoint: has no scheme: want http:// or https://"
	if err == nil || !strings.Contains(errOut.String()+err.Error(), want) {
		t.Fatalf("--check of a scheme-less endpoint: %v\n%s\nwant %q", err, errOut.String(), want)
	}
}
