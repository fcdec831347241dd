package pipeline

import (
	"crypto/sha256"
	"sort"
	"time"

	"fmt"

	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/pipeline/billing"
	"github.com/logos-llm/logos/pipeline/ratelimit"
	"github.com/logos-llm/logos/store"
)

// Deployment is a deployment with its model and provider resolved.
type Deployment struct {
	store.Deployment
	Model    *store.Model
	Provider *store.Provider
}

// Capacity returns how many requests may run on d at once (0 = unlimited): the
// deployment's own limit, else its provider's.
func (d *Deployment) Capacity() int {
	if d.ParallelCapacity > 0 {
		return d.ParallelCapacity
	}
	return d.Provider.ParallelCapacity
}

// Catalog is an immutable, indexed snapshot of the store's catalogue. A new one
// replaces the old atomically on every change; readers never see it mutate.
type Catalog struct {
	LoadedAt time.Time

	keys            map[[sha256.Size]byte]*store.Process
	processes       map[int64]*store.Process
	profiles        map[int64]*store.Profile
	processProfiles map[int64][]*store.Profile // by process, ordered by id
	permitted       map[int64]map[int64]bool   // profile → model ids
	permittedModels map[int64][]*store.Model   // profile → models ordered by id
	models          map[int64]*store.Model
	modelsByName    map[string]*store.Model
	providers       map[int64]*store.Provider
	deployments     map[int64][]*Deployment // by model, ordered by provider id
	policies        map[int64]*store.Policy
	classifyAll     []classify.Model           // every model, ordered by id
	classifyByProf  map[int64][]classify.Model // profile → permitted models, ordered by id
	prices          *billing.PriceBook
	limits          map[int64]processLimits
	settingsErrors  []error
}

// processLimits are a process's rate limits, parsed from its settings.
type processLimits struct {
	process ratelimit.Limits
	models  map[string]ratelimit.Limits
}

// NewCatalog indexes a store snapshot.
func NewCatalog(c store.Catalog, loadedAt time.Time) *Catalog {
	cat := &Catalog{
		LoadedAt:        loadedAt,
		keys:            make(map[[sha256.Size]byte]*store.Process, len(c.Processes)),
		processes:       make(map[int64]*store.Process, len(c.Processes)),
		profiles:        make(map[int64]*store.Profile, len(c.Profiles)),
		processProfiles: map[int64][]*store.Profile{},
		permitted:       map[int64]map[int64]bool{},
		permittedModels: map[int64][]*store.Model{},
		models:          make(map[int64]*store.Model, len(c.Models)),
		modelsByName:    make(map[string]*store.Model, len(c.Models)),
		providers:       make(map[int64]*store.Provider, len(c.Providers)),
		deployments:     map[int64][]*Deployment{},
		policies:        make(map[int64]*store.Policy, len(c.Policies)),
		prices:          billing.NewPriceBook(c.Prices, c.TokenTypes),
		limits:          map[int64]processLimits{},
	}
	for i := range c.Processes {
		p := &c.Processes[i]
		cat.processes[p.ID] = p
		pl, ml, err := ratelimit.ParseLimits(p.Settings)
		if err != nil {
			cat.settingsErrors = append(cat.settingsErrors, fmt.Errorf("process %s: %w", p.Name, err))
		}
		if !pl.IsZero() || len(ml) > 0 {
			cat.limits[p.ID] = processLimits{process: pl, models: ml}
		}
		if len(p.KeyHash) == sha256.Size {
			cat.keys[[sha256.Size]byte(p.KeyHash)] = p
		}
	}
	for i := range c.Profiles {
		p := &c.Profiles[i]
		cat.profiles[p.ID] = p
		cat.processProfiles[p.ProcessID] = append(cat.processProfiles[p.ProcessID], p)
	}
	for _, ps := range cat.processProfiles {
		sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	}
	for i := range c.Models {
		m := &c.Models[i]
		cat.models[m.ID] = m
		cat.modelsByName[m.Name] = m
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		cat.providers[p.ID] = p
	}
	for i := range c.Deployments {
		d := &c.Deployments[i]
		m, p := cat.models[d.ModelID], cat.providers[d.ProviderID]
		if m == nil || p == nil {
			continue
		}
		cat.deployments[d.ModelID] = append(cat.deployments[d.ModelID], &Deployment{Deployment: *d, Model: m, Provider: p})
	}
	for _, ds := range cat.deployments {
		sort.Slice(ds, func(i, j int) bool { return ds[i].ProviderID < ds[j].ProviderID })
	}
	for _, perm := range c.Permissions {
		m := cat.models[perm.ModelID]
		if m == nil {
			continue
		}
		set := cat.permitted[perm.ProfileID]
		if set == nil {
			set = map[int64]bool{}
			cat.permitted[perm.ProfileID] = set
		}
		if !set[m.ID] {
			set[m.ID] = true
			cat.permittedModels[perm.ProfileID] = append(cat.permittedModels[perm.ProfileID], m)
		}
	}
	for _, ms := range cat.permittedModels {
		sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	}
	for i := range c.Policies {
		p := &c.Policies[i]
		cat.policies[p.ID] = p
	}
	cat.buildClassifyModels()
	return cat
}

