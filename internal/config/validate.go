package config

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/internal/catalog"
	"github.com/logos-llm/logos/internal/header"
	"github.com/logos-llm/logos/store"
)

var (
	// envRefRE matches a whole "${VAR}" reference.
	envRefRE = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)
)

// Owner prefixes of Process.Owner.
const (
	ownerUser    = "user:"
	ownerService = "service:"
)

// privacyLevels lists the privacy levels for messages.
const privacyLevels = "LOCAL, CLOUD_IN_EU_BY_EU_PROVIDER, CLOUD_IN_EU_BY_US_PROVIDER, CLOUD_NOT_IN_EU_BY_US_PROVIDER"

// Validate checks everything that can be checked without a store: required
// fields, kinds, privacy levels, roles, log levels, ranges, URLs, "${VAR}"
// syntax, duplicates, and references by name between sections (a deployment's
// provider, a process's owner, a profile's models, a policy's process, a
// price's model and provider must all be in the document). It returns every
// problem, as *Error values joined with errors.Join, sorted by line. Parse
// calls it.
func Validate(d *Document) error {
	p := &problems{lines: d.Lines}
	providers := map[string]bool{}
	for i, pr := range d.Providers {
		at := fmt.Sprintf("providers[%d]", i)
		if required(p, at+".name", pr.Name) && providers[pr.Name] {
			p.add(at+".name", "duplicate provider %q", pr.Name)
		}
		providers[pr.Name] = true
		if !pr.Kind.Valid() {
			p.add(at+".kind", "must be one of openai, azure, ollama, openai_compatible")
		}
		if required(p, at+".base_url", pr.BaseURL) {
			checkURL(p, at+".base_url", pr.BaseURL)
		}
		if pr.AdminURL != "" {
			checkURL(p, at+".admin_url", pr.AdminURL)
		}
		checkAuth(p, at, pr.AuthHeader, pr.AuthFormat)
		checkCredential(p, at+".credential", pr.Credential)
		checkPrivacy(p, at+".privacy", pr.Privacy)
		notNegative(p, at+".total_vram_mb", pr.TotalVRAMMB)
		notNegative(p, at+".parallel_capacity", int64(pr.ParallelCapacity))
		notNegative(p, at+".keep_alive_seconds", int64(pr.KeepAliveSeconds))
		notNegative(p, at+".max_loaded_models", int64(pr.MaxLoadedModels))
		for j, op := range pr.ExtraOperations {
			if err := store.CheckOperationPattern(op); err != nil {
				p.add(fmt.Sprintf("%s.extra_operations[%d]", at, j), "%v", err)
			}
		}
		notNegative(p, at+".poll_interval_ms", pr.PollIntervalMS)
		notNegative(p, at+".poll_timeout_ms", pr.PollTimeoutMS)
	}

	models := map[string]bool{}
	for i, m := range d.Models {
		at := fmt.Sprintf("models[%d]", i)
		if required(p, at+".name", m.Name) && models[m.Name] {
			p.add(at+".name", "duplicate model %q", m.Name)
		}
		models[m.Name] = true
		checkPrivacy(p, at+".privacy", m.Privacy)
		if m.Parallel < 0 || m.Parallel > 256 {
			p.add(at+".parallel", "must be between 1 and 256")
		}
		notNegative(p, at+".context_window", int64(m.ContextWindow))
		checkRetry(p, at+".retry", m.Retry)
		deployed := map[string]bool{}
		for j, dep := range m.Deployments {
			dat := fmt.Sprintf("%s.deployments[%d]", at, j)
			if required(p, dat+".provider", dep.Provider) {
				switch {
				case !providers[dep.Provider]:
					p.add(dat+".provider", "unknown provider %q (not in providers)", dep.Provider)
				case deployed[dep.Provider]:
					p.add(dat+".provider", "model %q is already deployed on provider %q", m.Name, dep.Provider)
				}
			}
			deployed[dep.Provider] = true
			if r := catalog.EndpointProblem(dep.Endpoint); r != "" {
				p.add(dat+".endpoint", "%s", r)
			}
			checkCredential(p, dat+".credential", dep.Credential)
			notNegative(p, dat+".parallel_capacity", int64(dep.ParallelCapacity))
		}
	}

	users := map[string]bool{}
	for i, u := range d.Users {
		at := fmt.Sprintf("users[%d]", i)
		if required(p, at+".username", u.Username) && users[u.Username] {
			p.add(at+".username", "duplicate user %q", u.Username)
		}
		users[u.Username] = true
		if u.Role != "" && !u.Role.Valid() {
			p.add(at+".role", "must be admin or user")
		}
	}
	services := map[string]bool{}
	for i, s := range d.Services {
		at := fmt.Sprintf("services[%d]", i)
		if required(p, at+".name", s.Name) && services[s.Name] {
			p.add(at+".name", "duplicate service %q", s.Name)
		}
		services[s.Name] = true
	}

	processes := map[string]bool{}
	keyVars := map[string]string{} // env var -> process using it
	for i, pr := range d.Processes {
		at := fmt.Sprintf("processes[%d]", i)
		if required(p, at+".name", pr.Name) && processes[pr.Name] {
			p.add(at+".name", "duplicate process %q", pr.Name)
		}
		processes[pr.Name] = true
		checkOwner(p, at+".owner", pr.Owner, users, services)
		if pr.Key != "" {
			m := envRefRE.FindStringSubmatch(pr.Key)
			switch {
			case m == nil:
				p.add(at+".key", "must be a ${VAR} reference to an environment variable; keys never go in the file")
			case keyVars[m[1]] != "":
				p.add(at+".key", "${%s} is already the key of process %q; keys must differ", m[1], keyVars[m[1]])
			default:
				keyVars[m[1]] = pr.Name
			}
		}
		if pr.LogLevel != "" && !pr.LogLevel.Valid() {
			p.add(at+".log_level", "must be BILLING or FULL")
		}
		if pr.Priority < 0 || pr.Priority > 10 {
			p.add(at+".priority", "must be between 1 (low) and 10 (high); 5 is normal")
		}
		if _, err := settingsJSON(pr.Settings); err != nil {
			p.add(at+".settings", "cannot be stored as JSON: %v", err)
		}
		profiles := map[string]bool{}
		for j, prof := range pr.Profiles {
			pat := fmt.Sprintf("%s.profiles[%d]", at, j)
			if required(p, pat+".name", prof.Name) && profiles[prof.Name] {
				p.add(pat+".name", "duplicate profile %q of process %q", prof.Name, pr.Name)
			}
			profiles[prof.Name] = true
			granted := map[string]bool{}
			for k, m := range prof.Models {
				mat := fmt.Sprintf("%s.models[%d]", pat, k)
				switch {
				case !models[m]:
					p.add(mat, "unknown model %q (not in models)", m)
				case granted[m]:
					p.add(mat, "model %q is listed twice", m)
				}
				granted[m] = true
			}
		}
	}

	policies := map[[2]string]bool{}
	for i, pol := range d.Policies {
		at := fmt.Sprintf("policies[%d]", i)
		if required(p, at+".process", pol.Process) && !processes[pol.Process] {
			p.add(at+".process", "unknown process %q (not in processes)", pol.Process)
		}
		if required(p, at+".name", pol.Name) && policies[[2]string{pol.Process, pol.Name}] {
			p.add(at+".name", "duplicate policy %q of process %q", pol.Name, pol.Process)
		}
		policies[[2]string{pol.Process, pol.Name}] = true
		checkPrivacy(p, at+".privacy", pol.Privacy)
	}

	prices := map[priceKey]bool{}
	for i, pr := range d.Prices {
		at := fmt.Sprintf("prices[%d]", i)
		required(p, at+".token_type", pr.TokenType)
		if pr.Model != "" && !models[pr.Model] {
			p.add(at+".model", "unknown model %q (not in models)", pr.Model)
		}
		if pr.Provider != "" && !providers[pr.Provider] {
			p.add(at+".provider", "unknown provider %q (not in providers)", pr.Provider)
		}
		var from time.Time
		if required(p, at+".valid_from", pr.ValidFrom) {
			var err error
			if from, err = parseValidFrom(pr.ValidFrom); err != nil {
				p.add(at+".valid_from", "%v", err)
			}
		}
		if required(p, at+".price_per_million", pr.PricePerMillion) {
			if _, err := parseMicros(pr.PricePerMillion); err != nil {
				p.add(at+".price_per_million", "%v", err)
			}
		}
		if pr.Currency != "" && !catalog.IsCurrency(pr.Currency) {
			p.add(at+".currency", "must be a three-letter ISO 4217 code such as EUR or USD")
		}
		k := priceKey{pr.TokenType, pr.Model, pr.Provider, from.UnixMicro()}
		if !from.IsZero() && pr.TokenType != "" {
			if prices[k] {
				p.add(at, "duplicate price of %s", describePrice(pr.TokenType, pr.Model, pr.Provider, from))
			}
			prices[k] = true
		}
	}
	return p.err()
}

