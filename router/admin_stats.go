package router

// adminStatsRoutes registers the usage, cost and monitoring statistics
// endpoints.
func (h *Handler) adminStatsRoutes() {
}
