package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

// defaultPriority is the scheduling priority stored for a process whose
// Priority is zero (normal).
const defaultPriority = 5

// Bootstrap creates the instance marker, the admin user, its root process and
// the process's profile in one transaction. The instance row's primary key
// makes every later call, also from another store on the same file, fail with
// store.ErrConflict.
func (s *Store) Bootstrap(ctx context.Context, p store.BootstrapParams) (store.BootstrapResult, error) {
	var res store.BootstrapResult
	ts := now()
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		q := s.w.WithTx(tx)
		if err := q.InsertInstance(ctx, formatTime(ts)); err != nil {
			return fmt.Errorf("mark instance: %w", err)
		}
		if err := checkNoIdentities(ctx, q); err != nil {
			return err
		}
		u, err := q.CreateUser(ctx, sqlitedb.CreateUserParams{
			Username:  p.AdminUsername,
			Role:      string(store.RoleAdmin),
			CreatedAt: formatTime(ts),
		})
		if err != nil {
			return fmt.Errorf("create admin user: %w", err)
		}
		pr, err := q.CreateProcess(ctx, sqlitedb.CreateProcessParams{
			Name:      p.ProcessName,
			KeyHash:   p.KeyHash,
			KeyPrefix: p.KeyPrefix,
			UserID:    nullID(u.ID),
			LogLevel:  string(store.LogBilling),
			Priority:  defaultPriority,
			Settings:  "{}",
			CreatedAt: formatTime(ts),
		})
		if err != nil {
			return fmt.Errorf("create root process: %w", err)
		}
		prof, err := q.CreateProfile(ctx, sqlitedb.CreateProfileParams{
			Name:      p.ProfileName,
			ProcessID: pr.ID,
			CreatedAt: formatTime(ts),
		})
		if err != nil {
			return fmt.Errorf("create root profile: %w", err)
		}
		var d decoder
		res = store.BootstrapResult{
			User:    userFromRow(&d, u),
			Process: processFromRow(&d, pr),
			Profile: profileFromRow(&d, prof),
		}
		return d.err
	})
	if err != nil {
		return store.BootstrapResult{}, mapErr("bootstrap", err)
	}
	s.log.InfoContext(ctx, "sqlite store bootstrapped", "admin", res.User.Username, "process", res.Process.Name)
	return res, nil
}

// checkNoIdentities returns store.ErrConflict if any user or process exists:
// a store whose admins came from elsewhere (a config file, a store set up
// before MarkInitialized existed) must not be bootstrapped.
func checkNoIdentities(ctx context.Context, q *sqlitedb.Queries) error {
	users, err := q.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	procs, err := q.ListProcesses(ctx)
	if err != nil {
		return fmt.Errorf("list processes: %w", err)
	}
	if len(users) > 0 || len(procs) > 0 {
		return fmt.Errorf("the store holds %d users and %d processes: %w", len(users), len(procs), store.ErrConflict)
	}
	return nil
}

// MarkInitialized inserts the instance row unless it exists.
func (s *Store) MarkInitialized(ctx context.Context) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		return s.w.WithTx(tx).InsertInstance(ctx, formatTime(now()))
	})
	if err = mapErr("mark initialized", err); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return nil
}

// Initialized reports whether the instance row or any user or process
// exists.
func (s *Store) Initialized(ctx context.Context) (bool, error) {
	n, err := s.r.CountInstances(ctx)
	if err != nil {
		return false, mapErr("read instance", err)
	}
	if n > 0 {
		return true, nil
	}
	if err := checkNoIdentities(ctx, s.r); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return true, nil
		}
		return false, mapErr("initialized", err)
	}
	return false, nil
}

// CreateUser stores u; a zero Role is stored as store.RoleUser.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	row, err := s.w.CreateUser(ctx, sqlitedb.CreateUserParams{
		Username:  u.Username,
		Prename:   u.Prename,
		Name:      u.Name,
		Role:      string(orDefault(u.Role, store.RoleUser)),
		CreatedAt: formatTime(now()),
	})
	if err != nil {
		return store.User{}, mapErr("create user", err)
	}
	return decodeOne("create user", row, userFromRow)
}

