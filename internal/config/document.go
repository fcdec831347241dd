// Package config reads, checks, applies and exports the declarative
// description of a Logos catalogue: the YAML (or JSON) file given to
// `logosd --config`.
//
// A Document names every object; references between sections are by name
// (a deployment names its provider, a profile its models, a policy its
// process). Secrets never appear in the file: process keys are "${VAR}"
// references resolved from the environment when the document is applied, and
// provider or deployment credentials may be too.
//
// Parse decodes and validates a file, keeping the line of every field so
// that each problem is reported where it is. Apply upserts a document into a
// store by name and reports what it changed; applying the same document twice
// changes nothing the second time. Export describes a store's catalogue as a
// Document.
//
// Omitted fields take the store's defaults: privacy LOCAL, model parallel 1,
// process log level BILLING and priority 5, price currency EUR, role user.
// Every object a document mentions is described completely: a field left out
// is reset to its default when the document is applied.
package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/logos-llm/logos/store"
)

// Redacted is what Export writes in place of a non-empty credential unless
// asked for secrets. Applying a document whose credential is Redacted keeps
// the stored credential.
const Redacted = "[REDACTED]"

// Document is a catalogue description (YAML; JSON is accepted too since it is
// YAML). Its sections are applied in dependency order, whatever their order
// in the file.
type Document struct {
	// Providers are the upstream endpoints.
	Providers []Provider `yaml:"providers,omitempty" json:"providers,omitempty"`
	// Models are the public model names; each lists its deployments.
	Models []Model `yaml:"models,omitempty" json:"models,omitempty"`
	// Users are the human owners of processes.
	Users []User `yaml:"users,omitempty" json:"users,omitempty"`
	// Services are the machine owners of processes.
	Services []Service `yaml:"services,omitempty" json:"services,omitempty"`
	// Processes hold the API keys; each lists its profiles.
	Processes []Process `yaml:"processes,omitempty" json:"processes,omitempty"`
	// Policies are classification thresholds of a process.
	Policies []Policy `yaml:"policies,omitempty" json:"policies,omitempty"`
	// Prices are token prices, optionally per model and provider.
	Prices []Price `yaml:"prices,omitempty" json:"prices,omitempty"`

	// Lines maps the path of every field and list element of a parsed file
	// ("providers[1].kind") to its line. It is nil for documents not made by
	// Parse (errors then carry no line) and is neither encoded nor decoded.
	Lines Lines `yaml:"-" json:"-"`
}

// Provider describes a store.Provider. Name identifies it.
type Provider struct {
	Name string             `yaml:"name" json:"name"`
	Kind store.ProviderKind `yaml:"kind" json:"kind"`
	// BaseURL is an absolute http(s) URL.
	BaseURL string `yaml:"base_url" json:"base_url"`
	// AuthHeader and AuthFormat name the credential header and its value
	// template with one "{}" placeholder; empty means the kind's default.
	AuthHeader string `yaml:"auth_header,omitempty" json:"auth_header,omitempty"`
	AuthFormat string `yaml:"auth_format,omitempty" json:"auth_format,omitempty"`
	// Credential is the secret, best given as a "${VAR}" reference.
	Credential string `yaml:"credential,omitempty" json:"credential,omitempty"`
	// APIVersion is the default API version (Azure).
	APIVersion string `yaml:"api_version,omitempty" json:"api_version,omitempty"`
	// Privacy defaults to LOCAL.
	Privacy store.Privacy `yaml:"privacy,omitempty" json:"privacy,omitempty"`
	// Scheduling data, see store.Provider.
	AdminURL         string `yaml:"admin_url,omitempty" json:"admin_url,omitempty"`
	TotalVRAMMB      int64  `yaml:"total_vram_mb,omitempty" json:"total_vram_mb,omitempty"`
	ParallelCapacity int    `yaml:"parallel_capacity,omitempty" json:"parallel_capacity,omitempty"`
	KeepAliveSeconds int    `yaml:"keep_alive_seconds,omitempty" json:"keep_alive_seconds,omitempty"`
	MaxLoadedModels  int    `yaml:"max_loaded_models,omitempty" json:"max_loaded_models,omitempty"`
	// ExtraOperations are path patterns below /v1 ("batches", "files/*")
	// forwarded to this provider besides the operations Logos knows.
	ExtraOperations []string `yaml:"extra_operations,omitempty" json:"extra_operations,omitempty"`
	// PollIntervalMS and PollTimeoutMS set how often and how long Logos
	// polls AdminURL (0 = 5000 each); SleepMode says the server supports
	// sleeping (vLLM /is_sleeping is polled).
	PollIntervalMS int64 `yaml:"poll_interval_ms,omitempty" json:"poll_interval_ms,omitempty"`
	PollTimeoutMS  int64 `yaml:"poll_timeout_ms,omitempty" json:"poll_timeout_ms,omitempty"`
	SleepMode      bool  `yaml:"sleep_mode,omitempty" json:"sleep_mode,omitempty"`
}