// CheckEnv reports every "${VAR}" reference of d (process keys and
// credentials) that getenv cannot resolve, and every resolved process key
// that is too short (apikey.MinLength). Apply performs the same checks before
// it writes anything; `logosd --config --check` can call CheckEnv to check the
// environment too.
func CheckEnv(d *Document, getenv func(string) string) error {
	_, err := resolveEnv(d, getenv, "")
	return err
}

// secrets are a document's resolved process keys and credentials, by path.
type secrets map[string]string

// resolveEnv resolves the "${VAR}" references of d: process keys (by the
// path "processes[i].key") and provider and deployment credentials (by the
// paths of their credential fields). Literal credentials are returned as
// given. Missing variables, names without prefix (when set) and short keys
// are *Error values.
func resolveEnv(d *Document, getenv func(string) string, prefix string) (secrets, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	p := &problems{lines: d.Lines}
	out := secrets{}
	resolve := func(path, value string) {
		m := envRefRE.FindStringSubmatch(value)
		if m == nil {
			out[path] = value
			return
		}
		if !strings.HasPrefix(m[1], prefix) {
			p.add(path, "environment variable %s may not be read here: only names starting with %s", m[1], prefix)
			return
		}
		v := getenv(m[1])
		if v == "" {
			p.add(path, "environment variable %s is not set", m[1])
			return
		}
		out[path] = v
	}
	for i, pr := range d.Providers {
		resolve(fmt.Sprintf("providers[%d].credential", i), pr.Credential)
	}
	for i, m := range d.Models {
		for j, dep := range m.Deployments {
			resolve(fmt.Sprintf("models[%d].deployments[%d].credential", i, j), dep.Credential)
		}
	}
	keys := map[string]string{} // key -> process
	for i, pr := range d.Processes {
		if pr.Key == "" {
			continue
		}
		path := fmt.Sprintf("processes[%d].key", i)
		if !envRefRE.MatchString(pr.Key) {
			p.add(path, "must be a ${VAR} reference to an environment variable; keys never go in the file")
			continue
		}
		resolve(path, pr.Key)
		key, ok := out[path]
		if !ok {
			continue
		}
		if err := apikey.Validate(key); err != nil {
			p.add(path, "the key in %s is shorter than %d characters", strings.Trim(pr.Key, "${}"), apikey.MinLength)
			delete(out, path)
			continue
		}
		if other, dup := keys[key]; dup {
			p.add(path, "the key in %s is also the key of process %q; keys must differ", strings.Trim(pr.Key, "${}"), other)
			delete(out, path)
			continue
		}
		keys[key] = pr.Name
	}
	return out, p.err()
}