// GetUser returns the user with the given id.
func (s *Store) GetUser(ctx context.Context, id int64) (store.User, error) {
	row, err := s.r.GetUser(ctx, id)
	if err != nil {
		return store.User{}, mapErr(fmt.Sprintf("get user %d", id), err)
	}
	return decodeOne("get user", row, userFromRow)
}

// ListUsers returns all users ordered by id.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.r.ListUsers(ctx)
	if err != nil {
		return nil, mapErr("list users", err)
	}
	return decodeAll("list users", rows, userFromRow)
}

// CreateService stores sv.
func (s *Store) CreateService(ctx context.Context, sv store.Service) (store.Service, error) {
	row, err := s.w.CreateService(ctx, sqlitedb.CreateServiceParams{
		Name:      sv.Name,
		CreatedAt: formatTime(now()),
	})
	if err != nil {
		return store.Service{}, mapErr("create service", err)
	}
	return decodeOne("create service", row, serviceFromRow)
}

// GetService returns the service with the given id.
func (s *Store) GetService(ctx context.Context, id int64) (store.Service, error) {
	row, err := s.r.GetService(ctx, id)
	if err != nil {
		return store.Service{}, mapErr(fmt.Sprintf("get service %d", id), err)
	}
	return decodeOne("get service", row, serviceFromRow)
}

// ListServices returns all services ordered by id.
func (s *Store) ListServices(ctx context.Context) ([]store.Service, error) {
	rows, err := s.r.ListServices(ctx)
	if err != nil {
		return nil, mapErr("list services", err)
	}
	return decodeAll("list services", rows, serviceFromRow)
}

// CreateProcess stores p. Exactly one of UserID and ServiceID must be set
// (else store.ErrInvalid). A zero LogLevel is stored as store.LogBilling, a
// zero Priority as 5 (normal) and nil Settings as {}.
func (s *Store) CreateProcess(ctx context.Context, p store.Process) (store.Process, error) {
	if err := checkTime("revoked at", p.RevokedAt); err != nil {
		return store.Process{}, mapErr("create process", err)
	}
	row, err := s.w.CreateProcess(ctx, sqlitedb.CreateProcessParams{
		Name:      p.Name,
		KeyHash:   p.KeyHash,
		KeyPrefix: p.KeyPrefix,
		UserID:    nullID(p.UserID),
		ServiceID: nullID(p.ServiceID),
		LogLevel:  string(orDefault(p.LogLevel, store.LogBilling)),
		Priority:  int64(orDefault(p.Priority, defaultPriority)),
		Settings:  jsonInOr(p.Settings, "{}"),
		RevokedAt: nullTime(p.RevokedAt),
		CreatedAt: formatTime(now()),
	})
	if err != nil {
		return store.Process{}, mapErr("create process", err)
	}
	return decodeOne("create process", row, processFromRow)
}

// GetProcess returns the process with the given id.
func (s *Store) GetProcess(ctx context.Context, id int64) (store.Process, error) {
	row, err := s.r.GetProcess(ctx, id)
	if err != nil {
		return store.Process{}, mapErr(fmt.Sprintf("get process %d", id), err)
	}
	return decodeOne("get process", row, processFromRow)
}

// GetProcessByName returns the process with the given name.
func (s *Store) GetProcessByName(ctx context.Context, name string) (store.Process, error) {
	row, err := s.r.GetProcessByName(ctx, name)
	if err != nil {
		return store.Process{}, mapErr(fmt.Sprintf("get process %q", name), err)
	}
	return decodeOne("get process", row, processFromRow)
}

// ProcessByKeyHash returns the process whose key hash equals hash, revoked or
// not. An empty hash never matches.
func (s *Store) ProcessByKeyHash(ctx context.Context, hash []byte) (store.Process, error) {
	if len(hash) == 0 {
		return store.Process{}, mapErr("get process by key hash", store.ErrNotFound)
	}
	row, err := s.r.GetProcessByKeyHash(ctx, hash)
	if err != nil {
		return store.Process{}, mapErr("get process by key hash", err)
	}
	return decodeOne("get process by key hash", row, processFromRow)
}

// ListProcesses returns all processes ordered by id.
func (s *Store) ListProcesses(ctx context.Context) ([]store.Process, error) {
	rows, err := s.r.ListProcesses(ctx)
	if err != nil {
		return nil, mapErr("list processes", err)
	}
	return decodeAll("list processes", rows, processFromRow)
}