// Model describes a store.Model and its deployments. Name identifies it.
type Model struct {
	Name string `yaml:"name" json:"name"`
	// Privacy is the model's weight_privacy; it defaults to LOCAL.
	Privacy store.Privacy `yaml:"privacy,omitempty" json:"privacy,omitempty"`
	// Classification weights (weight_latency, ...).
	Latency  int `yaml:"latency,omitempty" json:"latency,omitempty"`
	Accuracy int `yaml:"accuracy,omitempty" json:"accuracy,omitempty"`
	Cost     int `yaml:"cost,omitempty" json:"cost,omitempty"`
	Quality  int `yaml:"quality,omitempty" json:"quality,omitempty"`
	// Tags are space separated.
	Tags string `yaml:"tags,omitempty" json:"tags,omitempty"`
	// Parallel is 1..256; 0 means 1.
	Parallel      int    `yaml:"parallel,omitempty" json:"parallel,omitempty"`
	Description   string `yaml:"description,omitempty" json:"description,omitempty"`
	ContextWindow int    `yaml:"context_window,omitempty" json:"context_window,omitempty"`
	// Retry bounds how a request for the model is tried again on its next
	// deployment when one fails before answering; absent, or a zero
	// field, means the default.
	Retry *Retry `yaml:"retry,omitempty" json:"retry,omitempty"`
	// Deployments are the providers serving the model, one per provider.
	Deployments []Deployment `yaml:"deployments,omitempty" json:"deployments,omitempty"`
}

// Retry describes a model's store.RetryPolicy. A connection error, no
// response headers within AttemptTimeoutMS, a 5xx or a 429 from one
// deployment is tried again on the next candidate, never after a byte
// reached the client.
type Retry struct {
	// MaxAttempts is the most upstream attempts per request, the first
	// included (0..100; 0 means 3, 1 never retries).
	MaxAttempts int `yaml:"max_attempts,omitempty" json:"max_attempts,omitempty"`
	// AttemptTimeoutMS bounds the wait for one attempt's response headers
	// (0 means none: non-streaming answers send their headers only when
	// the whole answer is ready). At most 3,600,000.
	AttemptTimeoutMS int64 `yaml:"attempt_timeout_ms,omitempty" json:"attempt_timeout_ms,omitempty"`
	// DeadlineMS is how long after the first attempt began another may
	// still start (0 means 30,000). At most 3,600,000.
	DeadlineMS int64 `yaml:"deadline_ms,omitempty" json:"deadline_ms,omitempty"`
}

// policy returns the store policy r describes (nil: all defaults).
func (r *Retry) policy() store.RetryPolicy {
	if r == nil {
		return store.RetryPolicy{}
	}
	return store.RetryPolicy{
		MaxAttempts:    r.MaxAttempts,
		AttemptTimeout: time.Duration(r.AttemptTimeoutMS) * time.Millisecond,
		Deadline:       time.Duration(r.DeadlineMS) * time.Millisecond,
	}
}

// retryOf returns the document form of p (nil when every field is the
// default).
func retryOf(p store.RetryPolicy) *Retry {
	if p == (store.RetryPolicy{}) {
		return nil
	}
	return &Retry{MaxAttempts: p.MaxAttempts, AttemptTimeoutMS: p.AttemptTimeout.Milliseconds(), DeadlineMS: p.Deadline.Milliseconds()}
}

