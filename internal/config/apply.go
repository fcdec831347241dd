package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/internal/catalog"
	"github.com/logos-llm/logos/store"
)

// Defaults the store applies to zero values, repeated here so that a document
// that spells a default out and one that leaves it out compare equal.
const (
	defaultPriority = 5
	defaultParallel = 1
	defaultCurrency = "EUR"
)

// maxAttempts bounds how often Apply runs its pass when a write conflicts
// with a concurrent writer (another replica applying the same file).
const maxAttempts = 3

// ImportEnvPrefix is the prefix of the only environment variables a document
// imported through the admin API may reference ("${LOGOS_IMPORT_OPENAI_KEY}"):
// an admin key must not be able to copy the server's environment (${HOME},
// ${PGPASSWORD}, LOGOS_SECRET_KEY) into a credential and read it back. The
// config file applied at start (logosd --config) may reference any variable.
const ImportEnvPrefix = "LOGOS_IMPORT_"

// ApplyOptions configure Apply.
type ApplyOptions struct {
	// Getenv resolves "${VAR}" references (process keys, credentials).
	// Defaults to nil, which resolves nothing: every reference is missing.
	Getenv func(string) string
	// EnvPrefix, if set, limits "${VAR}" references to names that start with
	// it; any other reference is an error naming the prefix, and Getenv is
	// not called for it. Documents imported through the admin API use it
	// (ImportEnvPrefix) so that an admin cannot read the server's
	// environment (${HOME}, ${PGPASSWORD}) into a credential. Defaults to "":
	// every name may be resolved, as for the config file at start.
	EnvPrefix string
	// Prune deletes what the document does not mention: prices, policies,
	// permissions, deployments, profiles, processes, models and providers, in
	// that order. Users and services are never deleted (the store cannot).
	// Defaults to false: Apply only creates and updates.
	Prune bool
	// Seal encrypts a credential before it is stored. Defaults to nil, which
	// stores credentials as given.
	Seal func(string) (string, error)
	// Catalog is the catalogue writer to apply through, so that an import
	// shares the admin API's re-ranking lock. Defaults to a new one over the
	// store, with Seal.
	Catalog *catalog.Catalog
	// Open decrypts a stored credential so that it can be compared with the
	// document's. It receives every non-empty stored credential and must
	// return one that was stored unsealed unchanged. Defaults to nil, which
	// compares stored values as they are: then, with Seal set, every
	// credential differs from its sealed form and is sealed and stored again
	// (and reported as changed) on every Apply.
	Open func(string) (string, error)
}

// Sealer encrypts credentials before they are stored. One that can also
// decrypt them (an Open(string) (string, error) method, as secret.Box has)
// lets Apply compare the stored credentials with the document's.
type Sealer interface {
	Seal(plain string) (string, error)
}

// WithSealer returns opts with Seal from s and, when s can also decrypt,
// Open from it. A nil s leaves opts as they are.
func (opts ApplyOptions) WithSealer(s Sealer) ApplyOptions {
	if s == nil {
		return opts
	}
	opts.Seal = s.Seal
	if o, ok := s.(interface{ Open(string) (string, error) }); ok {
		opts.Open = o.Open
	}
	return opts
}

// ApplyDocument parses document, the YAML or JSON text of a config
// document, and applies it to s with opts (Parse, then Apply). It is the one
// path from a document's text to the store, shared by logos.Router's
// ApplyConfig and the admin API's import. Every problem of the document,
// found by Parse or by Apply, is an *Error (see Errors), and then nothing is
// written; the report lists what was changed, also when a store error
// stopped a store without transactions part way.
func ApplyDocument(ctx context.Context, s store.Store, document []byte, opts ApplyOptions) (Report, error) {
	d, err := Parse(document)
	if err != nil {
		return Report{}, err
	}
	return Apply(ctx, s, d, opts)
}

// Report lists what Apply changed, in the order it changed it, as
// sentences such as "created provider openai", "updated model gpt-4o: quality
// 0 → 8" and "deleted deployment llama3@ollama". Secrets never appear in it.
type Report struct {
	Created, Updated, Deleted []string
}

// Changed reports whether anything was created, updated or deleted.
func (r Report) Changed() bool {
	return len(r.Created)+len(r.Updated)+len(r.Deleted) > 0
}

