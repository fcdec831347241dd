package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Role is what a user may do. Admins may change the catalogue; users may only use it.
type Role string

// Roles.
const (
	RoleAdmin Role = "admin"
	RoleUser  Role = "user"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleUser }

// LogLevel decides how much of a process's requests is recorded.
type LogLevel string

// Log levels. BILLING records metadata and token counts only; FULL also records
// payloads and (redacted) headers.
const (
	LogBilling LogLevel = "BILLING"
	LogFull    LogLevel = "FULL"
)

// Valid reports whether l is a known log level.
func (l LogLevel) Valid() bool { return l == LogBilling || l == LogFull }

// ProviderKind selects the wire format and URL scheme of a provider. Behaviour is
// keyed on the kind, never on a provider's display name.
type ProviderKind string

// Provider kinds.
const (
	KindOpenAI           ProviderKind = "openai"
	KindAzure            ProviderKind = "azure"
	KindOllama           ProviderKind = "ollama"
	KindOpenAICompatible ProviderKind = "openai_compatible"
)

// Valid reports whether k is a known provider kind.
func (k ProviderKind) Valid() bool {
	switch k {
	case KindOpenAI, KindAzure, KindOllama, KindOpenAICompatible:
		return true
	}
	return false
}

// Privacy says where a model or provider runs. The order of the constants is the
// semantic order used for filtering, from least to most permissive.
type Privacy string

// Privacy levels.
const (
	PrivacyLocal                    Privacy = "LOCAL"
	PrivacyCloudInEUByEUProvider    Privacy = "CLOUD_IN_EU_BY_EU_PROVIDER"
	PrivacyCloudInEUByUSProvider    Privacy = "CLOUD_IN_EU_BY_US_PROVIDER"
	PrivacyCloudNotInEUByUSProvider Privacy = "CLOUD_NOT_IN_EU_BY_US_PROVIDER"
)

// Rank returns the position of p in the permissiveness order (LOCAL = 0), or -1
// for an unknown level.
func (p Privacy) Rank() int {
	switch p {
	case PrivacyLocal:
		return 0
	case PrivacyCloudInEUByEUProvider:
		return 1
	case PrivacyCloudInEUByUSProvider:
		return 2
	case PrivacyCloudNotInEUByUSProvider:
		return 3
	}
	return -1
}

// Valid reports whether p is a known privacy level.
func (p Privacy) Valid() bool { return p.Rank() >= 0 }

// Outcome is how a request ended.
type Outcome string

// Outcomes of a request.
const (
	OutcomeSuccess   Outcome = "success"   // upstream answered with a status below 400
	OutcomeError     Outcome = "error"     // upstream or transport error
	OutcomeTimeout   Outcome = "timeout"   // queue or upstream timeout
	OutcomeCancelled Outcome = "cancelled" // the client went away
	OutcomeRejected  Outcome = "rejected"  // refused by Logos before reaching a provider
	// OutcomeInterrupted marks a request that was in flight when Logos
	// stopped without finishing it (a crash, kill -9): its record is made on
	// the next start from the usage log's "started" marker.
	OutcomeInterrupted Outcome = "interrupted"
)

// Valid reports whether o is a known outcome.
func (o Outcome) Valid() bool {
	switch o {
	case OutcomeSuccess, OutcomeError, OutcomeTimeout, OutcomeCancelled, OutcomeRejected, OutcomeInterrupted:
		return true
	}
	return false
}

// JobStatus is the state of an asynchronous job.
type JobStatus string

// Job states: pending → running → succeeded, failed or cancelled. A running
// job whose replica stopped goes back to pending if it had not reached the
// upstream yet.
const (
	JobPending   JobStatus = "pending"
	JobRunning   JobStatus = "running"
	JobSucceeded JobStatus = "succeeded"
	JobFailed    JobStatus = "failed"
	JobCancelled JobStatus = "cancelled"
)

// Valid reports whether s is a known job status.
func (s JobStatus) Valid() bool {
	switch s {
	case JobPending, JobRunning, JobSucceeded, JobFailed, JobCancelled:
		return true
	}
	return false
}

