package main

import (
	"io"
	"testing"
	"time"
)

// TestUsageRetentionOption: usage is kept forever by default; the flag or
// LOGOS_USAGE_RETENTION set a retention of at least a month; shorter or
// negative ones are refused.
func TestUsageRetentionOption(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	for _, c := range []struct {
		args []string
		env  map[string]string
		want time.Duration
		ok   bool
	}{
		{nil, nil, 0, true},
		{nil, map[string]string{"LOGOS_USAGE_RETENTION": "8760h"}, 8760 * time.Hour, true},
		{[]string{"--usage-retention", "0"}, map[string]string{"LOGOS_USAGE_RETENTION": "8760h"}, 0, true},
		{[]string{"--usage-retention", "24h"}, nil, 0, false},
		{[]string{"--usage-retention", "-1h"}, nil, 0, false},
	} {
		o, err := parseOptions(c.args, env(c.env), io.Discard)
		if (err == nil) != c.ok || (c.ok && o.usageRetention != c.want) {
			t.Errorf("parseOptions(%v, %v): usage retention %v, %v; want %v (ok %v)", c.args, c.env, o.usageRetention, err, c.want, c.ok)
		}
	}
}
