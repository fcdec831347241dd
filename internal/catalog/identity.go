package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/store"
)

// NonEmpty returns a required string field's value without surrounding
// space, or a *FieldError if that leaves nothing.
func NonEmpty(field, v string) (string, error) { return text(field, v) }

// text returns a required string field without surrounding space.
func text(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", missing(field)
	}
	return v, nil
}

// CheckLogLevel checks a required log level field: BILLING or FULL.
func CheckLogLevel(field, v string) error {
	if v == "" {
		return missing(field)
	}
	if !store.LogLevel(v).Valid() {
		return invalid(field, `must be "BILLING" or "FULL"`)
	}
	return nil
}

// ---- Users -----------------------------------------------------------------

// NewUser creates a user (add_user): username is required, role must be
// "admin" or "user".
func (c *Catalog) NewUser(ctx context.Context, u store.User) (store.User, error) {
	username, err := text("username", u.Username)
	if err != nil {
		return store.User{}, err
	}
	if u.Role == "" {
		return store.User{}, missing("role")
	}
	if !u.Role.Valid() {
		return store.User{}, invalid("role", `must be "admin" or "user"`)
	}
	u.Username, u.Prename, u.Name = username, strings.TrimSpace(u.Prename), strings.TrimSpace(u.Name)
	created, err := c.s.CreateUser(ctx, u)
	return created, object(err, fmt.Sprintf("user %q", username), "username")
}

// AddUser stores a user record as given (the config file).
func (c *Catalog) AddUser(ctx context.Context, u store.User) (store.User, error) {
	return c.s.CreateUser(ctx, u)
}

// AddService stores a service record as given (the config file).
func (c *Catalog) AddService(ctx context.Context, s store.Service) (store.Service, error) {
	return c.s.CreateService(ctx, s)
}

// ---- Processes -------------------------------------------------------------

// NewProcessRequest is a process as add_process takes it.
type NewProcessRequest struct {
	Name              string
	UserID, ServiceID int64
	LogLevel          string
	Priority          int
}

// Created is what creating a process answers: the process, its profile
// (zero when none was created) and its key, shown only here.
type Created struct {
	Service store.Service
	Process store.Process
	Profile store.Profile
	Key     string
}

// NewProcess creates a process of a user or a service (exactly one of
// UserID and ServiceID), its key and a profile named after it, in one
// transaction (add_process).
func (c *Catalog) NewProcess(ctx context.Context, r NewProcessRequest) (Created, error) {
	name, err := text("name", r.Name)
	if err != nil {
		return Created{}, err
	}
	p := store.Process{Name: name, LogLevel: store.LogBilling}
	switch {
	case r.UserID == 0 && r.ServiceID == 0:
		return Created{}, &FieldError{Field: "user_id", Reason: Required, Message: `One of the fields "user_id" and "service_id" is required`}
	case r.UserID != 0 && r.ServiceID != 0:
		return Created{}, invalid("service_id", `must not be set together with "user_id"`)
	case r.UserID != 0:
		if err := needID("user_id", r.UserID); err != nil {
			return Created{}, err
		}
		if _, err := c.s.GetUser(ctx, r.UserID); err != nil {
			return Created{}, object(err, fmt.Sprintf("user %d", r.UserID), "user_id")
		}
		p.UserID = r.UserID
	default:
		if err := needID("service_id", r.ServiceID); err != nil {
			return Created{}, err
		}
		if _, err := c.s.GetService(ctx, r.ServiceID); err != nil {
			return Created{}, object(err, fmt.Sprintf("service %d", r.ServiceID), "service_id")
		}
		p.ServiceID = r.ServiceID
	}
	if r.LogLevel != "" {
		if err := CheckLogLevel("log_level", r.LogLevel); err != nil {
			return Created{}, err
		}
		p.LogLevel = store.LogLevel(r.LogLevel)
	}
	if r.Priority != 0 && (r.Priority < 1 || r.Priority > 10) {
		return Created{}, invalid("priority", "must be between 1 (low) and 10 (high)")
	}
	p.Priority = r.Priority
	var out Created
	err = c.Atomically(ctx, func(ctx context.Context) error {
		var err error
		out, err = c.createProcess(ctx, p, "name", true)
		return err
	})
	return out, err
}

