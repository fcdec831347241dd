package postgres

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres/internal/pgdb"
)

// Default values of columns whose domain field has a documented or schema
// default for its zero value.
const (
	defaultProcessPriority = 5 // Process.Priority: zero means normal
	defaultModelParallel   = 1 // Model.Parallel: zero is stored as 1
)

// nullID maps a zero id to NULL.
func nullID(id int64) pgtype.Int8 {
	return pgtype.Int8{Int64: id, Valid: id != 0}
}

// fromNullID maps NULL to a zero id.
func fromNullID(v pgtype.Int8) int64 {
	if !v.Valid {
		return 0
	}
	return v.Int64
}

// nullTime maps the zero time to NULL.
func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// fromTime maps NULL to the zero time and anything else to UTC.
func fromTime(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return v.Time.UTC()
}

// jsonIn prepares a JSON column value for writing: it is sanitised so the
// database accepts it, and nil stays nil (NULL).
func jsonIn(b json.RawMessage) []byte {
	return store.SanitizeJSON(b)
}

// jsonOut maps NULL (nil) to a nil RawMessage.
func jsonOut(b []byte) json.RawMessage {
	if b == nil {
		return nil
	}
	return json.RawMessage(b)
}

// settingsIn prepares Process.Settings: nil means {}.
func settingsIn(b json.RawMessage) []byte {
	if s := store.SanitizeJSON(b); s != nil {
		return s
	}
	return []byte(`{}`)
}

// cleanText makes s acceptable to a TEXT column: invalid UTF-8 is replaced and
// NUL characters are removed. It is applied to text that comes from clients
// or providers, which must never make a billing record fail.
func cleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

// orDefault returns def if v is empty.
func orDefault[T ~string](v, def T) T {
	if v == "" {
		return def
	}
	return v
}

// The row converters: one per record type, named alike in store/sqlite
// and store/postgres (<record>FromRow), so that a diff of the two packages
// shows the dialects' differences only.

func userFromRow(r pgdb.User) store.User {
	return store.User{
		ID:        r.ID,
		Username:  r.Username,
		Prename:   r.Prename,
		Name:      r.Name,
		Role:      store.Role(r.Role),
		CreatedAt: fromTime(r.CreatedAt),
	}
}

func serviceFromRow(r pgdb.Service) store.Service {
	return store.Service{ID: r.ID, Name: r.Name, CreatedAt: fromTime(r.CreatedAt)}
}

func processFromRow(r pgdb.Process) store.Process {
	return store.Process{
		ID:        r.ID,
		Name:      r.Name,
		KeyHash:   r.KeyHash,
		KeyPrefix: r.KeyPrefix,
		UserID:    fromNullID(r.UserID),
		ServiceID: fromNullID(r.ServiceID),
		LogLevel:  store.LogLevel(r.LogLevel),
		Priority:  int(r.Priority),
		Settings:  jsonOut(r.Settings),
		RevokedAt: fromTime(r.RevokedAt),
		CreatedAt: fromTime(r.CreatedAt),
	}
}

func profileFromRow(r pgdb.Profile) store.Profile {
	return store.Profile{ID: r.ID, Name: r.Name, ProcessID: r.ProcessID, CreatedAt: fromTime(r.CreatedAt)}
}

func providerFromRow(r pgdb.Provider) store.Provider {
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
		SleepMode:        r.SleepMode,
		CreatedAt:        fromTime(r.CreatedAt),
		UpdatedAt:        fromTime(r.UpdatedAt),
	}
}

func modelFromRow(r pgdb.Model) store.Model {
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
		CreatedAt: fromTime(r.CreatedAt),
		UpdatedAt: fromTime(r.UpdatedAt),
	}
}

