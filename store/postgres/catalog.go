package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres/internal/pgdb"
)

// LoadCatalog returns a consistent snapshot of the whole catalogue, read in one
// REPEATABLE READ, read-only transaction. Every list is ordered by id,
// permissions by profile and model id.
func (s *Store) LoadCatalog(ctx context.Context) (store.Catalog, error) {
	var c store.Catalog
	err := s.inTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(q *pgdb.Queries) error {
		processes, err := q.ListProcesses(ctx)
		if err != nil {
			return fmt.Errorf("processes: %w", err)
		}
		profiles, err := q.ListAllProfiles(ctx)
		if err != nil {
			return fmt.Errorf("profiles: %w", err)
		}
		providers, err := q.ListProviders(ctx)
		if err != nil {
			return fmt.Errorf("providers: %w", err)
		}
		models, err := q.ListModels(ctx)
		if err != nil {
			return fmt.Errorf("models: %w", err)
		}
		deployments, err := q.ListDeployments(ctx)
		if err != nil {
			return fmt.Errorf("deployments: %w", err)
		}
		permissions, err := q.ListAllPermissions(ctx)
		if err != nil {
			return fmt.Errorf("permissions: %w", err)
		}
		policies, err := q.ListAllPolicies(ctx)
		if err != nil {
			return fmt.Errorf("policies: %w", err)
		}
		prices, err := q.ListPrices(ctx)
		if err != nil {
			return fmt.Errorf("prices: %w", err)
		}
		tokenTypes, err := q.ListTokenTypes(ctx)
		if err != nil {
			return fmt.Errorf("token types: %w", err)
		}
		c = store.Catalog{
			Processes:   convertAll(processes, processFromRow),
			Profiles:    convertAll(profiles, profileFromRow),
			Providers:   convertAll(providers, providerFromRow),
			Models:      convertAll(models, modelFromRow),
			Deployments: convertAll(deployments, deploymentFromRow),
			Permissions: convertAll(permissions, permissionFromRow),
			Policies:    convertAll(policies, policyFromRow),
			Prices:      convertAll(prices, priceFromRow),
			TokenTypes:  convertAll(tokenTypes, tokenTypeFromRow),
		}
		return nil
	})
	if err != nil {
		return store.Catalog{}, mapErr("load catalog", err)
	}
	return c, nil
}

// CreateProvider stores a provider. An empty Privacy means PrivacyLocal.
func (s *Store) CreateProvider(ctx context.Context, p store.Provider) (store.Provider, error) {
	op := fmt.Sprintf("create provider %q", p.Name)
	var c int32s
	params := pgdb.CreateProviderParams{
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
		ParallelCapacity: c.conv("parallel capacity", p.ParallelCapacity),
		KeepAliveSeconds: c.conv("keep-alive seconds", p.KeepAliveSeconds),
		MaxLoadedModels:  c.conv("max loaded models", p.MaxLoadedModels),
		ExtraOperations:  store.JoinOperations(p.ExtraOperations),
		PollIntervalMs:   c.conv("poll interval", int(p.PollInterval.Milliseconds())),
		PollTimeoutMs:    c.conv("poll timeout", int(p.PollTimeout.Milliseconds())),
		SleepMode:        p.SleepMode,
	}
	if err := c.check(op); err != nil {
		return store.Provider{}, err
	}
	r, err := s.q.CreateProvider(ctx, params)
	if err != nil {
		return store.Provider{}, mapErr(op, err)
	}
	return providerFromRow(r), nil
}

// GetProvider returns the provider with that id.
func (s *Store) GetProvider(ctx context.Context, id int64) (store.Provider, error) {
	r, err := s.q.GetProvider(ctx, id)
	if err != nil {
		return store.Provider{}, mapErr(fmt.Sprintf("get provider %d", id), err)
	}
	return providerFromRow(r), nil
}

// ListProviders returns all providers ordered by id.
func (s *Store) ListProviders(ctx context.Context) ([]store.Provider, error) {
	rows, err := s.q.ListProviders(ctx)
	if err != nil {
		return nil, mapErr("list providers", err)
	}
	return convertAll(rows, providerFromRow), nil
}