// Apply upserts d into s by name: it creates what is missing, updates what
// differs and leaves the rest; with opts.Prune it also deletes what d does
// not mention. It validates d and resolves every "${VAR}" reference first, and
// writes nothing if any is invalid or missing (errors are *Error values naming
// the line). It also refuses, before writing, a document that the store
// cannot converge to: a user or a process owner that differs from the stored
// one, a key that is another process's, a redacted credential of an object
// that does not exist yet, or a prune that would delete every process of
// every admin user.
//
// Before writing, Apply marks the store as set up (store.IdentityStore's
// MarkInitialized), so that POST /logosdb/setup refuses on it from then on.
//
// Objects are written through package internal/catalog, in dependency
// order (users, services, processes, profiles, providers, models,
// deployments, permissions, policies, prices). On a store that is a
// store.Transactor (store/sqlite, store/postgres) one pass is one
// transaction: a failure leaves nothing of the document applied and the
// report of a failed pass is empty. On another store (a wrapper that hides
// the capability) a failure can leave part of the document applied;
// applying it again completes it, because every step compares with what is
// stored. Applying the same document twice changes nothing the second time.
//
// A process's key is set from its "${VAR}" only when the resolved key's hash
// differs from the stored one, so re-applying never rotates a key. Only the
// hash and the display prefix of a key are stored.
//
// The report lists what was changed and kept, also when an error stopped
// Apply part way on a store without transactions.
func Apply(ctx context.Context, s store.Store, d *Document, opts ApplyOptions) (Report, error) {
	if d == nil {
		return Report{}, errors.New("config: apply: no document")
	}
	if err := Validate(d); err != nil {
		return Report{}, err
	}
	sec, err := resolveEnv(d, opts.Getenv, opts.EnvPrefix)
	if err != nil {
		return Report{}, err
	}
	// A store configured from a document is set up: POST /logosdb/setup must
	// not hand a root key to the first caller, also after a restart without
	// the file or on another replica.
	cat := opts.Catalog
	if cat == nil {
		cat = catalog.New(s, catalog.Options{Seal: opts.Seal})
	}
	if err := cat.MarkSetUp(ctx); err != nil {
		return Report{}, fmt.Errorf("config: apply: marking the store as set up: %w", err)
	}
	var rep Report
	for attempt := 1; ; attempt++ {
		var pass Report
		err := cat.Atomically(ctx, func(ctx context.Context) error {
			pass = Report{}
			a := &applier{c: cat, d: d, opts: opts, sec: sec, rep: &pass}
			return a.run(ctx)
		})
		if err != nil && cat.Transactional() {
			pass = Report{} // rolled back: nothing of this pass was kept
		}
		rep.Created = append(rep.Created, pass.Created...)
		rep.Updated = append(rep.Updated, pass.Updated...)
		rep.Deleted = append(rep.Deleted, pass.Deleted...)
		if err == nil || attempt == maxAttempts || !errors.Is(err, store.ErrConflict) {
			return rep, err
		}
		// A concurrent writer created something first: the next pass sees it.
	}
}

// applier is one pass of Apply: the stored state, indexed by name, kept up
// to date as the pass writes.
type applier struct {
	c    *catalog.Catalog
	d    *Document
	opts ApplyOptions
	sec  secrets
	rep  *Report

	users       map[string]store.User
	services    map[string]store.Service
	processes   map[string]store.Process
	profiles    map[profileKey]store.Profile
	providers   map[string]store.Provider
	models      map[string]store.Model
	deployments map[[2]int64]store.Deployment // model id, provider id
	permissions map[store.Permission]bool
	policies    map[policyKey]store.Policy
	tokenTypes  map[string]store.TokenType
	prices      map[storedPriceKey]store.Price
	catalog     store.Catalog
}

// profileKey identifies a profile: process id and name.
type profileKey struct {
	process int64
	name    string
}

// policyKey identifies a policy: process id and name.
type policyKey struct {
	process int64
	name    string
}

// storedPriceKey identifies a price in the store.
type storedPriceKey struct {
	tokenType, model, provider int64
	from                       int64 // unix µs
}

