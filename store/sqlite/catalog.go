package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite/internal/sqlitedb"
)

// defaultCurrency is stored for a price whose Currency is empty.
const defaultCurrency = "EUR"

// LoadCatalog returns a consistent snapshot of the whole catalogue, read in
// one transaction. Every list is ordered by id; permissions by profile id,
// then model id.
func (s *Store) LoadCatalog(ctx context.Context) (store.Catalog, error) {
	var c store.Catalog
	err := s.readTx(ctx, func(q *sqlitedb.Queries) error {
		var err error
		if c.Processes, err = listAll(ctx, q.ListProcesses, processFromRow); err != nil {
			return fmt.Errorf("processes: %w", err)
		}
		if c.Profiles, err = listAll(ctx, q.ListProfiles, profileFromRow); err != nil {
			return fmt.Errorf("profiles: %w", err)
		}
		if c.Providers, err = listAll(ctx, q.ListProviders, providerFromRow); err != nil {
			return fmt.Errorf("providers: %w", err)
		}
		if c.Models, err = listAll(ctx, q.ListModels, modelFromRow); err != nil {
			return fmt.Errorf("models: %w", err)
		}
		if c.Deployments, err = listAll(ctx, q.ListDeployments, deploymentFromRow); err != nil {
			return fmt.Errorf("deployments: %w", err)
		}
		if c.Permissions, err = listAll(ctx, q.ListPermissions, permissionFromRow); err != nil {
			return fmt.Errorf("permissions: %w", err)
		}
		if c.Policies, err = listAll(ctx, q.ListPolicies, policyFromRow); err != nil {
			return fmt.Errorf("policies: %w", err)
		}
		if c.Prices, err = listAll(ctx, q.ListPrices, priceFromRow); err != nil {
			return fmt.Errorf("prices: %w", err)
		}
		if c.TokenTypes, err = listAll(ctx, q.ListTokenTypes, tokenTypeFromRow); err != nil {
			return fmt.Errorf("token types: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.Catalog{}, mapErr("load catalog", err)
	}
	return c, nil
}

// listAll runs a list query and converts its rows.
func listAll[R, T any](ctx context.Context, list func(context.Context) ([]R, error), conv func(*decoder, R) T) ([]T, error) {
	rows, err := list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(rows))
	var d decoder
	for _, r := range rows {
		out = append(out, conv(&d, r))
	}
	return out, d.err
}

// CreateProvider stores p; a zero Privacy is stored as store.PrivacyLocal.
func (s *Store) CreateProvider(ctx context.Context, p store.Provider) (store.Provider, error) {
	ts := formatTime(now())
	row, err := s.w.CreateProvider(ctx, sqlitedb.CreateProviderParams{
		Name:             p.Name,
		Kind:             string(p.Kind),
		BaseUrl:          p.BaseURL,
		AuthHeader:       p.AuthHeader,
		AuthFormat:       p.AuthFormat,
		Credential:       p.Credential,
		ApiVersion:       p.APIVersion,
		Privacy:          string(orDefault(p.Privacy, store.PrivacyLocal)),
		AdminUrl:         p.AdminURL,
		TotalVramMb:      p.TotalVRAMMB,
		ParallelCapacity: int64(p.ParallelCapacity),
		KeepAliveSeconds: int64(p.KeepAliveSeconds),
		MaxLoadedModels:  int64(p.MaxLoadedModels),
		ExtraOperations:  store.JoinOperations(p.ExtraOperations),
		PollIntervalMs:   p.PollInterval.Milliseconds(),
		PollTimeoutMs:    p.PollTimeout.Milliseconds(),
		SleepMode:        boolInt(p.SleepMode),
		CreatedAt:        ts,
		UpdatedAt:        ts,
	})
	if err != nil {
		return store.Provider{}, mapErr("create provider", err)
	}
	return decodeOne("create provider", row, providerFromRow)
}

// GetProvider returns the provider with the given id.
func (s *Store) GetProvider(ctx context.Context, id int64) (store.Provider, error) {
	row, err := s.r.GetProvider(ctx, id)
	if err != nil {
		return store.Provider{}, mapErr(fmt.Sprintf("get provider %d", id), err)
	}
	return decodeOne("get provider", row, providerFromRow)
}

// ListProviders returns all providers ordered by id.
func (s *Store) ListProviders(ctx context.Context) ([]store.Provider, error) {
	rows, err := s.r.ListProviders(ctx)
	if err != nil {
		return nil, mapErr("list providers", err)
	}
	return decodeAll("list providers", rows, providerFromRow)
}

// UpdateProvider replaces every field but ID and CreatedAt and sets UpdatedAt.
func (s *Store) UpdateProvider(ctx context.Context, p store.Provider) (store.Provider, error) {
	row, err := s.w.UpdateProvider(ctx, sqlitedb.UpdateProviderParams{
		ID:               p.ID,
		Name:             p.Name,
		Kind:             string(p.Kind),
		BaseUrl:          p.BaseURL,
		AuthHeader:       p.AuthHeader,
		AuthFormat:       p.AuthFormat,
		Credential:       p.Credential,
		ApiVersion:       p.APIVersion,
		Privacy:          string(orDefault(p.Privacy, store.PrivacyLocal)),
		AdminUrl:         p.AdminURL,
		TotalVramMb:      p.TotalVRAMMB,
		ParallelCapacity: int64(p.ParallelCapacity),
		KeepAliveSeconds: int64(p.KeepAliveSeconds),
		MaxLoadedModels:  int64(p.MaxLoadedModels),
		ExtraOperations:  store.JoinOperations(p.ExtraOperations),
		PollIntervalMs:   p.PollInterval.Milliseconds(),
		PollTimeoutMs:    p.PollTimeout.Milliseconds(),
		SleepMode:        boolInt(p.SleepMode),
		UpdatedAt:        formatTime(now()),
	})
	if err != nil {
		return store.Provider{}, mapErr(fmt.Sprintf("update provider %d", p.ID), err)
	}
	return decodeOne("update provider", row, providerFromRow)
}

// DeleteProvider deletes the provider with the given id and its deployments.
func (s *Store) DeleteProvider(ctx context.Context, id int64) error {
	return mapErr(fmt.Sprintf("delete provider %d", id), notFoundIfNone(s.w.DeleteProvider(ctx, id)))
}

// CreateModel stores m; a zero WeightPrivacy is stored as
// store.PrivacyLocal and a zero Parallel as 1.
func (s *Store) CreateModel(ctx context.Context, m store.Model) (store.Model, error) {
	ts := formatTime(now())
	row, err := s.w.CreateModel(ctx, sqlitedb.CreateModelParams{
		Name:                  m.Name,
		WeightPrivacy:         string(orDefault(m.WeightPrivacy, store.PrivacyLocal)),
		WeightLatency:         int64(m.WeightLatency),
		WeightAccuracy:        int64(m.WeightAccuracy),
		WeightCost:            int64(m.WeightCost),
		WeightQuality:         int64(m.WeightQuality),
		Tags:                  m.Tags,
		Parallel:              int64(orDefault(m.Parallel, 1)),
		Description:           m.Description,
		ContextWindow:         int64(m.ContextWindow),
		RetryMaxAttempts:      int64(m.Retry.MaxAttempts),
		RetryAttemptTimeoutMs: m.Retry.AttemptTimeout.Milliseconds(),
		RetryDeadlineMs:       m.Retry.Deadline.Milliseconds(),
		CreatedAt:             ts,
		UpdatedAt:             ts,
	})
	if err != nil {
		return store.Model{}, mapErr("create model", err)
	}
	return decodeOne("create model", row, modelFromRow)
}

// GetModel returns the model with the given id.
func (s *Store) GetModel(ctx context.Context, id int64) (store.Model, error) {
	row, err := s.r.GetModel(ctx, id)
	if err != nil {
		return store.Model{}, mapErr(fmt.Sprintf("get model %d", id), err)
	}
	return decodeOne("get model", row, modelFromRow)
}

// GetModelByName returns the model with the given name.
func (s *Store) GetModelByName(ctx context.Context, name string) (store.Model, error) {
	row, err := s.r.GetModelByName(ctx, name)
	if err != nil {
		return store.Model{}, mapErr(fmt.Sprintf("get model %q", name), err)
	}
	return decodeOne("get model", row, modelFromRow)
}

// ListModels returns all models ordered by id.
func (s *Store) ListModels(ctx context.Context) ([]store.Model, error) {
	rows, err := s.r.ListModels(ctx)
	if err != nil {
		return nil, mapErr("list models", err)
	}
	return decodeAll("list models", rows, modelFromRow)
}

// UpdateModel replaces every field but ID and CreatedAt (with the defaults of
// CreateModel) and sets UpdatedAt.
func (s *Store) UpdateModel(ctx context.Context, m store.Model) (store.Model, error) {
	row, err := s.w.UpdateModel(ctx, sqlitedb.UpdateModelParams{
		ID:                    m.ID,
		Name:                  m.Name,
		WeightPrivacy:         string(orDefault(m.WeightPrivacy, store.PrivacyLocal)),
		WeightLatency:         int64(m.WeightLatency),
		WeightAccuracy:        int64(m.WeightAccuracy),
		WeightCost:            int64(m.WeightCost),
		WeightQuality:         int64(m.WeightQuality),
		Tags:                  m.Tags,
		Parallel:              int64(orDefault(m.Parallel, 1)),
		Description:           m.Description,
		ContextWindow:         int64(m.ContextWindow),
		RetryMaxAttempts:      int64(m.Retry.MaxAttempts),
		RetryAttemptTimeoutMs: m.Retry.AttemptTimeout.Milliseconds(),
		RetryDeadlineMs:       m.Retry.Deadline.Milliseconds(),
		UpdatedAt:             formatTime(now()),
	})
	if err != nil {
		return store.Model{}, mapErr(fmt.Sprintf("update model %d", m.ID), err)
	}
	return decodeOne("update model", row, modelFromRow)
}

// DeleteModel deletes the model with the given id, its deployments and the
// permissions to use it.
func (s *Store) DeleteModel(ctx context.Context, id int64) error {
	return mapErr(fmt.Sprintf("delete model %d", id), notFoundIfNone(s.w.DeleteModel(ctx, id)))
}

// CreateDeployment stores d; its model and provider must exist (else
// store.ErrInvalid).
func (s *Store) CreateDeployment(ctx context.Context, d store.Deployment) (store.Deployment, error) {
	ts := formatTime(now())
	row, err := s.w.CreateDeployment(ctx, sqlitedb.CreateDeploymentParams{
		ModelID:          d.ModelID,
		ProviderID:       d.ProviderID,
		UpstreamModel:    d.UpstreamModel,
		Endpoint:         d.Endpoint,
		Credential:       d.Credential,
		ApiVersion:       d.APIVersion,
		ParallelCapacity: int64(d.ParallelCapacity),
		CreatedAt:        ts,
		UpdatedAt:        ts,
	})
	if err != nil {
		return store.Deployment{}, mapErr("create deployment", err)
	}
	return decodeOne("create deployment", row, deploymentFromRow)
}

// GetDeployment returns the deployment with the given id.
func (s *Store) GetDeployment(ctx context.Context, id int64) (store.Deployment, error) {
	row, err := s.r.GetDeployment(ctx, id)
	if err != nil {
		return store.Deployment{}, mapErr(fmt.Sprintf("get deployment %d", id), err)
	}
	return decodeOne("get deployment", row, deploymentFromRow)
}

// ListDeployments returns all deployments ordered by id.
func (s *Store) ListDeployments(ctx context.Context) ([]store.Deployment, error) {
	rows, err := s.r.ListDeployments(ctx)
	if err != nil {
		return nil, mapErr("list deployments", err)
	}
	return decodeAll("list deployments", rows, deploymentFromRow)
}

// UpdateDeployment replaces every field but ID and CreatedAt and sets
// UpdatedAt.
func (s *Store) UpdateDeployment(ctx context.Context, d store.Deployment) (store.Deployment, error) {
	row, err := s.w.UpdateDeployment(ctx, sqlitedb.UpdateDeploymentParams{
		ID:               d.ID,
		ModelID:          d.ModelID,
		ProviderID:       d.ProviderID,
		UpstreamModel:    d.UpstreamModel,
		Endpoint:         d.Endpoint,
		Credential:       d.Credential,
		ApiVersion:       d.APIVersion,
		ParallelCapacity: int64(d.ParallelCapacity),
		UpdatedAt:        formatTime(now()),
	})
	if err != nil {
		return store.Deployment{}, mapErr(fmt.Sprintf("update deployment %d", d.ID), err)
	}
	return decodeOne("update deployment", row, deploymentFromRow)
}

// DeleteDeployment deletes the deployment with the given id.
func (s *Store) DeleteDeployment(ctx context.Context, id int64) error {
	return mapErr(fmt.Sprintf("delete deployment %d", id), notFoundIfNone(s.w.DeleteDeployment(ctx, id)))
}

// GrantModel lets a profile use a model: store.ErrConflict if it already may,
// store.ErrInvalid if the profile or the model does not exist.
func (s *Store) GrantModel(ctx context.Context, profileID, modelID int64) error {
	err := s.w.GrantModel(ctx, sqlitedb.GrantModelParams{ProfileID: profileID, ModelID: modelID})
	return mapErr(fmt.Sprintf("grant model %d to profile %d", modelID, profileID), err)
}

// RevokeModel takes a permission away: store.ErrNotFound if there is none.
func (s *Store) RevokeModel(ctx context.Context, profileID, modelID int64) error {
	err := notFoundIfNone(s.w.RevokeModel(ctx, sqlitedb.RevokeModelParams{ProfileID: profileID, ModelID: modelID}))
	return mapErr(fmt.Sprintf("revoke model %d from profile %d", modelID, profileID), err)
}

// ListPermissions returns a profile's permissions ordered by model id.
func (s *Store) ListPermissions(ctx context.Context, profileID int64) ([]store.Permission, error) {
	rows, err := s.r.ListPermissionsByProfile(ctx, profileID)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("list permissions of profile %d", profileID), err)
	}
	return decodeAll("list permissions", rows, permissionFromRow)
}