// NewService creates a service with a process, key and profile all named
// after it, in one transaction (add_service). A process name that is taken
// is a *ConflictError.
func (c *Catalog) NewService(ctx context.Context, name string) (Created, error) {
	name, err := text("name", name)
	if err != nil {
		return Created{}, err
	}
	var out Created
	err = c.Atomically(ctx, func(ctx context.Context) error {
		// Without a transaction the service could not be removed again, so
		// a taken process name is refused before the service is created.
		switch _, err := c.s.GetProcessByName(ctx, name); {
		case err == nil:
			return &ConflictError{Field: "name", Message: fmt.Sprintf("A process named %q already exists", name)}
		case !errors.Is(err, store.ErrNotFound):
			return object(err, fmt.Sprintf("process %q", name), "name")
		}
		svc, err := c.s.CreateService(ctx, store.Service{Name: name})
		if err != nil {
			return object(err, fmt.Sprintf("service %q", name), "name")
		}
		out, err = c.createProcess(ctx, store.Process{Name: name, ServiceID: svc.ID}, "name", true)
		if err != nil && !inTx(ctx) {
			c.log.Warn("catalog: service created without its process", "service_id", svc.ID)
		}
		out.Service = svc
		return err
	})
	return out, err
}

// ConnectServiceProcess creates another process and key for a service
// (connect_service_process). It is idempotent: when the service already has
// a process of that name it returns that process, no key and created
// false. A process of that name of another owner is a *ConflictError.
func (c *Catalog) ConnectServiceProcess(ctx context.Context, serviceID int64, processName string) (p store.Process, key string, created bool, err error) {
	if err := needID("service_id", serviceID); err != nil {
		return store.Process{}, "", false, err
	}
	name, err := text("process_name", processName)
	if err != nil {
		return store.Process{}, "", false, err
	}
	if _, err := c.s.GetService(ctx, serviceID); err != nil {
		return store.Process{}, "", false, object(err, fmt.Sprintf("service %d", serviceID), "service_id")
	}
	switch p, err := c.s.GetProcessByName(ctx, name); {
	case err == nil && p.ServiceID == serviceID:
		return p, "", false, nil
	case err == nil:
		return store.Process{}, "", false, &ConflictError{Field: "process_name", Message: fmt.Sprintf("A process named %q already exists for another owner", name)}
	case !errors.Is(err, store.ErrNotFound):
		return store.Process{}, "", false, object(err, fmt.Sprintf("process %q", name), "process_name")
	}
	out, err := c.createProcess(ctx, store.Process{Name: name, ServiceID: serviceID}, "process_name", false)
	if err != nil {
		return store.Process{}, "", false, err
	}
	return out.Process, out.Key, true, nil
}

// createProcess stores p with a new key derived from its name and, with
// withProfile, a profile of the same name. Without a transaction it removes
// the process again if the profile fails. field names the request field
// that carried the name.
func (c *Catalog) createProcess(ctx context.Context, p store.Process, field string, withProfile bool) (Created, error) {
	key := apikey.Generate(p.Name)
	p.KeyHash, p.KeyPrefix = apikey.Hash(key), apikey.Prefix(key)
	created, err := c.s.CreateProcess(ctx, p)
	if err != nil {
		return Created{}, object(err, fmt.Sprintf("process %q", p.Name), field)
	}
	out := Created{Process: created, Key: key}
	if withProfile {
		if out.Profile, err = c.s.CreateProfile(ctx, store.Profile{Name: p.Name, ProcessID: created.ID}); err != nil {
			if !inTx(ctx) {
				if derr := c.s.DeleteProcess(context.WithoutCancel(ctx), created.ID); derr != nil {
					c.log.Error("catalog: removing a process without profile failed", "process_id", created.ID, "err", derr)
				}
			}
			return Created{}, object(err, fmt.Sprintf("profile %q", p.Name), field)
		}
	}
	return out, nil
}

// AddProcess stores a process record with key (the config file): its hash
// and display prefix are stored, never the key. Without a key the process
// gets a hash that matches no key anyone has and is revoked, in one
// transaction, so that it shows as keyless until a key is set.
func (c *Catalog) AddProcess(ctx context.Context, p store.Process, key string) (store.Process, error) {
	if key != "" {
		p.KeyHash, p.KeyPrefix = apikey.Hash(key), apikey.Prefix(key)
		return c.s.CreateProcess(ctx, p)
	}
	p.KeyHash = apikey.Hash(apikey.Generate(p.Name))
	var out store.Process
	err := c.Atomically(ctx, func(ctx context.Context) error {
		sp, err := c.s.CreateProcess(ctx, p)
		if err != nil {
			return err
		}
		now := time.Now()
		if err := c.s.RevokeProcessKey(ctx, sp.ID, now); err != nil {
			return fmt.Errorf("revoking the placeholder key of process %q: %w", p.Name, err)
		}
		sp.RevokedAt = now
		out = sp
		return nil
	})
	return out, err
}

