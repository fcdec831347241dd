package config

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/logos-llm/logos/store"
)

// ExportOptions configure Export.
type ExportOptions struct {
	// IncludeSecrets exports credentials instead of Redacted. Defaults to
	// false.
	IncludeSecrets bool
	// Open decrypts a stored credential for IncludeSecrets. It receives every
	// non-empty stored credential and must return one that was stored unsealed
	// unchanged. Defaults to nil: credentials are exported as stored.
	Open func(string) (string, error)
}

// Export describes the store's users, services, processes (with their
// profiles and permissions), providers, models (with their deployments),
// policies and prices as a Document that Apply turns back into the same
// catalogue. Defaults the store applied are spelled out (privacy LOCAL,
// parallel 1, log level BILLING, priority 5, currency EUR). Lists are sorted
// by name (prices by token type, model, provider and time), not by id, so
// that stores built in different orders export equal documents.
//
// Keys are never exported: processes carry an empty Key, which Apply reads as
// "leave the key alone". Non-empty credentials are Redacted, and the user
// information, query values and fragments of provider and deployment URLs are
// hidden by RedactURL, unless opts.IncludeSecrets is set.
func Export(ctx context.Context, s store.Store, opts ExportOptions) (*Document, error) {
	users, err := s.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("config: export: reading users: %w", err)
	}
	services, err := s.ListServices(ctx)
	if err != nil {
		return nil, fmt.Errorf("config: export: reading services: %w", err)
	}
	c, err := s.LoadCatalog(ctx)
	if err != nil {
		return nil, fmt.Errorf("config: export: reading the catalogue: %w", err)
	}
	secret := func(what string, id int64, cred string) (string, error) {
		switch {
		case cred == "":
			return "", nil
		case !opts.IncludeSecrets:
			return Redacted, nil
		case opts.Open == nil:
			return cred, nil
		}
		plain, err := opts.Open(cred)
		if err != nil {
			return "", fmt.Errorf("config: export: opening the credential of %s %d: %w", what, id, err)
		}
		return plain, nil
	}

	// url hides secrets in a URL (user information, query values) unless
	// secrets are asked for.
	url := func(u string) string {
		if opts.IncludeSecrets {
			return u
		}
		return RedactURL(u)
	}
	d := &Document{}
	userName := map[int64]string{}
	for _, u := range users {
		userName[u.ID] = u.Username
		d.Users = append(d.Users, User{Username: u.Username, Role: u.Role, Prename: u.Prename, Name: u.Name})
	}
	serviceName := map[int64]string{}
	for _, sv := range services {
		serviceName[sv.ID] = sv.Name
		d.Services = append(d.Services, Service{Name: sv.Name})
	}
	providerName := map[int64]string{}
	for _, p := range c.Providers {
		providerName[p.ID] = p.Name
		cred, err := secret("provider", p.ID, p.Credential)
		if err != nil {
			return nil, err
		}
		d.Providers = append(d.Providers, Provider{
			Name:             p.Name,
			Kind:             p.Kind,
			BaseURL:          url(p.BaseURL),
			AuthHeader:       p.AuthHeader,
			AuthFormat:       p.AuthFormat,
			Credential:       cred,
			APIVersion:       p.APIVersion,
			Privacy:          p.Privacy,
			AdminURL:         url(p.AdminURL),
			TotalVRAMMB:      p.TotalVRAMMB,
			ParallelCapacity: p.ParallelCapacity,
			KeepAliveSeconds: p.KeepAliveSeconds,
			MaxLoadedModels:  p.MaxLoadedModels,
			ExtraOperations:  p.ExtraOperations,
			PollIntervalMS:   p.PollInterval.Milliseconds(),
			PollTimeoutMS:    p.PollTimeout.Milliseconds(),
			SleepMode:        p.SleepMode,
		})
	}
	modelName := map[int64]string{}
	modelIndex := map[int64]int{}
	for _, m := range c.Models {
		modelName[m.ID] = m.Name
		modelIndex[m.ID] = len(d.Models)
		d.Models = append(d.Models, Model{
			Name:          m.Name,
			Privacy:       m.WeightPrivacy,
			Latency:       m.WeightLatency,
			Accuracy:      m.WeightAccuracy,
			Cost:          m.WeightCost,
			Quality:       m.WeightQuality,
			Tags:          m.Tags,
			Parallel:      m.Parallel,
			Description:   m.Description,
			ContextWindow: m.ContextWindow,
			Retry:         retryOf(m.Retry),
		})
	}
	for _, dep := range c.Deployments {
		i, ok := modelIndex[dep.ModelID]
		if !ok {
			continue // not in a consistent snapshot
		}
		cred, err := secret("deployment", dep.ID, dep.Credential)
		if err != nil {
			return nil, err
		}
		d.Models[i].Deployments = append(d.Models[i].Deployments, Deployment{
			Provider:         providerName[dep.ProviderID],
			UpstreamModel:    dep.UpstreamModel,
			Endpoint:         url(dep.Endpoint),
			Credential:       cred,
			APIVersion:       dep.APIVersion,
			ParallelCapacity: dep.ParallelCapacity,
		})
	}

	processName := map[int64]string{}
	processIndex := map[int64]int{}
	for _, p := range c.Processes {
		processName[p.ID] = p.Name
		processIndex[p.ID] = len(d.Processes)
		owner := ownerService + serviceName[p.ServiceID]
		if p.UserID != 0 {
			owner = ownerUser + userName[p.UserID]
		}
		settings, err := exportSettings(p.Settings)
		if err != nil {
			return nil, fmt.Errorf("config: export: settings of process %q: %w", p.Name, err)
		}
		d.Processes = append(d.Processes, Process{
			Name:     p.Name,
			Owner:    owner,
			LogLevel: p.LogLevel,
			Priority: p.Priority,
			Settings: settings,
		})
	}
	profileAt := map[int64][2]int{} // profile id -> process index, profile index
	for _, p := range c.Profiles {
		i, ok := processIndex[p.ProcessID]
		if !ok {
			continue
		}
		profileAt[p.ID] = [2]int{i, len(d.Processes[i].Profiles)}
		d.Processes[i].Profiles = append(d.Processes[i].Profiles, Profile{Name: p.Name})
	}
	for _, perm := range c.Permissions {
		at, ok := profileAt[perm.ProfileID]
		if !ok {
			continue
		}
		prof := &d.Processes[at[0]].Profiles[at[1]]
		prof.Models = append(prof.Models, modelName[perm.ModelID])
	}
	for _, p := range c.Policies {
		d.Policies = append(d.Policies, Policy{
			Process:     processName[p.ProcessID],
			Name:        p.Name,
			Description: p.Description,
			Privacy:     p.ThresholdPrivacy,
			Latency:     p.ThresholdLatency,
			Accuracy:    p.ThresholdAccuracy,
			Cost:        p.ThresholdCost,
			Quality:     p.ThresholdQuality,
			Priority:    p.Priority,
			Topic:       p.Topic,
		})
	}
	tokenTypeName := map[int64]string{}
	for _, t := range c.TokenTypes {
		tokenTypeName[t.ID] = t.Name
	}
	for _, p := range c.Prices {
		d.Prices = append(d.Prices, Price{
			TokenType:       tokenTypeName[p.TokenTypeID],
			Model:           modelName[p.ModelID],
			Provider:        providerName[p.ProviderID],
			ValidFrom:       p.ValidFrom.UTC().Format(time.RFC3339Nano),
			PricePerMillion: formatMicros(p.MicrosPerMillion),
			Currency:        p.Currency,
		})
	}
	sortDocument(d)
	return d, nil
}

