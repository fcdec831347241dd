package router

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/catalog"
	"github.com/logos-llm/logos/internal/config"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/store"
)

// adminCatalogRoutes registers the admin endpoints for providers, models,
// deployments, permissions, prices, export and import.
//
// Every endpoint answers a JSON object with a real status code: 200 and
// {"result": message, ...} on success, the OpenAI error envelope otherwise,
// with error.param naming the offending request field. Fields keep the
// original's names. Differences from the original, on purpose:
//
//   - add_provider stores api_key (sealed) as the provider credential; the
//     original dropped it (spec §12.14). provider_type takes the four kinds
//     openai, azure, ollama and openai_compatible, and the original's "cloud"
//     and "openwebui" as openai_compatible.
//   - connect_model_provider, connect_profile_model and connect_process_model
//     are idempotent: a second call answers the same id and adds no row
//     (spec §12.31).
//   - get_model works (spec §12.16) and a bad update_model category is a 400.
//   - No endpoint ever answers a credential, except export with
//     include_secrets.
//   - export and import exchange the declarative document of package config
//     (the logosd --config file, as JSON), not the original's table dump:
//     objects are named, not numbered, and import upserts by name instead of
//     deleting and re-inserting every table (spec §12.30).
func (h *Handler) adminCatalogRoutes() {
	x := catalogAPI{h}
	h.adminRoute("add_provider", true, true, x.addProvider)
	h.adminRoute("update_provider", true, true, x.updateProvider)
	h.adminRoute("update_provider_sdi_config", true, true, x.updateProvider)
	h.adminRoute("get_providers", false, false, x.getProviders)

	h.adminRoute("add_model", true, true, x.addModel)
	h.adminRoute("add_full_model", true, true, x.addFullModel)
	h.adminRoute("update_model", true, true, x.updateModel)
	h.adminRoute("delete_model", true, true, x.deleteModel)
	h.adminRoute("get_model", false, false, x.getModel)
	h.adminRoute("get_models", false, false, x.getModels)

	h.adminRoute("connect_model_provider", true, true, x.connectModelProvider)
	h.adminRoute("connect_model_api", true, true, x.connectModelAPI)
	h.adminRoute("list_deployments", true, false, x.listDeployments)

	h.adminRoute("connect_profile_model", true, true, x.connectProfileModel)
	h.adminRoute("connect_process_model", true, true, x.connectProfileModel)
	h.adminRoute("connect_process_provider", true, true, x.connectProcessProvider)

	h.adminRoute("add_billing", true, true, x.addBilling)

	h.adminRoute("export", true, false, x.export)
	h.adminRoute("import", true, true, x.importDocument)
}

// catalogAPI implements the catalogue endpoints. Its methods are kept off
// Handler so their names cannot collide with other endpoints.
type catalogAPI struct{ *Handler }

// ---- Providers -------------------------------------------------------------

// catalogProvider is a provider as the admin API shows it: everything but the
// credential, of which only its presence is told.
type catalogProvider struct {
	ID               int64              `json:"id"`
	Name             string             `json:"name"`
	Kind             store.ProviderKind `json:"kind"`
	BaseURL          string             `json:"base_url"`
	AuthName         string             `json:"auth_name"`
	AuthFormat       string             `json:"auth_format"`
	APIVersion       string             `json:"api_version"`
	Privacy          store.Privacy      `json:"privacy"`
	AdminURL         string             `json:"admin_url"`
	TotalVRAMMB      int64              `json:"total_vram_mb"`
	ParallelCapacity int                `json:"parallel_capacity"`
	KeepAliveSeconds int                `json:"keep_alive_seconds"`
	MaxLoadedModels  int                `json:"max_loaded_models"`
	ExtraOperations  []string           `json:"extra_operations"`
	PollIntervalMS   int64              `json:"poll_interval_ms"`
	PollTimeoutMS    int64              `json:"poll_timeout_ms"`
	SleepMode        bool               `json:"sleep_mode"`
	HasAPIKey        bool               `json:"has_api_key"`
}

