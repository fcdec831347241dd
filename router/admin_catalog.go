package router

// adminCatalogRoutes registers the admin endpoints for providers, models,
// deployments, permissions, prices, export and import.
func (h *Handler) adminCatalogRoutes() {
}