// UpdateProvider replaces every field but ID and CreatedAt and sets UpdatedAt.
func (s *Store) UpdateProvider(ctx context.Context, p store.Provider) (store.Provider, error) {
	op := fmt.Sprintf("update provider %d", p.ID)
	var c int32s
	params := pgdb.UpdateProviderParams{
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
		ParallelCapacity: c.conv("parallel capacity", p.ParallelCapacity),
		KeepAliveSeconds: c.conv("keep-alive seconds", p.KeepAliveSeconds),
		MaxLoadedModels:  c.conv("max loaded models", p.MaxLoadedModels),
		ExtraOperations:  store.JoinOperations(p.ExtraOperations),
		PollIntervalMs:   c.conv("poll interval", int(p.PollInterval.Milliseconds())),
		PollTimeoutMs:    c.conv("poll timeout", int(p.PollTimeout.Milliseconds())),
		SleepMode:        p.SleepMode,
	}
	if err := c.check(op); err != nil {
		return store.Provider{}, err
	}
	r, err := s.q.UpdateProvider(ctx, params)
	if err != nil {
		return store.Provider{}, mapErr(op, err)
	}
	return providerFromRow(r), nil
}

// DeleteProvider deletes a provider with its deployments, prices and snapshots.
func (s *Store) DeleteProvider(ctx context.Context, id int64) error {
	op := fmt.Sprintf("delete provider %d", id)
	n, err := s.q.DeleteProvider(ctx, id)
	if err != nil {
		return mapErr(op, err)
	}
	return notFoundIfNone(op, n)
}

// modelParams holds the converted columns shared by CreateModel and UpdateModel.
type modelParams struct {
	privacy                                   string
	latency, accuracy, cost, quality, par     int32
	contextWindow                             int32
	retryMax, retryTimeoutMS, retryDeadlineMS int32
}

// modelColumns converts m's columns: an empty WeightPrivacy means
// PrivacyLocal and a zero Parallel is stored as 1.
func modelColumns(op string, m store.Model) (modelParams, error) {
	var c int32s
	par := m.Parallel
	if par == 0 {
		par = defaultModelParallel
	}
	p := modelParams{
		privacy:         string(orDefault(m.WeightPrivacy, store.PrivacyLocal)),
		latency:         c.conv("latency weight", m.WeightLatency),
		accuracy:        c.conv("accuracy weight", m.WeightAccuracy),
		cost:            c.conv("cost weight", m.WeightCost),
		quality:         c.conv("quality weight", m.WeightQuality),
		par:             c.conv("parallel", par),
		contextWindow:   c.conv("context window", m.ContextWindow),
		retryMax:        c.conv("retry max attempts", m.Retry.MaxAttempts),
		retryTimeoutMS:  c.conv("retry attempt timeout", int(m.Retry.AttemptTimeout.Milliseconds())),
		retryDeadlineMS: c.conv("retry deadline", int(m.Retry.Deadline.Milliseconds())),
	}
	return p, c.check(op)
}

// CreateModel stores a model. An empty WeightPrivacy means PrivacyLocal; a
// zero Parallel is stored as 1.
func (s *Store) CreateModel(ctx context.Context, m store.Model) (store.Model, error) {
	op := fmt.Sprintf("create model %q", m.Name)
	p, err := modelColumns(op, m)
	if err != nil {
		return store.Model{}, err
	}
	r, err := s.q.CreateModel(ctx, pgdb.CreateModelParams{
		Name:                  m.Name,
		WeightPrivacy:         p.privacy,
		WeightLatency:         p.latency,
		WeightAccuracy:        p.accuracy,
		WeightCost:            p.cost,
		WeightQuality:         p.quality,
		Tags:                  m.Tags,
		Parallel:              p.par,
		Description:           m.Description,
		ContextWindow:         p.contextWindow,
		RetryMaxAttempts:      p.retryMax,
		RetryAttemptTimeoutMs: p.retryTimeoutMS,
		RetryDeadlineMs:       p.retryDeadlineMS,
	})
	if err != nil {
		return store.Model{}, mapErr(op, err)
	}
	return modelFromRow(r), nil
}

// GetModel returns the model with that id.
func (s *Store) GetModel(ctx context.Context, id int64) (store.Model, error) {
	r, err := s.q.GetModel(ctx, id)
	if err != nil {
		return store.Model{}, mapErr(fmt.Sprintf("get model %d", id), err)
	}
	return modelFromRow(r), nil
}

