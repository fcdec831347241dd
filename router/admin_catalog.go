package router

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/logos-llm/logos/classify/ranking"
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

// providerFields are the provider fields add_provider and update_provider
// accept. A nil field was absent from the request (or JSON null) and leaves
// the provider's value unchanged.
type providerFields struct {
	Name             *string `json:"provider_name"`
	Type             *string `json:"provider_type"`
	BaseURL          *string `json:"base_url"`
	APIKey           *string `json:"api_key"`
	AuthName         *string `json:"auth_name"`
	AuthFormat       *string `json:"auth_format"`
	APIVersion       *string `json:"api_version"`
	Privacy          *string `json:"privacy"`
	AdminURL         *string `json:"admin_url"`
	TotalVRAMMB      *int64  `json:"total_vram_mb"`
	ParallelCapacity *int    `json:"parallel_capacity"`
	KeepAliveSeconds *int    `json:"keep_alive_seconds"`
	MaxLoadedModels  *int    `json:"max_loaded_models"`
	// ExtraOperations replaces the provider's list of operations allowed
	// beyond the known ones; [] clears it.
	ExtraOperations *[]string `json:"extra_operations"`
	// Monitoring: admin_url is polled every poll_interval_ms for at most
	// poll_timeout_ms (0 = 5000 each); sleep_mode polls vLLM's /is_sleeping.
	PollIntervalMS *int64 `json:"poll_interval_ms"`
	PollTimeoutMS  *int64 `json:"poll_timeout_ms"`
	SleepMode      *bool  `json:"sleep_mode"`
}

// maxPollMS bounds poll_interval_ms and poll_timeout_ms: one day.
const maxPollMS = 24 * 60 * 60 * 1000

// applyProviderFields validates the present fields and sets them on p. An api_key is
// sealed; an empty one removes the credential. An empty privacy is ignored.
func (x catalogAPI) applyProviderFields(f providerFields, p *store.Provider) *oaierr.Error {
	if f.Name != nil {
		if p.Name = strings.TrimSpace(*f.Name); p.Name == "" {
			return missing("provider_name")
		}
	}
	if f.Type != nil {
		if strings.TrimSpace(*f.Type) == "" {
			return missing("provider_type")
		}
		kind, ok := ProviderKind(*f.Type)
		if !ok {
			return invalid("provider_type", "must be one of openai, azure, ollama, openai_compatible (or the original's cloud, openwebui)")
		}
		p.Kind = kind
	}
	if f.BaseURL != nil {
		if p.BaseURL = strings.TrimSpace(*f.BaseURL); p.BaseURL == "" {
			return missing("base_url")
		}
		if e := catalogHTTPURL("base_url", p.BaseURL); e != nil {
			return e
		}
	}
	if f.AuthName != nil {
		p.AuthHeader = strings.TrimSpace(*f.AuthName)
		if p.AuthHeader != "" && !catalogHeaderName(p.AuthHeader) {
			return invalid("auth_name", "must be a valid HTTP header name")
		}
	}
	if f.AuthFormat != nil {
		p.AuthFormat = *f.AuthFormat
		if p.AuthFormat != "" && !strings.Contains(p.AuthFormat, "{}") {
			return invalid("auth_format", `must contain the placeholder "{}" for the credential`)
		}
	}
	if f.APIVersion != nil {
		p.APIVersion = strings.TrimSpace(*f.APIVersion)
	}
	if f.ExtraOperations != nil {
		ops := make([]string, 0, len(*f.ExtraOperations))
		for _, op := range *f.ExtraOperations {
			op = strings.TrimSpace(op)
			if err := store.CheckOperationPattern(op); err != nil {
				return invalid("extra_operations", "has an invalid entry: "+err.Error())
			}
			ops = append(ops, op)
		}
		p.ExtraOperations = ops
	}
	if f.Privacy != nil && strings.TrimSpace(*f.Privacy) != "" {
		level, e := catalogPrivacy("privacy", *f.Privacy)
		if e != nil {
			return e
		}
		p.Privacy = level
	}
	if f.AdminURL != nil {
		if p.AdminURL = strings.TrimSpace(*f.AdminURL); p.AdminURL != "" {
			if e := catalogHTTPURL("admin_url", p.AdminURL); e != nil {
				return e
			}
		}
	}
	for _, n := range []struct {
		field string
		v     *int
		dst   *int
	}{
		{"parallel_capacity", f.ParallelCapacity, &p.ParallelCapacity},
		{"keep_alive_seconds", f.KeepAliveSeconds, &p.KeepAliveSeconds},
		{"max_loaded_models", f.MaxLoadedModels, &p.MaxLoadedModels},
	} {
		if n.v == nil {
			continue
		}
		if *n.v < 0 {
			return invalid(n.field, "must not be negative")
		}
		*n.dst = *n.v
	}
	for _, n := range []struct {
		field string
		v     *int64
		dst   *time.Duration
	}{
		{"poll_interval_ms", f.PollIntervalMS, &p.PollInterval},
		{"poll_timeout_ms", f.PollTimeoutMS, &p.PollTimeout},
	} {
		if n.v == nil {
			continue
		}
		if *n.v < 0 || *n.v > maxPollMS {
			return invalid(n.field, "must be between 0 (the default, 5000) and 86400000 (one day)")
		}
		*n.dst = time.Duration(*n.v) * time.Millisecond
	}
	if f.SleepMode != nil {
		p.SleepMode = *f.SleepMode
	}
	if f.TotalVRAMMB != nil {
		if *f.TotalVRAMMB < 0 {
			return invalid("total_vram_mb", "must not be negative")
		}
		p.TotalVRAMMB = *f.TotalVRAMMB
	}
	if f.APIKey != nil {
		sealed, e := x.seal(*f.APIKey)
		if e != nil {
			return e
		}
		p.Credential = sealed
	}
	return nil
}