// required reports a missing value and returns whether v is set.
func required(p *problems, path, v string) bool {
	if strings.TrimSpace(v) == "" {
		p.add(path, "is required")
		return false
	}
	return true
}

// checkRetry checks a model's retry policy against the store's ranges.
func checkRetry(p *problems, path string, r *Retry) {
	if r == nil {
		return
	}
	if r.MaxAttempts < 0 || r.MaxAttempts > catalog.MaxRetryAttempts {
		p.add(path+".max_attempts", "must be between 0 (the default, 3) and 100")
	}
	for _, f := range []struct {
		name string
		ms   int64
	}{{"attempt_timeout_ms", r.AttemptTimeoutMS}, {"deadline_ms", r.DeadlineMS}} {
		if f.ms < 0 || f.ms > catalog.MaxRetryMillis {
			p.add(path+"."+f.name, "must be between 0 (the default) and 3600000 (one hour)")
		}
	}
}

// notNegative reports a negative number.
func notNegative(p *problems, path string, n int64) {
	if n < 0 {
		p.add(path, "must not be negative")
	}
}

// checkURL reports a value that is not an absolute http(s) URL with a host,
// with the admin API's reason (catalog.HTTPURLProblem).
func checkURL(p *problems, path, v string) {
	if r := catalog.HTTPURLProblem(v); r != "" {
		p.add(path, "%s", r)
	}
}

