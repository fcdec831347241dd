package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres/internal/pgdb"
)

// ProcessByKeyHash returns the process whose key hash equals hash, revoked or
// not. ErrNotFound if none.
func (s *Store) ProcessByKeyHash(ctx context.Context, hash []byte) (store.Process, error) {
	r, err := s.q.GetProcessByKeyHash(ctx, hash)
	if err != nil {
		return store.Process{}, mapErr("process by key hash", err)
	}
	return processFromRow(r), nil
}

// Bootstrap creates the first admin user, its root process and root profile in
// one transaction, together with the instance row whose primary key makes any
// later (or concurrent) bootstrap fail with ErrConflict.
func (s *Store) Bootstrap(ctx context.Context, p store.BootstrapParams) (store.BootstrapResult, error) {
	var res store.BootstrapResult
	err := s.inTx(ctx, pgx.TxOptions{}, func(q *pgdb.Queries) error {
		if err := q.InsertInstance(ctx); err != nil {
			return err
		}
		if err := checkNoIdentities(ctx, q); err != nil {
			return err
		}
		u, err := q.CreateUser(ctx, pgdb.CreateUserParams{
			Username: p.AdminUsername,
			Role:     string(store.RoleAdmin),
		})
		if err != nil {
			return err
		}
		proc, err := q.CreateProcess(ctx, pgdb.CreateProcessParams{
			Name:      p.ProcessName,
			KeyHash:   p.KeyHash,
			KeyPrefix: p.KeyPrefix,
			UserID:    nullID(u.ID),
			LogLevel:  string(store.LogBilling),
			Priority:  defaultProcessPriority,
			Settings:  settingsIn(nil),
		})
		if err != nil {
			return err
		}
		prof, err := q.CreateProfile(ctx, pgdb.CreateProfileParams{Name: p.ProfileName, ProcessID: proc.ID})
		if err != nil {
			return err
		}
		res = store.BootstrapResult{User: userFromRow(u), Process: processFromRow(proc), Profile: profileFromRow(prof)}
		return nil
	})
	if err != nil {
		return store.BootstrapResult{}, mapErr("bootstrap", err)
	}
	return res, nil
}

// checkNoIdentities returns store.ErrConflict if any user or process exists:
// a store whose admins came from elsewhere (a config file, a store set up
// before MarkInitialized existed) must not be bootstrapped.
func checkNoIdentities(ctx context.Context, q *pgdb.Queries) error {
	users, err := q.ListUsers(ctx)
	if err != nil {
		return err
	}
	procs, err := q.ListProcesses(ctx)
	if err != nil {
		return err
	}
	if len(users) > 0 || len(procs) > 0 {
		return fmt.Errorf("the store holds %d users and %d processes: %w", len(users), len(procs), store.ErrConflict)
	}
	return nil
}

// MarkInitialized inserts the instance row unless it exists.
func (s *Store) MarkInitialized(ctx context.Context) error {
	err := s.q.InsertInstance(ctx)
	if err = mapErr("mark initialized", err); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return nil
}

// Initialized reports whether the instance row or any user or process
// exists.
func (s *Store) Initialized(ctx context.Context) (bool, error) {
	ok, err := s.q.Initialized(ctx)
	if err != nil {
		return false, mapErr("initialized", err)
	}
	if ok {
		return true, nil
	}
	if err := checkNoIdentities(ctx, s.q); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return true, nil
		}
		return false, mapErr("initialized", err)
	}
	return false, nil
}

// CreateUser stores a user. An empty Role means RoleUser.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	r, err := s.q.CreateUser(ctx, pgdb.CreateUserParams{
		Username: u.Username,
		Prename:  u.Prename,
		Name:     u.Name,
		Role:     string(orDefault(u.Role, store.RoleUser)),
	})
	if err != nil {
		return store.User{}, mapErr(fmt.Sprintf("create user %q", u.Username), err)
	}
	return userFromRow(r), nil
}

// GetUser returns the user with that id.
func (s *Store) GetUser(ctx context.Context, id int64) (store.User, error) {
	r, err := s.q.GetUser(ctx, id)
	if err != nil {
		return store.User{}, mapErr(fmt.Sprintf("get user %d", id), err)
	}
	return userFromRow(r), nil
}

// ListUsers returns all users ordered by id.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.q.ListUsers(ctx)
	if err != nil {
		return nil, mapErr("list users", err)
	}
	return convertAll(rows, userFromRow), nil
}

// CreateService stores a service.
func (s *Store) CreateService(ctx context.Context, svc store.Service) (store.Service, error) {
	r, err := s.q.CreateService(ctx, svc.Name)
	if err != nil {
		return store.Service{}, mapErr(fmt.Sprintf("create service %q", svc.Name), err)
	}
	return serviceFromRow(r), nil
}

// GetService returns the service with that id.
func (s *Store) GetService(ctx context.Context, id int64) (store.Service, error) {
	r, err := s.q.GetService(ctx, id)
	if err != nil {
		return store.Service{}, mapErr(fmt.Sprintf("get service %d", id), err)
	}
	return serviceFromRow(r), nil
}

// ListServices returns all services ordered by id.
func (s *Store) ListServices(ctx context.Context) ([]store.Service, error) {
	rows, err := s.q.ListServices(ctx)
	if err != nil {
		return nil, mapErr("list services", err)
	}
	return convertAll(rows, serviceFromRow), nil
}

