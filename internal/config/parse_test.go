package config_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/logos-llm/logos/internal/config"
)

// valid is a small document every Validate case starts from; cases append
// sections or replace it.
const valid = `providers:
  - name: openai
    kind: openai
    base_url: https://api.openai.com/v1
models:
  - name: gpt-4o
    deployments:
      - provider: openai
users:
  - username: admin
    role: admin
processes:
  - name: app
    owner: user:admin
    key: ${APP_KEY}
    profiles:
      - name: default
        models: [gpt-4o]
`

func TestParseValid(t *testing.T) {
	d := mustParse(t, valid)
	want := &config.Document{
		Providers: []config.Provider{{Name: "openai", Kind: "openai", BaseURL: "https://api.openai.com/v1"}},
		Models:    []config.Model{{Name: "gpt-4o", Deployments: []config.Deployment{{Provider: "openai"}}}},
		Users:     []config.User{{Username: "admin", Role: "admin"}},
		Processes: []config.Process{{Name: "app", Owner: "user:admin", Key: "${APP_KEY}", Profiles: []config.Profile{{Name: "default", Models: []string{"gpt-4o"}}}}},
	}
	if diff := cmp.Diff(want, d, cmpIgnoreLines); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	for path, line := range map[string]int{
		"providers[0]":                       2,
		"providers[0].kind":                  3,
		"models[0].deployments[0].provider":  8,
		"processes[0].key":                   15,
		"processes[0].profiles[0].models[0]": 18,
	} {
		if got := d.Lines.Of(path); got != line {
			t.Errorf("Lines.Of(%q) = %d, want %d", path, got, line)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "~\n"} {
		d, err := config.Parse([]byte(in))
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if len(d.Providers)+len(d.Models)+len(d.Processes) != 0 {
			t.Errorf("Parse(%q) = %+v, want an empty document", in, d)
		}
	}
}

func TestParseJSON(t *testing.T) {
	d := mustParse(t, `{"providers": [{"name": "ollama", "kind": "ollama", "base_url": "http://127.0.0.1:11434",
  "parallel_capacity": 4}],
 "models": [{"name": "llama3", "parallel": 2, "deployments": [{"provider": "ollama"}]}]}`)
	if d.Providers[0].ParallelCapacity != 4 || d.Models[0].Parallel != 2 {
		t.Errorf("Parse(JSON) = %+v", d)
	}
	if got := d.Lines.Of("models[0].parallel"); got != 3 {
		t.Errorf("line of models[0].parallel = %d, want 3", got)
	}
}

// TestValidate checks that every problem is reported, on the line it is on.
func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // Error() of each problem, in order
	}{
		{
			name: "unknown kind, relative URL, missing name",
			yaml: `providers:
  - name: a
    kind: openia
    base_url: api.example.com
  - kind: ollama
    base_url: http://127.0.0.1:11434
`,
			want: []string{
				"line 3: providers[0].kind: must be one of openai, azure, ollama, openai_compatible",
				"line 4: providers[0].base_url: has no scheme: want http:// or https://",
				"line 5: providers[1].name: is required",
			},
		},
		{
			name: "retry out of range",
			yaml: `models:
  - name: m
    retry:
      max_attempts: 101
      attempt_timeout_ms: -1
      deadline_ms: 3600001
`,
			want: []string{
				"line 4: models[0].retry.max_attempts: must be between 0 (the default, 3) and 100",
				"line 5: models[0].retry.attempt_timeout_ms: must be between 0 (the default) and 3600000 (one hour)",
				"line 6: models[0].retry.deadline_ms: must be between 0 (the default) and 3600000 (one hour)",
			},
		},
		{
			name: "duplicate provider, bad auth, malformed reference, negative numbers",
			yaml: `providers:
  - name: a
    kind: openai
    base_url: https://a.example
  - name: a
    kind: azure
    base_url: https://b.example
    auth_header: "api key"
    auth_format: Bearer
    credential: Bearer ${KEY}
    parallel_capacity: -1
    admin_url: ftp://b.example
`,
			want: []string{
				`line 5: providers[1].name: duplicate provider "a"`,
				`line 8: providers[1].auth_header: "api key" is not a valid HTTP header name`,
				`line 9: providers[1].auth_format: must contain a {} placeholder for the credential, e.g. "Bearer {}"`,
				"line 10: providers[1].credential: a reference must be the whole value, ${VAR} with VAR made of letters, digits and _",
				"line 11: providers[1].parallel_capacity: must not be negative",
				`line 12: providers[1].admin_url: has scheme "ftp": want http:// or https://`,
			},
		},
		{
			name: "extra operations",
			yaml: `providers:
  - name: a
    kind: openai
    base_url: https://a.example
    extra_operations: [batches, "files/*", "../admin", ""]
`,
			want: []string{
				`line 5: providers[0].extra_operations[2]: invalid operation pattern "../admin": empty, "." or ".." segment`,
				`line 5: providers[0].extra_operations[3]: invalid operation pattern "": want a path below /v1 such as "batches" or "files/*"`,
			},
		},
		{
			name: "models and deployments",
			yaml: `providers:
  - name: p
    kind: ollama
    base_url: http://h:11434
models:
  - name: m
    privacy: PUBLIC
    parallel: 300
    deployments:
      - provider: p
      - provider: p
      - provider: q
        endpoint: "ftp://x/y"
  - name: m
`,
			want: []string{
				"line 7: models[0].privacy: must be one of LOCAL, CLOUD_IN_EU_BY_EU_PROVIDER, CLOUD_IN_EU_BY_US_PROVIDER, CLOUD_NOT_IN_EU_BY_US_PROVIDER",
				"line 8: models[0].parallel: must be between 1 and 256",
				`line 11: models[0].deployments[1].provider: model "m" is already deployed on provider "p"`,
				`line 12: models[0].deployments[2].provider: unknown provider "q" (not in providers)`,
				`line 13: models[0].deployments[2].endpoint: has scheme "ftp": want http:// or https://`,
				`line 14: models[1].name: duplicate model "m"`,
			},
		},
		{
			name: "processes",
			yaml: `users:
  - username: ada
    role: root
services:
  - name: bot
processes:
  - name: a
    owner: user:bob
    key: lg-0123456789abcdefghijklmnop
    log_level: DEBUG
    priority: 11
  - name: b
    owner: bot
    key: ${SHARED}
  - name: c
    owner: service:bot
    key: ${SHARED}
    profiles:
      - name: x
        models: [nope]
      - name: x
`,
			want: []string{
				"line 3: users[0].role: must be admin or user",
				`line 8: processes[0].owner: unknown user "bob" (not in users)`,
				"line 9: processes[0].key: must be a ${VAR} reference to an environment variable; keys never go in the file",
				"line 10: processes[0].log_level: must be BILLING or FULL",
				"line 11: processes[0].priority: must be between 1 (low) and 10 (high); 5 is normal",
				"line 13: processes[1].owner: must be user:<username> or service:<name>",
				`line 17: processes[2].key: ${SHARED} is already the key of process "b"; keys must differ`,
				`line 20: processes[2].profiles[0].models[0]: unknown model "nope" (not in models)`,
				`line 21: processes[2].profiles[1].name: duplicate profile "x" of process "c"`,
			},
		},
		{
			name: "policies and prices",
			yaml: valid + `policies:
  - process: nobody
    name: p
    privacy: somewhere
prices:
  - token_type: prompt_tokens
    valid_from: 2025-01-01
    price_per_million: 2.5.0
    currency: eur
  - token_type: prompt_tokens
    model: gpt-5
    valid_from: yesterday
    price_per_million: "-1"
  - token_type: prompt_tokens
    valid_from: 2025-01-01T00:00:00Z
    price_per_million: 3
  - model: gpt-4o
    valid_from: 2025-01-01
`,
			want: []string{
				`line 20: policies[0].process: unknown process "nobody" (not in processes)`,
				"line 22: policies[0].privacy: must be one of LOCAL, CLOUD_IN_EU_BY_EU_PROVIDER, CLOUD_IN_EU_BY_US_PROVIDER, CLOUD_NOT_IN_EU_BY_US_PROVIDER",
				"line 26: prices[0].price_per_million: must be a non-negative decimal with at most 6 fractional digits, such as 2.50",
				"line 27: prices[0].currency: must be a three-letter ISO 4217 code such as EUR or USD",
				`line 29: prices[1].model: unknown model "gpt-5" (not in models)`,
				`line 30: prices[1].valid_from: must be an RFC 3339 time (2025-01-01T00:00:00Z) or a date (2025-01-01), not "yesterday"`,
				"line 31: prices[1].price_per_million: must be a non-negative decimal with at most 6 fractional digits, such as 2.50",
				"line 32: prices[2]: duplicate price of prompt_tokens from 2025-01-01T00:00:00Z",
				"line 35: prices[3].token_type: is required",
				"line 35: prices[3].price_per_million: is required",
			},
		},
		{
			name: "unknown fields",
			yaml: `providers:
  - name: a
    kind: openai
    base_ur: https://a.example
    base_url: https://a.example
modles: []
`,
			want: []string{
				`line 4: providers[0].base_ur: unknown field "base_ur" (expected one of admin_url, api_version, auth_format, auth_header, base_url, credential, extra_operations, keep_alive_seconds, kind, max_loaded_models, name, parallel_capacity, poll_interval_ms, poll_timeout_ms, privacy, sleep_mode, total_vram_mb)`,
				`line 6: modles: unknown field "modles" (expected one of models, policies, prices, processes, providers, services, users)`,
			},
		},
		{
			name: "wrong types",
			yaml: `providers:
  - name: a
    kind: openai
    base_url: https://a.example
    parallel_capacity: many
models: gpt-4o
processes:
  - name: app
    owner: user:admin
    priority: 2.5
    profiles:
      - models: gpt-4o
`,
			want: []string{
				"line 5: providers[0].parallel_capacity: must be an integer, not a string (many)",
				"line 6: models: must be a list, not a string (gpt-4o)",
				"line 10: processes[0].priority: must be an integer, not a number (2.5)",
				"line 12: processes[0].profiles[0].models: must be a list, not a string (gpt-4o)",
			},
		},
		{
			name: "syntax error",
			yaml: "providers: []\nmodels: name: x\n",
			want: []string{"line 2: invalid YAML: mapping values are not allowed in this context"},
		},
		{
			name: "tab indentation",
			yaml: "providers:\n\t- name: x\n",
			want: []string{"line 2: invalid YAML: found character that cannot start any token"},
		},
		{
			// The admin API refuses these endpoints (catalog.EndpointProblem);
			// the config file used to take them for paths.
			name: "scheme-less endpoints and URLs",
			yaml: `providers:
  - name: p
    kind: openai_compatible
    base_url: localhost:8080/v1
    admin_url: 10.0.0.5:9000/metrics
models:
  - name: m
    deployments:
      - provider: p
        endpoint: localhost:8080/v1
      - provider: q
        endpoint: 10.0.0.5:8000/v1/chat/completions
      - provider: r
        endpoint: //gpu-box/v1
      - provider: s
        endpoint: v1/chat/completions?api-version=2024-06-01
`,
			want: []string{
				"line 4: providers[0].base_url: has no scheme: want http:// or https://",
				"line 5: providers[0].admin_url: has no scheme: want http:// or https://",
				"line 10: models[0].deployments[0].endpoint: has no scheme: want http:// or https:// (or a path such as /v1/chat/completions)",
				`line 11: models[0].deployments[1].provider: unknown provider "q" (not in providers)`,
				"line 12: models[0].deployments[1].endpoint: has no scheme: want http:// or https:// (or a path such as /v1/chat/completions)",
				`line 13: models[0].deployments[2].provider: unknown provider "r" (not in providers)`,
				"line 14: models[0].deployments[2].endpoint: has no scheme: want http:// or https://",
				`line 15: models[0].deployments[3].provider: unknown provider "s" (not in providers)`,
			},
		},
		{
			name: "not a mapping",
			yaml: "- providers\n",
			want: []string{"line 1: the document must be a mapping of sections (providers, models, ...)"},
		},
		{
			name: "duplicate key",
			yaml: "providers: []\nproviders: []\n",
			want: []string{`line 2: mapping key "providers" already defined at line 1`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := config.Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse = %+v, want errors", d)
			}
			if d != nil {
				t.Errorf("Parse returned a document with errors")
			}
			var got []string
			for _, e := range config.Errors(err) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nerror: %v", diff, err)
			}
			if !strings.Contains(err.Error(), tt.want[0]) {
				t.Errorf("err.Error() = %q, does not contain %q", err, tt.want[0])
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  config.Error
		want string
	}{
		{config.Error{Line: 12, Field: "providers[1].kind", Msg: "must be one of openai"}, "line 12: providers[1].kind: must be one of openai"},
		{config.Error{Field: "models[0].name", Msg: "is required"}, "models[0].name: is required"},
		{config.Error{Line: 3, Msg: "invalid YAML"}, "line 3: invalid YAML"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	var e *config.Error
	if _, err := config.Parse([]byte("providers: [{name: a}]\n")); !errors.As(err, &e) || e.Line != 1 {
		t.Errorf("errors.As(Parse error) = %v, %+v; want an *Error on line 1", err, e)
	}
}

// TestValidateWithoutLines checks that a document built in Go (not parsed)
// is validated too, with paths but without lines.
func TestValidateWithoutLines(t *testing.T) {
	d := &config.Document{Models: []config.Model{{Name: "m", Deployments: []config.Deployment{{Provider: "p"}}}}}
	errs := config.Errors(config.Validate(d))
	if len(errs) != 1 || errs[0].Error() != `models[0].deployments[0].provider: unknown provider "p" (not in providers)` {
		t.Errorf("Validate = %v", errs)
	}
}

func TestCheckEnv(t *testing.T) {
	d := mustParse(t, valid+`  - name: other
    owner: user:admin
    key: ${OTHER_KEY}
`)
	d.Providers[0].Credential = "${OPENAI_API_KEY}"
	err := config.CheckEnv(d, env{"APP_KEY": "too-short", "OTHER_KEY": "lg-0123456789abcdefghijklmnopqrstuvwxyz"}.getenv)
	var got []string
	for _, e := range config.Errors(err) {
		got = append(got, e.Error())
	}
	want := []string{
		"line 2: providers[0].credential: environment variable OPENAI_API_KEY is not set",
		"line 15: processes[0].key: the key in APP_KEY is shorter than 24 characters",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CheckEnv (-want +got):\n%s", diff)
	}
	if err := config.CheckEnv(d, env{"APP_KEY": "lg-0123456789abcdefghijklmnopqrstuvwxyz", "OTHER_KEY": "lg-0123456789abcdefghijklmnopqrstuvwxyz", "OPENAI_API_KEY": "sk"}.getenv); err == nil ||
		!strings.Contains(err.Error(), `line 21: processes[1].key: the key in OTHER_KEY is also the key of process "app"`) {
		t.Errorf("CheckEnv with one key twice = %v", err)
	}
}

// TestExampleFile parses and validates examples/logos.yaml.
func TestExampleFile(t *testing.T) {
	data, err := os.ReadFile("../../examples/logos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := mustParse(t, string(data))
	if err := config.CheckEnv(d, exampleEnv.getenv); err != nil {
		t.Fatalf("CheckEnv: %v", err)
	}
	kinds := map[string]bool{}
	for _, p := range d.Providers {
		kinds[string(p.Kind)] = true
	}
	for _, k := range []string{"openai", "azure", "ollama", "openai_compatible"} {
		if !kinds[k] {
			t.Errorf("the example has no %s provider", k)
		}
	}
	for _, p := range d.Processes {
		if !strings.HasPrefix(p.Key, "${") {
			t.Errorf("process %s: key %q is not a ${VAR} reference", p.Name, p.Key)
		}
	}
	if err := config.CheckEnv(d, env{}.getenv); err == nil {
		t.Error("CheckEnv with an empty environment succeeded")
	}
}
