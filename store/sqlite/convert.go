package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

// timeLayout is how every time is stored: fixed-width RFC 3339 in UTC with
// exactly six fractional digits, so that text order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// timeMax sorts after every formatted time; it is the upper bound of an open
// time range.
const timeMax = "~"

// now returns the current time as stored: UTC, truncated to microseconds.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// formatTime formats t for storage, truncated to microseconds.
func formatTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(timeLayout)
}

// nullTime formats t for a nullable column: the zero time is NULL.
func nullTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: formatTime(t), Valid: true}
}

// checkTime reports store.ErrInvalid if t cannot be stored in the fixed-width
// format (years 1 to 9999). The zero time is valid; it means "unset".
func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%s: year %d out of range: %w", field, y, store.ErrInvalid)
	}
	return nil
}

// nullID maps a zero id to NULL.
func nullID(id int64) sql.NullInt64 {
	return sql.NullInt64{Int64: id, Valid: id != 0}
}

// fromNullID maps NULL to the zero id.
func fromNullID(n sql.NullInt64) int64 {
	if !n.Valid {
		return 0
	}
	return n.Int64
}

// boolInt stores a boolean as 0 or 1.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// jsonIn sanitizes a JSON value for a nullable column: nil is NULL.
func jsonIn(b json.RawMessage) sql.NullString {
	clean := store.SanitizeJSON(b)
	if clean == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: string(clean), Valid: true}
}

// jsonInOr sanitizes a JSON value for a NOT NULL column, storing def for nil.
func jsonInOr(b json.RawMessage, def string) string {
	clean := store.SanitizeJSON(b)
	if clean == nil {
		return def
	}
	return string(clean)
}

// jsonOut maps a nullable JSON column to a raw message: NULL is nil.
func jsonOut(n sql.NullString) json.RawMessage {
	if !n.Valid {
		return nil
	}
	return json.RawMessage(n.String)
}

// orDefault returns v, or def if v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// decoder converts stored values to domain values, remembering the first
// malformed one so that a row conversion reports a single error.
type decoder struct {
	err error
}

// time parses a stored time.
func (d *decoder) time(column, s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if d.err == nil {
			d.err = fmt.Errorf("malformed time in column %s: %w", column, err)
		}
		return time.Time{}
	}
	return t.UTC()
}

// nullTime parses a stored nullable time; NULL is the zero time.
func (d *decoder) nullTime(column string, n sql.NullString) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return d.time(column, n.String)
}

// The row converters: one per record type, named alike in store/sqlite
// and store/postgres (<record>FromRow), so that a diff of the two packages
// shows the dialects' differences only.

func userFromRow(d *decoder, r sqlitedb.User) store.User {
	return store.User{
		ID:        r.ID,
		Username:  r.Username,
		Prename:   r.Prename,
		Name:      r.Name,
		Role:      store.Role(r.Role),
		CreatedAt: d.time("users.created_at", r.CreatedAt),
	}
}

func serviceFromRow(d *decoder, r sqlitedb.Service) store.Service {
	return store.Service{
		ID:        r.ID,
		Name:      r.Name,
		CreatedAt: d.time("services.created_at", r.CreatedAt),
	}
}

func processFromRow(d *decoder, r sqlitedb.Process) store.Process {
	return store.Process{
		ID:        r.ID,
		Name:      r.Name,
		KeyHash:   r.KeyHash,
		KeyPrefix: r.KeyPrefix,
		UserID:    fromNullID(r.UserID),
		ServiceID: fromNullID(r.ServiceID),
		LogLevel:  store.LogLevel(r.LogLevel),
		Priority:  int(r.Priority),
		Settings:  []byte(r.Settings),
		RevokedAt: d.nullTime("processes.revoked_at", r.RevokedAt),
		CreatedAt: d.time("processes.created_at", r.CreatedAt),
	}
}

func profileFromRow(d *decoder, r sqlitedb.Profile) store.Profile {
	return store.Profile{
		ID:        r.ID,
		Name:      r.Name,
		ProcessID: r.ProcessID,
		CreatedAt: d.time("profiles.created_at", r.CreatedAt),
	}
}