// addProvider creates a provider: provider_name, base_url and provider_type
// are required; api_key, auth_name, auth_format, api_version, privacy and the
// scheduling fields of update_provider are optional.
func (x catalogAPI) addProvider(a *adminRequest) (int, any, *oaierr.Error) {
	var req providerFields
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	switch {
	case req.Name == nil:
		return 0, nil, missing("provider_name")
	case req.BaseURL == nil:
		return 0, nil, missing("base_url")
	case req.Type == nil:
		return 0, nil, missing("provider_type")
	}
	var p store.Provider
	if e := x.applyProviderFields(req, &p); e != nil {
		return 0, nil, e
	}
	created, err := x.db.CreateProvider(a.ctx, p)
	if err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("provider %q", p.Name), "provider_name")
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
	var fields providerFields
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	if e := a.decode(&fields); e != nil {
		return 0, nil, e
	}
	if e := catalogNeedID("provider_id", req.ProviderID); e != nil {
		return 0, nil, e
	}
	p, err := x.db.GetProvider(a.ctx, req.ProviderID)
	if err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("provider %d", req.ProviderID), "provider_id")
	}
	if e := x.applyProviderFields(fields, &p); e != nil {
		return 0, nil, e
	}
	if _, err := x.db.UpdateProvider(a.ctx, p); err != nil {
		field := "provider_id"
		if errors.Is(err, store.ErrConflict) {
			field = "provider_name"
		}
		return 0, nil, x.storeError(err, fmt.Sprintf("provider %q", p.Name), field)
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
	name := strings.TrimSpace(req.Name)
	if name == "" {
		return 0, nil, missing("name")
	}
	m, err := x.db.CreateModel(a.ctx, store.Model{Name: name})
	if err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("model %q", name), "name")
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
	m := store.Model{
		Name:          strings.TrimSpace(req.Name),
		Tags:          strings.TrimSpace(req.Tags),
		Parallel:      req.Parallel,
		Description:   req.Description,
		ContextWindow: req.ContextWindow,
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"retry_max_attempts", int64(req.RetryMaxAttempts)}, {"retry_attempt_timeout_ms", req.RetryAttemptTimeoutMS}, {"retry_deadline_ms", req.RetryDeadlineMS}} {
		if e := setRetryField(&m.Retry, f.name, f.v); e != nil {
			return 0, nil, e
		}
	}
	switch {
	case m.Name == "":
		return 0, nil, missing("name")
	case m.Parallel < 0 || m.Parallel > 256:
		return 0, nil, invalid("parallel", "must be between 1 and 256")
	case m.ContextWindow < 0:
		return 0, nil, invalid("context_window", "must not be negative")
	}
	if strings.TrimSpace(req.WeightPrivacy) != "" {
		level, e := catalogPrivacy("weight_privacy", req.WeightPrivacy)
		if e != nil {
			return 0, nil, e
		}
		m.WeightPrivacy = level
	}
	worse := map[string]*int64{
		"accuracy": req.WorseAccuracy,
		"quality":  req.WorseQuality,
		"latency":  req.WorseLatency,
		"cost":     req.WorseCost,
	}

	rankMu.Lock()
	defer rankMu.Unlock()
	models, err := x.db.ListModels(a.ctx)
	if err != nil {
		return 0, nil, x.storeError(err, "models", "")
	}
	for _, c := range rankCategories {
		if id := worse[c.name]; id != nil && *id != 0 && catalogFindModel(models, *id) < 0 {
			return 0, nil, x.storeError(store.ErrNotFound, fmt.Sprintf("model %d", *id), "worse_"+c.name)
		}
	}
	name := m.Name
	m, err = x.db.CreateModel(a.ctx, m)
	if err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("model %q", name), "name")
	}
	models = append(models, m)
	changed, err := rerank(models, m.ID, func(category string, l ranking.List) (ranking.List, error) {
		var below int64
		if id := worse[category]; id != nil {
			below = *id
		}
		return l.Insert(m.ID, below)
	})
	if err == nil {
		err = x.saveWeights(a.ctx, models, changed)
	}
	if err != nil {
		// Leave no unranked model behind.
		if derr := x.db.DeleteModel(context.WithoutCancel(a.ctx), m.ID); derr != nil {
			x.log.Error("admin: removing a model whose ranking failed", "model_id", m.ID, "err", derr)
		}
		return 0, nil, x.storeError(err, fmt.Sprintf("model %q", m.Name), "")
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
	if e := catalogNeedID("id", req.ID); e != nil {
		return 0, nil, e
	}
	category := strings.ToLower(strings.TrimSpace(req.Category))
	if category == "" {
		return 0, nil, missing("category")
	}
	if category != "privacy" && rankCategory(category) == nil && !isRetryField(category) {
		return 0, nil, invalid("category", "must be one of latency, accuracy, quality, cost, privacy, retry_max_attempts, retry_attempt_timeout_ms, retry_deadline_ms")
	}
	if len(req.Value) == 0 || string(req.Value) == "null" {
		return 0, nil, missing("value")
	}
	if isRetryField(category) {
		return x.updateModelRetry(a, req.ID, category, req.Value)
	}

	if category == "privacy" {
		var s string
		if err := json.Unmarshal(req.Value, &s); err != nil {
			return 0, nil, invalid("value", "must be a privacy level for the category privacy")
		}
		level, e := catalogPrivacy("value", s)
		if e != nil {
			return 0, nil, e
		}
		rankMu.Lock()
		defer rankMu.Unlock()
		m, err := x.db.GetModel(a.ctx, req.ID)
		if err != nil {
			return 0, nil, x.storeError(err, fmt.Sprintf("model %d", req.ID), "id")
		}
		m.WeightPrivacy = level
		if _, err := x.db.UpdateModel(a.ctx, m); err != nil {
			return 0, nil, x.storeError(err, fmt.Sprintf("model %d", req.ID), "id")
		}
		return http.StatusOK, result("Updated Model"), nil
	}

	var delta int
	if err := json.Unmarshal(req.Value, &delta); err != nil {
		return 0, nil, invalid("value", "must be an integer for the category "+category)
	}
	if delta < -maxFeedback || delta > maxFeedback {
		return 0, nil, invalid("value", fmt.Sprintf("must be between %d and %d", -maxFeedback, maxFeedback))
	}
	rankMu.Lock()
	defer rankMu.Unlock()
	models, err := x.db.ListModels(a.ctx)
	if err != nil {
		return 0, nil, x.storeError(err, "models", "")
	}
	if catalogFindModel(models, req.ID) < 0 {
		return 0, nil, x.storeError(store.ErrNotFound, fmt.Sprintf("model %d", req.ID), "id")
	}
	changed, err := rerank(models, 0, func(c string, l ranking.List) (ranking.List, error) {
		if c != category {
			return l, nil
		}
		return l.Feedback(req.ID, delta)
	})
	if err == nil {
		err = x.saveWeights(a.ctx, models, changed)
	}
	if err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("model %d", req.ID), "id")
	}
	return http.StatusOK, result("Updated Model"), nil
}