// Finished reports whether s is a final state.
func (s JobStatus) Finished() bool {
	return s == JobSucceeded || s == JobFailed || s == JobCancelled
}

// User is a human owner of processes. IDs are assigned by the store; zero means unset
// throughout this package.
type User struct {
	ID        int64
	Username  string // unique
	Prename   string
	Name      string
	Role      Role
	CreatedAt time.Time
}

// Service is a machine owner of processes.
type Service struct {
	ID        int64
	Name      string // unique
	CreatedAt time.Time
}

// Process holds an API key. It belongs to exactly one user or one service. Only a
// hash of the key is stored; KeyPrefix is a short, non-secret display prefix.
type Process struct {
	ID        int64
	Name      string // unique
	KeyHash   []byte // SHA-256 of the key; unique
	KeyPrefix string
	UserID    int64 // owner user, or 0
	ServiceID int64 // owner service, or 0
	LogLevel  LogLevel
	// Priority is the default scheduling priority of the process's requests
	// (1 low, 5 normal, 10 high). Zero means normal.
	Priority int
	// Settings holds free-form JSON settings (rate limits, budgets). Nil means {}.
	Settings  json.RawMessage
	RevokedAt time.Time // zero while the key is active
	CreatedAt time.Time
}

// Profile is an access scope of a process: the set of models it may use.
type Profile struct {
	ID        int64
	Name      string // unique within its process
	ProcessID int64
	CreatedAt time.Time
}

// Provider is an upstream endpoint (a cloud API or a local inference server).
type Provider struct {
	ID      int64
	Name    string // unique, display only
	Kind    ProviderKind
	BaseURL string
	// AuthHeader is the name of the header that carries the credential
	// ("Authorization", "api-key"); AuthFormat is its value template with one
	// "{}" placeholder for the credential ("Bearer {}"). Both empty means no auth.
	AuthHeader string
	AuthFormat string
	// Credential is the provider's secret. Deployments may override it.
	Credential string
	// APIVersion is the default API version (Azure); deployments may override it.
	APIVersion string
	Privacy    Privacy
	// Scheduling data: monitor/admin URL (Ollama /api/ps), total VRAM in MB,
	// parallel capacity (0 = unlimited), keep-alive and loaded-model limits.
	AdminURL         string
	TotalVRAMMB      int64
	ParallelCapacity int
	KeepAliveSeconds int
	MaxLoadedModels  int
	// ExtraOperations are path patterns (below /v1, path.Match syntax, "*"
	// matching one segment) of operations Logos forwards to this provider
	// besides the ones it knows (chat/completions, embeddings, ...).
	ExtraOperations []string
	// PollInterval and PollTimeout are how often and how long Logos polls
	// the provider's monitoring URL (AdminURL); zero means the default (5 s
	// each). Stored with millisecond precision.
	PollInterval time.Duration
	PollTimeout  time.Duration
	// SleepMode says the provider's server supports sleeping (vLLM's sleep
	// mode: /is_sleeping is polled).
	SleepMode bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// JoinOperations encodes operation patterns for storage, one per line.
func JoinOperations(ops []string) string { return strings.Join(ops, "\n") }

// ErrOperationPattern is returned by CheckOperationPattern.
var ErrOperationPattern = errors.New("invalid operation pattern")

// CheckOperationPattern checks an ExtraOperations entry: a relative path
// below /v1 ("batches", "files/*"), a valid path.Match pattern, without
// "." or ".." segments, empty segments or control characters.
func CheckOperationPattern(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return fmt.Errorf("%w %q: want a path below /v1 such as \"batches\" or \"files/*\"", ErrOperationPattern, p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w %q: empty, \".\" or \"..\" segment", ErrOperationPattern, p)
		}
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w %q: control character", ErrOperationPattern, p)
		}
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("%w %q: %w", ErrOperationPattern, p, err)
	}
	return nil
}