// ChangeProcess replaces a process's name, log level, priority and
// settings.
func (c *Catalog) ChangeProcess(ctx context.Context, p store.Process) (store.Process, error) {
	return c.s.UpdateProcess(ctx, p)
}

// SetKey makes key the process's key, storing its hash and prefix, and
// clears any revocation.
func (c *Catalog) SetKey(ctx context.Context, processID int64, key string) error {
	return c.s.SetProcessKey(ctx, processID, apikey.Hash(key), apikey.Prefix(key))
}

// RemoveProcess deletes a process with its profiles.
func (c *Catalog) RemoveProcess(ctx context.Context, id int64) error {
	return c.s.DeleteProcess(ctx, id)
}

// SetLogLevel sets a process's log level (set_log).
func (c *Catalog) SetLogLevel(ctx context.Context, p store.Process, level string) error {
	if err := CheckLogLevel("set_log", level); err != nil {
		return err
	}
	p.LogLevel = store.LogLevel(level)
	_, err := c.s.UpdateProcess(ctx, p)
	return object(err, fmt.Sprintf("process %d", p.ID), "process_id")
}

// ---- Keys --------------------------------------------------------------------

// RotateKey gives a process a new key, returned only here; the old key
// stops working at once and a revoked key becomes active again.
func (c *Catalog) RotateKey(ctx context.Context, p store.Process) (string, error) {
	key := apikey.Generate(p.Name)
	if err := c.s.SetProcessKey(ctx, p.ID, apikey.Hash(key), apikey.Prefix(key)); err != nil {
		return "", object(err, fmt.Sprintf("process %d", p.ID), "process_id")
	}
	c.log.Info("catalog: key rotated", "process_id", p.ID, "key_prefix", apikey.Prefix(key))
	return key, nil
}

// RevokeKey revokes a process's key. Revoking a revoked key succeeds. The
// last active key of any admin user is not revoked (ErrLastAdminKey), so
// the instance cannot be locked out; rotate it instead. The check and the
// revocation run in one transaction.
func (c *Catalog) RevokeKey(ctx context.Context, p store.Process) error {
	if !p.RevokedAt.IsZero() {
		return nil
	}
	return c.Atomically(ctx, func(ctx context.Context) error {
		last, err := c.lastAdminKey(ctx, p)
		if err != nil {
			return object(err, "admin keys", "")
		}
		if last {
			return ErrLastAdminKey
		}
		if err := c.s.RevokeProcessKey(ctx, p.ID, time.Time{}); err != nil {
			return object(err, fmt.Sprintf("process %d", p.ID), "process_id")
		}
		c.log.Info("catalog: key revoked", "process_id", p.ID, "key_prefix", p.KeyPrefix)
		return nil
	})
}

// lastAdminKey reports whether p is an admin's process whose key is the only
// active key of any admin.
func (c *Catalog) lastAdminKey(ctx context.Context, p store.Process) (bool, error) {
	users, err := c.s.ListUsers(ctx)
	if err != nil {
		return false, err
	}
	admins := make(map[int64]bool)
	for _, u := range users {
		admins[u.ID] = u.Role == store.RoleAdmin
	}
	if !admins[p.UserID] {
		return false, nil
	}
	procs, err := c.s.ListProcesses(ctx)
	if err != nil {
		return false, err
	}
	for _, q := range procs {
		if q.ID != p.ID && q.RevokedAt.IsZero() && admins[q.UserID] {
			return false, nil
		}
	}
	return true, nil
}

// ---- Profiles --------------------------------------------------------------

// NewProfile adds a profile to a process (add_profile); the caller checked
// that the process exists and may be acted on.
func (c *Catalog) NewProfile(ctx context.Context, processID int64, name string) (store.Profile, error) {
	name, err := text("profile_name", name)
	if err != nil {
		return store.Profile{}, err
	}
	prof, err := c.s.CreateProfile(ctx, store.Profile{Name: name, ProcessID: processID})
	return prof, object(err, fmt.Sprintf("profile %q of process %d", name, processID), "profile_name")
}

// AddProfile stores a profile record as given (the config file).
func (c *Catalog) AddProfile(ctx context.Context, p store.Profile) (store.Profile, error) {
	return c.s.CreateProfile(ctx, p)
}

// RemoveProfile deletes a profile and its permissions.
func (c *Catalog) RemoveProfile(ctx context.Context, id int64) error {
	return c.s.DeleteProfile(ctx, id)
}
