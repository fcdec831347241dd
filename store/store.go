package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound means the requested row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a uniqueness constraint was violated (duplicate name,
	// duplicate deployment, second bootstrap).
	ErrConflict = errors.New("store: conflict")
	// ErrInvalid means a value was refused by a constraint (unknown enum value,
	// out-of-range number, missing owner, dangling reference).
	ErrInvalid = errors.New("store: invalid value")
)

// KeyStore resolves API keys on the request path. It is part of [Core].
type KeyStore interface {
	// ProcessByKeyHash returns the process whose key hash equals hash, revoked
	// or not (callers check RevokedAt). ErrNotFound if none.
	ProcessByKeyHash(ctx context.Context, hash []byte) (Process, error)
}

// CatalogReader loads the catalogue a Router routes by (and a classifier
// ranks). It is part of [Core].
type CatalogReader interface {
	// LoadCatalog returns a consistent snapshot of the whole catalogue.
	LoadCatalog(ctx context.Context) (Catalog, error)
}

// Core is what every Store must implement: all a Router needs to serve
// proxied requests (resolve keys, route by the catalogue, record usage).
// Everything else is an optional capability found by type assertion; see
// the package documentation for what degrades without each.
type Core interface {
	KeyStore
	CatalogReader
	UsageInserter
	// Ping reports whether the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// IdentityReader looks up users, services, processes and profiles (the
// admin API's callers and views).
type IdentityReader interface {
	// Initialized reports whether the store is set up: Bootstrap or
	// MarkInitialized has run, or it holds any user or process.
	Initialized(ctx context.Context) (bool, error)

	GetUser(ctx context.Context, id int64) (User, error)
	ListUsers(ctx context.Context) ([]User, error)

	GetService(ctx context.Context, id int64) (Service, error)
	ListServices(ctx context.Context) ([]Service, error)

	GetProcess(ctx context.Context, id int64) (Process, error)
	GetProcessByName(ctx context.Context, name string) (Process, error)
	ListProcesses(ctx context.Context) ([]Process, error)

	GetProfile(ctx context.Context, id int64) (Profile, error)
	// ListProfiles returns a process's profiles ordered by id.
	ListProfiles(ctx context.Context, processID int64) ([]Profile, error)
}

// IdentityWriter creates and changes users, services, processes and
// profiles. Only the code that writes the catalogue (setup, the admin API,
// the config file) calls it.
type IdentityWriter interface {
	// Bootstrap creates the first admin user, its root process and root profile
	// in one transaction. It succeeds at most once per store, and only on a
	// store that is not set up (see Initialized); later calls (also
	// concurrent ones, also from other replicas) return ErrConflict.
	Bootstrap(ctx context.Context, p BootstrapParams) (BootstrapResult, error)
	// MarkInitialized records, persistently and for every replica, that the
	// store is set up without creating anything else: a config file supplies
	// its admins and keys. Bootstrap fails with ErrConflict afterwards. It is
	// idempotent and succeeds on a store that is set up already.
	MarkInitialized(ctx context.Context) error

	CreateUser(ctx context.Context, u User) (User, error)
	CreateService(ctx context.Context, s Service) (Service, error)

	// CreateProcess stores a process; exactly one of UserID and ServiceID must be set.
	CreateProcess(ctx context.Context, p Process) (Process, error)
	// UpdateProcess replaces the name, log level, priority and settings.
	UpdateProcess(ctx context.Context, p Process) (Process, error)
	// SetProcessKey replaces the key hash and prefix and clears any revocation.
	SetProcessKey(ctx context.Context, id int64, hash []byte, prefix string) error
	// RevokeProcessKey marks the key revoked at the given time.
	RevokeProcessKey(ctx context.Context, id int64, at time.Time) error
	DeleteProcess(ctx context.Context, id int64) error

	CreateProfile(ctx context.Context, p Profile) (Profile, error)
	DeleteProfile(ctx context.Context, id int64) error
}

// IdentityStore manages users, services, processes and profiles.
type IdentityStore interface {
	IdentityReader
	IdentityWriter
}

// CatalogLookup reads single parts of the catalogue (the admin API's views
// and the checks of the code that writes the catalogue). The request path
// uses [CatalogReader] instead.
type CatalogLookup interface {
	GetProvider(ctx context.Context, id int64) (Provider, error)
	ListProviders(ctx context.Context) ([]Provider, error)

	GetModel(ctx context.Context, id int64) (Model, error)
	GetModelByName(ctx context.Context, name string) (Model, error)
	ListModels(ctx context.Context) ([]Model, error)

	GetDeployment(ctx context.Context, id int64) (Deployment, error)
	ListDeployments(ctx context.Context) ([]Deployment, error)

	// ListPermissions returns a profile's permissions ordered by model id.
	ListPermissions(ctx context.Context, profileID int64) ([]Permission, error)

	GetPolicy(ctx context.Context, id int64) (Policy, error)
	ListPolicies(ctx context.Context, processID int64) ([]Policy, error)

	ListTokenTypes(ctx context.Context) ([]TokenType, error)
	ListPrices(ctx context.Context) ([]Price, error)
}

// CatalogWriter changes what can be routed to. Only the code that writes
// the catalogue (setup, the admin API, the config file) calls it.
type CatalogWriter interface {
	CreateProvider(ctx context.Context, p Provider) (Provider, error)
	// UpdateProvider replaces every field but ID and CreatedAt.
	UpdateProvider(ctx context.Context, p Provider) (Provider, error)
	DeleteProvider(ctx context.Context, id int64) error

	CreateModel(ctx context.Context, m Model) (Model, error)
	UpdateModel(ctx context.Context, m Model) (Model, error)
	DeleteModel(ctx context.Context, id int64) error

	CreateDeployment(ctx context.Context, d Deployment) (Deployment, error)
	UpdateDeployment(ctx context.Context, d Deployment) (Deployment, error)
	DeleteDeployment(ctx context.Context, id int64) error

	// GrantModel lets a profile use a model; ErrConflict if it already may.
	GrantModel(ctx context.Context, profileID, modelID int64) error
	RevokeModel(ctx context.Context, profileID, modelID int64) error

	CreatePolicy(ctx context.Context, p Policy) (Policy, error)
	UpdatePolicy(ctx context.Context, p Policy) (Policy, error)
	DeletePolicy(ctx context.Context, id int64) error

	// EnsureTokenType returns the token type with that name, creating it if needed.
	EnsureTokenType(ctx context.Context, name string) (TokenType, error)

	CreatePrice(ctx context.Context, p Price) (Price, error)
	DeletePrice(ctx context.Context, id int64) error
}

// CatalogStore manages what can be routed to: providers, models, deployments,
// permissions, policies, token types and prices.
type CatalogStore interface {
	CatalogReader
	CatalogLookup
	CatalogWriter
}

// UsageInserter appends usage records. It is all the batching writer needs,
// and part of [Core].
type UsageInserter interface {
	// InsertUsage stores records in one transaction, skipping any whose
	// RequestID is already stored, and returns how many were new. Token types
	// named in Tokens are created as needed.
	InsertUsage(ctx context.Context, records []UsageRecord) (int, error)
}

// UsageReader reads usage records back (the admin API's request views).
type UsageReader interface {
	// GetUsage returns one record with its tokens.
	GetUsage(ctx context.Context, requestID string) (UsageRecord, error)
	// ListUsage returns records newest first, with their tokens.
	ListUsage(ctx context.Context, f UsageFilter) ([]UsageRecord, error)
	// CountUsage returns how many records match f (Limit is ignored).
	CountUsage(ctx context.Context, f UsageFilter) (int64, error)
}

// UsageStore stores and reads usage records.
type UsageStore interface {
	UsageInserter
	UsageReader
}

// JobStore persists asynchronous jobs. A Router runs jobs only when its
// store implements [JobQueue] (which includes JobStore).
type JobStore interface {
	CreateJob(ctx context.Context, j Job) (Job, error)
	GetJob(ctx context.Context, id int64) (Job, error)
	// UpdateJob replaces status, result, status code and error message.
	UpdateJob(ctx context.Context, j Job) (Job, error)
	ListJobsByStatus(ctx context.Context, status JobStatus) ([]Job, error)
}

// JobQueue lets several replicas share the jobs of one database: each job is
// claimed by one replica at a time under a lease the replica renews while it
// runs the job. It is an optional capability: callers find it by type
// assertion on a Store. Methods that act under a lease return ErrConflict
// when the caller no longer holds it (the job was cancelled, finished or
// claimed by another replica after the lease ran out).
type JobQueue interface {
	JobStore
	// ClaimJob marks the oldest claimable job running under owner's lease
	// for the given duration and returns it: a pending job, or a running one
	// whose lease expired before it reached the upstream. ErrNotFound when
	// there is none.
	ClaimJob(ctx context.Context, owner string, lease time.Duration) (Job, error)
	// RenewJobLease extends owner's lease on a running job.
	RenewJobLease(ctx context.Context, id int64, owner string, lease time.Duration) (Job, error)
	// MarkJobUpstream records that the job is about to reach the upstream,
	// with the id of its usage record. From then on it is never claimed again.
	MarkJobUpstream(ctx context.Context, id int64, owner, requestID string) (Job, error)
	// CompleteJob ends owner's running job with r and clears the lease.
	CompleteJob(ctx context.Context, id int64, owner string, r JobResult) (Job, error)
	// ReleaseJob puts owner's running job back to pending if it has not
	// reached the upstream (ErrConflict otherwise).
	ReleaseJob(ctx context.Context, id int64, owner string) (Job, error)
	// CancelJob marks a pending or running job cancelled with the message;
	// ErrConflict (with the job) if it had already finished.
	CancelJob(ctx context.Context, id int64, message string) (Job, error)
	// FailAbandonedJobs fails every running job whose lease expired after it
	// reached the upstream, with the status code, message and result given,
	// and returns them.
	FailAbandonedJobs(ctx context.Context, r JobResult) ([]Job, error)
	// ListJobs returns the jobs matching f, newest first.
	ListJobs(ctx context.Context, f JobFilter) ([]Job, error)
	// DeleteFinishedJobs deletes at most limit finished jobs last updated
	// before the given time, oldest first, and returns how many it deleted.
	DeleteFinishedJobs(ctx context.Context, before time.Time, limit int) (int64, error)
}

// EventStore records provider monitoring snapshots. It is optional: without
// it the live monitor polls providers but keeps no history.
type EventStore interface {
	InsertProviderSnapshot(ctx context.Context, s ProviderSnapshot) (ProviderSnapshot, error)
	// ListProviderSnapshots returns a provider's snapshots with TakenAt in
	// [from, to), oldest first.
	ListProviderSnapshots(ctx context.Context, providerID int64, from, to time.Time) ([]ProviderSnapshot, error)
}

// SnapshotStatsStore maintains and summarises provider snapshots in the
// database. It is not part of [Store]: callers find it with a type
// assertion (both store/sqlite and store/postgres implement it).
type SnapshotStatsStore interface {
	// DeleteProviderSnapshotsBefore deletes at most limit snapshots taken
	// before t, oldest first, and returns how many it deleted.
	DeleteProviderSnapshotsBefore(ctx context.Context, t time.Time, limit int) (int64, error)
	// LatestProviderSnapshots returns a provider's latest successful
	// snapshot of each bucket of the given width (aligned to the Unix
	// epoch; whole seconds, at least one) taken in [from, to), oldest
	// first. The downsampling is done by the database.
	LatestProviderSnapshots(ctx context.Context, providerID int64, from, to time.Time, bucket time.Duration) ([]ProviderSnapshot, error)
	// MaxProviderVRAM returns the highest VRAMUsedBytes of a provider's
	// successful snapshots taken in [from, to), 0 if none.
	MaxProviderVRAM(ctx context.Context, providerID int64, from, to time.Time) (int64, error)
	// SnapshotBuckets summarises the successful snapshots of all providers
	// taken in [from, to) per bucket of bucketSeconds (aligned to the Unix
	// epoch); buckets without snapshots are left out.
	SnapshotBuckets(ctx context.Context, from, to time.Time, bucketSeconds int64) ([]SnapshotBucket, error)
}

// SnapshotBucket is the provider snapshots of one time bucket: each figure
// is averaged per provider over the bucket, then summed over providers.
type SnapshotBucket struct {
	Start time.Time
	// VRAMUsedBytes is the VRAM in use.
	VRAMUsedBytes float64
	// Waiting is the requests queued in the upstreams, when WaitingKnown
	// (some provider reported its queue in the bucket).
	Waiting      float64
	WaitingKnown bool
}

// Store is everything the built-in stores (store/sqlite, store/postgres)
// persist: [Core] and every capability but the ones that were always
// optional (JobQueue, SnapshotStatsStore, RateLimitStore, BudgetStore,
// UsageStatsStore). A Router requires only [Core]; Store is the convenient
// name for a complete implementation, and what the code that writes the
// catalogue (the config file) works on. Implementations are safe for
// concurrent use.
type Store interface {
	Core
	IdentityStore
	CatalogStore
	UsageStore
	JobStore
	EventStore
}
