package router

import (
	"errors"
	"net/http"

	"github.com/logos-llm/logos/internal/catalog"
	"github.com/logos-llm/logos/internal/oaierr"
)

// catalogError maps an error of package catalog to an admin error: a
// refused field is a 400 naming it, a store error on a named object is
// mapped by storeError, and the catalogue's own rules have their own
// answers.
func (h *Handler) catalogError(err error) *oaierr.Error {
	var (
		fe *catalog.FieldError
		ce *catalog.ConflictError
		oe *catalog.ObjectError
	)
	switch {
	case errors.As(err, &fe):
		if fe.Message != "" {
			code := "invalid_value"
			if fe.Reason == catalog.Required {
				code = "missing_field"
			}
			return oaierr.New(http.StatusBadRequest, fe.Message).WithParam(fe.Field).WithCode(code)
		}
		if fe.Reason == catalog.Required {
			return missing(fe.Field)
		}
		return invalid(fe.Field, fe.Reason)
	case errors.As(err, &ce):
		return oaierr.New(http.StatusConflict, ce.Message).WithParam(ce.Field).WithCode("conflict")
	case errors.Is(err, catalog.ErrLastAdminKey):
		return oaierr.New(http.StatusConflict, "Refusing to revoke the last active admin key; rotate it instead").WithParam("process_id").WithCode("last_admin_key")
	case errors.Is(err, catalog.ErrNotConnected):
		return oaierr.New(http.StatusBadRequest, "Model is not connected to the specified provider.").WithParam("provider_id").WithCode("not_connected")
	case errors.Is(err, catalog.ErrSeal):
		h.log.Error("admin: sealing a credential failed", "err", err)
		return oaierr.New(http.StatusInternalServerError, "Internal server error")
	case errors.As(err, &oe):
		return h.storeError(oe.Err, oe.What, oe.Field)
	default:
		return h.storeError(err, "catalogue", "")
	}
}

// sealFunc returns Config.Sealer's Seal, or nil without a Sealer.
func (h *Handler) sealFunc() func(string) (string, error) {
	if h.cfg.Sealer == nil {
		return nil
	}
	return h.cfg.Sealer.Seal
}