// newCatalogProvider returns the admin view of p.
func newCatalogProvider(p store.Provider) catalogProvider {
	return catalogProvider{
		ID:               p.ID,
		Name:             p.Name,
		Kind:             p.Kind,
		BaseURL:          p.BaseURL,
		AuthName:         p.AuthHeader,
		AuthFormat:       p.AuthFormat,
		APIVersion:       p.APIVersion,
		Privacy:          p.Privacy,
		AdminURL:         p.AdminURL,
		TotalVRAMMB:      p.TotalVRAMMB,
		ParallelCapacity: p.ParallelCapacity,
		KeepAliveSeconds: p.KeepAliveSeconds,
		MaxLoadedModels:  p.MaxLoadedModels,
		ExtraOperations:  append([]string{}, p.ExtraOperations...),
		PollIntervalMS:   p.PollInterval.Milliseconds(),
		PollTimeoutMS:    p.PollTimeout.Milliseconds(),
		SleepMode:        p.SleepMode,
		HasAPIKey:        p.Credential != "",
	}
}

// addProvider creates a provider: provider_name, base_url and provider_type
// are required; api_key, auth_name, auth_format, api_version, privacy and the
// scheduling fields of update_provider are optional.
func (x catalogAPI) addProvider(a *adminRequest) (int, any, *oaierr.Error) {
	var req catalog.ProviderFields
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	created, err := x.cat.NewProvider(a.ctx, req)
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Created Provider.", "provider-id", created.ID), nil
}

// updateProvider changes the fields present in the request of the provider
// provider_id (update_provider and the original's update_provider_sdi_config).
func (x catalogAPI) updateProvider(a *adminRequest) (int, any, *oaierr.Error) {
	// Decoded apart: error.param of an embedded struct's field would carry
	// the Go type's name.
	var req struct {
		ProviderID int64 `json:"provider_id"`
	}
	var fields catalog.ProviderFields
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	if e := a.decode(&fields); e != nil {
		return 0, nil, e
	}
	if _, err := x.cat.EditProvider(a.ctx, req.ProviderID, fields); err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Updated Provider."), nil
}

// getProviders lists the providers the caller reaches: for an admin all of
// them, for others those deploying a model one of the caller's profiles may
// use. For non-admins the URLs are shown with config.RedactURL.
func (x catalogAPI) getProviders(a *adminRequest) (int, any, *oaierr.Error) {
	if e := a.decode(&struct{}{}); e != nil {
		return 0, nil, e
	}
	provs, err := x.db.ListProviders(a.ctx)
	if err != nil {
		return 0, nil, x.storeError(err, "providers", "")
	}
	var reach map[int64]bool
	if !a.caller.Admin {
		allowed, e := x.callerModels(a.ctx, a.caller)
		if e != nil {
			return 0, nil, e
		}
		deps, err := x.db.ListDeployments(a.ctx)
		if err != nil {
			return 0, nil, x.storeError(err, "deployments", "")
		}
		reach = map[int64]bool{}
		for _, d := range deps {
			if allowed[d.ModelID] {
				reach[d.ProviderID] = true
			}
		}
	}
	out := make([]catalogProvider, 0, len(provs))
	for _, p := range provs {
		if reach != nil && !reach[p.ID] {
			continue
		}
		cp := newCatalogProvider(p)
		if !a.caller.Admin {
			// A URL may carry a secret (user information, ?token=) that
			// only admins may see.
			cp.BaseURL, cp.AdminURL = config.RedactURL(cp.BaseURL), config.RedactURL(cp.AdminURL)
		}
		out = append(out, cp)
	}
	return http.StatusOK, map[string]any{"providers": out}, nil
}

// ---- Models ----------------------------------------------------------------

// catalogModel is a model as the admin API shows it.
type catalogModel struct {
	ID             int64         `json:"id"`
	Name           string        `json:"name"`
	WeightPrivacy  store.Privacy `json:"weight_privacy"`
	WeightLatency  int           `json:"weight_latency"`
	WeightAccuracy int           `json:"weight_accuracy"`
	WeightCost     int           `json:"weight_cost"`
	WeightQuality  int           `json:"weight_quality"`
	Tags           string        `json:"tags"`
	Parallel       int           `json:"parallel"`
	Description    string        `json:"description"`
	ContextWindow  int           `json:"context_window"`
	// The model's retry policy (0: the default; see store.RetryPolicy).
	RetryMaxAttempts      int       `json:"retry_max_attempts"`
	RetryAttemptTimeoutMS int64     `json:"retry_attempt_timeout_ms"`
	RetryDeadlineMS       int64     `json:"retry_deadline_ms"`
	CreatedAt             time.Time `json:"created_at"`
	UpdatedAt             time.Time `json:"updated_at"`
}