// CreateProcess stores a process; exactly one of UserID and ServiceID must be
// set (ErrInvalid otherwise). An empty LogLevel means LogBilling, a zero
// Priority means normal (5) and nil Settings mean {}.
func (s *Store) CreateProcess(ctx context.Context, p store.Process) (store.Process, error) {
	op := fmt.Sprintf("create process %q", p.Name)
	var c int32s
	params := pgdb.CreateProcessParams{
		Name:      p.Name,
		KeyHash:   p.KeyHash,
		KeyPrefix: p.KeyPrefix,
		UserID:    nullID(p.UserID),
		ServiceID: nullID(p.ServiceID),
		LogLevel:  string(orDefault(p.LogLevel, store.LogBilling)),
		Priority:  c.conv("priority", processPriority(p.Priority)),
		Settings:  settingsIn(p.Settings),
	}
	if err := c.check(op); err != nil {
		return store.Process{}, err
	}
	r, err := s.q.CreateProcess(ctx, params)
	if err != nil {
		return store.Process{}, mapErr(op, err)
	}
	return processFromRow(r), nil
}

// processPriority maps the zero priority to normal.
func processPriority(p int) int {
	if p == 0 {
		return defaultProcessPriority
	}
	return p
}

// GetProcess returns the process with that id.
func (s *Store) GetProcess(ctx context.Context, id int64) (store.Process, error) {
	r, err := s.q.GetProcess(ctx, id)
	if err != nil {
		return store.Process{}, mapErr(fmt.Sprintf("get process %d", id), err)
	}
	return processFromRow(r), nil
}

// GetProcessByName returns the process with that name.
func (s *Store) GetProcessByName(ctx context.Context, name string) (store.Process, error) {
	r, err := s.q.GetProcessByName(ctx, name)
	if err != nil {
		return store.Process{}, mapErr(fmt.Sprintf("get process %q", name), err)
	}
	return processFromRow(r), nil
}

// ListProcesses returns all processes ordered by id.
func (s *Store) ListProcesses(ctx context.Context) ([]store.Process, error) {
	rows, err := s.q.ListProcesses(ctx)
	if err != nil {
		return nil, mapErr("list processes", err)
	}
	return convertAll(rows, processFromRow), nil
}

// UpdateProcess replaces the name, log level, priority and settings, with the
// same defaults as CreateProcess.
func (s *Store) UpdateProcess(ctx context.Context, p store.Process) (store.Process, error) {
	op := fmt.Sprintf("update process %d", p.ID)
	var c int32s
	params := pgdb.UpdateProcessParams{
		ID:       p.ID,
		Name:     p.Name,
		LogLevel: string(orDefault(p.LogLevel, store.LogBilling)),
		Priority: c.conv("priority", processPriority(p.Priority)),
		Settings: settingsIn(p.Settings),
	}
	if err := c.check(op); err != nil {
		return store.Process{}, err
	}
	r, err := s.q.UpdateProcess(ctx, params)
	if err != nil {
		return store.Process{}, mapErr(op, err)
	}
	return processFromRow(r), nil
}

// SetProcessKey replaces the key hash and prefix and clears any revocation.
func (s *Store) SetProcessKey(ctx context.Context, id int64, hash []byte, prefix string) error {
	op := fmt.Sprintf("set key of process %d", id)
	n, err := s.q.SetProcessKey(ctx, pgdb.SetProcessKeyParams{ID: id, KeyHash: hash, KeyPrefix: prefix})
	if err != nil {
		return mapErr(op, err)
	}
	return notFoundIfNone(op, n)
}

// RevokeProcessKey marks the key revoked at the given time; the zero time
// means now.
func (s *Store) RevokeProcessKey(ctx context.Context, id int64, at time.Time) error {
	op := fmt.Sprintf("revoke key of process %d", id)
	n, err := s.q.RevokeProcessKey(ctx, pgdb.RevokeProcessKeyParams{ID: id, RevokedAt: nullTime(at)})
	if err != nil {
		return mapErr(op, err)
	}
	return notFoundIfNone(op, n)
}

// DeleteProcess deletes a process with its profiles, policies and jobs. Usage
// records keep their data with a NULL process.
func (s *Store) DeleteProcess(ctx context.Context, id int64) error {
	op := fmt.Sprintf("delete process %d", id)
	n, err := s.q.DeleteProcess(ctx, id)
	if err != nil {
		return mapErr(op, err)
	}
	return notFoundIfNone(op, n)
}

// CreateProfile stores a profile of an existing process.
func (s *Store) CreateProfile(ctx context.Context, p store.Profile) (store.Profile, error) {
	r, err := s.q.CreateProfile(ctx, pgdb.CreateProfileParams{Name: p.Name, ProcessID: p.ProcessID})
	if err != nil {
		return store.Profile{}, mapErr(fmt.Sprintf("create profile %q of process %d", p.Name, p.ProcessID), err)
	}
	return profileFromRow(r), nil
}

// GetProfile returns the profile with that id.
func (s *Store) GetProfile(ctx context.Context, id int64) (store.Profile, error) {
	r, err := s.q.GetProfile(ctx, id)
	if err != nil {
		return store.Profile{}, mapErr(fmt.Sprintf("get profile %d", id), err)
	}
	return profileFromRow(r), nil
}

// ListProfiles returns a process's profiles ordered by id.
func (s *Store) ListProfiles(ctx context.Context, processID int64) ([]store.Profile, error) {
	rows, err := s.q.ListProfiles(ctx, processID)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("list profiles of process %d", processID), err)
	}
	return convertAll(rows, profileFromRow), nil
}

// DeleteProfile deletes a profile with its permissions.
func (s *Store) DeleteProfile(ctx context.Context, id int64) error {
	op := fmt.Sprintf("delete profile %d", id)
	n, err := s.q.DeleteProfile(ctx, id)
	if err != nil {
		return mapErr(op, err)
	}
	return notFoundIfNone(op, n)
}

// notFoundIfNone returns ErrNotFound if an update or delete affected no row.
func notFoundIfNone(op string, rows int64) error {
	if rows == 0 {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	return nil
}
