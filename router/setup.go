package router

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/store"
)

// Names of what setup creates.
const (
	rootUser    = "root"
	rootProcess = "root"
	rootProfile = "root"
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
	var prov *store.Provider
	if req.ProviderName != "" || req.BaseURL != "" || req.ProviderType != "" {
		p, e := h.setupProvider(req.ProviderName, req.BaseURL, req.ProviderType, req.APIKey)
		if e != nil {
			oaierr.Write(w, e)
			return
		}
		prov = &p
	}
	res, key, err := Bootstrap(r.Context(), h.db, "")
	switch {
	case errors.Is(err, store.ErrConflict):
		oaierr.Write(w, oaierr.New(http.StatusConflict, "Logos is already set up").WithCode("already_initialized"))
		return
	case err != nil:
		h.log.Error("setup failed", "err", err)
		oaierr.Write(w, oaierr.New(http.StatusInternalServerError, "Setup failed"))
		return
	}
	h.log.Info("instance set up through POST /logosdb/setup", "process_id", res.Process.ID, "key_prefix", res.Process.KeyPrefix)
	out := map[string]any{
		"logos-key":  key,
		"user-id":    res.User.ID,
		"process-id": res.Process.ID,
		"profile-id": res.Profile.ID,
	}
	if prov != nil {
		created, err := h.db.CreateProvider(r.Context(), *prov)
		if err != nil {
			// The instance is set up; the key must still reach the caller.
			h.log.Error("setup: creating the first provider failed", "err", err)
			out["provider-error"] = "the provider was not created; add it with /logosdb/add_provider"
		} else {
			out["provider-id"] = created.ID
		}
	}
	if h.cfg.OnChange != nil {
		h.cfg.OnChange(r.Context())
	}
	writeJSON(w, http.StatusOK, out)
}

// setupProvider validates the provider fields of a setup request.
func (h *Handler) setupProvider(name, baseURL, typ, apiKey string) (store.Provider, *oaierr.Error) {
	switch {
	case name == "":
		return store.Provider{}, missing("provider_name")
	case baseURL == "":
		return store.Provider{}, missing("base_url")
	}
	if u, err := url.Parse(baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return store.Provider{}, invalid("base_url", "must be an http(s) URL")
	}
	kind, ok := ProviderKind(typ)
	if !ok {
		return store.Provider{}, invalid("provider_type", "must be one of openai, azure, ollama, openai_compatible")
	}
	p := store.Provider{Name: name, Kind: kind, BaseURL: baseURL, Credential: apiKey}
	if p.Credential != "" && h.cfg.Sealer != nil {
		sealed, err := h.cfg.Sealer.Seal(p.Credential)
		if err != nil {
			h.log.Error("setup: sealing the provider credential failed", "err", err)
			return store.Provider{}, oaierr.New(http.StatusInternalServerError, "Internal server error")
		}
		p.Credential = sealed
	}
	return p, nil
}

// ProviderKind maps a provider type as the admin API and the original accept
// it to a kind: the four kinds themselves, and the original's "cloud" and
// "openwebui" as openai_compatible. Empty means openai_compatible.
func ProviderKind(typ string) (store.ProviderKind, bool) {
	switch t := store.ProviderKind(strings.ToLower(strings.TrimSpace(typ))); t {
	case "", "cloud", "openwebui":
		return store.KindOpenAICompatible, true
	default:
		return t, t.Valid()
	}
}

// Bootstrap creates the admin user, root process and root profile. With an
// empty key a new one is generated; the key is returned. It fails with
// store.ErrConflict when the store is already set up.
func Bootstrap(ctx context.Context, s store.IdentityStore, key string) (store.BootstrapResult, string, error) {
	if key == "" {
		key = apikey.Generate(rootProcess)
	} else if err := apikey.Validate(key); err != nil {
		return store.BootstrapResult{}, "", err
	}
	res, err := s.Bootstrap(ctx, store.BootstrapParams{
		AdminUsername: rootUser,
		ProcessName:   rootProcess,
		ProfileName:   rootProfile,
		KeyHash:       apikey.Hash(key),
		KeyPrefix:     apikey.Prefix(key),
	})
	if err != nil {
		return store.BootstrapResult{}, "", err
	}
	return res, key, nil
}