// newCatalogModel returns the admin view of m.
func newCatalogModel(m store.Model) catalogModel {
	return catalogModel{
		ID:                    m.ID,
		Name:                  m.Name,
		WeightPrivacy:         m.WeightPrivacy,
		WeightLatency:         m.WeightLatency,
		WeightAccuracy:        m.WeightAccuracy,
		WeightCost:            m.WeightCost,
		WeightQuality:         m.WeightQuality,
		Tags:                  m.Tags,
		Parallel:              m.Parallel,
		Description:           m.Description,
		ContextWindow:         m.ContextWindow,
		RetryMaxAttempts:      m.Retry.MaxAttempts,
		RetryAttemptTimeoutMS: m.Retry.AttemptTimeout.Milliseconds(),
		RetryDeadlineMS:       m.Retry.Deadline.Milliseconds(),
		CreatedAt:             m.CreatedAt,
		UpdatedAt:             m.UpdatedAt,
	}
}

// addModel creates a model with default weights from its name alone.
func (x catalogAPI) addModel(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		Name string `json:"name"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	m, err := x.cat.NewModel(a.ctx, req.Name)
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Created Model", "model_id", m.ID), nil
}

// addFullModel creates a model and ranks it in each category above the model
// named by worse_<category> (null, 0 or absent: below every model).
func (x catalogAPI) addFullModel(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		Name                  string `json:"name"`
		WeightPrivacy         string `json:"weight_privacy"`
		WorseAccuracy         *int64 `json:"worse_accuracy"`
		WorseQuality          *int64 `json:"worse_quality"`
		WorseLatency          *int64 `json:"worse_latency"`
		WorseCost             *int64 `json:"worse_cost"`
		Tags                  string `json:"tags"`
		Parallel              int    `json:"parallel"`
		Description           string `json:"description"`
		ContextWindow         int    `json:"context_window"`
		RetryMaxAttempts      int    `json:"retry_max_attempts"`
		RetryAttemptTimeoutMS int64  `json:"retry_attempt_timeout_ms"`
		RetryDeadlineMS       int64  `json:"retry_deadline_ms"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	var retry store.RetryPolicy
	for _, f := range []struct {
		name string
		v    int64
	}{{catalog.RetryMaxAttempts, int64(req.RetryMaxAttempts)}, {catalog.RetryAttemptTimeout, req.RetryAttemptTimeoutMS}, {catalog.RetryDeadline, req.RetryDeadlineMS}} {
		if err := catalog.SetRetryField(&retry, f.name, f.v); err != nil {
			return 0, nil, x.catalogError(err)
		}
	}
	worse := map[string]int64{}
	for category, id := range map[string]*int64{
		"accuracy": req.WorseAccuracy,
		"quality":  req.WorseQuality,
		"latency":  req.WorseLatency,
		"cost":     req.WorseCost,
	} {
		if id != nil {
			worse[category] = *id
		}
	}
	m, err := x.cat.NewRankedModel(a.ctx, catalog.RankedModel{
		Name:          req.Name,
		WeightPrivacy: req.WeightPrivacy,
		Tags:          req.Tags,
		Description:   req.Description,
		Parallel:      req.Parallel,
		ContextWindow: req.ContextWindow,
		Worse:         worse,
		Retry:         retry,
	})
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Created Model", "model_id", m.ID), nil
}

// updateModel applies manual feedback: value (an integer) is added to the
// model's weight in category and the category is re-ranked; for the category
// privacy, value is the new privacy level.
func (x catalogAPI) updateModel(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		ID       int64           `json:"id"`
		Category string          `json:"category"`
		Value    json.RawMessage `json:"value"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	if err := x.cat.Feedback(a.ctx, req.ID, req.Category, req.Value); err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Updated Model"), nil
}

// deleteModel deletes a model, its deployments and permissions, and re-ranks
// the remaining models without it.
func (x catalogAPI) deleteModel(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		ID int64 `json:"id"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	if err := x.cat.DropModel(a.ctx, req.ID); err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Deleted Model"), nil
}

