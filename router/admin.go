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

// Admin request body limits. The caller is authenticated from the headers
// before any of the body is read; only import, called with an admin key in a
// header, may send more than adminBodyLimit.
const (
	// adminBodyLimit bounds every admin request body, also one whose key is
	// only in the body (logos_key).
	adminBodyLimit = 1 << 20
	// importBodyLimit bounds the body of import (whole tables) once the
	// caller is known to be an admin from its headers.
	importBodyLimit = 64 << 20
)

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
		limit := func(c principal) int64 {
			if name == "import" && c.Admin {
				return importBodyLimit
			}
			return adminBodyLimit
		}
		caller, body, e := h.adminAuth(w, r, limit)
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

// adminAuth authenticates an admin call and reads its body. A key in a header
// (Authorization, logos-key, logos_key) is checked before any of the body is
// read, so a caller without a valid key cannot make Logos read a large body;
// limit gives the body limit for the header's caller (adminBodyLimit without
// one). A body must be empty, null or a JSON object; its logos_key, if set,
// wins over the header's key (the original's clients send both).
func (h *Handler) adminAuth(w http.ResponseWriter, r *http.Request, limit func(principal) int64) (principal, []byte, *oaierr.Error) {
	var (
		caller principal
		n      int64 = adminBodyLimit
	)
	headerKey := logosKey(r)
	if headerKey != "" {
		c, e := h.principal(r.Context(), headerKey)
		if e != nil {
			return principal{}, nil, e
		}
		caller, n = c, limit(c)
	}
	if r.ContentLength > n {
		return principal{}, nil, bodyTooLarge(n)
	}
	body, e := readBody(w, r, n)
	if e != nil {
		return principal{}, nil, e
	}
	var keyField struct {
		Key string `json:"logos_key"`
	}
	if len(body) > 0 && string(body) != "null" {
		if !json.Valid(body) || body[firstNonSpace(body)] != '{' {
			return principal{}, nil, oaierr.New(http.StatusBadRequest, "Request body must be a JSON object").WithCode("invalid_json")
		}
		_ = json.Unmarshal(body, &keyField)
	}
	if keyField.Key == "" && headerKey != "" {
		return caller, body, nil
	}
	c, e := h.principal(r.Context(), keyField.Key)
	if e != nil {
		return principal{}, nil, e
	}
	return c, body, nil
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
	if h.db == nil {
		return principal{}, errAdminUnsupported()
	}
	if key == "" {
		return principal{}, oaierr.New(http.StatusUnauthorized, "Missing Logos key: send it as 'Authorization: Bearer <key>' or as logos_key in the body").WithCode("missing_api_key")
	}
	hash := apikey.Hash(key)
	p, err := h.db.ProcessByKeyHash(ctx, hash)
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
		u, err := h.db.GetUser(ctx, p.UserID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			h.log.Error("admin auth: user lookup failed", "err", err)
			return principal{}, oaierr.New(http.StatusServiceUnavailable, "The store is unavailable")
		}
		c.User = u
		c.Admin = u.Role == store.RoleAdmin
	}
	return c, nil
}

// errAdminUnsupported is the answer to every admin call when the store implements
// only part of store.Store (see Config.Store).
func errAdminUnsupported() *oaierr.Error {
	return oaierr.New(http.StatusNotImplemented, "The admin API is not available: this instance's store does not implement store.Store").WithCode("not_implemented")
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