// SplitOperations decodes what JoinOperations stored.
func SplitOperations(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Model is a public model name with its classification weights.
type Model struct {
	ID             int64
	Name           string // unique; the id clients use
	WeightPrivacy  Privacy
	WeightLatency  int
	WeightAccuracy int
	WeightCost     int
	WeightQuality  int
	Tags           string // space separated
	Parallel       int    // 1..256; 0 is stored as 1
	Description    string
	ContextWindow  int // tokens, 0 = unknown
	// Retry bounds how a request for the model is tried again on its next
	// candidate deployment when one fails before answering. Zero fields
	// take the gateway's defaults.
	Retry     RetryPolicy
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RetryPolicy bounds the upstream attempts of one request. A zero field
// means the default (package pipeline documents them).
type RetryPolicy struct {
	// MaxAttempts is the most upstream attempts per request, the first
	// included; 1 never retries. Stored 0..100.
	MaxAttempts int
	// AttemptTimeout bounds the wait for one attempt's response headers;
	// zero waits as long as the upstream takes (non-streaming answers send
	// their headers only when the whole answer is ready). Whole
	// milliseconds, stored 0..1 hour.
	AttemptTimeout time.Duration
	// Deadline is how long after the first attempt began another may
	// still start. Whole milliseconds, stored 0..1 hour.
	Deadline time.Duration
}

// Deployment is a model served by a provider (unique per model × provider).
type Deployment struct {
	ID         int64
	ModelID    int64
	ProviderID int64
	// UpstreamModel is the model name sent upstream, or the Azure deployment
	// name. Empty means the model's own name.
	UpstreamModel string
	// Endpoint optionally overrides the URL: an absolute URL is used verbatim, a
	// path is joined to the provider's base URL.
	Endpoint string
	// Credential and APIVersion override the provider's when non-empty.
	Credential string
	APIVersion string
	// ParallelCapacity limits concurrent upstream requests (0 = the provider's).
	ParallelCapacity int
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Permission lets a profile use a model.
type Permission struct {
	ProfileID int64
	ModelID   int64
}

// Policy holds classification thresholds selectable per request.
type Policy struct {
	ID                int64
	ProcessID         int64
	Name              string // unique within its process
	Description       string
	ThresholdPrivacy  Privacy
	ThresholdLatency  int
	ThresholdAccuracy int
	ThresholdCost     int
	ThresholdQuality  int
	Priority          int
	Topic             string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// TokenType names a kind of counted token ("prompt_tokens", "prompt_cached_tokens").
type TokenType struct {
	ID          int64
	Name        string // unique
	Description string
}

// Price is the price of one token type from ValidFrom on, optionally scoped to
// a model and/or a provider (0 = any).
type Price struct {
	ID          int64
	TokenTypeID int64
	ModelID     int64
	ProviderID  int64
	ValidFrom   time.Time
	// MicrosPerMillion is the price in millionths of a currency unit per million tokens.
	MicrosPerMillion int64
	Currency         string // ISO 4217, e.g. "EUR"
	CreatedAt        time.Time
}

// TokenCount is the number of tokens of one type a request used, and their cost.
type TokenCount struct {
	Type       string
	Count      int64
	CostMicros int64
}

// UsageRecord is the one record every authenticated request leaves. IDs that are
// zero are stored as NULL; an ID whose row no longer exists is stored as NULL too,
// so a record is never refused because the catalogue changed under it.
type UsageRecord struct {
	ID int64 // assigned by the store
	// RequestID is the id Logos generated for the request: unique, and
	// inserts are idempotent on it.
	RequestID string
	// ClientRequestID is the client's X-Request-ID: not unique, empty when
	// absent or invalid.
	ClientRequestID string
	ProcessID       int64
	ProfileID       int64
	ModelID         int64
	ProviderID      int64
	DeploymentID    int64
	PolicyID        int64
	// ModelName and ProviderName keep the names as they were at request time.
	ModelName    string
	ProviderName string
	Operation    string // e.g. "chat/completions"
	Stream       bool
	ReceivedAt   time.Time
	ForwardedAt  time.Time // zero if never forwarded
	FirstTokenAt time.Time
	CompletedAt  time.Time
	StatusCode   int
	Outcome      Outcome
	ErrorMessage string
	ClientIP     string
	Priority     int
	QueueWait    time.Duration
	ColdStart    bool
	LogLevel     LogLevel
	// Classification summarises how the model was chosen (JSON, may be nil):
	// the policy, the candidates with their per-stage scores, the deciding
	// stage and the time taken.
	Classification json.RawMessage
	// ClassifiedBy is the stage that chose the model of a classified request
	// ("filter", "policy", "token", "similarity", "tie"); empty when the
	// request named its model. ClassificationTime is how long classifying took.
	ClassifiedBy       string
	ClassificationTime time.Duration
	// Payloads and redacted headers, recorded only at LogFull. They are stored
	// as JSON: invalid JSON is kept as a JSON string, NUL characters are removed
	// and invalid UTF-8 is replaced, so they never make an insert fail.
	RequestPayload  json.RawMessage
	ResponsePayload json.RawMessage
	RequestHeaders  json.RawMessage
	ResponseHeaders json.RawMessage
	Tokens          []TokenCount
	CostMicros      int64
	Currency        string
	// Attempts is how many times the request was sent upstream (0 when it
	// never was); above 1 the earlier attempts failed before any byte
	// reached the client, and DeploymentID is the one that answered last.
	Attempts int
}

// Job is an asynchronous request.
type Job struct {
	ID             int64
	Status         JobStatus
	ProcessID      int64
	ProfileID      int64
	RequestPayload json.RawMessage
	ResultPayload  json.RawMessage
	StatusCode     int
	ErrorMessage   string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// LeaseOwner names the replica running the job until LeaseExpiresAt;
	// both are empty unless the job is running.
	LeaseOwner     string
	LeaseExpiresAt time.Time
	// ReachedUpstreamAt is when the job was about to be sent to a provider
	// (zero before): from then on it is never run again.
	ReachedUpstreamAt time.Time
	// Attempts counts the claims of the job.
	Attempts int
	// RequestID is the id of the job's usage record, once it has one.
	RequestID string
}

// JobResult is how a job ended.
type JobResult struct {
	Status       JobStatus // JobSucceeded or JobFailed
	StatusCode   int
	Result       json.RawMessage
	ErrorMessage string
	RequestID    string // kept as is when empty
}

// JobFilter selects jobs for ListJobs. Zero fields do not filter.
type JobFilter struct {
	ProcessID int64
	ProfileID int64
	Status    JobStatus
	// BeforeID pages: only jobs with smaller ids (older ones) are listed.
	BeforeID int64
	Limit    int // 0 = 100
}

// ProviderSnapshot is one poll of a provider's runtime state (Ollama /api/ps).
type ProviderSnapshot struct {
	ID            int64
	ProviderID    int64
	TakenAt       time.Time
	ModelsLoaded  int
	VRAMUsedBytes int64
	LoadedModels  json.RawMessage // JSON array
	// RunningRequests and WaitingRequests are the requests the server
	// reported running and queued (vLLM), when QueueKnown (stored as NULL
	// otherwise).
	RunningRequests int
	WaitingRequests int
	QueueKnown      bool
	PollSuccess     bool
	ErrorMessage    string
}

// Catalog is a consistent snapshot of everything a request needs to be routed:
// it is loaded at once and never mutated, so readers can share it freely.
type Catalog struct {
	Processes   []Process
	Profiles    []Profile
	Providers   []Provider
	Models      []Model
	Deployments []Deployment
	Permissions []Permission
	Policies    []Policy
	Prices      []Price
	TokenTypes  []TokenType
}

// UsageFilter selects usage records. Zero fields do not filter.
type UsageFilter struct {
	ProcessID int64
	From, To  time.Time // ReceivedAt in [From, To)
	Limit     int       // 0 = 100
}

// BootstrapParams describe the first admin and root process of an empty store.
type BootstrapParams struct {
	AdminUsername string
	ProcessName   string
	ProfileName   string
	KeyHash       []byte
	KeyPrefix     string
}

// BootstrapResult is what Bootstrap created.
type BootstrapResult struct {
	User    User
	Process Process
	Profile Profile
}