// getModel returns one model, if the caller is an admin or one of its
// profiles may use the model; otherwise it answers 404 as for an unknown id.
func (x catalogAPI) getModel(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		ID int64 `json:"id"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	if err := catalog.CheckID("id", req.ID); err != nil {
		return 0, nil, x.catalogError(err)
	}
	if !a.caller.Admin {
		allowed, e := x.callerModels(a.ctx, a.caller)
		if e != nil {
			return 0, nil, e
		}
		if !allowed[req.ID] {
			return 0, nil, x.storeError(store.ErrNotFound, fmt.Sprintf("model %d", req.ID), "id")
		}
	}
	m, err := x.db.GetModel(a.ctx, req.ID)
	if err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("model %d", req.ID), "id")
	}
	return http.StatusOK, newCatalogModel(m), nil
}

// getModels lists the models the caller may use (all of them for an admin),
// ordered by id.
func (x catalogAPI) getModels(a *adminRequest) (int, any, *oaierr.Error) {
	if e := a.decode(&struct{}{}); e != nil {
		return 0, nil, e
	}
	models, err := x.db.ListModels(a.ctx)
	if err != nil {
		return 0, nil, x.storeError(err, "models", "")
	}
	var allowed map[int64]bool
	if !a.caller.Admin {
		var e *oaierr.Error
		if allowed, e = x.callerModels(a.ctx, a.caller); e != nil {
			return 0, nil, e
		}
	}
	out := make([]catalogModel, 0, len(models))
	for _, m := range models {
		if allowed == nil || allowed[m.ID] {
			out = append(out, newCatalogModel(m))
		}
	}
	return http.StatusOK, map[string]any{"models": out}, nil
}

// ---- Deployments -----------------------------------------------------------

// catalogDeployment is a deployment as the admin API shows it, without its
// credential.
type catalogDeployment struct {
	ID               int64  `json:"id"`
	ModelID          int64  `json:"model_id"`
	Model            string `json:"model"`
	ProviderID       int64  `json:"provider_id"`
	Provider         string `json:"provider"`
	UpstreamModel    string `json:"upstream_model"`
	Endpoint         string `json:"endpoint"`
	APIVersion       string `json:"api_version"`
	ParallelCapacity int    `json:"parallel_capacity"`
	HasAPIKey        bool   `json:"has_api_key"`
}

// connectModelProvider deploys model_id on provider_id. Optional fields:
// upstream_model (the name sent upstream, or the Azure deployment name),
// endpoint, api_version, parallel_capacity. It is idempotent: for an existing
// deployment it answers the same id, after applying the optional fields the
// request carries.
func (x catalogAPI) connectModelProvider(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		ModelID          int64   `json:"model_id"`
		ProviderID       int64   `json:"provider_id"`
		UpstreamModel    *string `json:"upstream_model"`
		Endpoint         *string `json:"endpoint"`
		APIVersion       *string `json:"api_version"`
		ParallelCapacity *int    `json:"parallel_capacity"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	d, err := x.cat.Connect(a.ctx, req.ModelID, req.ProviderID, catalog.DeploymentFields{
		UpstreamModel:    req.UpstreamModel,
		Endpoint:         req.Endpoint,
		APIVersion:       req.APIVersion,
		ParallelCapacity: req.ParallelCapacity,
	})
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Connected Model to Provider.", "deployment-id", d.ID), nil
}