// CreatePolicy stores p; a zero ThresholdPrivacy is stored as
// store.PrivacyLocal.
func (s *Store) CreatePolicy(ctx context.Context, p store.Policy) (store.Policy, error) {
	ts := formatTime(now())
	row, err := s.w.CreatePolicy(ctx, sqlitedb.CreatePolicyParams{
		ProcessID:         p.ProcessID,
		Name:              p.Name,
		Description:       p.Description,
		ThresholdPrivacy:  string(orDefault(p.ThresholdPrivacy, store.PrivacyLocal)),
		ThresholdLatency:  int64(p.ThresholdLatency),
		ThresholdAccuracy: int64(p.ThresholdAccuracy),
		ThresholdCost:     int64(p.ThresholdCost),
		ThresholdQuality:  int64(p.ThresholdQuality),
		Priority:          int64(p.Priority),
		Topic:             p.Topic,
		CreatedAt:         ts,
		UpdatedAt:         ts,
	})
	if err != nil {
		return store.Policy{}, mapErr("create policy", err)
	}
	return decodeOne("create policy", row, policyFromRow)
}

// GetPolicy returns the policy with the given id.
func (s *Store) GetPolicy(ctx context.Context, id int64) (store.Policy, error) {
	row, err := s.r.GetPolicy(ctx, id)
	if err != nil {
		return store.Policy{}, mapErr(fmt.Sprintf("get policy %d", id), err)
	}
	return decodeOne("get policy", row, policyFromRow)
}

