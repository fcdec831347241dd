package router

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/logos-llm/logos/internal/oaierr"
)

// metrics serves GET /metrics: the Prometheus exposition of Config.Metrics,
// only to a caller presenting "Authorization: Bearer <MetricsToken>". Without a
// configured token it answers 403 and never exposes the metrics; a wrong or
// missing token gets 401. Tokens are compared in constant time.
func (h *Handler) metrics(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Metrics == nil {
		oaierr.Write(w, oaierr.New(http.StatusNotFound, "Metrics are not served by this gateway").WithCode("unknown_url"))
		return
	}
	if h.cfg.MetricsToken == "" {
		oaierr.Write(w, oaierr.New(http.StatusForbidden, "Metrics are disabled: no metrics token is configured (LOGOS_METRICS_TOKEN)").WithCode("metrics_disabled"))
		return
	}
	if !validMetricsToken(r.Header.Get("Authorization"), h.cfg.MetricsToken) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
		oaierr.Write(w, oaierr.New(http.StatusUnauthorized, "Invalid or missing metrics token: send it as 'Authorization: Bearer <token>'").WithCode("invalid_metrics_token"))
		return
	}
	h.cfg.Metrics.ServeHTTP(w, r)
}

// validMetricsToken compares the bearer token of an Authorization header with
// want in constant time (hashing both first, so the length is not revealed).
func validMetricsToken(authorization, want string) bool {
	const prefix = "bearer "
	v := strings.TrimSpace(authorization)
	if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(v[len(prefix):])))
	exp := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(got[:], exp[:]) == 1
}
