package router

import (
	"context"
	"errors"
	"net/http"

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
	body, e := readBody(w, r, 1<<20)
	if e != nil {
		oaierr.Write(w, e)
		return
	}
	var req struct{}
	if e := decodeObject(body, &req); e != nil {
		oaierr.Write(w, e)
		return
	}
	res, key, err := Bootstrap(r.Context(), h.cfg.Store, "")
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
	if h.cfg.OnChange != nil {
		h.cfg.OnChange(r.Context())
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"logos-key":  key,
		"user-id":    res.User.ID,
		"process-id": res.Process.ID,
		"profile-id": res.Profile.ID,
	})
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