// ListPolicies returns a process's policies ordered by id.
func (s *Store) ListPolicies(ctx context.Context, processID int64) ([]store.Policy, error) {
	rows, err := s.r.ListPoliciesByProcess(ctx, processID)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("list policies of process %d", processID), err)
	}
	return decodeAll("list policies", rows, policyFromRow)
}

// UpdatePolicy replaces every field but ID and CreatedAt (with the defaults
// of CreatePolicy) and sets UpdatedAt.
func (s *Store) UpdatePolicy(ctx context.Context, p store.Policy) (store.Policy, error) {
	row, err := s.w.UpdatePolicy(ctx, sqlitedb.UpdatePolicyParams{
		ID:                p.ID,
		ProcessID:         p.ProcessID,
		Name:              p.Name,
		Description:       p.Description,
		ThresholdPrivacy:  string(orDefault(p.ThresholdPrivacy, store.PrivacyLocal)),
		ThresholdLatency:  int64(p.ThresholdLatency),
		ThresholdAccuracy: int64(p.ThresholdAccuracy),
		ThresholdCost:     int64(p.ThresholdCost),
		ThresholdQuality:  int64(p.ThresholdQuality),
		Priority:          int64(p.Priority),
		Topic:             p.Topic,
		UpdatedAt:         formatTime(now()),
	})
	if err != nil {
		return store.Policy{}, mapErr(fmt.Sprintf("update policy %d", p.ID), err)
	}
	return decodeOne("update policy", row, policyFromRow)
}