// isRetryField reports whether name is one of the admin API's fields of a
// model's retry policy.
func isRetryField(name string) bool {
	return name == "retry_max_attempts" || name == "retry_attempt_timeout_ms" || name == "retry_deadline_ms"
}

// setRetryField sets one field of a retry policy from its admin API value,
// checking the store's range (0 means the default).
func setRetryField(p *store.RetryPolicy, name string, v int64) *oaierr.Error {
	switch name {
	case "retry_max_attempts":
		if v < 0 || v > 100 {
			return invalid(name, "must be between 0 (the default, 3) and 100")
		}
		p.MaxAttempts = int(v)
		return nil
	}
	if v < 0 || v > 3_600_000 {
		return invalid(name, "must be between 0 (the default) and 3600000 milliseconds")
	}
	d := time.Duration(v) * time.Millisecond
	if name == "retry_attempt_timeout_ms" {
		p.AttemptTimeout = d
	} else {
		p.Deadline = d
	}
	return nil
}

// updateModelRetry sets one field of a model's retry policy (update_model
// with a retry_* category and an integer value).
func (x catalogAPI) updateModelRetry(a *adminRequest, id int64, field string, value json.RawMessage) (int, any, *oaierr.Error) {
	var v int64
	if err := json.Unmarshal(value, &v); err != nil {
		return 0, nil, invalid("value", "must be an integer for the category "+field)
	}
	rankMu.Lock()
	defer rankMu.Unlock()
	m, err := x.db.GetModel(a.ctx, id)
	if err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("model %d", id), "id")
	}
	if e := setRetryField(&m.Retry, field, v); e != nil {
		e.Param = "value"
		return 0, nil, e
	}
	if _, err := x.db.UpdateModel(a.ctx, m); err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("model %d", id), "id")
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
	if e := catalogNeedID("id", req.ID); e != nil {
		return 0, nil, e
	}
	rankMu.Lock()
	defer rankMu.Unlock()
	models, err := x.db.ListModels(a.ctx)
	if err != nil {
		return 0, nil, x.storeError(err, "models", "")
	}
	if catalogFindModel(models, req.ID) < 0 {
		return 0, nil, x.storeError(store.ErrNotFound, fmt.Sprintf("model %d", req.ID), "id")
	}
	changed, err := rerank(models, 0, func(_ string, l ranking.List) (ranking.List, error) {
		return l.Remove(req.ID)
	})
	if err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("model %d", req.ID), "id")
	}
	// Delete first: if that fails, no weight has changed.
	if err := x.db.DeleteModel(a.ctx, req.ID); err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("model %d", req.ID), "id")
	}
	if err := x.saveWeights(a.ctx, models, changed); err != nil {
		return 0, nil, x.storeError(err, "model weights", "")
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
	if e := catalogNeedID("id", req.ID); e != nil {
		return 0, nil, e
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

// ---- Ranking ---------------------------------------------------------------

// maxFeedback bounds the value of one update_model feedback, far beyond any
// useful rank offset (adjacent ranks are ranking.Step apart) and far from
// overflowing a weight.
const maxFeedback = 1_000_000

// rankMu serialises the read-rank-write cycles of model weights in this
// process, so two concurrent feedbacks cannot overwrite each other.
var rankMu sync.Mutex

// rankCategories are the ranked weight categories of a model. Privacy is a
// level, not a rank.
var rankCategories = []struct {
	name   string
	weight func(m *store.Model) *int
}{
	{"accuracy", func(m *store.Model) *int { return &m.WeightAccuracy }},
	{"quality", func(m *store.Model) *int { return &m.WeightQuality }},
	{"latency", func(m *store.Model) *int { return &m.WeightLatency }},
	{"cost", func(m *store.Model) *int { return &m.WeightCost }},
}

// rankCategory returns the weight accessor of a ranked category, or nil.
func rankCategory(name string) func(m *store.Model) *int {
	for _, c := range rankCategories {
		if c.name == name {
			return c.weight
		}
	}
	return nil
}

// rerank re-ranks models in every category: it builds the category's ranking
// from the stored weights of all models but skip (0: none), applies op, and
// writes the resulting weights into models. A model op removed keeps its
// weights. It returns the indexes of the models whose weights changed.
func rerank(models []store.Model, skip int64, op func(category string, l ranking.List) (ranking.List, error)) ([]int, error) {
	changed := map[int]bool{}
	for _, c := range rankCategories {
		weights := make(map[int64]int, len(models))
		for i := range models {
			if models[i].ID != skip {
				weights[models[i].ID] = *c.weight(&models[i])
			}
		}
		l, err := op(c.name, ranking.FromWeights(weights))
		if err != nil {
			return nil, fmt.Errorf("ranking %s: %w", c.name, err)
		}
		next := l.Weights()
		for i := range models {
			w, ok := next[models[i].ID]
			if p := c.weight(&models[i]); ok && *p != w {
				*p = w
				changed[i] = true
			}
		}
	}
	out := make([]int, 0, len(changed))
	for i := range models {
		if changed[i] {
			out = append(out, i)
		}
	}
	return out, nil
}

// saveWeights stores the models at the given indexes.
func (x catalogAPI) saveWeights(ctx context.Context, models []store.Model, idx []int) error {
	for _, i := range idx {
		if _, err := x.db.UpdateModel(ctx, models[i]); err != nil {
			return err
		}
	}
	return nil
}

// catalogFindModel returns the index of the model with the given id, or -1.
func catalogFindModel(models []store.Model, id int64) int {
	for i := range models {
		if models[i].ID == id {
			return i
		}
	}
	return -1
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

// modelAndProvider checks that the model and the provider a request names
// (in model_id and provider_id) exist.
func (x catalogAPI) modelAndProvider(ctx context.Context, modelID, providerID int64) *oaierr.Error {
	if _, err := x.db.GetModel(ctx, modelID); err != nil {
		return x.storeError(err, fmt.Sprintf("model %d", modelID), "model_id")
	}
	if _, err := x.db.GetProvider(ctx, providerID); err != nil {
		return x.storeError(err, fmt.Sprintf("provider %d", providerID), "provider_id")
	}
	return nil
}

// deploymentOf returns the deployment of a model on a provider, and false if
// there is none.
func (x catalogAPI) deploymentOf(ctx context.Context, modelID, providerID int64) (store.Deployment, bool, *oaierr.Error) {
	deps, err := x.db.ListDeployments(ctx)
	if err != nil {
		return store.Deployment{}, false, x.storeError(err, "deployments", "")
	}
	for _, d := range deps {
		if d.ModelID == modelID && d.ProviderID == providerID {
			return d, true, nil
		}
	}
	return store.Deployment{}, false, nil
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
	if e := cmp.Or(catalogNeedID("model_id", req.ModelID), catalogNeedID("provider_id", req.ProviderID)); e != nil {
		return 0, nil, e
	}
	if req.Endpoint != nil {
		if e := catalogEndpoint(*req.Endpoint); e != nil {
			return 0, nil, e
		}
	}
	if req.ParallelCapacity != nil && *req.ParallelCapacity < 0 {
		return 0, nil, invalid("parallel_capacity", "must not be negative")
	}
	if e := x.modelAndProvider(a.ctx, req.ModelID, req.ProviderID); e != nil {
		return 0, nil, e
	}
	apply := func(d *store.Deployment) {
		if req.UpstreamModel != nil {
			d.UpstreamModel = strings.TrimSpace(*req.UpstreamModel)
		}
		if req.Endpoint != nil {
			d.Endpoint = strings.TrimSpace(*req.Endpoint)
		}
		if req.APIVersion != nil {
			d.APIVersion = strings.TrimSpace(*req.APIVersion)
		}
		if req.ParallelCapacity != nil {
			d.ParallelCapacity = *req.ParallelCapacity
		}
	}
	const done = "Connected Model to Provider."
	for attempt := 0; ; attempt++ {
		d, ok, e := x.deploymentOf(a.ctx, req.ModelID, req.ProviderID)
		if e != nil {
			return 0, nil, e
		}
		if ok {
			before := d
			apply(&d)
			if d != before {
				if _, err := x.db.UpdateDeployment(a.ctx, d); err != nil {
					return 0, nil, x.storeError(err, fmt.Sprintf("deployment %d", d.ID), "")
				}
			}
			return http.StatusOK, result(done, "deployment-id", d.ID), nil
		}
		d = store.Deployment{ModelID: req.ModelID, ProviderID: req.ProviderID}
		apply(&d)
		d, err := x.db.CreateDeployment(a.ctx, d)
		if errors.Is(err, store.ErrConflict) && attempt == 0 {
			continue // created concurrently: answer that one
		}
		if err != nil {
			return 0, nil, x.storeError(err, fmt.Sprintf("deployment of model %d on provider %d", req.ModelID, req.ProviderID), "")
		}
		return http.StatusOK, result(done, "deployment-id", d.ID), nil
	}
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
	if e := cmp.Or(catalogNeedID("model_id", req.ModelID), catalogNeedID("provider_id", req.ProviderID)); e != nil {
		return 0, nil, e
	}
	if req.APIKey == nil {
		return 0, nil, missing("api_key")
	}
	if req.Endpoint != nil {
		if e := catalogEndpoint(*req.Endpoint); e != nil {
			return 0, nil, e
		}
	}
	if e := x.modelAndProvider(a.ctx, req.ModelID, req.ProviderID); e != nil {
		return 0, nil, e
	}
	d, ok, e := x.deploymentOf(a.ctx, req.ModelID, req.ProviderID)
	if e != nil {
		return 0, nil, e
	}
	if !ok {
		return 0, nil, oaierr.New(http.StatusBadRequest, "Model is not connected to the specified provider.").WithParam("provider_id").WithCode("not_connected")
	}
	sealed, e := x.seal(*req.APIKey)
	if e != nil {
		return 0, nil, e
	}
	d.Credential = sealed
	if req.Endpoint != nil {
		d.Endpoint = strings.TrimSpace(*req.Endpoint)
	}
	if _, err := x.db.UpdateDeployment(a.ctx, d); err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("deployment %d", d.ID), "")
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
	if e := cmp.Or(catalogNeedID("profile_id", req.ProfileID), catalogNeedID("model_id", req.ModelID)); e != nil {
		return 0, nil, e
	}
	if _, err := x.db.GetProfile(a.ctx, req.ProfileID); err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("profile %d", req.ProfileID), "profile_id")
	}
	if _, err := x.db.GetModel(a.ctx, req.ModelID); err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("model %d", req.ModelID), "model_id")
	}
	if err := x.db.GrantModel(a.ctx, req.ProfileID, req.ModelID); err != nil && !errors.Is(err, store.ErrConflict) {
		return 0, nil, x.storeError(err, fmt.Sprintf("permission of profile %d for model %d", req.ProfileID, req.ModelID), "")
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
	if e := cmp.Or(catalogNeedID("profile_id", req.ProfileID), catalogNeedID("provider_id", req.ProviderID)); e != nil {
		return 0, nil, e
	}
	if _, err := x.db.GetProfile(a.ctx, req.ProfileID); err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("profile %d", req.ProfileID), "profile_id")
	}
	if _, err := x.db.GetProvider(a.ctx, req.ProviderID); err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("provider %d", req.ProviderID), "provider_id")
	}
	deps, err := x.db.ListDeployments(a.ctx)
	if err != nil {
		return 0, nil, x.storeError(err, "deployments", "")
	}
	perms, err := x.db.ListPermissions(a.ctx, req.ProfileID)
	if err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("profile %d", req.ProfileID), "profile_id")
	}
	has := make(map[int64]bool, len(perms))
	for _, p := range perms {
		has[p.ModelID] = true
	}
	granted := 0
	for _, d := range deps {
		if d.ProviderID != req.ProviderID || has[d.ModelID] {
			continue
		}
		has[d.ModelID] = true
		switch err := x.db.GrantModel(a.ctx, req.ProfileID, d.ModelID); {
		case err == nil:
			granted++
		case errors.Is(err, store.ErrConflict):
			// Granted concurrently.
		case errors.Is(err, store.ErrInvalid):
			// The profile or the model was deleted concurrently: the first
			// ends the call, the second only skips that model.
			if _, err := x.db.GetProfile(a.ctx, req.ProfileID); err != nil {
				return 0, nil, x.storeError(err, fmt.Sprintf("profile %d", req.ProfileID), "profile_id")
			}
		default:
			return 0, nil, x.storeError(err, fmt.Sprintf("permission of profile %d for model %d", req.ProfileID, d.ModelID), "")
		}
	}
	msg := fmt.Sprintf("Granted access to %d model(s) for provider %d.", granted, req.ProviderID)
	return http.StatusOK, result(msg, "granted", granted, "profile-id", req.ProfileID, "provider-id", req.ProviderID), nil
}