// exportSettings decodes stored settings; {} and empty give nil.
func exportSettings(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// sortDocument orders every list of d by name.
func sortDocument(d *Document) {
	slices.SortFunc(d.Users, func(a, b User) int { return strings.Compare(a.Username, b.Username) })
	slices.SortFunc(d.Services, func(a, b Service) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(d.Providers, func(a, b Provider) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(d.Models, func(a, b Model) int { return strings.Compare(a.Name, b.Name) })
	for i := range d.Models {
		slices.SortFunc(d.Models[i].Deployments, func(a, b Deployment) int { return strings.Compare(a.Provider, b.Provider) })
	}
	slices.SortFunc(d.Processes, func(a, b Process) int { return strings.Compare(a.Name, b.Name) })
	for i := range d.Processes {
		slices.SortFunc(d.Processes[i].Profiles, func(a, b Profile) int { return strings.Compare(a.Name, b.Name) })
		for j := range d.Processes[i].Profiles {
			slices.Sort(d.Processes[i].Profiles[j].Models)
		}
	}
	slices.SortFunc(d.Policies, func(a, b Policy) int {
		return cmp.Or(strings.Compare(a.Process, b.Process), strings.Compare(a.Name, b.Name))
	})
	slices.SortFunc(d.Prices, func(a, b Price) int {
		return cmp.Or(
			strings.Compare(a.TokenType, b.TokenType),
			strings.Compare(a.Model, b.Model),
			strings.Compare(a.Provider, b.Provider),
			compareTimes(a.ValidFrom, b.ValidFrom),
		)
	})
}

// compareTimes orders two valid_from values by time, unparsable ones by text.
func compareTimes(a, b string) int {
	ta, errA := parseValidFrom(a)
	tb, errB := parseValidFrom(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return ta.Compare(tb)
}
