package providertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/logos-llm/logos/providers"
)

// LeakSecret is the credential CheckCredentialHygiene plants everywhere.
const LeakSecret = "sk-LEAKCHECK-7f3c1e9a2b4d"

// ErrorCase is a target and call that a provider must reject.
type ErrorCase struct {
	Name   string
	Target providers.Target
	Call   providers.Call
}

// LeakCases returns targets and calls every provider must reject, each
// with LeakSecret as the credential and planted in the field that is wrong
// (user information of a bad URL, a header name, an operation, a method),
// so a provider that echoes its input into an error leaks it.
func LeakCases(kind string) []ErrorCase {
	const s = LeakSecret
	base := providers.Target{Kind: kind, BaseURL: "https://upstream.example/v1", UpstreamModel: "gpt-4o", Credential: s}
	call := providers.Call{Operation: "chat/completions", Body: []byte(`{"model":"gpt-4o"}`)}
	with := func(f func(t *providers.Target, c *providers.Call)) (providers.Target, providers.Call) {
		t, c := base, call
		f(&t, &c)
		return t, c
	}
	var cases []ErrorCase
	add := func(name string, f func(t *providers.Target, c *providers.Call)) {
		t, c := with(f)
		cases = append(cases, ErrorCase{Name: name, Target: t, Call: c})
	}
	add("base URL with bad port and user info", func(t *providers.Target, _ *providers.Call) {
		t.BaseURL = "https://user:" + s + "@upstream.example:port/v1"
	})
	add("base URL with bad escape", func(t *providers.Target, _ *providers.Call) { t.BaseURL = "https://upstream.example/" + s + "%zz" })
	add("relative base URL", func(t *providers.Target, _ *providers.Call) { t.BaseURL = s + "/v1" })
	add("base URL with other scheme", func(t *providers.Target, _ *providers.Call) { t.BaseURL = "ftp://" + s + "@upstream.example/" })
	add("base URL without host", func(t *providers.Target, _ *providers.Call) { t.BaseURL = "https:///" + s })
	add("empty base URL", func(t *providers.Target, _ *providers.Call) { t.BaseURL = "" })
	add("absolute endpoint with bad port", func(t *providers.Target, _ *providers.Call) {
		t.Endpoint = "https://" + s + "@upstream.example:port/chat"
	})
	add("endpoint with other scheme", func(t *providers.Target, _ *providers.Call) { t.Endpoint = "ftp://upstream.example/" + s })
	add("relative endpoint with bad base", func(t *providers.Target, _ *providers.Call) {
		t.Endpoint = "chat/completions"
		t.BaseURL = "https://user:" + s + "@upstream.example:port"
	})
	add("invalid auth header name", func(t *providers.Target, _ *providers.Call) { t.AuthHeader = "X Key " + s })
	add("auth format without placeholder", func(t *providers.Target, _ *providers.Call) {
		t.AuthHeader, t.AuthFormat = "Authorization", "Bearer "+s
	})
	add("credential with a newline", func(t *providers.Target, _ *providers.Call) { t.Credential = s + "\r\nX-Injected: 1" })
	add("credential with a newline, default header", func(t *providers.Target, _ *providers.Call) {
		t.Credential = s + "\n"
		t.AuthHeader, t.AuthFormat = "", ""
	})
	add("dot-dot operation", func(_ *providers.Target, c *providers.Call) { c.Operation = "../" + s })
	add("empty operation", func(_ *providers.Target, c *providers.Call) { c.Operation = "" })
	add("invalid method", func(_ *providers.Target, c *providers.Call) { c.Method = "GET " + s })
	return cases
}

// CheckCredentialHygiene asserts that p rejects every case of LeakCases
// (plus extra) with an error in which the credential appears nowhere: not
// in the message, not in any wrapped error, not in %+v formatting.
func CheckCredentialHygiene(t *testing.T, p providers.Provider, kind string, extra ...ErrorCase) {
	t.Helper()
	for _, tc := range append(LeakCases(kind), extra...) {
		t.Run(tc.Name, func(t *testing.T) {
			req, err := p.NewRequest(context.Background(), tc.Target, tc.Call)
			if err == nil {
				t.Fatalf("NewRequest succeeded (URL %s); the case must be rejected", req.URL.Redacted())
			}
			secrets := []string{tc.Target.Credential, LeakSecret}
			for _, e := range errorChain(err) {
				for _, text := range []string{e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
					for _, sec := range secrets {
						if sec != "" && strings.Contains(text, sec) {
							t.Fatalf("error leaks the credential: %s", text)
						}
					}
				}
			}
		})
	}
}

// errorChain returns err and everything it wraps.
func errorChain(err error) []error {
	var out []error
	queue := []error{err}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		if e == nil {
			continue
		}
		out = append(out, e)
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			queue = append(queue, u.Unwrap()...)
		default:
			if w := errors.Unwrap(e); w != nil {
				queue = append(queue, w)
			}
		}
	}
	return out
}
