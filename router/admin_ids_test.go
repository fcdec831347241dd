package router

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/logos-llm/logos/internal/catalog"
)

// TestAdminIDMessagesMatchCatalog checks that an id of 0 or -1 gets one
// answer whether the router checks it itself (add_profile, get_policy,
// set_budget) or the catalogue does (add_process, get_model,
// connect_model_provider, add_billing): a 400 naming the field, with the catalogue's
// message.
func TestAdminIDMessagesMatchCatalog(t *testing.T) {
	e := newBudgetEnv(t)
	type idCase struct {
		endpoint, field string
		body            map[string]any // the other fields of a valid call
		ownZeroRule     bool           // 0 is refused by a rule about more than this field
	}
	cases := []idCase{
		{"add_profile", "process_id", map[string]any{"profile_name": "p"}, false},
		{"get_policy", "id", nil, false},
		{"delete_policy", "id", nil, false},
		{"revoke_key", "process_id", nil, false},
		{"set_budget", "process_id", map[string]any{"limit": "1", "currency": "EUR", "period": "day"}, true},
		{"add_process", "user_id", map[string]any{"name": "x"}, true},
		{"get_model", "id", nil, false},
		{"connect_model_provider", "model_id", map[string]any{"provider_id": 1}, false},
		{"add_billing", "model_id", map[string]any{"type_name": "input", "type_cost": 1.0, "valid_from": "2026-01-01"}, true},
	}
	for _, c := range cases {
		for _, id := range []int64{0, -1} {
			if c.ownZeroRule && id == 0 {
				continue
			}
			var fe *catalog.FieldError
			if err := catalog.CheckID(c.field, id); !errors.As(err, &fe) {
				t.Fatalf("catalog.CheckID(%q, %d) = %v, want a FieldError", c.field, id, err)
			}
			if id < 0 && fe.Reason != "must be a positive integer" {
				t.Errorf("catalog.CheckID(%q, %d): reason %q", c.field, id, fe.Reason)
			}
			want := fmt.Sprintf("Field %q %s", c.field, fe.Reason)
			name := fmt.Sprintf("%s %s=%d", c.endpoint, c.field, id)
			body := map[string]any{c.field: id}
			for k, v := range c.body {
				body[k] = v
			}
			status, m := e.post(c.endpoint, e.rootKey, body)
			code := "invalid_value"
			if id == 0 {
				code = "missing_field"
			}
			identityCheckError(t, name, status, m, http.StatusBadRequest, c.field, code)
			if got := m["error"].(map[string]any)["message"]; got != want {
				t.Errorf("%s: message %q, want the catalogue's %q", name, got, want)
			}
		}
	}
}
