package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/store"
)

// adminBodyLimit bounds admin request bodies (import carries whole tables).
const adminBodyLimit = 64 << 20

// principal is the caller of an admin endpoint.
type principal struct {
	Process store.Process
	// User is the owning user (zero for a service's process).
	User  store.User
	Admin bool
}

// adminRequest is one call of an admin endpoint.
type adminRequest struct {
	ctx    context.Context
	r      *http.Request
	body   []byte
	caller principal
}

// decode decodes the JSON object body into v. Unknown fields are ignored (the
// original's scripts send extra ones); a field of the wrong type is a 400
// naming it.
func (a *adminRequest) decode(v any) *oaierr.Error {
	return decodeObject(a.body, v)
}

// adminFunc handles an admin call and returns the status and JSON value to send.
type adminFunc func(a *adminRequest) (int, any, *oaierr.Error)

// adminRoute registers POST /logosdb/<name>. With needAdmin only keys of an
// admin user may call it; writes reload the catalogue when they succeed.
func (h *Handler) adminRoute(name string, needAdmin, writes bool, fn adminFunc) {
	h.mux.HandleFunc("POST /logosdb/"+name, func(w http.ResponseWriter, r *http.Request) {
		body, e := readBody(w, r, adminBodyLimit)
		if e != nil {
			oaierr.Write(w, e)
			return
		}
		var keyField struct {
			Key string `json:"logos_key"`
		}
		if len(body) > 0 && string(body) != "null" {
			if !json.Valid(body) || body[firstNonSpace(body)] != '{' {
				oaierr.Write(w, oaierr.New(http.StatusBadRequest, "Request body must be a JSON object").WithCode("invalid_json"))
				return
			}
			_ = json.Unmarshal(body, &keyField)
		}
		key := keyField.Key
		if key == "" {
			key = logosKey(r)
		}
		caller, e := h.principal(r.Context(), key)
		if e != nil {
			oaierr.Write(w, e)
			return
		}
		if needAdmin && !caller.Admin {
			oaierr.Write(w, oaierr.New(http.StatusForbidden, "Only an admin key may call /logosdb/"+name).WithCode("admin_required"))
			return
		}
		status, v, e := fn(&adminRequest{ctx: r.Context(), r: r, body: body, caller: caller})
		if e != nil {
			oaierr.Write(w, e)
			return
		}
		if writes && h.cfg.OnChange != nil {
			h.cfg.OnChange(r.Context())
		}
		writeJSON(w, status, v)
	})
}

func firstNonSpace(b []byte) int {
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return i
		}
	}
	return 0
}

// principal resolves an admin caller's key against the store (not the
// snapshot: admin calls must see their own writes at once).
func (h *Handler) principal(ctx context.Context, key string) (principal, *oaierr.Error) {
	if key == "" {
		return principal{}, oaierr.New(http.StatusUnauthorized, "Missing Logos key: send it as 'Authorization: Bearer <key>' or as logos_key in the body").WithCode("missing_api_key")
	}
	hash := apikey.Hash(key)
	p, err := h.cfg.Store.ProcessByKeyHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !apikey.Equal(p.KeyHash, hash)) {
		return principal{}, oaierr.New(http.StatusUnauthorized, "Invalid Logos key").WithCode("invalid_api_key")
	}
	if err != nil {
		h.log.Error("admin auth: key lookup failed", "err", err)
		return principal{}, oaierr.New(http.StatusServiceUnavailable, "The store is unavailable")
	}
	if !p.RevokedAt.IsZero() {
		return principal{}, oaierr.New(http.StatusUnauthorized, "This Logos key has been revoked").WithCode("invalid_api_key")
	}
	c := principal{Process: p}
	if p.UserID != 0 {
		u, err := h.cfg.Store.GetUser(ctx, p.UserID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			h.log.Error("admin auth: user lookup failed", "err", err)
			return principal{}, oaierr.New(http.StatusServiceUnavailable, "The store is unavailable")
		}
		c.User = u
		c.Admin = u.Role == store.RoleAdmin
	}
	return c, nil
}

// storeError maps a store error to an admin error. what names the object
// ("model 7"); field, if set, is the request field that referred to it.
func (h *Handler) storeError(err error, what, field string) *oaierr.Error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return oaierr.New(http.StatusNotFound, strings.ToUpper(what[:1])+what[1:]+" not found").WithParam(field).WithCode("not_found")
	case errors.Is(err, store.ErrConflict):
		return oaierr.New(http.StatusConflict, strings.ToUpper(what[:1])+what[1:]+" already exists").WithParam(field).WithCode("conflict")
	case errors.Is(err, store.ErrInvalid):
		return oaierr.New(http.StatusBadRequest, fmt.Sprintf("Invalid value for %s", what)).WithParam(field).WithCode("invalid_value")
	default:
		h.log.Error("admin: store operation failed", "what", what, "err", err)
		return oaierr.New(http.StatusInternalServerError, "Internal server error")
	}
}

// missing returns the 400 for a required field that is absent or empty.
func missing(field string) *oaierr.Error {
	return oaierr.New(http.StatusBadRequest, fmt.Sprintf("Field %q is required", field)).WithParam(field).WithCode("missing_field")
}

// invalid returns the 400 for a field whose value is not allowed.
func invalid(field, why string) *oaierr.Error {
	return oaierr.New(http.StatusBadRequest, fmt.Sprintf("Field %q %s", field, why)).WithParam(field).WithCode("invalid_value")
}

// result is the original's success envelope: {"result": message, extra...}.
func result(message string, kv ...any) map[string]any {
	m := map[string]any{"result": message}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}