// GetModelByName returns the model with that name.
func (s *Store) GetModelByName(ctx context.Context, name string) (store.Model, error) {
	r, err := s.q.GetModelByName(ctx, name)
	if err != nil {
		return store.Model{}, mapErr(fmt.Sprintf("get model %q", name), err)
	}
	return modelFromRow(r), nil
}

// ListModels returns all models ordered by id.
func (s *Store) ListModels(ctx context.Context) ([]store.Model, error) {
	rows, err := s.q.ListModels(ctx)
	if err != nil {
		return nil, mapErr("list models", err)
	}
	return convertAll(rows, modelFromRow), nil
}

// UpdateModel replaces every field but ID and CreatedAt, with the defaults of
// CreateModel, and sets UpdatedAt.
func (s *Store) UpdateModel(ctx context.Context, m store.Model) (store.Model, error) {
	op := fmt.Sprintf("update model %d", m.ID)
	p, err := modelColumns(op, m)
	if err != nil {
		return store.Model{}, err
	}
	r, err := s.q.UpdateModel(ctx, pgdb.UpdateModelParams{
		ID:                    m.ID,
		Name:                  m.Name,
		WeightPrivacy:         p.privacy,
		WeightLatency:         p.latency,
		WeightAccuracy:        p.accuracy,
		WeightCost:            p.cost,
		WeightQuality:         p.quality,
		Tags:                  m.Tags,
		Parallel:              p.par,
		Description:           m.Description,
		ContextWindow:         p.contextWindow,
		RetryMaxAttempts:      p.retryMax,
		RetryAttemptTimeoutMs: p.retryTimeoutMS,
		RetryDeadlineMs:       p.retryDeadlineMS,
	})
	if err != nil {
		return store.Model{}, mapErr(op, err)
	}
	return modelFromRow(r), nil
}

// DeleteModel deletes a model with its deployments, permissions and prices.
func (s *Store) DeleteModel(ctx context.Context, id int64) error {
	op := fmt.Sprintf("delete model %d", id)
	n, err := s.q.DeleteModel(ctx, id)
	if err != nil {
		return mapErr(op, err)
	}
	return notFoundIfNone(op, n)
}

// CreateDeployment stores a deployment of an existing model on an existing
// provider; ErrConflict if that pair already has one.
func (s *Store) CreateDeployment(ctx context.Context, d store.Deployment) (store.Deployment, error) {
	op := fmt.Sprintf("create deployment of model %d on provider %d", d.ModelID, d.ProviderID)
	var c int32s
	params := pgdb.CreateDeploymentParams{
		ModelID:          d.ModelID,
		ProviderID:       d.ProviderID,
		UpstreamModel:    d.UpstreamModel,
		Endpoint:         d.Endpoint,
		Credential:       d.Credential,
		ApiVersion:       d.APIVersion,
		ParallelCapacity: c.conv("parallel capacity", d.ParallelCapacity),
	}
	if err := c.check(op); err != nil {
		return store.Deployment{}, err
	}
	r, err := s.q.CreateDeployment(ctx, params)
	if err != nil {
		return store.Deployment{}, mapErr(op, err)
	}
	return deploymentFromRow(r), nil
}

// GetDeployment returns the deployment with that id.
func (s *Store) GetDeployment(ctx context.Context, id int64) (store.Deployment, error) {
	r, err := s.q.GetDeployment(ctx, id)
	if err != nil {
		return store.Deployment{}, mapErr(fmt.Sprintf("get deployment %d", id), err)
	}
	return deploymentFromRow(r), nil
}

// ListDeployments returns all deployments ordered by id.
func (s *Store) ListDeployments(ctx context.Context) ([]store.Deployment, error) {
	rows, err := s.q.ListDeployments(ctx)
	if err != nil {
		return nil, mapErr("list deployments", err)
	}
	return convertAll(rows, deploymentFromRow), nil
}

// UpdateDeployment replaces every field but ID and CreatedAt and sets UpdatedAt.
func (s *Store) UpdateDeployment(ctx context.Context, d store.Deployment) (store.Deployment, error) {
	op := fmt.Sprintf("update deployment %d", d.ID)
	var c int32s
	params := pgdb.UpdateDeploymentParams{
		ID:               d.ID,
		ModelID:          d.ModelID,
		ProviderID:       d.ProviderID,
		UpstreamModel:    d.UpstreamModel,
		Endpoint:         d.Endpoint,
		Credential:       d.Credential,
		ApiVersion:       d.APIVersion,
		ParallelCapacity: c.conv("parallel capacity", d.ParallelCapacity),
	}
	if err := c.check(op); err != nil {
		return store.Deployment{}, err
	}
	r, err := s.q.UpdateDeployment(ctx, params)
	if err != nil {
		return store.Deployment{}, mapErr(op, err)
	}
	return deploymentFromRow(r), nil
}