// checkPrivacy reports an unknown privacy level; empty means LOCAL.
func checkPrivacy(p *problems, path string, v store.Privacy) {
	if v != "" && !v.Valid() {
		p.add(path, "must be one of %s", privacyLevels)
	}
}

// checkAuth reports an invalid auth header name or format.
func checkAuth(p *problems, at, headerName, format string) {
	if headerName != "" && !header.ValidName(headerName) {
		p.add(at+".auth_header", "%q is not a valid HTTP header name", headerName)
	}
	if format != "" && !strings.Contains(format, "{}") {
		p.add(at+".auth_format", "must contain a {} placeholder for the credential, e.g. \"Bearer {}\"")
	}
}

// checkCredential reports a malformed "${VAR}" reference.
func checkCredential(p *problems, path, v string) {
	if strings.Contains(v, "${") && !envRefRE.MatchString(v) {
		p.add(path, "a reference must be the whole value, ${VAR} with VAR made of letters, digits and _")
	}
}

// checkOwner reports an owner that is not "user:<name>" or "service:<name>"
// of the document.
func checkOwner(p *problems, path, owner string, users, services map[string]bool) {
	switch {
	case strings.TrimSpace(owner) == "":
		p.add(path, "is required: user:<username> or service:<name>")
	case strings.HasPrefix(owner, ownerUser):
		if name := strings.TrimPrefix(owner, ownerUser); !users[name] {
			p.add(path, "unknown user %q (not in users)", name)
		}
	case strings.HasPrefix(owner, ownerService):
		if name := strings.TrimPrefix(owner, ownerService); !services[name] {
			p.add(path, "unknown service %q (not in services)", name)
		}
	default:
		p.add(path, "must be user:<username> or service:<name>")
	}
}

// settingsJSON encodes settings for the store; nil and empty give nil ({}).
func settingsJSON(settings map[string]any) (json.RawMessage, error) {
	if len(settings) == 0 {
		return nil, nil
	}
	return json.Marshal(settings)
}

// parseValidFrom parses a price's valid_from with catalog.ParseTime, the one
// time grammar of prices (RFC 3339, a date-time without zone as UTC, or a
// date), and words its error for a document.
func parseValidFrom(s string) (time.Time, error) {
	t, err := catalog.ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be an RFC 3339 time (2025-01-01T00:00:00Z) or a date (2025-01-01), not %q", s)
	}
	return t, nil
}

// priceKey identifies a price: token type, model, provider, valid from (µs).
type priceKey struct {
	tokenType, model, provider string
	from                       int64
}

// describePrice names a price for messages and reports.
func describePrice(tokenType, model, provider string, from time.Time) string {
	var b strings.Builder
	b.WriteString(tokenType)
	if model != "" || provider != "" {
		b.WriteString(" for ")
		b.WriteString(orAny(model))
		b.WriteString("@")
		b.WriteString(orAny(provider))
	}
	b.WriteString(" from ")
	b.WriteString(from.UTC().Format(time.RFC3339))
	return b.String()
}

// orAny returns s, or "*" for an empty s.
func orAny(s string) string {
	if s == "" {
		return "*"
	}
	return s
}