func providerFromRow(d *decoder, r sqlitedb.Provider) store.Provider {
	return store.Provider{
		ID:               r.ID,
		Name:             r.Name,
		Kind:             store.ProviderKind(r.Kind),
		BaseURL:          r.BaseUrl,
		AuthHeader:       r.AuthHeader,
		AuthFormat:       r.AuthFormat,
		Credential:       r.Credential,
		APIVersion:       r.ApiVersion,
		Privacy:          store.Privacy(r.Privacy),
		AdminURL:         r.AdminUrl,
		TotalVRAMMB:      r.TotalVramMb,
		ParallelCapacity: int(r.ParallelCapacity),
		KeepAliveSeconds: int(r.KeepAliveSeconds),
		MaxLoadedModels:  int(r.MaxLoadedModels),
		ExtraOperations:  store.SplitOperations(r.ExtraOperations),
		PollInterval:     time.Duration(r.PollIntervalMs) * time.Millisecond,
		PollTimeout:      time.Duration(r.PollTimeoutMs) * time.Millisecond,
		SleepMode:        r.SleepMode != 0,
		CreatedAt:        d.time("providers.created_at", r.CreatedAt),
		UpdatedAt:        d.time("providers.updated_at", r.UpdatedAt),
	}
}

func modelFromRow(d *decoder, r sqlitedb.Model) store.Model {
	return store.Model{
		ID:             r.ID,
		Name:           r.Name,
		WeightPrivacy:  store.Privacy(r.WeightPrivacy),
		WeightLatency:  int(r.WeightLatency),
		WeightAccuracy: int(r.WeightAccuracy),
		WeightCost:     int(r.WeightCost),
		WeightQuality:  int(r.WeightQuality),
		Tags:           r.Tags,
		Parallel:       int(r.Parallel),
		Description:    r.Description,
		ContextWindow:  int(r.ContextWindow),
		Retry: store.RetryPolicy{
			MaxAttempts:    int(r.RetryMaxAttempts),
			AttemptTimeout: time.Duration(r.RetryAttemptTimeoutMs) * time.Millisecond,
			Deadline:       time.Duration(r.RetryDeadlineMs) * time.Millisecond,
		},
		CreatedAt: d.time("models.created_at", r.CreatedAt),
		UpdatedAt: d.time("models.updated_at", r.UpdatedAt),
	}
}

func deploymentFromRow(d *decoder, r sqlitedb.Deployment) store.Deployment {
	return store.Deployment{
		ID:               r.ID,
		ModelID:          r.ModelID,
		ProviderID:       r.ProviderID,
		UpstreamModel:    r.UpstreamModel,
		Endpoint:         r.Endpoint,
		Credential:       r.Credential,
		APIVersion:       r.ApiVersion,
		ParallelCapacity: int(r.ParallelCapacity),
		CreatedAt:        d.time("deployments.created_at", r.CreatedAt),
		UpdatedAt:        d.time("deployments.updated_at", r.UpdatedAt),
	}
}

func permissionFromRow(_ *decoder, r sqlitedb.ProfilePermission) store.Permission {
	return store.Permission{ProfileID: r.ProfileID, ModelID: r.ModelID}
}

func policyFromRow(d *decoder, r sqlitedb.Policy) store.Policy {
	return store.Policy{
		ID:                r.ID,
		ProcessID:         r.ProcessID,
		Name:              r.Name,
		Description:       r.Description,
		ThresholdPrivacy:  store.Privacy(r.ThresholdPrivacy),
		ThresholdLatency:  int(r.ThresholdLatency),
		ThresholdAccuracy: int(r.ThresholdAccuracy),
		ThresholdCost:     int(r.ThresholdCost),
		ThresholdQuality:  int(r.ThresholdQuality),
		Priority:          int(r.Priority),
		Topic:             r.Topic,
		CreatedAt:         d.time("policies.created_at", r.CreatedAt),
		UpdatedAt:         d.time("policies.updated_at", r.UpdatedAt),
	}
}

func tokenTypeFromRow(_ *decoder, r sqlitedb.TokenType) store.TokenType {
	return store.TokenType{ID: r.ID, Name: r.Name, Description: r.Description}
}

func priceFromRow(d *decoder, r sqlitedb.Price) store.Price {
	return store.Price{
		ID:               r.ID,
		TokenTypeID:      r.TokenTypeID,
		ModelID:          fromNullID(r.ModelID),
		ProviderID:       fromNullID(r.ProviderID),
		ValidFrom:        d.time("prices.valid_from", r.ValidFrom),
		MicrosPerMillion: r.MicrosPerMillion,
		Currency:         r.Currency,
		CreatedAt:        d.time("prices.created_at", r.CreatedAt),
	}
}

