package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/logos-llm/logos/internal/gcfloor"
)

// TestProxyGC: the bare proxy gets the GC floor logosd would apply given the
// same flags and environment, so it is the honest floor.
func TestProxyGC(t *testing.T) {
	// logosd's default, "auto", depends on the cgroup the test runs in.
	auto := gcfloor.AutoMinHeap(func(string) string { return "" }, os.ReadFile)
	autoStr := fmt.Sprintf("same as logosd's (GC floor %d MiB)", auto>>20)
	for _, tc := range []struct {
		name  string
		cfg   Config
		want  ProxyGC
		str   string
		isErr bool
	}{
		{"default floor", Config{}, ProxyGC{MinHeap: auto, Same: true}, autoStr, false},
		{"auto sized from the GOMEMLIMIT given", Config{LogosdEnv: "GOMEMLIMIT=64MiB"}, ProxyGC{MinHeap: min(auto, 16<<20), Env: []string{"GOMEMLIMIT=64MiB"}, Same: true}, "", false},
		{"go defaults", Config{ProxyGC: "go", LogosdEnv: "GOMEMLIMIT=1GiB"}, ProxyGC{}, "Go's defaults", false},
		{"flag", Config{LogosdFlags: "--debug-listen 127.0.0.1:1 --gc-min-heap 16MiB"}, ProxyGC{MinHeap: 16 << 20, Same: true}, "same as logosd's (GC floor 16 MiB)", false},
		{"flag with =", Config{LogosdFlags: "-gc-min-heap=0"}, ProxyGC{Same: true}, "same as logosd's (Go's defaults)", false},
		{"env", Config{LogosdEnv: "LOGOS_GC_MIN_HEAP=32MiB GOMEMLIMIT=350MiB"}, ProxyGC{MinHeap: 32 << 20, Env: []string{"GOMEMLIMIT=350MiB"}, Same: true}, "same as logosd's (GC floor 32 MiB, GOMEMLIMIT=350MiB)", false},
		{"flag beats env", Config{LogosdEnv: "LOGOS_GC_MIN_HEAP=32MiB", LogosdFlags: "--gc-min-heap 8MiB"}, ProxyGC{MinHeap: 8 << 20, Same: true}, "", false},
		{"GOGC wins", Config{LogosdEnv: "GOGC=off GOMEMLIMIT=64MiB"}, ProxyGC{Env: []string{"GOGC=off", "GOMEMLIMIT=64MiB"}, Same: true}, "same as logosd's (GOGC=off, GOMEMLIMIT=64MiB)", false},
		{"bad size", Config{LogosdFlags: "--gc-min-heap 64MB"}, ProxyGC{}, "", true},
		{"missing value", Config{LogosdFlags: "--gc-min-heap"}, ProxyGC{}, "", true},
		{"bad mode", Config{ProxyGC: "fast"}, ProxyGC{}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.proxyGC()
			if (err != nil) != tc.isErr {
				t.Fatalf("err = %v, want error %v", err, tc.isErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("proxyGC (-want +got):\n%s", diff)
			}
			if tc.str != "" && got.String() != tc.str {
				t.Errorf("String() = %q, want %q", got.String(), tc.str)
			}
		})
	}
}

// TestServeProxyRefusesBadFloor: the hidden proxy mode names a bad floor.
func TestServeProxyRefusesBadFloor(t *testing.T) {
	err := serveProxy([]string{"http://127.0.0.1:1", "64MiB"}, nil)
	if err == nil || !strings.Contains(err.Error(), "GC minimum heap") {
		t.Fatalf("err = %v", err)
	}
}