// UpdateProcess replaces the name, log level, priority and settings of the
// process with p.ID, with the same defaults as CreateProcess.
func (s *Store) UpdateProcess(ctx context.Context, p store.Process) (store.Process, error) {
	row, err := s.w.UpdateProcess(ctx, sqlitedb.UpdateProcessParams{
		ID:       p.ID,
		Name:     p.Name,
		LogLevel: string(orDefault(p.LogLevel, store.LogBilling)),
		Priority: int64(orDefault(p.Priority, defaultPriority)),
		Settings: jsonInOr(p.Settings, "{}"),
	})
	if err != nil {
		return store.Process{}, mapErr(fmt.Sprintf("update process %d", p.ID), err)
	}
	return decodeOne("update process", row, processFromRow)
}

// SetProcessKey replaces the key hash and prefix and clears any revocation.
func (s *Store) SetProcessKey(ctx context.Context, id int64, hash []byte, prefix string) error {
	err := notFoundIfNone(s.w.SetProcessKey(ctx, sqlitedb.SetProcessKeyParams{
		ID:        id,
		KeyHash:   hash,
		KeyPrefix: prefix,
	}))
	return mapErr(fmt.Sprintf("set key of process %d", id), err)
}

// RevokeProcessKey marks the key revoked at the given time; the zero time
// means now.
func (s *Store) RevokeProcessKey(ctx context.Context, id int64, at time.Time) error {
	op := fmt.Sprintf("revoke key of process %d", id)
	if err := checkTime("revoked at", at); err != nil {
		return mapErr(op, err)
	}
	if at.IsZero() {
		at = now()
	}
	err := notFoundIfNone(s.w.RevokeProcessKey(ctx, sqlitedb.RevokeProcessKeyParams{
		ID:        id,
		RevokedAt: nullTime(at),
	}))
	return mapErr(op, err)
}

// DeleteProcess deletes the process with the given id, its profiles,
// policies and jobs.
func (s *Store) DeleteProcess(ctx context.Context, id int64) error {
	return mapErr(fmt.Sprintf("delete process %d", id), notFoundIfNone(s.w.DeleteProcess(ctx, id)))
}

// CreateProfile stores p.
func (s *Store) CreateProfile(ctx context.Context, p store.Profile) (store.Profile, error) {
	row, err := s.w.CreateProfile(ctx, sqlitedb.CreateProfileParams{
		Name:      p.Name,
		ProcessID: p.ProcessID,
		CreatedAt: formatTime(now()),
	})
	if err != nil {
		return store.Profile{}, mapErr("create profile", err)
	}
	return decodeOne("create profile", row, profileFromRow)
}

// GetProfile returns the profile with the given id.
func (s *Store) GetProfile(ctx context.Context, id int64) (store.Profile, error) {
	row, err := s.r.GetProfile(ctx, id)
	if err != nil {
		return store.Profile{}, mapErr(fmt.Sprintf("get profile %d", id), err)
	}
	return decodeOne("get profile", row, profileFromRow)
}

// ListProfiles returns a process's profiles ordered by id.
func (s *Store) ListProfiles(ctx context.Context, processID int64) ([]store.Profile, error) {
	rows, err := s.r.ListProfilesByProcess(ctx, processID)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("list profiles of process %d", processID), err)
	}
	return decodeAll("list profiles", rows, profileFromRow)
}

// DeleteProfile deletes the profile with the given id and its permissions.
func (s *Store) DeleteProfile(ctx context.Context, id int64) error {
	return mapErr(fmt.Sprintf("delete profile %d", id), notFoundIfNone(s.w.DeleteProfile(ctx, id)))
}

// decodeOne converts one row with conv, wrapping a decoding error with op.
func decodeOne[R, T any](op string, row R, conv func(*decoder, R) T) (T, error) {
	var d decoder
	v := conv(&d, row)
	if d.err != nil {
		var zero T
		return zero, mapErr(op, d.err)
	}
	return v, nil
}

// decodeAll converts rows with conv, wrapping a decoding error with op.
func decodeAll[R, T any](op string, rows []R, conv func(*decoder, R) T) ([]T, error) {
	out := make([]T, 0, len(rows))
	var d decoder
	for _, r := range rows {
		out = append(out, conv(&d, r))
	}
	if d.err != nil {
		return nil, mapErr(op, d.err)
	}
	return out, nil
}
