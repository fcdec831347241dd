package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/store"
)

// SystemName names the service, process and profile of the system
// identity that the Router creates for its own requests (logos.SystemProcessName).
const SystemName = "logos-system"

// ErrSystemNameTaken means the name of the system identity belongs to a
// process of another owner (a user, or a service of another name), which
// Logos must not take over.
var ErrSystemNameTaken = errors.New("catalog: the system process name is taken by another owner")

// SystemIdentity is the service, process and profile that Logos makes its
// own requests as (the classifier's embeddings calls).
type SystemIdentity struct {
	Service store.Service
	Process store.Process
	Profile store.Profile
}

// EnsureSystem finds or creates the system identity: a service, a process
// of that service and a profile of that process, all named name, and lets
// the profile use the models modelIDs. It is idempotent and safe to run
// concurrently, also from several replicas: what exists is reused, and a
// creation that loses a race reads the winner's row. changed reports
// whether it wrote anything.
//
// The process gets a key that is generated and discarded at once: only its
// hash is stored, so no one can call Logos as the system process; Logos
// does so in process, by id. It is not an admin (a service has no role).
// A revoked system process is made active again, with another such key.
// A process named name that belongs to another owner is ErrSystemNameTaken.
func (c *Catalog) EnsureSystem(ctx context.Context, name string, modelIDs ...int64) (id SystemIdentity, changed bool, err error) {
	// A taken name is refused before anything is written.
	switch p, err := c.s.GetProcessByName(ctx, name); {
	case err == nil && p.ServiceID == 0:
		return SystemIdentity{}, false, fmt.Errorf("%w: process %q (id %d) is a user's", ErrSystemNameTaken, name, p.ID)
	case err == nil:
		svc, err := c.s.GetService(ctx, p.ServiceID)
		if err != nil {
			return SystemIdentity{}, false, fmt.Errorf("catalog: reading the service of process %q: %w", name, err)
		}
		if svc.Name != name {
			return SystemIdentity{}, false, fmt.Errorf("%w: process %q (id %d) is service %q's", ErrSystemNameTaken, name, p.ID, svc.Name)
		}
	case !errors.Is(err, store.ErrNotFound):
		return SystemIdentity{}, false, fmt.Errorf("catalog: reading process %q: %w", name, err)
	}
	if id.Service, changed, err = c.systemService(ctx, name); err != nil {
		return SystemIdentity{}, changed, err
	}
	var ch bool
	if id.Process, ch, err = c.systemProcess(ctx, name, id.Service.ID); err != nil {
		return SystemIdentity{}, changed, err
	}
	changed = changed || ch
	if id.Profile, ch, err = c.systemProfile(ctx, name, id.Process.ID); err != nil {
		return SystemIdentity{}, changed, err
	}
	changed = changed || ch
	for _, m := range modelIDs {
		granted, err := c.Grant(ctx, id.Profile.ID, m)
		if err != nil {
			return SystemIdentity{}, changed, fmt.Errorf("catalog: granting model %d to the system profile: %w", m, err)
		}
		changed = changed || granted
	}
	return id, changed, nil
}

func (c *Catalog) systemService(ctx context.Context, name string) (store.Service, bool, error) {
	find := func() (store.Service, bool, error) {
		svcs, err := c.s.ListServices(ctx)
		if err != nil {
			return store.Service{}, false, fmt.Errorf("catalog: listing services: %w", err)
		}
		for _, s := range svcs {
			if s.Name == name {
				return s, true, nil
			}
		}
		return store.Service{}, false, nil
	}
	if s, ok, err := find(); ok || err != nil {
		return s, false, err
	}
	s, err := c.s.CreateService(ctx, store.Service{Name: name})
	if errors.Is(err, store.ErrConflict) {
		// Another replica created it meanwhile.
		s, ok, err := find()
		if err == nil && !ok {
			err = fmt.Errorf("catalog: service %q conflicts but cannot be found", name)
		}
		return s, false, err
	}
	if err != nil {
		return store.Service{}, false, fmt.Errorf("catalog: creating service %q: %w", name, err)
	}
	c.log.Info("catalog: created the system service", "name", name, "service_id", s.ID)
	return s, true, nil
}

func (c *Catalog) systemProcess(ctx context.Context, name string, serviceID int64) (store.Process, bool, error) {
	get := func() (store.Process, error) {
		p, err := c.s.GetProcessByName(ctx, name)
		if err == nil && p.ServiceID != serviceID {
			return store.Process{}, fmt.Errorf("%w: process %q (id %d)", ErrSystemNameTaken, name, p.ID)
		}
		return p, err
	}
	p, err := get()
	if err == nil && !p.RevokedAt.IsZero() {
		// Revoked (an imported document's keyless process is): Logos's
		// own requests need it active, with again a key nobody has.
		if err := c.s.SetProcessKey(ctx, p.ID, apikey.Hash(apikey.Generate(name)), ""); err != nil {
			return store.Process{}, false, fmt.Errorf("catalog: reactivating process %q: %w", name, err)
		}
		p.RevokedAt, p.KeyPrefix = time.Time{}, ""
		return p, true, nil
	}
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return p, false, err
	}
	// A key nobody ever sees: only its hash is stored, no prefix is shown.
	key := apikey.Generate(name)
	p, err = c.s.CreateProcess(ctx, store.Process{Name: name, ServiceID: serviceID, KeyHash: apikey.Hash(key), LogLevel: store.LogBilling})
	if errors.Is(err, store.ErrConflict) {
		p, err = get()
		return p, false, err
	}
	if err != nil {
		return store.Process{}, false, fmt.Errorf("catalog: creating process %q: %w", name, err)
	}
	c.log.Info("catalog: created the system process", "name", name, "process_id", p.ID)
	return p, true, nil
}

func (c *Catalog) systemProfile(ctx context.Context, name string, processID int64) (store.Profile, bool, error) {
	find := func() (store.Profile, bool, error) {
		ps, err := c.s.ListProfiles(ctx, processID)
		if err != nil {
			return store.Profile{}, false, fmt.Errorf("catalog: listing the system process's profiles: %w", err)
		}
		for _, p := range ps {
			if p.Name == name {
				return p, true, nil
			}
		}
		return store.Profile{}, false, nil
	}
	if p, ok, err := find(); ok || err != nil {
		return p, false, err
	}
	p, err := c.s.CreateProfile(ctx, store.Profile{Name: name, ProcessID: processID})
	if errors.Is(err, store.ErrConflict) {
		p, ok, err := find()
		if err == nil && !ok {
			err = fmt.Errorf("catalog: profile %q conflicts but cannot be found", name)
		}
		return p, false, err
	}
	if err != nil {
		return store.Profile{}, false, fmt.Errorf("catalog: creating profile %q: %w", name, err)
	}
	return p, true, nil
}