// connectModelAPI sets the credential (api_key, sealed; "" removes it) and,
// when present, the endpoint of the deployment of model_id on provider_id.
func (x catalogAPI) connectModelAPI(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		ModelID    int64   `json:"model_id"`
		ProviderID int64   `json:"provider_id"`
		APIKey     *string `json:"api_key"`
		Endpoint   *string `json:"endpoint"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	d, err := x.cat.SetDeploymentKey(a.ctx, req.ModelID, req.ProviderID, req.APIKey, req.Endpoint)
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Added api-connection to model.", "deployment-id", d.ID), nil
}

// listDeployments lists every deployment with its model and provider names.
func (x catalogAPI) listDeployments(a *adminRequest) (int, any, *oaierr.Error) {
	if e := a.decode(&struct{}{}); e != nil {
		return 0, nil, e
	}
	c, err := x.db.LoadCatalog(a.ctx)
	if err != nil {
		return 0, nil, x.storeError(err, "catalogue", "")
	}
	models := make(map[int64]string, len(c.Models))
	for _, m := range c.Models {
		models[m.ID] = m.Name
	}
	provs := make(map[int64]string, len(c.Providers))
	for _, p := range c.Providers {
		provs[p.ID] = p.Name
	}
	out := make([]catalogDeployment, 0, len(c.Deployments))
	for _, d := range c.Deployments {
		out = append(out, catalogDeployment{
			ID:               d.ID,
			ModelID:          d.ModelID,
			Model:            models[d.ModelID],
			ProviderID:       d.ProviderID,
			Provider:         provs[d.ProviderID],
			UpstreamModel:    d.UpstreamModel,
			Endpoint:         d.Endpoint,
			APIVersion:       d.APIVersion,
			ParallelCapacity: d.ParallelCapacity,
			HasAPIKey:        d.Credential != "",
		})
	}
	return http.StatusOK, map[string]any{"deployments": out}, nil
}

// ---- Permissions -----------------------------------------------------------

// connectProfileModel lets profile_id use model_id (connect_profile_model and
// the original's connect_process_model). Granting it again changes nothing.
func (x catalogAPI) connectProfileModel(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		ProfileID int64 `json:"profile_id"`
		ModelID   int64 `json:"model_id"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	if err := x.cat.Permit(a.ctx, req.ProfileID, req.ModelID); err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Created Permission.", "profile-id", req.ProfileID, "model-id", req.ModelID), nil
}

// connectProcessProvider lets profile_id use every model deployed on
// provider_id that it may not use yet, and tells how many it granted.
func (x catalogAPI) connectProcessProvider(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		ProfileID  int64 `json:"profile_id"`
		ProviderID int64 `json:"provider_id"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	granted, err := x.cat.PermitProvider(a.ctx, req.ProfileID, req.ProviderID)
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	msg := fmt.Sprintf("Granted access to %d model(s) for provider %d.", granted, req.ProviderID)
	return http.StatusOK, result(msg, "granted", granted, "profile-id", req.ProfileID, "provider-id", req.ProviderID), nil
}

// ---- Prices ----------------------------------------------------------------

// addBilling adds a price: type_cost is the price per 1,000 tokens of the
// token type type_name (created if needed) in currency units, valid from
// valid_from (catalog.ParseTime: ISO 8601; without a zone it is UTC).
// currency (default EUR), model_id and provider_id (default any) are
// optional.
func (x catalogAPI) addBilling(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		TypeName   string   `json:"type_name"`
		TypeCost   *float64 `json:"type_cost"`
		ValidFrom  string   `json:"valid_from"`
		Currency   string   `json:"currency"`
		ModelID    int64    `json:"model_id"`
		ProviderID int64    `json:"provider_id"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	p, err := x.cat.NewPrice(a.ctx, catalog.PriceRequest{
		TokenType:   req.TypeName,
		PerThousand: req.TypeCost,
		ValidFrom:   req.ValidFrom,
		Currency:    req.Currency,
		ModelID:     req.ModelID,
		ProviderID:  req.ProviderID,
	})
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Successfully added billing", "billing-id", p.ID), nil
}

// ---- Export and import ----------------------------------------------------

// catalogOpener is implemented by Sealers that can also decrypt.
type catalogOpener interface {
	Open(sealed string) (string, error)
}