// ---- Prices ----------------------------------------------------------------

// addBilling adds a price: type_cost is the price per 1,000 tokens of the
// token type type_name (created if needed) in currency units, valid from
// valid_from (ISO 8601; without a zone it is UTC). currency (default EUR),
// model_id and provider_id (default any) are optional.
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
	name := strings.TrimSpace(req.TypeName)
	switch {
	case name == "":
		return 0, nil, missing("type_name")
	case req.TypeCost == nil:
		return 0, nil, missing("type_cost")
	case *req.TypeCost < 0:
		return 0, nil, invalid("type_cost", "must not be negative")
	case strings.TrimSpace(req.ValidFrom) == "":
		return 0, nil, missing("valid_from")
	case req.ModelID < 0:
		return 0, nil, invalid("model_id", "must be a positive id")
	case req.ProviderID < 0:
		return 0, nil, invalid("provider_id", "must be a positive id")
	}
	// Price per 1,000 tokens in units → per million tokens in micro-units.
	micros := math.Round(*req.TypeCost * 1000 * 1e6)
	if micros >= math.MaxInt64 {
		return 0, nil, invalid("type_cost", "is too large")
	}
	from, ok := catalogTime(req.ValidFrom)
	if !ok {
		return 0, nil, invalid("valid_from", "must be an ISO 8601 date or time, e.g. 2026-01-01T00:00:00Z")
	}
	currency := strings.ToUpper(strings.TrimSpace(req.Currency))
	if currency == "" {
		currency = "EUR"
	}
	if len(currency) != 3 || strings.Trim(currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return 0, nil, invalid("currency", "must be a three-letter ISO 4217 code")
	}
	if req.ModelID != 0 {
		if _, err := x.db.GetModel(a.ctx, req.ModelID); err != nil {
			return 0, nil, x.storeError(err, fmt.Sprintf("model %d", req.ModelID), "model_id")
		}
	}
	if req.ProviderID != 0 {
		if _, err := x.db.GetProvider(a.ctx, req.ProviderID); err != nil {
			return 0, nil, x.storeError(err, fmt.Sprintf("provider %d", req.ProviderID), "provider_id")
		}
	}
	tt, err := x.db.EnsureTokenType(a.ctx, name)
	if err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("token type %q", name), "type_name")
	}
	p, err := x.db.CreatePrice(a.ctx, store.Price{
		TokenTypeID:      tt.ID,
		ModelID:          req.ModelID,
		ProviderID:       req.ProviderID,
		ValidFrom:        from,
		MicrosPerMillion: int64(micros),
		Currency:         currency,
	})
	if err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("price of %q from %s", name, from.Format(time.RFC3339)), "valid_from")
	}
	return http.StatusOK, result("Successfully added billing", "billing-id", p.ID), nil
}