// DeletePolicy deletes the policy with the given id.
func (s *Store) DeletePolicy(ctx context.Context, id int64) error {
	return mapErr(fmt.Sprintf("delete policy %d", id), notFoundIfNone(s.w.DeletePolicy(ctx, id)))
}

// EnsureTokenType returns the token type with that name, creating it if
// needed. An empty name is store.ErrInvalid.
func (s *Store) EnsureTokenType(ctx context.Context, name string) (store.TokenType, error) {
	op := fmt.Sprintf("ensure token type %q", name)
	row, err := s.r.GetTokenTypeByName(ctx, name)
	if err == nil {
		return tokenTypeFromRow(nil, row), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.TokenType{}, mapErr(op, err)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		q := s.w.WithTx(tx)
		// Another writer may have created it since the read above.
		row, err = q.GetTokenTypeByName(ctx, name)
		if errors.Is(err, sql.ErrNoRows) {
			row, err = q.CreateTokenType(ctx, name)
		}
		return err
	})
	if err != nil {
		return store.TokenType{}, mapErr(op, err)
	}
	return tokenTypeFromRow(nil, row), nil
}

// ListTokenTypes returns all token types ordered by id.
func (s *Store) ListTokenTypes(ctx context.Context) ([]store.TokenType, error) {
	rows, err := s.r.ListTokenTypes(ctx)
	if err != nil {
		return nil, mapErr("list token types", err)
	}
	return decodeAll("list token types", rows, tokenTypeFromRow)
}