// export answers the catalogue as a config document: {"result": document}.
// Credentials are "[REDACTED]" unless include_secrets is true; then they are
// decrypted, which needs a Sealer that can open what it sealed (without a
// Sealer they are stored, and answered, as given).
func (x catalogAPI) export(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		IncludeSecrets bool `json:"include_secrets"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	opts := config.ExportOptions{IncludeSecrets: req.IncludeSecrets}
	if req.IncludeSecrets && x.cfg.Sealer != nil {
		o, ok := x.cfg.Sealer.(catalogOpener)
		if !ok {
			return 0, nil, invalid("include_secrets", "needs the secret key, which this server cannot use to decrypt").WithCode("include_secrets_unavailable")
		}
		opts.Open = o.Open
	}
	doc, err := config.Export(a.ctx, x.db, opts)
	if err != nil {
		// The error names the object, never the credential.
		x.log.Error("admin: export failed", "err", err)
		return 0, nil, oaierr.New(http.StatusInternalServerError, "Export failed; see the server log")
	}
	return http.StatusOK, map[string]any{"result": doc}, nil
}

// importDocument applies a config document (json_data: the document as a
// JSON object, or its JSON or YAML text) by name: it creates and updates, and
// with prune: true also deletes what the document does not mention. It
// answers what changed. "${VAR}" references are resolved with Config.Getenv,
// only for names starting with config.ImportEnvPrefix;
// "[REDACTED]" credentials keep the stored ones.
func (x catalogAPI) importDocument(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		Document json.RawMessage `json:"json_data"`
		Prune    bool            `json:"prune"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	data := []byte(strings.TrimSpace(string(req.Document)))
	switch {
	case len(data) == 0 || string(data) == "null":
		return 0, nil, missing("json_data")
	case data[0] == '"':
		var text string
		if err := json.Unmarshal(data, &text); err != nil {
			return 0, nil, invalid("json_data", "must be a document object or its text")
		}
		data = []byte(text)
	case data[0] != '{':
		return 0, nil, invalid("json_data", "must be a document object (providers, models, users, services, processes, policies, prices) or its text")
	}
	opts := config.ApplyOptions{Getenv: x.cfg.Getenv, EnvPrefix: config.ImportEnvPrefix, Prune: req.Prune, Catalog: x.cat}
	if x.cfg.Sealer != nil {
		opts = opts.WithSealer(x.cfg.Sealer)
	}
	rep, err := config.ApplyDocument(a.ctx, x.db, data, opts)
	if err != nil {
		if rep.Changed() {
			x.log.Warn("admin: import stopped part way", "created", rep.Created, "updated", rep.Updated, "deleted", rep.Deleted)
			if x.cfg.OnChange != nil {
				x.cfg.OnChange(a.ctx) // what was applied must still be seen
			}
		}
		if len(config.Errors(err)) > 0 {
			return 0, nil, catalogDocumentError(err)
		}
		x.log.Error("admin: import failed", "err", err)
		e := x.storeError(err, "object of the document", "json_data")
		if rep.Changed() {
			e.Message += fmt.Sprintf(" (the import stopped after %d change(s); import the document again to complete it)", len(rep.Created)+len(rep.Updated)+len(rep.Deleted))
		}
		return 0, nil, e
	}
	return http.StatusOK, map[string]any{
		"result":  "Imported",
		"created": catalogNonNil(rep.Created),
		"updated": catalogNonNil(rep.Updated),
		"deleted": catalogNonNil(rep.Deleted),
	}, nil
}

// catalogDocumentError is the 400 for a document that config refused; the
// message lists every problem with its place ("line 3: providers[0].kind:
// must be ...").
func catalogDocumentError(err error) *oaierr.Error {
	problems := config.Errors(err)
	msgs := make([]string, 0, len(problems))
	for _, p := range problems {
		msgs = append(msgs, p.Error())
	}
	if len(msgs) == 0 {
		msgs = append(msgs, err.Error())
	}
	return oaierr.New(http.StatusBadRequest, "Invalid document: "+strings.Join(msgs, "; ")).WithParam("json_data").WithCode("invalid_document")
}

// catalogNonNil returns s, or an empty slice for nil, so it encodes as [].
func catalogNonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ---- Shared helpers --------------------------------------------------------

// callerModels returns the ids of the models any profile of the
// caller's process may use.
func (x catalogAPI) callerModels(ctx context.Context, c principal) (map[int64]bool, *oaierr.Error) {
	profiles, err := x.db.ListProfiles(ctx, c.Process.ID)
	if err != nil {
		return nil, x.storeError(err, "profiles", "")
	}
	ids := map[int64]bool{}
	for _, p := range profiles {
		perms, err := x.db.ListPermissions(ctx, p.ID)
		if err != nil {
			return nil, x.storeError(err, "permissions", "")
		}
		for _, perm := range perms {
			ids[perm.ModelID] = true
		}
	}
	return ids, nil
}
