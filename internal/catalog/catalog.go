// Package catalog is the one place that changes the catalogue (providers,
// models, deployments, permissions, policies, prices) and the identities
// (users, services, processes, profiles, keys) of a Logos store.
//
// The admin API (package router) and the config file (package
// internal/config) both call it: it validates what they ask for, returning
// *FieldError values that each caller maps to its own format, and performs
// writes of several steps in one transaction when the store offers one
// ([store.Transactor]). It also owns the grammars that both paths parse the
// same way: money ([ParseMicros]), times ([ParseTime]), provider kinds
// ([ProviderKind]) and privacy levels ([ParsePrivacy]); HTTP header names
// are checked by the leaf package internal/header, which providers share.
//
// Nothing outside this package and the store implementations calls a write
// method of a Store; deps_test.go in the module root enforces it.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/logos-llm/logos/store"
)

// Store is what a Catalog needs of a store: the identity and catalogue
// reads and writes. Every store.Store (and every store.Tx) implements it.
type Store interface {
	Bootstrap(ctx context.Context, p store.BootstrapParams) (store.BootstrapResult, error)
	MarkInitialized(ctx context.Context) error

	CreateUser(ctx context.Context, u store.User) (store.User, error)
	GetUser(ctx context.Context, id int64) (store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	CreateService(ctx context.Context, s store.Service) (store.Service, error)
	GetService(ctx context.Context, id int64) (store.Service, error)
	ListServices(ctx context.Context) ([]store.Service, error)
	CreateProcess(ctx context.Context, p store.Process) (store.Process, error)
	GetProcess(ctx context.Context, id int64) (store.Process, error)
	GetProcessByName(ctx context.Context, name string) (store.Process, error)
	ListProcesses(ctx context.Context) ([]store.Process, error)
	UpdateProcess(ctx context.Context, p store.Process) (store.Process, error)
	SetProcessKey(ctx context.Context, id int64, hash []byte, prefix string) error
	RevokeProcessKey(ctx context.Context, id int64, at time.Time) error
	DeleteProcess(ctx context.Context, id int64) error
	CreateProfile(ctx context.Context, p store.Profile) (store.Profile, error)
	GetProfile(ctx context.Context, id int64) (store.Profile, error)
	ListProfiles(ctx context.Context, processID int64) ([]store.Profile, error)
	DeleteProfile(ctx context.Context, id int64) error

	LoadCatalog(ctx context.Context) (store.Catalog, error)
	CreateProvider(ctx context.Context, p store.Provider) (store.Provider, error)
	GetProvider(ctx context.Context, id int64) (store.Provider, error)
	UpdateProvider(ctx context.Context, p store.Provider) (store.Provider, error)
	DeleteProvider(ctx context.Context, id int64) error
	CreateModel(ctx context.Context, m store.Model) (store.Model, error)
	GetModel(ctx context.Context, id int64) (store.Model, error)
	ListModels(ctx context.Context) ([]store.Model, error)
	UpdateModel(ctx context.Context, m store.Model) (store.Model, error)
	DeleteModel(ctx context.Context, id int64) error
	CreateDeployment(ctx context.Context, d store.Deployment) (store.Deployment, error)
	ListDeployments(ctx context.Context) ([]store.Deployment, error)
	UpdateDeployment(ctx context.Context, d store.Deployment) (store.Deployment, error)
	DeleteDeployment(ctx context.Context, id int64) error
	GrantModel(ctx context.Context, profileID, modelID int64) error
	RevokeModel(ctx context.Context, profileID, modelID int64) error
	ListPermissions(ctx context.Context, profileID int64) ([]store.Permission, error)
	CreatePolicy(ctx context.Context, p store.Policy) (store.Policy, error)
	GetPolicy(ctx context.Context, id int64) (store.Policy, error)
	UpdatePolicy(ctx context.Context, p store.Policy) (store.Policy, error)
	DeletePolicy(ctx context.Context, id int64) error
	EnsureTokenType(ctx context.Context, name string) (store.TokenType, error)
	CreatePrice(ctx context.Context, p store.Price) (store.Price, error)
	DeletePrice(ctx context.Context, id int64) error
}

// Options configure New.
type Options struct {
	// Seal encrypts a provider or deployment credential before it is
	// stored. Defaults to nil, which stores credentials as given.
	Seal func(string) (string, error)
	// Logger receives what the catalogue logs (keys created and revoked,
	// by their prefix only). Defaults to slog.Default().
	Logger *slog.Logger
}

// Catalog changes a store's catalogue and identities. It is safe for
// concurrent use; its re-ranking of model weights is serialised per Catalog.
type Catalog struct {
	s    Store
	seal func(string) (string, error)
	log  *slog.Logger
	// rank serialises the read-rank-write cycles of model weights, so that
	// two concurrent feedbacks cannot overwrite each other.
	rank sync.Mutex
}

// New returns a Catalog writing to s.
func New(s Store, opts Options) *Catalog {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Catalog{s: s, seal: opts.Seal, log: log}
}

// Atomically runs fn with a context carrying one transaction: the writes
// of c made with that context are committed when fn returns nil and undone
// when it returns an error. On a store that is not a [store.Transactor] (a
// test double, a wrapper that hides the capability) fn runs with ctx and
// its writes are applied one by one. Inside fn, Atomically runs fn
// directly.
func (c *Catalog) Atomically(ctx context.Context, fn func(ctx context.Context) error) error {
	tr, ok := c.s.(store.Transactor)
	if !ok || inTx(ctx) {
		return fn(ctx)
	}
	return tr.InTx(ctx, func(ctx context.Context) error {
		return fn(context.WithValue(ctx, txKey{}, true))
	})
}

// txKey marks a context of Atomically's transaction.
type txKey struct{}

// inTx reports whether ctx belongs to a transaction of Atomically.
func inTx(ctx context.Context) bool { return ctx.Value(txKey{}) != nil }

// Transactional reports whether Atomically makes writes atomic: the
// Catalog's store is a [store.Transactor].
func (c *Catalog) Transactional() bool {
	_, ok := c.s.(store.Transactor)
	return ok
}

// ---- Errors ----------------------------------------------------------------

// Required is the Reason of a FieldError for a required field that is
// absent or empty.
const Required = "is required"

// FieldError is a value the catalogue refuses. Field is the name of the
// field in the admin API (provider_name, auth_name, type_cost, ...); Reason
// completes a sentence about it ("must be an http(s) URL"), or is Required.
type FieldError struct {
	Field, Reason string
	// Message, if set, is the whole sentence for the caller, for a rule
	// about more than the one field ("One of the fields ... is required").
	Message string
}

// Error implements error.
func (e *FieldError) Error() string {
	if e.Message != "" {
		return "catalog: " + e.Message
	}
	return fmt.Sprintf("catalog: %s %s", e.Field, e.Reason)
}

// missing returns the FieldError of a required field.
func missing(field string) *FieldError { return &FieldError{Field: field, Reason: Required} }

// invalid returns the FieldError of a refused value.
func invalid(field, reason string) *FieldError { return &FieldError{Field: field, Reason: reason} }

// ObjectError is a store error on a named object: What names it ("model
// 7", `provider "openai"`) and Field, if set, is the request field that
// referred to it. Err wraps a store sentinel (store.ErrNotFound,
// store.ErrConflict, store.ErrInvalid) or another failure.
type ObjectError struct {
	What, Field string
	Err         error
}

// Error implements error.
func (e *ObjectError) Error() string { return fmt.Sprintf("catalog: %s: %v", e.What, e.Err) }

// Unwrap returns the store error.
func (e *ObjectError) Unwrap() error { return e.Err }

// object wraps a store error on the object what; nil stays nil, and an
// error that already names its object (or a field) is kept.
func object(err error, what, field string) error {
	var oe *ObjectError
	var fe *FieldError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &oe), errors.As(err, &fe):
		return err
	}
	return &ObjectError{What: what, Field: field, Err: err}
}

// ConflictError is a request that contradicts what is stored, beyond a
// duplicate name the store reports (a process name taken by another owner).
// Message is a sentence for the caller.
type ConflictError struct {
	Field, Message string
}

// Error implements error.
func (e *ConflictError) Error() string { return "catalog: " + e.Message }

// Sentinel errors of operations with a rule of their own.
var (
	// ErrLastAdminKey refuses to revoke the last active key of any admin
	// user: the instance would be locked out.
	ErrLastAdminKey = errors.New("catalog: refusing to revoke the last active admin key")
	// ErrNotConnected means a model is not deployed on the provider named.
	ErrNotConnected = errors.New("catalog: the model is not connected to the provider")
	// ErrSeal wraps a failure of Options.Seal.
	ErrSeal = errors.New("catalog: sealing a credential failed")
)

// sealSecret encrypts a credential with Options.Seal. An empty credential,
// or any without Seal, is returned as given.
func (c *Catalog) sealSecret(secret string) (string, error) {
	if secret == "" || c.seal == nil {
		return secret, nil
	}
	sealed, err := c.seal(secret)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSeal, err)
	}
	return sealed, nil
}