func usageFromRow(d *decoder, r sqlitedb.UsageRecord) store.UsageRecord {
	return store.UsageRecord{
		ID:                 r.ID,
		RequestID:          r.RequestID,
		ClientRequestID:    r.ClientRequestID,
		ProcessID:          fromNullID(r.ProcessID),
		ProfileID:          fromNullID(r.ProfileID),
		ModelID:            fromNullID(r.ModelID),
		ProviderID:         fromNullID(r.ProviderID),
		DeploymentID:       fromNullID(r.DeploymentID),
		PolicyID:           fromNullID(r.PolicyID),
		ModelName:          r.ModelName,
		ProviderName:       r.ProviderName,
		Operation:          r.Operation,
		Stream:             r.Stream != 0,
		ReceivedAt:         d.time("usage_records.received_at", r.ReceivedAt),
		ForwardedAt:        d.nullTime("usage_records.forwarded_at", r.ForwardedAt),
		FirstTokenAt:       d.nullTime("usage_records.first_token_at", r.FirstTokenAt),
		CompletedAt:        d.nullTime("usage_records.completed_at", r.CompletedAt),
		StatusCode:         int(r.StatusCode),
		Outcome:            store.Outcome(r.Outcome),
		ErrorMessage:       r.ErrorMessage,
		ClientIP:           r.ClientIp,
		Priority:           int(r.Priority),
		QueueWait:          time.Duration(r.QueueWaitUs) * time.Microsecond,
		ColdStart:          r.ColdStart != 0,
		LogLevel:           store.LogLevel(r.LogLevel),
		Classification:     jsonOut(r.Classification),
		ClassifiedBy:       r.ClassifiedBy,
		ClassificationTime: time.Duration(r.ClassificationUs) * time.Microsecond,
		RequestPayload:     jsonOut(r.RequestPayload),
		ResponsePayload:    jsonOut(r.ResponsePayload),
		RequestHeaders:     jsonOut(r.RequestHeaders),
		ResponseHeaders:    jsonOut(r.ResponseHeaders),
		CostMicros:         r.CostMicros,
		Currency:           r.Currency,
		Attempts:           int(r.Attempts),
	}
}

func jobFromRow(d *decoder, r sqlitedb.Job) store.Job {
	return store.Job{
		ID:             r.ID,
		Status:         store.JobStatus(r.Status),
		ProcessID:      r.ProcessID,
		ProfileID:      fromNullID(r.ProfileID),
		RequestPayload: []byte(r.RequestPayload),
		ResultPayload:  jsonOut(r.ResultPayload),
		StatusCode:     int(r.StatusCode),
		ErrorMessage:   r.ErrorMessage,
		CreatedAt:      d.time("jobs.created_at", r.CreatedAt),
		UpdatedAt:      d.time("jobs.updated_at", r.UpdatedAt),

		LeaseOwner:        r.LeaseOwner,
		LeaseExpiresAt:    d.nullTime("jobs.lease_expires_at", r.LeaseExpiresAt),
		ReachedUpstreamAt: d.nullTime("jobs.reached_upstream_at", r.ReachedUpstreamAt),
		Attempts:          int(r.Attempts),
		RequestID:         r.RequestID,
	}
}

func snapshotFromRow(d *decoder, r sqlitedb.ProviderSnapshot) store.ProviderSnapshot {
	return store.ProviderSnapshot{
		ID:            r.ID,
		ProviderID:    r.ProviderID,
		TakenAt:       d.time("provider_snapshots.taken_at", r.TakenAt),
		ModelsLoaded:  int(r.ModelsLoaded),
		VRAMUsedBytes: r.VramUsedBytes,
		LoadedModels:  []byte(r.LoadedModels),
		PollSuccess:   r.PollSuccess != 0,
		ErrorMessage:  r.ErrorMessage,
		// Both are written together; either being NULL means unknown.
		QueueKnown:      r.RunningRequests.Valid && r.WaitingRequests.Valid,
		RunningRequests: int(r.RunningRequests.Int64),
		WaitingRequests: int(r.WaitingRequests.Int64),
	}
}