// DeleteDeployment deletes a deployment.
func (s *Store) DeleteDeployment(ctx context.Context, id int64) error {
	op := fmt.Sprintf("delete deployment %d", id)
	n, err := s.q.DeleteDeployment(ctx, id)
	if err != nil {
		return mapErr(op, err)
	}
	return notFoundIfNone(op, n)
}

// GrantModel lets a profile use a model; ErrConflict if it already may,
// ErrInvalid if the profile or model does not exist.
func (s *Store) GrantModel(ctx context.Context, profileID, modelID int64) error {
	err := s.q.GrantModel(ctx, pgdb.GrantModelParams{ProfileID: profileID, ModelID: modelID})
	return mapErr(fmt.Sprintf("grant model %d to profile %d", modelID, profileID), err)
}

// RevokeModel removes a permission; ErrNotFound if there is none.
func (s *Store) RevokeModel(ctx context.Context, profileID, modelID int64) error {
	op := fmt.Sprintf("revoke model %d from profile %d", modelID, profileID)
	n, err := s.q.RevokeModel(ctx, pgdb.RevokeModelParams{ProfileID: profileID, ModelID: modelID})
	if err != nil {
		return mapErr(op, err)
	}
	return notFoundIfNone(op, n)
}

// ListPermissions returns a profile's permissions ordered by model id.
func (s *Store) ListPermissions(ctx context.Context, profileID int64) ([]store.Permission, error) {
	rows, err := s.q.ListPermissions(ctx, profileID)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("list permissions of profile %d", profileID), err)
	}
	return convertAll(rows, permissionFromRow), nil
}

// policyParams holds the converted columns shared by CreatePolicy and UpdatePolicy.
type policyParams struct {
	privacy                                    string
	latency, accuracy, cost, quality, priority int32
}

// policyColumns converts p's columns: an empty ThresholdPrivacy means PrivacyLocal.
func policyColumns(op string, p store.Policy) (policyParams, error) {
	var c int32s
	out := policyParams{
		privacy:  string(orDefault(p.ThresholdPrivacy, store.PrivacyLocal)),
		latency:  c.conv("latency threshold", p.ThresholdLatency),
		accuracy: c.conv("accuracy threshold", p.ThresholdAccuracy),
		cost:     c.conv("cost threshold", p.ThresholdCost),
		quality:  c.conv("quality threshold", p.ThresholdQuality),
		priority: c.conv("priority", p.Priority),
	}
	return out, c.check(op)
}

// CreatePolicy stores a policy of an existing process. An empty
// ThresholdPrivacy means PrivacyLocal.
func (s *Store) CreatePolicy(ctx context.Context, p store.Policy) (store.Policy, error) {
	op := fmt.Sprintf("create policy %q of process %d", p.Name, p.ProcessID)
	c, err := policyColumns(op, p)
	if err != nil {
		return store.Policy{}, err
	}
	r, err := s.q.CreatePolicy(ctx, pgdb.CreatePolicyParams{
		ProcessID:         p.ProcessID,
		Name:              p.Name,
		Description:       p.Description,
		ThresholdPrivacy:  c.privacy,
		ThresholdLatency:  c.latency,
		ThresholdAccuracy: c.accuracy,
		ThresholdCost:     c.cost,
		ThresholdQuality:  c.quality,
		Priority:          c.priority,
		Topic:             p.Topic,
	})
	if err != nil {
		return store.Policy{}, mapErr(op, err)
	}
	return policyFromRow(r), nil
}

// GetPolicy returns the policy with that id.
func (s *Store) GetPolicy(ctx context.Context, id int64) (store.Policy, error) {
	r, err := s.q.GetPolicy(ctx, id)
	if err != nil {
		return store.Policy{}, mapErr(fmt.Sprintf("get policy %d", id), err)
	}
	return policyFromRow(r), nil
}

