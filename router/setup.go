package router

import (
	"context"
	"errors"
	"net/http"

	"github.com/logos-llm/logos/internal/catalog"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/store"
)

// setup creates the admin user, the root process and its profile on an empty
// store and returns the root key, exactly once.
func (h *Handler) setup(w http.ResponseWriter, r *http.Request) {
	if h.cfg.DisableSetup {
		oaierr.Write(w, oaierr.New(http.StatusForbidden, "Setup is disabled: this instance is configured from a file").WithCode("setup_disabled"))
		return
	}
	if h.db == nil {
		oaierr.Write(w, errAdminUnsupported())
		return
	}
	body, e := readBody(w, r, 1<<20)
	if e != nil {
		oaierr.Write(w, e)
		return
	}
	// The original's setup also creates a first provider; those fields are
	// optional here and checked before anything is written.
	var req struct {
		BaseURL      string `json:"base_url"`
		ProviderName string `json:"provider_name"`
		ProviderType string `json:"provider_type"`
		APIKey       string `json:"api_key"`
	}
	if e := decodeObject(body, &req); e != nil {
		oaierr.Write(w, e)
		return
	}
	var prov *catalog.SetupProvider
	if req.ProviderName != "" || req.BaseURL != "" || req.ProviderType != "" {
		prov = &catalog.SetupProvider{Name: req.ProviderName, BaseURL: req.BaseURL, Type: req.ProviderType, APIKey: req.APIKey}
	}
	res, err := h.cat.SetUp(r.Context(), prov)
	var fe *catalog.FieldError
	switch {
	case errors.As(err, &fe), errors.Is(err, catalog.ErrSeal):
		oaierr.Write(w, h.catalogError(err))
		return
	case errors.Is(err, store.ErrConflict):
		oaierr.Write(w, oaierr.New(http.StatusConflict, "Logos is already set up").WithCode("already_initialized"))
		return
	case err != nil:
		h.log.Error("setup failed", "err", err)
		oaierr.Write(w, oaierr.New(http.StatusInternalServerError, "Setup failed"))
		return
	}
	h.log.Info("instance set up through POST /logosdb/setup", "process_id", res.Result.Process.ID, "key_prefix", res.Result.Process.KeyPrefix)
	out := map[string]any{
		"logos-key":  res.Key,
		"user-id":    res.Result.User.ID,
		"process-id": res.Result.Process.ID,
		"profile-id": res.Result.Profile.ID,
	}
	switch {
	case res.ProviderErr != nil:
		// The instance is set up; the key must still reach the caller.
		h.log.Error("setup: creating the first provider failed", "err", res.ProviderErr)
		out["provider-error"] = "the provider was not created; add it with /logosdb/add_provider"
	case res.Provider != nil:
		out["provider-id"] = res.Provider.ID
	}
	if h.cfg.OnChange != nil {
		h.cfg.OnChange(r.Context())
	}
	writeJSON(w, http.StatusOK, out)
}

// Bootstrap creates the admin user, root process and root profile. With an
// empty key a new one is generated; the key is returned. It fails with
// store.ErrConflict when the store is already set up.
func Bootstrap(ctx context.Context, s store.IdentityStore, key string) (store.BootstrapResult, string, error) {
	return catalog.Bootstrap(ctx, s, key)
}
