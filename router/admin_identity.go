package router

// adminIdentityRoutes registers the admin endpoints for keys, processes,
// profiles, services, policies, log levels and the caller's own view.
func (h *Handler) adminIdentityRoutes() {
}