// Deployment describes a store.Deployment of the enclosing model. Provider
// identifies it within the model.
type Deployment struct {
	// Provider is the name of a provider of the document.
	Provider string `yaml:"provider" json:"provider"`
	// UpstreamModel is the model name sent upstream (the Azure deployment
	// name); empty means the model's own name.
	UpstreamModel string `yaml:"upstream_model,omitempty" json:"upstream_model,omitempty"`
	// Endpoint is an absolute URL or a path joined to the provider's base URL.
	Endpoint string `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	// Credential and APIVersion override the provider's when non-empty.
	Credential       string `yaml:"credential,omitempty" json:"credential,omitempty"`
	APIVersion       string `yaml:"api_version,omitempty" json:"api_version,omitempty"`
	ParallelCapacity int    `yaml:"parallel_capacity,omitempty" json:"parallel_capacity,omitempty"`
}

// User describes a store.User. Username identifies it. The store cannot change
// a user, so applying a document whose user differs from the stored one fails.
type User struct {
	Username string `yaml:"username" json:"username"`
	// Role is admin or user (the default).
	Role    store.Role `yaml:"role,omitempty" json:"role,omitempty"`
	Prename string     `yaml:"prename,omitempty" json:"prename,omitempty"`
	Name    string     `yaml:"name,omitempty" json:"name,omitempty"`
}

// Service describes a store.Service. Name identifies it.
type Service struct {
	Name string `yaml:"name" json:"name"`
}

// Process describes a store.Process and its profiles. Name identifies it.
type Process struct {
	Name string `yaml:"name" json:"name"`
	// Owner is "user:<username>" or "service:<name>", naming a user or service
	// of the document. It cannot change once the process exists.
	Owner string `yaml:"owner" json:"owner"`
	// Key is a "${VAR}" reference to the API key, never the key itself. Empty
	// leaves an existing process's key alone and gives a new process an unusable
	// (revoked) key until one is set.
	Key string `yaml:"key,omitempty" json:"key,omitempty"`
	// LogLevel is BILLING (the default) or FULL.
	LogLevel store.LogLevel `yaml:"log_level,omitempty" json:"log_level,omitempty"`
	// Priority is 1..10; 0 means 5 (normal).
	Priority int `yaml:"priority,omitempty" json:"priority,omitempty"`
	// Settings are free-form (rate limits, budgets), stored as JSON.
	Settings map[string]any `yaml:"settings,omitempty" json:"settings,omitempty"`
	// Profiles are the process's access scopes.
	Profiles []Profile `yaml:"profiles,omitempty" json:"profiles,omitempty"`
}

// Profile describes a store.Profile of the enclosing process and its
// permissions. Name identifies it within the process.
type Profile struct {
	Name string `yaml:"name" json:"name"`
	// Models are names of models of the document the profile may use.
	Models []string `yaml:"models,omitempty" json:"models,omitempty"`
}

// Policy describes a store.Policy. Process and Name identify it.
type Policy struct {
	// Process is the name of a process of the document.
	Process     string `yaml:"process" json:"process"`
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Privacy is threshold_privacy; it defaults to LOCAL.
	Privacy store.Privacy `yaml:"privacy,omitempty" json:"privacy,omitempty"`
	// Thresholds (threshold_latency, ...).
	Latency  int    `yaml:"latency,omitempty" json:"latency,omitempty"`
	Accuracy int    `yaml:"accuracy,omitempty" json:"accuracy,omitempty"`
	Cost     int    `yaml:"cost,omitempty" json:"cost,omitempty"`
	Quality  int    `yaml:"quality,omitempty" json:"quality,omitempty"`
	Priority int    `yaml:"priority,omitempty" json:"priority,omitempty"`
	Topic    string `yaml:"topic,omitempty" json:"topic,omitempty"`
}

// Price describes a store.Price. TokenType, Model, Provider and ValidFrom
// identify it; a changed amount or currency replaces the stored price.
type Price struct {
	// TokenType names a token type ("prompt_tokens"); it is created as needed.
	TokenType string `yaml:"token_type" json:"token_type"`
	// Model and Provider optionally restrict the price to a model and/or a
	// provider of the document.
	Model    string `yaml:"model,omitempty" json:"model,omitempty"`
	Provider string `yaml:"provider,omitempty" json:"provider,omitempty"`
	// ValidFrom is an RFC 3339 time or a date (2006-01-02, midnight UTC).
	ValidFrom string `yaml:"valid_from" json:"valid_from"`
	// PricePerMillion is the price of a million tokens in currency units, as
	// a decimal with at most 6 fractional digits ("2.50"); it is stored in
	// millionths (micros).
	PricePerMillion string `yaml:"price_per_million" json:"price_per_million"`
	// Currency is an ISO 4217 code; it defaults to EUR.
	Currency string `yaml:"currency,omitempty" json:"currency,omitempty"`
}

// Lines maps field paths ("processes[0].key") to the line they are on.
type Lines map[string]int

// Of returns the line of path, or of its nearest enclosing element or field
// if path itself has no line, or 0.
func (l Lines) Of(path string) int {
	for path != "" {
		if n, ok := l[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

// Error is a problem at a place in the file.
type Error struct {
	// Line is the 1-based line of the problem, 0 if unknown.
	Line int
	// Field is the path of the field ("providers[1].kind"), empty if the
	// problem is not about one field.
	Field string
	// Msg says what is wrong.
	Msg string
	// Err is the error the problem was found by, such as the YAML
	// decoder's *yaml.TypeError, or nil. Error does not show it: Msg says
	// the same for a reader of the file.
	Err error
}

// Unwrap returns e.Err, so that errors.As finds the decoder's error.
func (e *Error) Unwrap() error { return e.Err }

// Error formats e as "line 12: providers[1].kind: must be one of ...".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors returns the *Error values in err (one, or a list joined with
// errors.Join), in the order they were joined.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var e *Error
		if errors.As(err, &e) {
			out = append(out, e)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// problems collects Errors with the lines of a document.
type problems struct {
	lines Lines
	errs  []*Error
}

// add records a problem with field path.
func (p *problems) add(path, format string, args ...any) {
	p.errs = append(p.errs, &Error{Line: p.lines.Of(path), Field: path, Msg: fmt.Sprintf(format, args...)})
}

// err returns the problems sorted by line, joined, or nil.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(p.errs, func(a, b *Error) int { return a.Line - b.Line })
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}