// catalogTime parses an ISO 8601 time as the original accepted it: RFC 3339
// with a zone or "Z", or a local date-time or date, taken as UTC.
func catalogTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04",
		time.DateOnly,
	} {
		if t, err := time.Parse(layout, s); err == nil && t.UTC().Year() >= 1 && t.UTC().Year() <= 9999 {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
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
	doc, err := config.Parse(data)
	if err != nil {
		return 0, nil, catalogDocumentError(err)
	}
	opts := config.ApplyOptions{Getenv: x.cfg.Getenv, EnvPrefix: config.ImportEnvPrefix, Prune: req.Prune}
	if x.cfg.Sealer != nil {
		opts.Seal = x.cfg.Sealer.Seal
		if o, ok := x.cfg.Sealer.(catalogOpener); ok {
			opts.Open = o.Open
		}
	}
	rep, err := config.Apply(a.ctx, x.db, doc, opts)
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

// seal encrypts a provider or deployment credential with the
// configured Sealer. An empty credential, or any without a Sealer, is
// returned as given.
func (x catalogAPI) seal(secret string) (string, *oaierr.Error) {
	if secret == "" || x.cfg.Sealer == nil {
		return secret, nil
	}
	sealed, err := x.cfg.Sealer.Seal(secret)
	if err != nil {
		x.log.Error("admin: sealing a credential failed", "err", err)
		return "", oaierr.New(http.StatusInternalServerError, "Internal server error")
	}
	return sealed, nil
}

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

// catalogNeedID checks a required id field.
func catalogNeedID(field string, id int64) *oaierr.Error {
	switch {
	case id == 0:
		return missing(field)
	case id < 0:
		return invalid(field, "must be a positive id")
	}
	return nil
}

// catalogPrivacy parses a privacy level (case-insensitive).
func catalogPrivacy(field, s string) (store.Privacy, *oaierr.Error) {
	p := store.Privacy(strings.ToUpper(strings.TrimSpace(s)))
	if !p.Valid() {
		return "", invalid(field, "must be one of LOCAL, CLOUD_IN_EU_BY_EU_PROVIDER, CLOUD_IN_EU_BY_US_PROVIDER, CLOUD_NOT_IN_EU_BY_US_PROVIDER")
	}
	return p, nil
}

// catalogHTTPURL checks that s is an absolute http(s) URL.
func catalogHTTPURL(field, s string) *oaierr.Error {
	if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid(field, "must be an http(s) URL")
	}
	return nil
}

// catalogEndpoint checks a deployment endpoint: empty, a path joined to the
// provider's base URL, or an absolute http(s) URL.
func catalogEndpoint(s string) *oaierr.Error {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return invalid("endpoint", "must be a path or an http(s) URL")
	}
	if u.Scheme != "" {
		return catalogHTTPURL("endpoint", s)
	}
	return nil
}

// catalogHeaderName reports whether s is a valid HTTP header name (an RFC
// 9110 token).
func catalogHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}