// run performs one pass.
func (a *applier) run(ctx context.Context) error {
	if err := a.load(ctx); err != nil {
		return err
	}
	if err := a.check(); err != nil {
		return err
	}
	steps := []func(context.Context) error{
		a.applyUsers, a.applyServices, a.applyProcesses, a.applyProfiles,
		a.applyProviders, a.applyModels, a.applyDeployments, a.applyPermissions,
		a.applyPolicies, a.applyPrices,
	}
	if a.opts.Prune {
		steps = append(steps, a.prune)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// load reads the stored state.
func (a *applier) load(ctx context.Context) error {
	st, err := a.c.Load(ctx)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	users, services, c := st.Users, st.Services, st.Catalog
	a.catalog = c
	a.users = indexBy(users, func(u store.User) string { return u.Username })
	a.services = indexBy(services, func(s store.Service) string { return s.Name })
	a.processes = indexBy(c.Processes, func(p store.Process) string { return p.Name })
	a.profiles = indexBy(c.Profiles, func(p store.Profile) profileKey { return profileKey{p.ProcessID, p.Name} })
	a.providers = indexBy(c.Providers, func(p store.Provider) string { return p.Name })
	a.models = indexBy(c.Models, func(m store.Model) string { return m.Name })
	a.deployments = indexBy(c.Deployments, func(d store.Deployment) [2]int64 { return [2]int64{d.ModelID, d.ProviderID} })
	a.permissions = make(map[store.Permission]bool, len(c.Permissions))
	for _, p := range c.Permissions {
		a.permissions[p] = true
	}
	a.policies = indexBy(c.Policies, func(p store.Policy) policyKey { return policyKey{p.ProcessID, p.Name} })
	a.tokenTypes = indexBy(c.TokenTypes, func(t store.TokenType) string { return t.Name })
	a.prices = indexBy(c.Prices, func(p store.Price) storedPriceKey {
		return storedPriceKey{p.TokenTypeID, p.ModelID, p.ProviderID, p.ValidFrom.UnixMicro()}
	})
	return nil
}

// indexBy maps the elements of list by key.
func indexBy[T any, K comparable](list []T, key func(T) K) map[K]T {
	m := make(map[K]T, len(list))
	for _, v := range list {
		m[key(v)] = v
	}
	return m
}

// check finds, before anything is written, what the store cannot converge to.
func (a *applier) check() error {
	p := &problems{lines: a.d.Lines}
	for i, u := range a.d.Users {
		at := fmt.Sprintf("users[%d]", i)
		su, ok := a.users[u.Username]
		if !ok {
			continue
		}
		if role := orDefault(u.Role, store.RoleUser); su.Role != role {
			p.add(at+".role", "user %q exists with role %s; the store cannot change a user's role", u.Username, su.Role)
		}
		if su.Prename != u.Prename {
			p.add(at+".prename", "user %q exists with prename %q; the store cannot change users", u.Username, su.Prename)
		}
		if su.Name != u.Name {
			p.add(at+".name", "user %q exists with name %q; the store cannot change users", u.Username, su.Name)
		}
	}
	byHash := make(map[string]store.Process, len(a.processes))
	for _, sp := range a.processes {
		byHash[string(sp.KeyHash)] = sp
	}
	for i, pr := range a.d.Processes {
		at := fmt.Sprintf("processes[%d]", i)
		if sp, ok := a.processes[pr.Name]; ok {
			uid, sid := a.ownerIDs(pr.Owner)
			if sp.UserID != uid || sp.ServiceID != sid {
				p.add(at+".owner", "process %q exists with owner %s; the store cannot change a process's owner", pr.Name, a.ownerOf(sp))
			}
		}
		if key, ok := a.sec[at+".key"]; ok {
			if other, ok := byHash[string(apikey.Hash(key))]; ok && other.Name != pr.Name {
				p.add(at+".key", "the key in %s is already the key of process %q", strings.Trim(pr.Key, "${}"), other.Name)
			}
		}
	}
	for i, pr := range a.d.Providers {
		at := fmt.Sprintf("providers[%d].credential", i)
		if _, ok := a.providers[pr.Name]; !ok && pr.Credential == Redacted {
			p.add(at, "is %s (exported without secrets) but provider %q does not exist yet; give the credential as a ${VAR} reference", Redacted, pr.Name)
		}
	}
	for i, m := range a.d.Models {
		for j, dep := range m.Deployments {
			if dep.Credential != Redacted {
				continue
			}
			sm, okM := a.models[m.Name]
			sp, okP := a.providers[dep.Provider]
			if _, ok := a.deployments[[2]int64{sm.ID, sp.ID}]; !okM || !okP || !ok {
				p.add(fmt.Sprintf("models[%d].deployments[%d].credential", i, j), "is %s (exported without secrets) but deployment %s@%s does not exist yet; give the credential as a ${VAR} reference", Redacted, m.Name, dep.Provider)
			}
		}
	}
	if a.opts.Prune && a.pruneLosesAdmins() {
		p.add("processes", "pruning would delete every process of every admin user; list at least one (such as the root process) with its owner under users with role admin")
	}
	return p.err()
}

// pruneLosesAdmins reports whether the store has a process of an admin user
// and the document keeps none.
func (a *applier) pruneLosesAdmins() bool {
	admins := map[int64]bool{}
	for _, u := range a.users {
		if u.Role == store.RoleAdmin {
			admins[u.ID] = true
		}
	}
	stored := false
	for _, p := range a.processes {
		stored = stored || admins[p.UserID]
	}
	if !stored {
		return false
	}
	docAdmins := map[string]bool{}
	for _, u := range a.d.Users {
		docAdmins[u.Username] = u.Role == store.RoleAdmin
	}
	for _, p := range a.d.Processes {
		if name, ok := strings.CutPrefix(p.Owner, ownerUser); ok && docAdmins[name] {
			return false
		}
	}
	return true
}

// ownerIDs returns the stored user or service id of owner (0 if it does not
// exist yet).
func (a *applier) ownerIDs(owner string) (userID, serviceID int64) {
	if name, ok := strings.CutPrefix(owner, ownerUser); ok {
		return a.users[name].ID, 0
	}
	name, _ := strings.CutPrefix(owner, ownerService)
	return 0, a.services[name].ID
}

// ownerOf describes a stored process's owner as in a document.
func (a *applier) ownerOf(p store.Process) string {
	for _, u := range a.users {
		if p.UserID != 0 && u.ID == p.UserID {
			return ownerUser + u.Username
		}
	}
	for _, s := range a.services {
		if p.ServiceID != 0 && s.ID == p.ServiceID {
			return ownerService + s.Name
		}
	}
	return "(unknown)"
}

func (a *applier) applyUsers(ctx context.Context) error {
	for i, u := range a.d.Users {
		if _, ok := a.users[u.Username]; ok {
			continue // check made sure it is equal
		}
		su, err := a.c.AddUser(ctx, store.User{Username: u.Username, Prename: u.Prename, Name: u.Name, Role: u.Role})
		if err != nil {
			return a.fail(fmt.Sprintf("users[%d]", i), err, "creating user %q", u.Username)
		}
		a.users[su.Username] = su
		a.created("user %s", u.Username)
	}
	return nil
}

func (a *applier) applyServices(ctx context.Context) error {
	for i, sv := range a.d.Services {
		if _, ok := a.services[sv.Name]; ok {
			continue
		}
		ss, err := a.c.AddService(ctx, store.Service{Name: sv.Name})
		if err != nil {
			return a.fail(fmt.Sprintf("services[%d]", i), err, "creating service %q", sv.Name)
		}
		a.services[ss.Name] = ss
		a.created("service %s", sv.Name)
	}
	return nil
}

func (a *applier) applyProcesses(ctx context.Context) error {
	for i, pr := range a.d.Processes {
		at := fmt.Sprintf("processes[%d]", i)
		settings, err := settingsJSON(pr.Settings)
		if err != nil {
			return a.fail(at+".settings", err, "encoding settings")
		}
		want := store.Process{
			Name:     pr.Name,
			LogLevel: orDefault(pr.LogLevel, store.LogBilling),
			Priority: orDefault(pr.Priority, defaultPriority),
			Settings: settings,
		}
		want.UserID, want.ServiceID = a.ownerIDs(pr.Owner)
		key, hasKey := a.sec[at+".key"]

		sp, exists := a.processes[pr.Name]
		if !exists {
			// Without a key, catalog gives the process a hash that matches
			// no key anyone has and revokes it, so that it shows as keyless.
			if !hasKey {
				key = ""
			}
			sp, err = a.c.AddProcess(ctx, want, key)
			if err != nil {
				return a.fail(at, err, "creating process %q", pr.Name)
			}
			a.processes[pr.Name] = sp
			if hasKey {
				a.created("process %s", pr.Name)
			} else {
				a.created("process %s (without a usable key until one is set)", pr.Name)
			}
			continue
		}

		var diff changes
		diff.str("log_level", string(sp.LogLevel), string(want.LogLevel))
		diff.num("priority", int64(sp.Priority), int64(want.Priority))
		if !sameJSON(sp.Settings, want.Settings) {
			diff = append(diff, fmt.Sprintf("settings %s → %s", compactJSON(sp.Settings), compactJSON(want.Settings)))
		}
		if len(diff) > 0 {
			upd := sp
			upd.LogLevel, upd.Priority, upd.Settings = want.LogLevel, want.Priority, want.Settings
			if sp, err = a.c.ChangeProcess(ctx, upd); err != nil {
				return a.fail(at, err, "updating process %q", pr.Name)
			}
			a.processes[pr.Name] = sp
		}
		if hasKey && !apikey.Equal(sp.KeyHash, apikey.Hash(key)) {
			if err := a.c.SetKey(ctx, sp.ID, key); err != nil {
				return a.fail(at+".key", err, "setting the key of process %q", pr.Name)
			}
			sp.KeyHash, sp.KeyPrefix, sp.RevokedAt = apikey.Hash(key), apikey.Prefix(key), time.Time{}
			a.processes[pr.Name] = sp
			diff = append(diff, "key set from "+strings.Trim(pr.Key, "${}"))
		}
		a.updated("process "+pr.Name, diff)
	}
	return nil
}

func (a *applier) applyProfiles(ctx context.Context) error {
	for i, pr := range a.d.Processes {
		proc := a.processes[pr.Name]
		for j, prof := range pr.Profiles {
			k := profileKey{proc.ID, prof.Name}
			if _, ok := a.profiles[k]; ok {
				continue
			}
			sp, err := a.c.AddProfile(ctx, store.Profile{Name: prof.Name, ProcessID: proc.ID})
			if err != nil {
				return a.fail(fmt.Sprintf("processes[%d].profiles[%d]", i, j), err, "creating profile %q of process %q", prof.Name, pr.Name)
			}
			a.profiles[k] = sp
			a.created("profile %s/%s", pr.Name, prof.Name)
		}
	}
	return nil
}

func (a *applier) applyProviders(ctx context.Context) error {
	for i, pr := range a.d.Providers {
		at := fmt.Sprintf("providers[%d]", i)
		want := store.Provider{
			Name:             pr.Name,
			Kind:             pr.Kind,
			BaseURL:          pr.BaseURL,
			AuthHeader:       pr.AuthHeader,
			AuthFormat:       pr.AuthFormat,
			APIVersion:       pr.APIVersion,
			Privacy:          orDefault(pr.Privacy, store.PrivacyLocal),
			AdminURL:         pr.AdminURL,
			TotalVRAMMB:      pr.TotalVRAMMB,
			ParallelCapacity: pr.ParallelCapacity,
			KeepAliveSeconds: pr.KeepAliveSeconds,
			MaxLoadedModels:  pr.MaxLoadedModels,
			ExtraOperations:  pr.ExtraOperations,
			PollInterval:     time.Duration(pr.PollIntervalMS) * time.Millisecond,
			PollTimeout:      time.Duration(pr.PollTimeoutMS) * time.Millisecond,
			SleepMode:        pr.SleepMode,
		}
		sp, exists := a.providers[pr.Name]
		cred, credChanged, err := a.credential(sp.Credential, a.sec[at+".credential"])
		if err != nil {
			return a.fail(at+".credential", err, "sealing the credential of provider %q", pr.Name)
		}
		want.Credential = cred
		if !exists {
			sp, err = a.c.AddProvider(ctx, want)
			if err != nil {
				return a.fail(at, err, "creating provider %q", pr.Name)
			}
			a.providers[pr.Name] = sp
			a.created("provider %s", pr.Name)
			continue
		}
		want.BaseURL = keepRedactedURL(sp.BaseURL, want.BaseURL)
		want.AdminURL = keepRedactedURL(sp.AdminURL, want.AdminURL)
		var diff changes
		diff.str("kind", string(sp.Kind), string(want.Kind))
		diff.str("base_url", sp.BaseURL, want.BaseURL)
		diff.str("auth_header", sp.AuthHeader, want.AuthHeader)
		diff.str("auth_format", sp.AuthFormat, want.AuthFormat)
		diff.secret("credential", credChanged)
		diff.str("api_version", sp.APIVersion, want.APIVersion)
		diff.str("privacy", string(sp.Privacy), string(want.Privacy))
		diff.str("admin_url", sp.AdminURL, want.AdminURL)
		diff.num("total_vram_mb", sp.TotalVRAMMB, want.TotalVRAMMB)
		diff.num("parallel_capacity", int64(sp.ParallelCapacity), int64(want.ParallelCapacity))
		diff.num("keep_alive_seconds", int64(sp.KeepAliveSeconds), int64(want.KeepAliveSeconds))
		diff.num("max_loaded_models", int64(sp.MaxLoadedModels), int64(want.MaxLoadedModels))
		diff.str("extra_operations", strings.Join(sp.ExtraOperations, ", "), strings.Join(want.ExtraOperations, ", "))
		diff.num("poll_interval_ms", sp.PollInterval.Milliseconds(), want.PollInterval.Milliseconds())
		diff.num("poll_timeout_ms", sp.PollTimeout.Milliseconds(), want.PollTimeout.Milliseconds())
		diff.str("sleep_mode", strconv.FormatBool(sp.SleepMode), strconv.FormatBool(want.SleepMode))
		if len(diff) == 0 {
			continue
		}
		want.ID, want.CreatedAt = sp.ID, sp.CreatedAt
		if sp, err = a.c.ChangeProvider(ctx, want); err != nil {
			return a.fail(at, err, "updating provider %q", pr.Name)
		}
		a.providers[pr.Name] = sp
		a.updated("provider "+pr.Name, diff)
	}
	return nil
}

func (a *applier) applyModels(ctx context.Context) error {
	for i, m := range a.d.Models {
		at := fmt.Sprintf("models[%d]", i)
		want := store.Model{
			Name:           m.Name,
			WeightPrivacy:  orDefault(m.Privacy, store.PrivacyLocal),
			WeightLatency:  m.Latency,
			WeightAccuracy: m.Accuracy,
			WeightCost:     m.Cost,
			WeightQuality:  m.Quality,
			Tags:           m.Tags,
			Parallel:       orDefault(m.Parallel, defaultParallel),
			Description:    m.Description,
			ContextWindow:  m.ContextWindow,
			Retry:          m.Retry.policy(),
		}
		sm, exists := a.models[m.Name]
		if !exists {
			sm, err := a.c.AddModel(ctx, want)
			if err != nil {
				return a.fail(at, err, "creating model %q", m.Name)
			}
			a.models[m.Name] = sm
			a.created("model %s", m.Name)
			continue
		}
		var diff changes
		diff.str("privacy", string(sm.WeightPrivacy), string(want.WeightPrivacy))
		diff.num("latency", int64(sm.WeightLatency), int64(want.WeightLatency))
		diff.num("accuracy", int64(sm.WeightAccuracy), int64(want.WeightAccuracy))
		diff.num("cost", int64(sm.WeightCost), int64(want.WeightCost))
		diff.num("quality", int64(sm.WeightQuality), int64(want.WeightQuality))
		diff.str("tags", sm.Tags, want.Tags)
		diff.num("parallel", int64(sm.Parallel), int64(want.Parallel))
		diff.str("description", sm.Description, want.Description)
		diff.num("context_window", int64(sm.ContextWindow), int64(want.ContextWindow))
		diff.num("retry.max_attempts", int64(sm.Retry.MaxAttempts), int64(want.Retry.MaxAttempts))
		diff.num("retry.attempt_timeout_ms", sm.Retry.AttemptTimeout.Milliseconds(), want.Retry.AttemptTimeout.Milliseconds())
		diff.num("retry.deadline_ms", sm.Retry.Deadline.Milliseconds(), want.Retry.Deadline.Milliseconds())
		if len(diff) == 0 {
			continue
		}
		want.ID, want.CreatedAt = sm.ID, sm.CreatedAt
		sm, err := a.c.ChangeModel(ctx, want)
		if err != nil {
			return a.fail(at, err, "updating model %q", m.Name)
		}
		a.models[m.Name] = sm
		a.updated("model "+m.Name, diff)
	}
	return nil
}

func (a *applier) applyDeployments(ctx context.Context) error {
	for i, m := range a.d.Models {
		model := a.models[m.Name]
		for j, dep := range m.Deployments {
			at := fmt.Sprintf("models[%d].deployments[%d]", i, j)
			name := m.Name + "@" + dep.Provider
			prov := a.providers[dep.Provider]
			k := [2]int64{model.ID, prov.ID}
			sd, exists := a.deployments[k]
			cred, credChanged, err := a.credential(sd.Credential, a.sec[at+".credential"])
			if err != nil {
				return a.fail(at+".credential", err, "sealing the credential of deployment %s", name)
			}
			want := store.Deployment{
				ModelID:          model.ID,
				ProviderID:       prov.ID,
				UpstreamModel:    dep.UpstreamModel,
				Endpoint:         dep.Endpoint,
				Credential:       cred,
				APIVersion:       dep.APIVersion,
				ParallelCapacity: dep.ParallelCapacity,
			}
			if !exists {
				sd, err = a.c.AddDeployment(ctx, want)
				if err != nil {
					return a.fail(at, err, "creating deployment %s", name)
				}
				a.deployments[k] = sd
				a.created("deployment %s", name)
				continue
			}
			want.Endpoint = keepRedactedURL(sd.Endpoint, want.Endpoint)
			var diff changes
			diff.str("upstream_model", sd.UpstreamModel, want.UpstreamModel)
			diff.str("endpoint", sd.Endpoint, want.Endpoint)
			diff.secret("credential", credChanged)
			diff.str("api_version", sd.APIVersion, want.APIVersion)
			diff.num("parallel_capacity", int64(sd.ParallelCapacity), int64(want.ParallelCapacity))
			if len(diff) == 0 {
				continue
			}
			want.ID, want.CreatedAt = sd.ID, sd.CreatedAt
			if sd, err = a.c.ChangeDeployment(ctx, want); err != nil {
				return a.fail(at, err, "updating deployment %s", name)
			}
			a.deployments[k] = sd
			a.updated("deployment "+name, diff)
		}
	}
	return nil
}

func (a *applier) applyPermissions(ctx context.Context) error {
	for i, pr := range a.d.Processes {
		proc := a.processes[pr.Name]
		for j, prof := range pr.Profiles {
			profile := a.profiles[profileKey{proc.ID, prof.Name}]
			for k, m := range prof.Models {
				perm := store.Permission{ProfileID: profile.ID, ModelID: a.models[m].ID}
				if a.permissions[perm] {
					continue
				}
				granted, err := a.c.Grant(ctx, perm.ProfileID, perm.ModelID)
				if err != nil {
					return a.fail(fmt.Sprintf("processes[%d].profiles[%d].models[%d]", i, j, k), err, "granting model %q to profile %s/%s", m, pr.Name, prof.Name)
				}
				a.permissions[perm] = true
				if granted {
					a.created("permission %s/%s → %s", pr.Name, prof.Name, m)
				}
			}
		}
	}
	return nil
}

func (a *applier) applyPolicies(ctx context.Context) error {
	for i, pol := range a.d.Policies {
		at := fmt.Sprintf("policies[%d]", i)
		name := pol.Process + "/" + pol.Name
		proc := a.processes[pol.Process]
		want := store.Policy{
			ProcessID:         proc.ID,
			Name:              pol.Name,
			Description:       pol.Description,
			ThresholdPrivacy:  orDefault(pol.Privacy, store.PrivacyLocal),
			ThresholdLatency:  pol.Latency,
			ThresholdAccuracy: pol.Accuracy,
			ThresholdCost:     pol.Cost,
			ThresholdQuality:  pol.Quality,
			Priority:          pol.Priority,
			Topic:             pol.Topic,
		}
		k := policyKey{proc.ID, pol.Name}
		sp, exists := a.policies[k]
		if !exists {
			sp, err := a.c.AddPolicy(ctx, want)
			if err != nil {
				return a.fail(at, err, "creating policy %s", name)
			}
			a.policies[k] = sp
			a.created("policy %s", name)
			continue
		}
		var diff changes
		diff.str("description", sp.Description, want.Description)
		diff.str("privacy", string(sp.ThresholdPrivacy), string(want.ThresholdPrivacy))
		diff.num("latency", int64(sp.ThresholdLatency), int64(want.ThresholdLatency))
		diff.num("accuracy", int64(sp.ThresholdAccuracy), int64(want.ThresholdAccuracy))
		diff.num("cost", int64(sp.ThresholdCost), int64(want.ThresholdCost))
		diff.num("quality", int64(sp.ThresholdQuality), int64(want.ThresholdQuality))
		diff.num("priority", int64(sp.Priority), int64(want.Priority))
		diff.str("topic", sp.Topic, want.Topic)
		if len(diff) == 0 {
			continue
		}
		want.ID, want.CreatedAt = sp.ID, sp.CreatedAt
		sp, err := a.c.ChangePolicy(ctx, want)
		if err != nil {
			return a.fail(at, err, "updating policy %s", name)
		}
		a.policies[k] = sp
		a.updated("policy "+name, diff)
	}
	return nil
}

// applyPrices creates missing prices and replaces (deletes and creates)
// those whose amount or currency differ: the store does not update prices.
func (a *applier) applyPrices(ctx context.Context) error {
	for i, pr := range a.d.Prices {
		at := fmt.Sprintf("prices[%d]", i)
		from, _ := parseValidFrom(pr.ValidFrom)      // Validate checked it
		micros, _ := parseMicros(pr.PricePerMillion) // Validate checked it
		tt, ok := a.tokenTypes[pr.TokenType]
		if !ok {
			var err error
			if tt, err = a.c.TokenType(ctx, pr.TokenType); err != nil {
				return a.fail(at+".token_type", err, "creating token type %q", pr.TokenType)
			}
			a.tokenTypes[pr.TokenType] = tt
		}
		want := store.Price{
			TokenTypeID:      tt.ID,
			ModelID:          a.models[pr.Model].ID,       // 0 for any model
			ProviderID:       a.providers[pr.Provider].ID, // 0 for any provider
			ValidFrom:        from,
			MicrosPerMillion: micros,
			Currency:         orDefault(pr.Currency, defaultCurrency),
		}
		name := describePrice(pr.TokenType, pr.Model, pr.Provider, from)
		k := storedPriceKey{want.TokenTypeID, want.ModelID, want.ProviderID, from.UnixMicro()}
		sp, exists := a.prices[k]
		if exists && sp.MicrosPerMillion == want.MicrosPerMillion && sp.Currency == want.Currency {
			continue
		}
		if exists {
			if err := a.c.RemovePrice(ctx, sp.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return a.fail(at, err, "replacing price %s", name)
			}
			delete(a.prices, k)
		}
		np, err := a.c.AddPrice(ctx, want)
		if err != nil {
			return a.fail(at, err, "creating price %s", name)
		}
		a.prices[k] = np
		if exists {
			a.rep.Updated = append(a.rep.Updated, fmt.Sprintf("updated price %s: %s %s → %s %s",
				name, formatMicros(sp.MicrosPerMillion), sp.Currency, formatMicros(np.MicrosPerMillion), np.Currency))
		} else {
			a.created("price %s: %s %s per million", name, formatMicros(np.MicrosPerMillion), np.Currency)
		}
	}
	return nil
}

// prune deletes what the document does not mention, dependents first, so
// that every deletion is reported rather than cascaded.
func (a *applier) prune(ctx context.Context) error {
	keepProcess := map[string]bool{}
	keepProfile := map[profileKey]bool{}
	keepPermission := map[store.Permission]bool{}
	for _, pr := range a.d.Processes {
		keepProcess[pr.Name] = true
		proc := a.processes[pr.Name]
		for _, prof := range pr.Profiles {
			k := profileKey{proc.ID, prof.Name}
			keepProfile[k] = true
			for _, m := range prof.Models {
				keepPermission[store.Permission{ProfileID: a.profiles[k].ID, ModelID: a.models[m].ID}] = true
			}
		}
	}
	keepModel, keepProvider := map[string]bool{}, map[string]bool{}
	keepDeployment := map[[2]int64]bool{}
	for _, m := range a.d.Models {
		keepModel[m.Name] = true
		for _, dep := range m.Deployments {
			keepDeployment[[2]int64{a.models[m.Name].ID, a.providers[dep.Provider].ID}] = true
		}
	}
	for _, p := range a.d.Providers {
		keepProvider[p.Name] = true
	}
	a.keepSystem(keepProcess, keepProfile, keepPermission, keepModel)
	keepPolicy := map[policyKey]bool{}
	for _, pol := range a.d.Policies {
		keepPolicy[policyKey{a.processes[pol.Process].ID, pol.Name}] = true
	}
	keepPrice := map[storedPriceKey]bool{}
	for _, pr := range a.d.Prices {
		from, _ := parseValidFrom(pr.ValidFrom)
		keepPrice[storedPriceKey{a.tokenTypes[pr.TokenType].ID, a.models[pr.Model].ID, a.providers[pr.Provider].ID, from.UnixMicro()}] = true
	}

	// Names of stored objects by id, for the report.
	processName := map[int64]string{}
	for _, p := range a.processes {
		processName[p.ID] = p.Name
	}
	profileName := map[int64]string{}
	for _, p := range a.profiles {
		profileName[p.ID] = processName[p.ProcessID] + "/" + p.Name
	}
	modelName := map[int64]string{}
	for _, m := range a.models {
		modelName[m.ID] = m.Name
	}
	providerName := map[int64]string{}
	for _, p := range a.providers {
		providerName[p.ID] = p.Name
	}
	tokenTypeName := map[int64]string{}
	for _, t := range a.tokenTypes {
		tokenTypeName[t.ID] = t.Name
	}

	// Walk the catalogue as loaded (ordered by id) so that deletions are
	// reported in a stable order.
	c := a.catalog
	for _, p := range c.Prices {
		if keepPrice[storedPriceKey{p.TokenTypeID, p.ModelID, p.ProviderID, p.ValidFrom.UnixMicro()}] {
			continue
		}
		name := describePrice(tokenTypeName[p.TokenTypeID], modelName[p.ModelID], providerName[p.ProviderID], p.ValidFrom)
		if err := a.delete(a.c.RemovePrice(ctx, p.ID), "price "+name); err != nil {
			return err
		}
	}
	for _, p := range c.Policies {
		if keepPolicy[policyKey{p.ProcessID, p.Name}] {
			continue
		}
		if err := a.delete(a.c.RemovePolicy(ctx, p.ID), "policy "+processName[p.ProcessID]+"/"+p.Name); err != nil {
			return err
		}
	}
	for _, p := range c.Permissions {
		if keepPermission[p] {
			continue
		}
		if err := a.delete(a.c.Ungrant(ctx, p.ProfileID, p.ModelID), "permission "+profileName[p.ProfileID]+" → "+modelName[p.ModelID]); err != nil {
			return err
		}
	}
	for _, d := range c.Deployments {
		if keepDeployment[[2]int64{d.ModelID, d.ProviderID}] {
			continue
		}
		if err := a.delete(a.c.RemoveDeployment(ctx, d.ID), "deployment "+modelName[d.ModelID]+"@"+providerName[d.ProviderID]); err != nil {
			return err
		}
	}
	for _, p := range c.Profiles {
		if keepProfile[profileKey{p.ProcessID, p.Name}] {
			continue
		}
		if err := a.delete(a.c.RemoveProfile(ctx, p.ID), "profile "+profileName[p.ID]); err != nil {
			return err
		}
	}
	for _, p := range c.Processes {
		if keepProcess[p.Name] {
			continue
		}
		if err := a.delete(a.c.RemoveProcess(ctx, p.ID), "process "+p.Name); err != nil {
			return err
		}
	}
	for _, m := range c.Models {
		if keepModel[m.Name] {
			continue
		}
		if err := a.delete(a.c.RemoveModel(ctx, m.ID), "model "+m.Name); err != nil {
			return err
		}
	}
	for _, p := range c.Providers {
		if keepProvider[p.Name] {
			continue
		}
		if err := a.delete(a.c.RemoveProvider(ctx, p.ID), "provider "+p.Name); err != nil {
			return err
		}
	}
	return nil
}

// delete records the deletion of what, or returns the error of deleting it.
// Something already gone (deleted concurrently) is not an error.
func (a *applier) delete(err error, what string) error {
	switch {
	case err == nil:
		a.rep.Deleted = append(a.rep.Deleted, "deleted "+what)
		return nil
	case errors.Is(err, store.ErrNotFound):
		return nil
	default:
		return fmt.Errorf("config: deleting %s: %w", what, err)
	}
}

// credential returns the value to store for a credential whose stored value
// is stored and whose document value (resolved) is want, and whether it
// changes. Redacted keeps the stored value.
func (a *applier) credential(stored, want string) (string, bool, error) {
	if want == Redacted || a.sameSecret(stored, want) {
		return stored, false, nil
	}
	if want == "" || a.opts.Seal == nil {
		return want, true, nil
	}
	sealed, err := a.opts.Seal(want)
	if err != nil {
		return "", false, err
	}
	return sealed, true, nil
}

// sameSecret reports whether the stored credential holds plain.
func (a *applier) sameSecret(stored, plain string) bool {
	if stored == plain {
		return true
	}
	if stored == "" || plain == "" || a.opts.Open == nil {
		return false
	}
	opened, err := a.opts.Open(stored)
	return err == nil && opened == plain
}

// fail wraps err from the write of the object at path with the line of path.
func (a *applier) fail(path string, err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if line := a.d.Lines.Of(path); line > 0 {
		return fmt.Errorf("config: line %d: %s: %s: %w", line, path, msg, err)
	}
	return fmt.Errorf("config: %s: %s: %w", path, msg, err)
}

// created records a creation.
func (a *applier) created(format string, args ...any) {
	a.rep.Created = append(a.rep.Created, "created "+fmt.Sprintf(format, args...))
}

// updated records the update of what, if diff lists any change.
func (a *applier) updated(what string, diff changes) {
	if len(diff) > 0 {
		a.rep.Updated = append(a.rep.Updated, "updated "+what+": "+strings.Join(diff, ", "))
	}
}

// changes lists the changed fields of an update, as "field old → new".
type changes []string

// str records a changed string field.
func (c *changes) str(field, old, new string) {
	if old != new {
		*c = append(*c, fmt.Sprintf("%s %q → %q", field, old, new))
	}
}

// num records a changed number field.
func (c *changes) num(field string, old, new int64) {
	if old != new {
		*c = append(*c, fmt.Sprintf("%s %d → %d", field, old, new))
	}
}

// secret records a changed secret without its values.
func (c *changes) secret(field string, changed bool) {
	if changed {
		*c = append(*c, field+" changed")
	}
}

// orDefault returns v, or def if v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// sameJSON reports whether two settings documents are equal as JSON values;
// empty means {}.
func sameJSON(a, b json.RawMessage) bool {
	va, errA := decodeSettings(a)
	vb, errB := decodeSettings(b)
	if errA != nil || errB != nil {
		return string(a) == string(b)
	}
	return reflect.DeepEqual(va, vb)
}

// decodeSettings decodes stored settings; empty means {}.
func decodeSettings(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return map[string]any{}, nil
	}
	var v any
	err := json.Unmarshal(raw, &v)
	return v, err
}

// compactJSON returns settings as compact JSON for a report; empty is {}.
func compactJSON(raw json.RawMessage) string {
	v, err := decodeSettings(raw)
	if err != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v) // decoded JSON always encodes
	return string(b)
}

// keepSystem adds the system identity (catalog.SystemName: a service's
// process that the Router creates for its own requests) to what prune
// keeps, with its profiles and their permissions to kept models: it is
// Logos's, not the document's, and would only be created again.
func (a *applier) keepSystem(process map[string]bool, profile map[profileKey]bool, permission map[store.Permission]bool, model map[string]bool) {
	c := a.catalog
	var sys store.Process
	for _, p := range c.Processes {
		if p.Name == catalog.SystemName && p.ServiceID != 0 {
			sys = p
		}
	}
	if sys.ID == 0 || process[sys.Name] {
		return
	}
	process[sys.Name] = true
	profiles := map[int64]bool{}
	for _, p := range c.Profiles {
		if p.ProcessID == sys.ID {
			profile[profileKey{sys.ID, p.Name}] = true
			profiles[p.ID] = true
		}
	}
	kept := map[int64]bool{}
	for _, m := range c.Models {
		kept[m.ID] = model[m.Name]
	}
	for _, p := range c.Permissions {
		if profiles[p.ProfileID] && kept[p.ModelID] {
			permission[p] = true
		}
	}
}