// buildClassifyModels prepares the models as the classifier sees them, once
// per snapshot, so a classified request allocates none.
func (c *Catalog) buildClassifyModels() {
	byID := make(map[int64]classify.Model, len(c.models))
	ids := make([]int64, 0, len(c.models))
	for id, m := range c.models {
		cm := classify.Model{
			ID: m.ID, Name: m.Name, Privacy: string(m.WeightPrivacy),
			Latency: m.WeightLatency, Accuracy: m.WeightAccuracy, Cost: m.WeightCost, Quality: m.WeightQuality,
			Tags: m.Tags, Description: m.Description, Parallel: m.Parallel,
		}
		for _, d := range c.deployments[id] {
			cm.Providers = append(cm.Providers, classify.Provider{ID: d.ProviderID, Privacy: string(d.Provider.Privacy)})
		}
		byID[id] = cm
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		c.classifyAll = append(c.classifyAll, byID[id])
	}
	c.classifyByProf = make(map[int64][]classify.Model, len(c.permittedModels))
	for prof, ms := range c.permittedModels {
		out := make([]classify.Model, len(ms))
		for i, m := range ms {
			out[i] = byID[m.ID]
		}
		c.classifyByProf[prof] = out
	}
}

// ClassifyModels returns every model as a classifier sees it, ordered by id.
// The slice is shared; callers must not modify it.
func (c *Catalog) ClassifyModels() []classify.Model { return c.classifyAll }

// PermittedClassifyModels returns the models a profile may use as a
// classifier sees them, ordered by id. The slice is shared; callers must not
// modify it.
func (c *Catalog) PermittedClassifyModels(profileID int64) []classify.Model {
	return c.classifyByProf[profileID]
}

// ProcessByKey returns the process whose key is key, comparing hashes in
// constant time. Revoked keys are returned too; callers check RevokedAt.
func (c *Catalog) ProcessByKey(key string) (*store.Process, bool) {
	h := apikey.Hash(key)
	p, ok := c.keys[[sha256.Size]byte(h)]
	if !ok || !apikey.Equal(p.KeyHash, h) {
		return nil, false
	}
	return p, true
}

// Process returns the process with that id.
func (c *Catalog) Process(id int64) (*store.Process, bool) {
	p, ok := c.processes[id]
	return p, ok
}

// Profiles returns a process's profiles ordered by id.
func (c *Catalog) Profiles(processID int64) []*store.Profile { return c.processProfiles[processID] }

// Profile returns a profile by id.
func (c *Catalog) Profile(id int64) (*store.Profile, bool) {
	p, ok := c.profiles[id]
	return p, ok
}

// PermittedModels returns the models a profile may use, ordered by id.
func (c *Catalog) PermittedModels(profileID int64) []*store.Model {
	return c.permittedModels[profileID]
}

// Permitted reports whether a profile may use a model.
func (c *Catalog) Permitted(profileID, modelID int64) bool { return c.permitted[profileID][modelID] }

// ModelByName returns a model by its exact, case-sensitive name.
func (c *Catalog) ModelByName(name string) (*store.Model, bool) {
	m, ok := c.modelsByName[name]
	return m, ok
}

// Deployments returns the deployments of a model ordered by provider id.
func (c *Catalog) Deployments(modelID int64) []*Deployment { return c.deployments[modelID] }

// SettingsErrors lists the process settings that could not be read (their
// rate limits are not enforced).
func (c *Catalog) SettingsErrors() []error { return c.settingsErrors }

// Prices returns the catalogue's price book.
func (c *Catalog) Prices() *billing.PriceBook { return c.prices }

// Policy returns a policy by id.
func (c *Catalog) Policy(id int64) (*store.Policy, bool) {
	p, ok := c.policies[id]
	return p, ok
}