// ListPolicies returns a process's policies ordered by id.
func (s *Store) ListPolicies(ctx context.Context, processID int64) ([]store.Policy, error) {
	rows, err := s.q.ListPolicies(ctx, processID)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("list policies of process %d", processID), err)
	}
	return convertAll(rows, policyFromRow), nil
}

// UpdatePolicy replaces every field but ID and CreatedAt, with the defaults of
// CreatePolicy, and sets UpdatedAt.
func (s *Store) UpdatePolicy(ctx context.Context, p store.Policy) (store.Policy, error) {
	op := fmt.Sprintf("update policy %d", p.ID)
	c, err := policyColumns(op, p)
	if err != nil {
		return store.Policy{}, err
	}
	r, err := s.q.UpdatePolicy(ctx, pgdb.UpdatePolicyParams{
		ID:                p.ID,
		ProcessID:         p.ProcessID,
		Name:              p.Name,
		Description:       p.Description,
		ThresholdPrivacy:  c.privacy,
		ThresholdLatency:  c.latency,
		ThresholdAccuracy: c.accuracy,
		ThresholdCost:     c.cost,
		ThresholdQuality:  c.quality,
		Priority:          c.priority,
		Topic:             p.Topic,
	})
	if err != nil {
		return store.Policy{}, mapErr(op, err)
	}
	return policyFromRow(r), nil
}

// DeletePolicy deletes a policy.
func (s *Store) DeletePolicy(ctx context.Context, id int64) error {
	op := fmt.Sprintf("delete policy %d", id)
	n, err := s.q.DeletePolicy(ctx, id)
	if err != nil {
		return mapErr(op, err)
	}
	return notFoundIfNone(op, n)
}

// EnsureTokenType returns the token type with that name, creating it if
// needed. It is safe to call concurrently with the same name.
func (s *Store) EnsureTokenType(ctx context.Context, name string) (store.TokenType, error) {
	op := fmt.Sprintf("ensure token type %q", name)
	r, err := s.q.GetTokenTypeByName(ctx, name)
	if err == nil {
		return tokenTypeFromRow(r), nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.TokenType{}, mapErr(op, err)
	}
	r, err = s.q.InsertTokenType(ctx, name)
	if errors.Is(err, pgx.ErrNoRows) {
		// A concurrent caller created it after our lookup. This statement
		// runs with a new snapshot, so it sees that committed row.
		r, err = s.q.GetTokenTypeByName(ctx, name)
	}
	if err != nil {
		return store.TokenType{}, mapErr(op, err)
	}
	return tokenTypeFromRow(r), nil
}

// ListTokenTypes returns all token types ordered by id.
func (s *Store) ListTokenTypes(ctx context.Context) ([]store.TokenType, error) {
	rows, err := s.q.ListTokenTypes(ctx)
	if err != nil {
		return nil, mapErr("list token types", err)
	}
	return convertAll(rows, tokenTypeFromRow), nil
}

// CreatePrice stores a price. Zero ModelID and ProviderID mean any model and
// any provider; ValidFrom is required; an empty Currency means EUR.
func (s *Store) CreatePrice(ctx context.Context, p store.Price) (store.Price, error) {
	op := fmt.Sprintf("create price of token type %d", p.TokenTypeID)
	r, err := s.q.CreatePrice(ctx, pgdb.CreatePriceParams{
		TokenTypeID:      p.TokenTypeID,
		ModelID:          nullID(p.ModelID),
		ProviderID:       nullID(p.ProviderID),
		ValidFrom:        nullTime(p.ValidFrom),
		MicrosPerMillion: p.MicrosPerMillion,
		Currency:         orDefault(p.Currency, "EUR"),
	})
	if err != nil {
		return store.Price{}, mapErr(op, err)
	}
	return priceFromRow(r), nil
}

// ListPrices returns all prices ordered by id.
func (s *Store) ListPrices(ctx context.Context) ([]store.Price, error) {
	rows, err := s.q.ListPrices(ctx)
	if err != nil {
		return nil, mapErr("list prices", err)
	}
	return convertAll(rows, priceFromRow), nil
}

// DeletePrice deletes a price.
func (s *Store) DeletePrice(ctx context.Context, id int64) error {
	op := fmt.Sprintf("delete price %d", id)
	n, err := s.q.DeletePrice(ctx, id)
	if err != nil {
		return mapErr(op, err)
	}
	return notFoundIfNone(op, n)
}
