package main

import (
	"fmt"
	"strings"

	"github.com/logos-llm/logos/internal/gcfloor"
)

// ProxyGC is how the bare proxy target's garbage collector is set.
type ProxyGC struct {
	// MinHeap is the GC floor in bytes (package gcfloor); 0 is Go's default.
	MinHeap uint64
	// Env is extra environment (GOGC, GOMEMLIMIT) for the proxy process.
	Env []string
	// Same reports that the setting copies logosd's.
	Same bool
}

// String describes the setting for the report.
func (g ProxyGC) String() string {
	var parts []string
	if g.MinHeap > 0 {
		parts = append(parts, fmt.Sprintf("GC floor %d MiB", g.MinHeap>>20))
	}
	parts = append(parts, g.Env...)
	if len(parts) == 0 {
		parts = append(parts, "Go's defaults")
	}
	what := strings.Join(parts, ", ")
	if g.Same {
		return "same as logosd's (" + what + ")"
	}
	return what
}

// proxyGC returns the bare proxy's GC setting for c.ProxyGC: with "same"
// (or empty) the floor logosd applies given c.LogosdFlags and c.LogosdEnv
// (its --gc-min-heap, else LOGOS_GC_MIN_HEAP, else its default "auto"; none
// when GOGC is set) and the same GOGC/GOMEMLIMIT environment; with "go" nothing.
func (c *Config) proxyGC() (ProxyGC, error) {
	switch c.ProxyGC {
	case "go":
		return ProxyGC{}, nil
	case "", "same":
	default:
		return ProxyGC{}, fmt.Errorf("-proxy-gc %q: want same or go", c.ProxyGC)
	}
	env, err := parseEnv(c.LogosdEnv)
	if err != nil {
		return ProxyGC{}, fmt.Errorf("-logosd-env: %w", err)
	}
	g := ProxyGC{Same: true}
	text := gcfloor.DefaultMinHeapText
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "LOGOS_GC_MIN_HEAP":
			text = v
		case strings.HasPrefix(k, "GO"):
			g.Env = append(g.Env, kv)
		}
	}
	flags := strings.Fields(c.LogosdFlags)
	for i, f := range flags {
		name, val, hasVal := strings.Cut(strings.TrimLeft(f, "-"), "=")
		if name != "gc-min-heap" || !strings.HasPrefix(f, "-") {
			continue
		}
		if !hasVal {
			if i+1 >= len(flags) {
				return ProxyGC{}, fmt.Errorf("-logosd-flags: %s needs a value", f)
			}
			val = flags[i+1]
		}
		text = val
	}
	// "auto" is sized as logosd sizes it: from the GOMEMLIMIT it is given
	// and the cgroup both run in.
	goEnv := func(name string) string {
		for _, kv := range g.Env {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				return v
			}
		}
		return ""
	}
	if g.MinHeap, err = gcfloor.Resolve(text, goEnv); err != nil {
		return ProxyGC{}, fmt.Errorf("logosd's GC minimum heap %q: %w", text, err)
	}
	for _, kv := range g.Env {
		if strings.HasPrefix(kv, "GOGC=") {
			g.MinHeap = 0 // logosd ignores its floor when GOGC is set
		}
	}
	return g, nil
}
