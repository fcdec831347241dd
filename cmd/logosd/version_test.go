package main

import (
	"bytes"
	"io"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0ba8b55c0ffee"}, {Key: "vcs.time", Value: "2026-12-05T04:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	if got, want := versionLine(bi, true), "logosd v1.2.3 commit 0ba8b55c0ffee (modified) built from a tree of 2026-12-05T04:00:00Z go1.26.0"; got != want {
		t.Errorf("versionLine = %q, want %q", got, want)
	}
	if got := versionLine(&debug.BuildInfo{GoVersion: "go1.26.0"}, true); got != "logosd (devel) commit unknown go1.26.0" {
		t.Errorf("without VCS stamps: %q", got)
	}
	if got := versionLine(nil, false); !strings.Contains(got, "unknown") {
		t.Errorf("without build info: %q", got)
	}
}

func TestRunVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"version"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "logosd ") || !strings.Contains(out.String(), "commit ") {
		t.Errorf("logosd version printed %q", out.String())
	}
}

func TestCORSOriginsOption(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	o, err := parseOptions(nil, env(map[string]string{"LOGOS_CORS_ORIGINS": "https://a.example, http://localhost:3000"}), io.Discard)
	if err != nil || len(o.corsOrigins) != 2 || o.corsOrigins[1] != "http://localhost:3000" {
		t.Errorf("LOGOS_CORS_ORIGINS: %v, %v", o.corsOrigins, err)
	}
	o, err = parseOptions([]string{"--cors-origins", "*"}, env(nil), io.Discard)
	if err != nil || len(o.corsOrigins) != 1 || o.corsOrigins[0] != "*" {
		t.Errorf("--cors-origins '*': %v, %v", o.corsOrigins, err)
	}
	if o, _ := parseOptions(nil, env(nil), io.Discard); o.corsOrigins != nil {
		t.Errorf("default origins %v, want none", o.corsOrigins)
	}
	if _, err := parseOptions([]string{"--cors-origins", "example.com"}, env(nil), io.Discard); err == nil {
		t.Error("an origin without a scheme was accepted")
	}
}

// TestHealthcheck runs a real logosd and checks `logosd healthcheck` against
// it, and against an address nothing listens on.
func TestHealthcheck(t *testing.T) {
	d := start(t, []string{"--sqlite-path", t.TempDir() + "/logos.db"}, nil)
	listen := strings.TrimPrefix(d.url, "http://")
	var out bytes.Buffer
	env := func(string) string { return "" }
	if err := run(t.Context(), []string{"healthcheck", "--listen", listen}, env, &out, io.Discard); err != nil || !strings.Contains(out.String(), `"ready"`) {
		t.Errorf("healthcheck of a ready logosd: %v, %q", err, out.String())
	}
	// 0.0.0.0 means this machine.
	_, port, _ := strings.Cut(listen, ":")
	if err := run(t.Context(), []string{"healthcheck"}, func(k string) string {
		if k == "LOGOS_LISTEN" {
			return "0.0.0.0:" + port
		}
		return ""
	}, io.Discard, io.Discard); err != nil {
		t.Errorf("healthcheck via LOGOS_LISTEN=0.0.0.0:%s: %v", port, err)
	}
	d.stop(t)
	if err := run(t.Context(), []string{"healthcheck", "--listen", listen}, env, io.Discard, io.Discard); err == nil {
		t.Error("healthcheck succeeded with logosd stopped")
	}
}