func deploymentFromRow(r pgdb.Deployment) store.Deployment {
	return store.Deployment{
		ID:               r.ID,
		ModelID:          r.ModelID,
		ProviderID:       r.ProviderID,
		UpstreamModel:    r.UpstreamModel,
		Endpoint:         r.Endpoint,
		Credential:       r.Credential,
		APIVersion:       r.ApiVersion,
		ParallelCapacity: int(r.ParallelCapacity),
		CreatedAt:        fromTime(r.CreatedAt),
		UpdatedAt:        fromTime(r.UpdatedAt),
	}
}

func permissionFromRow(r pgdb.ProfilePermission) store.Permission {
	return store.Permission{ProfileID: r.ProfileID, ModelID: r.ModelID}
}

func policyFromRow(r pgdb.Policy) store.Policy {
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
		CreatedAt:         fromTime(r.CreatedAt),
		UpdatedAt:         fromTime(r.UpdatedAt),
	}
}

func tokenTypeFromRow(r pgdb.TokenType) store.TokenType {
	return store.TokenType{ID: r.ID, Name: r.Name, Description: r.Description}
}

func priceFromRow(r pgdb.Price) store.Price {
	return store.Price{
		ID:               r.ID,
		TokenTypeID:      r.TokenTypeID,
		ModelID:          fromNullID(r.ModelID),
		ProviderID:       fromNullID(r.ProviderID),
		ValidFrom:        fromTime(r.ValidFrom),
		MicrosPerMillion: r.MicrosPerMillion,
		Currency:         r.Currency,
		CreatedAt:        fromTime(r.CreatedAt),
	}
}

func usageFromRow(r pgdb.UsageRecord) store.UsageRecord {
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
		Stream:             r.Stream,
		ReceivedAt:         fromTime(r.ReceivedAt),
		ForwardedAt:        fromTime(r.ForwardedAt),
		FirstTokenAt:       fromTime(r.FirstTokenAt),
		CompletedAt:        fromTime(r.CompletedAt),
		StatusCode:         int(r.StatusCode),
		Outcome:            store.Outcome(r.Outcome),
		ErrorMessage:       r.ErrorMessage,
		ClientIP:           r.ClientIp,
		Priority:           int(r.Priority),
		QueueWait:          time.Duration(r.QueueWaitUs) * time.Microsecond,
		ColdStart:          r.ColdStart,
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

func jobFromRow(r pgdb.Job) store.Job {
	return store.Job{
		ID:             r.ID,
		Status:         store.JobStatus(r.Status),
		ProcessID:      r.ProcessID,
		ProfileID:      fromNullID(r.ProfileID),
		RequestPayload: jsonOut(r.RequestPayload),
		ResultPayload:  jsonOut(r.ResultPayload),
		StatusCode:     int(r.StatusCode),
		ErrorMessage:   r.ErrorMessage,
		CreatedAt:      fromTime(r.CreatedAt),
		UpdatedAt:      fromTime(r.UpdatedAt),

		LeaseOwner:        r.LeaseOwner,
		LeaseExpiresAt:    fromTime(r.LeaseExpiresAt),
		ReachedUpstreamAt: fromTime(r.ReachedUpstreamAt),
		Attempts:          int(r.Attempts),
		RequestID:         r.RequestID,
	}
}

func snapshotFromRow(r pgdb.ProviderSnapshot) store.ProviderSnapshot {
	return store.ProviderSnapshot{
		ID:            r.ID,
		ProviderID:    r.ProviderID,
		TakenAt:       fromTime(r.TakenAt),
		ModelsLoaded:  int(r.ModelsLoaded),
		VRAMUsedBytes: r.VramUsedBytes,
		LoadedModels:  jsonOut(r.LoadedModels),
		PollSuccess:   r.PollSuccess,
		ErrorMessage:  r.ErrorMessage,
		// Both are written together; either being NULL means unknown.
		QueueKnown:      r.RunningRequests.Valid && r.WaitingRequests.Valid,
		RunningRequests: int(r.RunningRequests.Int32),
		WaitingRequests: int(r.WaitingRequests.Int32),
	}
}

// convertAll converts rows with fn.
func convertAll[R, T any](rows []R, fn func(R) T) []T {
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = fn(r)
	}
	return out
}