// CreatePrice stores p; zero ModelID and ProviderID mean any model and any
// provider, an empty Currency is stored as EUR, and ValidFrom is required
// (else store.ErrInvalid).
func (s *Store) CreatePrice(ctx context.Context, p store.Price) (store.Price, error) {
	if err := checkTime("valid from", p.ValidFrom); err != nil {
		return store.Price{}, mapErr("create price", err)
	}
	if p.ValidFrom.IsZero() {
		return store.Price{}, mapErr("create price", fmt.Errorf("valid from is required: %w", store.ErrInvalid))
	}
	row, err := s.w.CreatePrice(ctx, sqlitedb.CreatePriceParams{
		TokenTypeID:      p.TokenTypeID,
		ModelID:          nullID(p.ModelID),
		ProviderID:       nullID(p.ProviderID),
		ValidFrom:        formatTime(p.ValidFrom),
		MicrosPerMillion: p.MicrosPerMillion,
		Currency:         orDefault(p.Currency, defaultCurrency),
		CreatedAt:        formatTime(now()),
	})
	if err != nil {
		return store.Price{}, mapErr("create price", err)
	}
	return decodeOne("create price", row, priceFromRow)
}

// ListPrices returns all prices ordered by id.
func (s *Store) ListPrices(ctx context.Context) ([]store.Price, error) {
	rows, err := s.r.ListPrices(ctx)
	if err != nil {
		return nil, mapErr("list prices", err)
	}
	return decodeAll("list prices", rows, priceFromRow)
}

// DeletePrice deletes the price with the given id.
func (s *Store) DeletePrice(ctx context.Context, id int64) error {
	return mapErr(fmt.Sprintf("delete price %d", id), notFoundIfNone(s.w.DeletePrice(ctx, id)))
}
