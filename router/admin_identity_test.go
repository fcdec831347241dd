package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite"
)

// identityEnv is a Handler over a real SQLite store that has been set up,
// with the root (admin) key at hand.
type identityEnv struct {
	t       *testing.T
	ctx     context.Context
	st      *sqlite.Store
	h       *Handler
	log     *slog.Logger
	logs    *identityLogs
	rootKey string
	rootPID int64
	changes atomic.Int64 // OnChange calls
	keys    []string     // every key seen in a response
}

// identityLogs is a log sink safe for concurrent writes.
type identityLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *identityLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *identityLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newIdentityEnv opens a store in a temporary directory, bootstraps it and
// checks, when the test ends, that no key it saw was ever logged.
func newIdentityEnv(t *testing.T) *identityEnv {
	t.Helper()
	ctx := context.Background()
	e := &identityEnv{t: t, ctx: ctx, logs: &identityLogs{}}
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "logos.db"), Logger: logger})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	res, key, err := Bootstrap(ctx, st, "")
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	e.st, e.rootKey, e.rootPID, e.log = st, key, res.Process.ID, logger
	e.keys = append(e.keys, key)
	e.serve(st)
	t.Cleanup(func() {
		logs := e.logs.String()
		for _, k := range e.keys {
			if strings.Contains(logs, k) {
				t.Errorf("a key was logged:\n%s", logs)
				return
			}
		}
	})
	return e
}

// serve makes the env's Handler use s.
func (e *identityEnv) serve(s store.Store) {
	e.h = New(Config{Store: s, Logger: e.log, OnChange: func(context.Context) { e.changes.Add(1) }})
}

// raw posts body to /logosdb/name with key (if any) as a bearer token and
// returns the status and the raw response body.
func (e *identityEnv) raw(name, key, body string) (int, []byte) {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/logosdb/"+name, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s: Content-Type %q", name, ct)
	}
	return rec.Code, rec.Body.Bytes()
}

// post marshals body, posts it like raw and decodes the JSON object answer.
// Keys in the answer are remembered for the log check.
func (e *identityEnv) post(name, key string, body any) (int, map[string]any) {
	e.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	status, out := e.raw(name, key, string(b))
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		e.t.Fatalf("%s: answer is not a JSON object: %v: %s", name, err, out)
	}
	for _, f := range []string{"logos-key", "api-key"} {
		if k, ok := m[f].(string); ok {
			e.keys = append(e.keys, k)
		}
	}
	return status, m
}

// ok posts like post and fails the test unless the answer is 200.
func (e *identityEnv) ok(name, key string, body any) map[string]any {
	e.t.Helper()
	status, m := e.post(name, key, body)
	if status != http.StatusOK {
		e.t.Fatalf("%s %v: status %d: %v", name, body, status, m)
	}
	return m
}

// fail posts like post and checks the error envelope, status, param and, if
// not empty, code.
func (e *identityEnv) fail(name, key string, body any, status int, param, code string) {
	e.t.Helper()
	got, m := e.post(name, key, body)
	identityCheckError(e.t, name, got, m, status, param, code)
}

// identityCheckError checks an error answer: the status, and the OpenAI
// envelope {"error":{"message","type","param","code"}} with the given param
// (nil when empty) and code (when not empty).
func identityCheckError(t *testing.T, name string, got int, m map[string]any, status int, param, code string) {
	t.Helper()
	if got != status {
		t.Fatalf("%s: status %d, want %d: %v", name, got, status, m)
	}
	env, ok := m["error"].(map[string]any)
	if !ok || len(m) != 1 {
		t.Fatalf("%s: not an error envelope: %v", name, m)
	}
	for _, f := range []string{"message", "type", "param", "code"} {
		if _, ok := env[f]; !ok {
			t.Errorf("%s: error has no %q: %v", name, f, env)
		}
	}
	if msg, _ := env["message"].(string); msg == "" {
		t.Errorf("%s: empty error message: %v", name, env)
	}
	if env["type"] != oaierr.TypeFor(status) {
		t.Errorf("%s: error type %v, want %s", name, env["type"], oaierr.TypeFor(status))
	}
	var wantParam any
	if param != "" {
		wantParam = param
	}
	if env["param"] != wantParam {
		t.Errorf("%s: error param %v, want %v (%v)", name, env["param"], wantParam, env["message"])
	}
	if code != "" && env["code"] != code {
		t.Errorf("%s: error code %v, want %s", name, env["code"], code)
	}
}

// id returns a numeric field of an answer.
func (e *identityEnv) id(m map[string]any, field string) int64 {
	e.t.Helper()
	v, ok := m[field].(float64)
	if !ok || v <= 0 || v != float64(int64(v)) {
		e.t.Fatalf("field %q is not an id: %v", field, m)
	}
	return int64(v)
}

// user creates a user with the given role and a process of it, and returns
// the process id and key.
func (e *identityEnv) user(username string, role store.Role) (int64, string) {
	e.t.Helper()
	uid := e.id(e.ok("add_user", e.rootKey, map[string]any{"username": username, "role": role}), "user-id")
	m := e.ok("add_process", e.rootKey, map[string]any{"name": username + "-app", "user_id": uid})
	return e.id(m, "process-id"), m["logos-key"].(string)
}

// identityEndpoints are the endpoints of adminIdentityRoutes and whether they
// need an admin key.
var identityEndpoints = []struct {
	name  string
	admin bool
}{
	{"add_user", true}, {"add_process", true}, {"add_profile", true}, {"add_service", true},
	{"connect_service_process", true}, {"list_keys", false}, {"revoke_key", false},
	{"rotate_key", false}, {"set_log", false}, {"add_policy", true}, {"update_policy", true},
	{"delete_policy", true}, {"get_policy", false}, {"get_policies", false},
	{"get_process_id", false}, {"get_role", false}, {"generalstats", false},
}

func TestIdentityAuthentication(t *testing.T) {
	e := newIdentityEnv(t)
	_, userKey := e.user("alice", store.RoleUser)
	for _, ep := range identityEndpoints {
		t.Run(ep.name, func(t *testing.T) {
			e.t = t
			e.fail(ep.name, "", map[string]any{}, http.StatusUnauthorized, "", "missing_api_key")
			e.fail(ep.name, "lg-nobody-0123456789abcdefghij", map[string]any{}, http.StatusUnauthorized, "", "invalid_api_key")
			if ep.admin {
				e.fail(ep.name, userKey, map[string]any{}, http.StatusForbidden, "", "admin_required")
			}
			for _, body := range []string{"{", "not json", "[1,2]", `"x"`, "42"} {
				status, out := e.raw(ep.name, e.rootKey, body)
				var m map[string]any
				if err := json.Unmarshal(out, &m); err != nil {
					t.Fatalf("body %q: %s", body, out)
				}
				identityCheckError(t, ep.name+" "+body, status, m, http.StatusBadRequest, "", "invalid_json")
			}
		})
	}
	e.t = t
}

func TestIdentityKeySources(t *testing.T) {
	e := newIdentityEnv(t)
	want := float64(e.rootPID)
	// In the body.
	if m := e.ok("get_process_id", "", map[string]any{"logos_key": e.rootKey}); m["result"] != want {
		t.Errorf("body key: %v", m)
	}
	// In the Authorization header (post) and the logos-key header.
	if m := e.ok("get_process_id", e.rootKey, nil); m["result"] != want {
		t.Errorf("bearer key: %v", m)
	}
	req := httptest.NewRequest(http.MethodPost, "/logosdb/get_process_id", nil)
	req.Header.Set("logos-key", e.rootKey)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"result":1`) {
		t.Errorf("logos-key header: %d %s", rec.Code, rec.Body)
	}
	// A wrong key in the body wins over a right one in the header.
	e.fail("get_process_id", e.rootKey, map[string]any{"logos_key": "lg-wrong-0123456789abcdefghij"}, http.StatusUnauthorized, "", "invalid_api_key")
}

func TestIdentityAddUser(t *testing.T) {
	e := newIdentityEnv(t)
	m := e.ok("add_user", e.rootKey, map[string]any{"username": " bob ", "prename": "Bob", "name": "Builder", "role": "admin"})
	if m["result"] != "Created user" {
		t.Errorf("answer %v", m)
	}
	u, err := e.st.GetUser(e.ctx, e.id(m, "user-id"))
	if err != nil || u.Username != "bob" || u.Prename != "Bob" || u.Name != "Builder" || u.Role != store.RoleAdmin {
		t.Errorf("stored %+v, %v", u, err)
	}
	e.fail("add_user", e.rootKey, map[string]any{"username": "bob", "role": "user"}, http.StatusConflict, "username", "conflict")
	e.fail("add_user", e.rootKey, map[string]any{"role": "user"}, http.StatusBadRequest, "username", "missing_field")
	e.fail("add_user", e.rootKey, map[string]any{"username": "   ", "role": "user"}, http.StatusBadRequest, "username", "missing_field")
	e.fail("add_user", e.rootKey, map[string]any{"username": "carol"}, http.StatusBadRequest, "role", "missing_field")
	e.fail("add_user", e.rootKey, map[string]any{"username": "carol", "role": "root"}, http.StatusBadRequest, "role", "invalid_value")
	e.fail("add_user", e.rootKey, map[string]any{"username": 7, "role": "user"}, http.StatusBadRequest, "username", "")
	e.fail("add_user", e.rootKey, map[string]any{"username": "carol", "role": []string{"user"}}, http.StatusBadRequest, "role", "")
}

func TestIdentityAddProcess(t *testing.T) {
	e := newIdentityEnv(t)
	uid := e.id(e.ok("add_user", e.rootKey, map[string]any{"username": "alice", "role": "user"}), "user-id")
	before := e.changes.Load()
	m := e.ok("add_process", e.rootKey, map[string]any{"name": "alice-app", "user_id": uid, "log_level": "FULL", "priority": 10})
	if e.changes.Load() == before {
		t.Error("add_process did not call OnChange")
	}
	if m["result"] != "Created process" {
		t.Errorf("answer %v", m)
	}
	pid, profID := e.id(m, "process-id"), e.id(m, "profile-id")
	key, _ := m["logos-key"].(string)
	if !strings.HasPrefix(key, "lg-alice-app-") {
		t.Errorf("key %q is not derived from the process name", key)
	}
	p, err := e.st.GetProcess(e.ctx, pid)
	if err != nil || p.UserID != uid || p.LogLevel != store.LogFull || p.Priority != 10 || p.KeyPrefix != key[:12] {
		t.Errorf("stored %+v, %v", p, err)
	}
	profs, err := e.st.ListProfiles(e.ctx, pid)
	if err != nil || len(profs) != 1 || profs[0].ID != profID || profs[0].Name != "alice-app" {
		t.Errorf("profiles %+v, %v", profs, err)
	}
	if got := e.ok("get_process_id", key, nil)["result"]; got != float64(pid) {
		t.Errorf("the new key resolves to %v", got)
	}

	sid := e.id(e.ok("add_service", e.rootKey, map[string]any{"name": "svc"}), "service-id")
	m = e.ok("add_process", e.rootKey, map[string]any{"name": "svc-batch", "service_id": sid})
	if p, _ := e.st.GetProcess(e.ctx, e.id(m, "process-id")); p.ServiceID != sid || p.LogLevel != store.LogBilling || p.Priority != 5 {
		t.Errorf("service process %+v", p)
	}

	for _, c := range []struct {
		body          map[string]any
		status        int
		param, code   string
		wantNoProcess string
	}{
		{map[string]any{"name": "alice-app", "user_id": uid}, 409, "name", "conflict", ""},
		{map[string]any{"name": "x", "user_id": 999}, 404, "user_id", "not_found", "x"},
		{map[string]any{"name": "x", "service_id": 999}, 404, "service_id", "not_found", "x"},
		{map[string]any{"name": "x", "user_id": -1}, 400, "user_id", "invalid_value", "x"},
		{map[string]any{"name": "x"}, 400, "user_id", "missing_field", "x"},
		{map[string]any{"name": "x", "user_id": uid, "service_id": sid}, 400, "service_id", "invalid_value", "x"},
		{map[string]any{"user_id": uid}, 400, "name", "missing_field", ""},
		{map[string]any{"name": "x", "user_id": uid, "log_level": "DEBUG"}, 400, "log_level", "invalid_value", "x"},
		{map[string]any{"name": "x", "user_id": uid, "priority": 11}, 400, "priority", "invalid_value", "x"},
		{map[string]any{"name": "x", "user_id": uid, "priority": "high"}, 400, "priority", "", "x"},
		{map[string]any{"name": "x", "user_id": "1"}, 400, "user_id", "", "x"},
		{map[string]any{"name": "x", "user_id": 1.5}, 400, "user_id", "", "x"},
		{map[string]any{"name": []int{1}, "user_id": uid}, 400, "name", "", ""},
	} {
		e.fail("add_process", e.rootKey, c.body, c.status, c.param, c.code)
		if c.wantNoProcess != "" {
			if _, err := e.st.GetProcessByName(e.ctx, c.wantNoProcess); err == nil {
				t.Errorf("%v: a process was created", c.body)
			}
		}
	}
}

func TestIdentityAddProfile(t *testing.T) {
	e := newIdentityEnv(t)
	m := e.ok("add_profile", e.rootKey, map[string]any{"profile_name": "batch", "process_id": e.rootPID})
	if m["result"] != "Added profile" {
		t.Errorf("answer %v", m)
	}
	prof, err := e.st.GetProfile(e.ctx, e.id(m, "profile-id"))
	if err != nil || prof.Name != "batch" || prof.ProcessID != e.rootPID {
		t.Errorf("stored %+v, %v", prof, err)
	}
	e.fail("add_profile", e.rootKey, map[string]any{"profile_name": "batch", "process_id": e.rootPID}, 409, "profile_name", "conflict")
	e.fail("add_profile", e.rootKey, map[string]any{"profile_name": "batch", "process_id": 999}, 404, "process_id", "not_found")
	e.fail("add_profile", e.rootKey, map[string]any{"process_id": e.rootPID}, 400, "profile_name", "missing_field")
	e.fail("add_profile", e.rootKey, map[string]any{"profile_name": "x"}, 400, "process_id", "missing_field")
	e.fail("add_profile", e.rootKey, map[string]any{"profile_name": "x", "process_id": "one"}, 400, "process_id", "")
	e.fail("add_profile", e.rootKey, map[string]any{"profile_name": false, "process_id": e.rootPID}, 400, "profile_name", "")
}

func TestIdentityAddService(t *testing.T) {
	e := newIdentityEnv(t)
	m := e.ok("add_service", e.rootKey, map[string]any{"name": "Search Bot"})
	if m["result"] != "Created Service." {
		t.Errorf("answer %v", m)
	}
	sid, pid, profID := e.id(m, "service-id"), e.id(m, "process-id"), e.id(m, "profile-id")
	key, _ := m["logos-key"].(string)
	if !strings.HasPrefix(key, "lg-search-bot-") {
		t.Errorf("key %q is not derived from the service name", key)
	}
	p, err := e.st.GetProcess(e.ctx, pid)
	if err != nil || p.ServiceID != sid || p.UserID != 0 || p.Name != "Search Bot" {
		t.Errorf("process %+v, %v", p, err)
	}
	if prof, err := e.st.GetProfile(e.ctx, profID); err != nil || prof.ProcessID != pid || prof.Name != "Search Bot" {
		t.Errorf("profile %+v, %v", prof, err)
	}
	if got := e.ok("get_role", key, nil)["role"]; got != "service" {
		t.Errorf("role of a service key: %v", got)
	}
	// A service key is not an admin key.
	e.fail("add_service", key, map[string]any{"name": "other"}, http.StatusForbidden, "", "admin_required")

	e.fail("add_service", e.rootKey, map[string]any{"name": "Search Bot"}, 409, "name", "conflict")
	// A process name taken by a user: refused before any service is created.
	e.user("alice", store.RoleUser)
	before, _ := e.st.ListServices(e.ctx)
	e.fail("add_service", e.rootKey, map[string]any{"name": "alice-app"}, 409, "name", "conflict")
	if after, _ := e.st.ListServices(e.ctx); len(after) != len(before) {
		t.Errorf("a conflicting add_service left a service behind: %+v", after)
	}
	e.fail("add_service", e.rootKey, map[string]any{}, 400, "name", "missing_field")
	e.fail("add_service", e.rootKey, map[string]any{"name": 3}, 400, "name", "")
}

func TestIdentityConnectServiceProcess(t *testing.T) {
	e := newIdentityEnv(t)
	sid := e.id(e.ok("add_service", e.rootKey, map[string]any{"name": "svc"}), "service-id")
	body := map[string]any{"service_id": sid, "process_name": "svc-worker"}
	m := e.ok("connect_service_process", e.rootKey, body)
	pid := e.id(m, "process-id")
	if want := "Connected service. Process-ID: " + strings.TrimSpace(identityJSON(pid)) + "."; m["result"] != want {
		t.Errorf("result %v, want %q", m["result"], want)
	}
	key, _ := m["api-key"].(string)
	if !strings.HasPrefix(key, "lg-svc-worker-") || strings.HasPrefix(key, "lg-root-") {
		t.Errorf("key %q is not derived from the process name", key)
	}
	if p, err := e.st.GetProcess(e.ctx, pid); err != nil || p.ServiceID != sid {
		t.Errorf("process %+v, %v", p, err)
	}
	if got := e.ok("get_process_id", key, nil)["result"]; got != float64(pid) {
		t.Errorf("the new key resolves to %v", got)
	}

	// Idempotent: the same call again names the process and returns no key.
	m = e.ok("connect_service_process", e.rootKey, body)
	if e.id(m, "process-id") != pid {
		t.Errorf("second connect: %v", m)
	}
	if _, ok := m["api-key"]; ok {
		t.Errorf("second connect returned a key: %v", m)
	}
	if got := e.ok("get_process_id", key, nil)["result"]; got != float64(pid) {
		t.Errorf("the key stopped working after a second connect: %v", got)
	}

	other := e.id(e.ok("add_service", e.rootKey, map[string]any{"name": "other"}), "service-id")
	e.fail("connect_service_process", e.rootKey, map[string]any{"service_id": other, "process_name": "svc-worker"}, 409, "process_name", "conflict")
	e.fail("connect_service_process", e.rootKey, map[string]any{"service_id": other, "process_name": "root"}, 409, "process_name", "conflict")
	e.fail("connect_service_process", e.rootKey, map[string]any{"service_id": 999, "process_name": "x"}, 404, "service_id", "not_found")
	e.fail("connect_service_process", e.rootKey, map[string]any{"process_name": "x"}, 400, "service_id", "missing_field")
	e.fail("connect_service_process", e.rootKey, map[string]any{"service_id": sid}, 400, "process_name", "missing_field")
	e.fail("connect_service_process", e.rootKey, map[string]any{"service_id": "svc", "process_name": "x"}, 400, "service_id", "")
	e.fail("connect_service_process", e.rootKey, map[string]any{"service_id": sid, "process_name": map[string]any{}}, 400, "process_name", "")
}

// identityJSON returns v as JSON.
func identityJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestIdentityPolicies(t *testing.T) {
	e := newIdentityEnv(t)
	alicePID, aliceKey := e.user("alice", store.RoleUser)
	full := map[string]any{
		"entity_id": e.rootPID, "name": "fast", "description": "fast and local",
		"threshold_privacy": "CLOUD_IN_EU_BY_EU_PROVIDER", "threshold_latency": 1024,
		"threshold_accuracy": -1024, "threshold_cost": 3, "threshold_quality": 4,
		"priority": 10, "topic": "code",
	}
	m := e.ok("add_policy", e.rootKey, full)
	if m["result"] != "Created Policy" {
		t.Errorf("answer %v", m)
	}
	id := e.id(m, "policy-id")

	got := e.ok("get_policy", e.rootKey, map[string]any{"id": id})
	for k, v := range full {
		if want, _ := json.Marshal(v); identityJSON(got[k]) != string(want) {
			t.Errorf("get_policy %s = %v, want %v", k, got[k], v)
		}
	}
	if got["id"] != float64(id) || got["created_at"] == nil || got["updated_at"] == nil {
		t.Errorf("get_policy %v", got)
	}

	// Defaults, and a partial update keeps what it does not name.
	id2 := e.id(e.ok("add_policy", e.rootKey, map[string]any{"entity_id": e.rootPID, "name": "plain"}), "policy-id")
	if p, _ := e.st.GetPolicy(e.ctx, id2); p.ThresholdPrivacy != store.PrivacyLocal || p.ThresholdLatency != 0 || p.Topic != "" {
		t.Errorf("defaults %+v", p)
	}
	if m := e.ok("update_policy", e.rootKey, map[string]any{"id": id2, "threshold_cost": 7, "topic": "chat"}); m["result"] != "Updated Policy" {
		t.Errorf("update answer %v", m)
	}
	if p, _ := e.st.GetPolicy(e.ctx, id2); p.Name != "plain" || p.ThresholdCost != 7 || p.Topic != "chat" || p.ProcessID != e.rootPID {
		t.Errorf("after update %+v", p)
	}
	// The object get_policy returns can be sent back as is.
	round := e.ok("get_policy", e.rootKey, map[string]any{"id": id})
	round["description"] = "changed"
	e.ok("update_policy", e.rootKey, round)
	if p, _ := e.st.GetPolicy(e.ctx, id); p.Description != "changed" || p.ThresholdLatency != 1024 || p.ThresholdPrivacy != store.PrivacyCloudInEUByEUProvider {
		t.Errorf("after round trip %+v", p)
	}
	// Moving a policy to another process.
	e.ok("update_policy", e.rootKey, map[string]any{"id": id2, "entity_id": alicePID})

	list := e.ok("get_policies", e.rootKey, nil)["policies"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["name"] != "fast" {
		t.Errorf("root's policies %v", list)
	}
	list = e.ok("get_policies", e.rootKey, map[string]any{"process_id": alicePID})["policies"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["name"] != "plain" {
		t.Errorf("alice's policies seen by an admin %v", list)
	}

	// A user sees its own policies only.
	list = e.ok("get_policies", aliceKey, nil)["policies"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["name"] != "plain" {
		t.Errorf("alice's policies %v", list)
	}
	e.ok("get_policies", aliceKey, map[string]any{"process_id": alicePID})
	e.ok("get_policy", aliceKey, map[string]any{"id": id2})
	e.fail("get_policy", aliceKey, map[string]any{"id": id}, 404, "id", "not_found")
	e.fail("get_policies", aliceKey, map[string]any{"process_id": e.rootPID}, 403, "process_id", "not_owner")
	e.fail("get_policies", aliceKey, map[string]any{"process_id": 999}, 403, "process_id", "not_owner")
	e.fail("update_policy", aliceKey, map[string]any{"id": id2, "topic": "x"}, 403, "", "admin_required")
	e.fail("delete_policy", aliceKey, map[string]any{"id": id2}, 403, "", "admin_required")

	for _, c := range []struct {
		name        string
		body        map[string]any
		status      int
		param, code string
	}{
		{"add_policy", map[string]any{"entity_id": e.rootPID, "name": "fast"}, 409, "name", "conflict"},
		{"add_policy", map[string]any{"entity_id": 999, "name": "x"}, 404, "entity_id", "not_found"},
		{"add_policy", map[string]any{"name": "x"}, 400, "entity_id", "missing_field"},
		{"add_policy", map[string]any{"entity_id": e.rootPID}, 400, "name", "missing_field"},
		{"add_policy", map[string]any{"entity_id": e.rootPID, "name": ""}, 400, "name", "missing_field"},
		{"add_policy", map[string]any{"entity_id": 0, "name": "x"}, 400, "entity_id", "missing_field"},
		{"add_policy", map[string]any{"entity_id": e.rootPID, "name": "x", "threshold_privacy": "CLOUD"}, 400, "threshold_privacy", "invalid_value"},
		{"add_policy", map[string]any{"entity_id": e.rootPID, "name": "x", "threshold_latency": "low"}, 400, "threshold_latency", ""},
		{"add_policy", map[string]any{"entity_id": e.rootPID, "name": "x", "priority": 2.5}, 400, "priority", ""},
		{"add_policy", map[string]any{"entity_id": "root", "name": "x"}, 400, "entity_id", ""},
		{"update_policy", map[string]any{"id": 999, "name": "x"}, 404, "id", "not_found"},
		{"update_policy", map[string]any{"name": "x"}, 400, "id", "missing_field"},
		{"update_policy", map[string]any{"id": -3}, 400, "id", "invalid_value"},
		{"update_policy", map[string]any{"id": id, "name": " "}, 400, "name", "missing_field"},
		{"update_policy", map[string]any{"id": id, "name": "plain", "entity_id": alicePID}, 409, "name", "conflict"},
		{"update_policy", map[string]any{"id": id, "entity_id": 999}, 404, "entity_id", "not_found"},
		{"update_policy", map[string]any{"id": id, "threshold_privacy": "local"}, 400, "threshold_privacy", "invalid_value"},
		{"update_policy", map[string]any{"id": id, "threshold_quality": true}, 400, "threshold_quality", ""},
		{"update_policy", map[string]any{"id": "1"}, 400, "id", ""},
		{"get_policy", map[string]any{"id": 999}, 404, "id", "not_found"},
		{"get_policy", map[string]any{}, 400, "id", "missing_field"},
		{"get_policy", map[string]any{"id": []int{1}}, 400, "id", ""},
		{"get_policies", map[string]any{"process_id": 999}, 404, "process_id", "not_found"},
		{"get_policies", map[string]any{"process_id": "me"}, 400, "process_id", ""},
		{"delete_policy", map[string]any{"id": 999}, 404, "id", "not_found"},
		{"delete_policy", map[string]any{}, 400, "id", "missing_field"},
		{"delete_policy", map[string]any{"id": nil}, 400, "id", "missing_field"},
		{"delete_policy", map[string]any{"id": "one"}, 400, "id", ""},
	} {
		e.fail(c.name, e.rootKey, c.body, c.status, c.param, c.code)
	}

	if m := e.ok("delete_policy", e.rootKey, map[string]any{"id": id}); m["result"] != "Deleted Policy" {
		t.Errorf("delete answer %v", m)
	}
	e.fail("get_policy", e.rootKey, map[string]any{"id": id}, 404, "id", "not_found")
	e.fail("delete_policy", e.rootKey, map[string]any{"id": id}, 404, "id", "not_found")
}

func TestIdentitySetLog(t *testing.T) {
	e := newIdentityEnv(t)
	alicePID, aliceKey := e.user("alice", store.RoleUser)
	level := func(pid int64) store.LogLevel {
		p, err := e.st.GetProcess(e.ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		return p.LogLevel
	}
	if m := e.ok("set_log", e.rootKey, map[string]any{"set_log": "FULL", "process_id": alicePID}); m["result"] != "Updated log level to FULL" {
		t.Errorf("answer %v", m)
	}
	if level(alicePID) != store.LogFull {
		t.Error("admin set_log not stored")
	}
	// The owner may set its own level; the rest of the process is kept.
	e.ok("set_log", aliceKey, map[string]any{"set_log": "BILLING", "process_id": alicePID})
	if p, _ := e.st.GetProcess(e.ctx, alicePID); p.LogLevel != store.LogBilling || p.Name != "alice-app" || p.Priority != 5 {
		t.Errorf("after the owner's set_log %+v", p)
	}
	e.fail("set_log", aliceKey, map[string]any{"set_log": "FULL", "process_id": e.rootPID}, 403, "process_id", "not_owner")
	e.fail("set_log", aliceKey, map[string]any{"set_log": "FULL", "process_id": 999}, 403, "process_id", "not_owner")
	if level(e.rootPID) != store.LogBilling {
		t.Error("a user changed root's log level")
	}
	e.fail("set_log", e.rootKey, map[string]any{"set_log": "FULL", "process_id": 999}, 404, "process_id", "not_found")
	e.fail("set_log", e.rootKey, map[string]any{"set_log": "full", "process_id": alicePID}, 400, "set_log", "invalid_value")
	e.fail("set_log", e.rootKey, map[string]any{"process_id": alicePID}, 400, "set_log", "missing_field")
	e.fail("set_log", e.rootKey, map[string]any{"set_log": "FULL"}, 400, "process_id", "missing_field")
	e.fail("set_log", e.rootKey, map[string]any{"set_log": 1, "process_id": alicePID}, 400, "set_log", "")
	e.fail("set_log", e.rootKey, map[string]any{"set_log": "FULL", "process_id": "2"}, 400, "process_id", "")
}

func TestIdentityListKeys(t *testing.T) {
	e := newIdentityEnv(t)
	alicePID, aliceKey := e.user("alice", store.RoleUser)
	m := e.ok("add_service", e.rootKey, map[string]any{"name": "svc"})
	svcPID, sid := e.id(m, "process-id"), e.id(m, "service-id")
	e.ok("revoke_key", e.rootKey, map[string]any{"process_id": svcPID})

	status, raw := e.raw("list_keys", e.rootKey, "{}")
	if status != 200 {
		t.Fatalf("list_keys: %d %s", status, raw)
	}
	for _, k := range e.keys {
		if strings.Contains(string(raw), k) {
			t.Fatalf("list_keys shows a key: %s", raw)
		}
	}
	if strings.Contains(strings.ToLower(string(raw)), "hash") {
		t.Errorf("list_keys shows a hash: %s", raw)
	}
	var all struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &all); err != nil || len(all.Keys) != 3 {
		t.Fatalf("list_keys: %v %s", err, raw)
	}
	byPID := map[int64]map[string]any{}
	for _, k := range all.Keys {
		byPID[int64(k["process-id"].(float64))] = k
		if _, err := time.Parse(time.RFC3339Nano, k["created_at"].(string)); err != nil {
			t.Errorf("created_at: %v", err)
		}
	}
	alice := byPID[alicePID]
	if alice["name"] != "alice-app" || alice["prefix"] != aliceKey[:12] || alice["log_level"] != "BILLING" ||
		alice["priority"] != float64(5) || alice["revoked"] != false || len(alice["owner"].(map[string]any)) != 1 ||
		alice["owner"].(map[string]any)["user-id"] == nil {
		t.Errorf("alice's key %v", alice)
	}
	svc := byPID[svcPID]
	if svc["revoked"] != true || identityJSON(svc["owner"]) != `{"service-id":`+identityJSON(sid)+`}` {
		t.Errorf("service key %v", svc)
	}

	// A user sees only its own key.
	mine := e.ok("list_keys", aliceKey, nil)["keys"].([]any)
	if len(mine) != 1 || mine[0].(map[string]any)["process-id"] != float64(alicePID) {
		t.Errorf("alice sees %v", mine)
	}
}

func TestIdentityRevokeKey(t *testing.T) {
	e := newIdentityEnv(t)
	alicePID, aliceKey := e.user("alice", store.RoleUser)
	bobPID, bobKey := e.user("bob", store.RoleUser)

	e.fail("revoke_key", aliceKey, map[string]any{"process_id": bobPID}, 403, "process_id", "not_owner")
	e.fail("revoke_key", aliceKey, map[string]any{"process_id": e.rootPID}, 403, "process_id", "not_owner")
	e.ok("get_process_id", bobKey, nil)

	m := e.ok("revoke_key", e.rootKey, map[string]any{"process_id": bobPID})
	if m["result"] != "Revoked key" || m["process-id"] != float64(bobPID) {
		t.Errorf("answer %v", m)
	}
	for _, ep := range identityEndpoints {
		e.fail(ep.name, bobKey, map[string]any{}, 401, "", "invalid_api_key")
	}
	// Revoking twice succeeds and keeps the first time.
	first, _ := e.st.GetProcess(e.ctx, bobPID)
	e.ok("revoke_key", e.rootKey, map[string]any{"process_id": bobPID})
	if again, _ := e.st.GetProcess(e.ctx, bobPID); !again.RevokedAt.Equal(first.RevokedAt) {
		t.Errorf("second revoke moved the time from %v to %v", first.RevokedAt, again.RevokedAt)
	}

	// A process may revoke its own key.
	e.ok("revoke_key", aliceKey, map[string]any{"process_id": alicePID})
	e.fail("get_process_id", aliceKey, nil, 401, "", "invalid_api_key")

	// The last active admin key cannot be revoked; with a second one it can.
	e.fail("revoke_key", e.rootKey, map[string]any{"process_id": e.rootPID}, 409, "process_id", "last_admin_key")
	_, adminKey := e.user("carol", store.RoleAdmin)
	e.ok("revoke_key", adminKey, map[string]any{"process_id": e.rootPID})
	e.fail("list_keys", e.rootKey, nil, 401, "", "invalid_api_key")

	e.fail("revoke_key", adminKey, map[string]any{"process_id": 999}, 404, "process_id", "not_found")
	e.fail("revoke_key", adminKey, map[string]any{}, 400, "process_id", "missing_field")
	e.fail("revoke_key", adminKey, map[string]any{"process_id": -1}, 400, "process_id", "invalid_value")
	e.fail("revoke_key", adminKey, map[string]any{"process_id": "1"}, 400, "process_id", "")
}

func TestIdentityRotateKey(t *testing.T) {
	e := newIdentityEnv(t)
	alicePID, aliceKey := e.user("alice", store.RoleUser)
	bobPID, bobKey := e.user("bob", store.RoleUser)

	e.fail("rotate_key", aliceKey, map[string]any{"process_id": bobPID}, 403, "process_id", "not_owner")
	e.ok("get_process_id", bobKey, nil)

	// An admin rotates another process's key.
	m := e.ok("rotate_key", e.rootKey, map[string]any{"process_id": alicePID})
	newKey, _ := m["logos-key"].(string)
	if m["result"] != "Rotated key" || m["process-id"] != float64(alicePID) || !strings.HasPrefix(newKey, "lg-alice-app-") || newKey == aliceKey {
		t.Fatalf("answer %v", m)
	}
	e.fail("get_process_id", aliceKey, nil, 401, "", "invalid_api_key")
	if got := e.ok("get_process_id", newKey, nil)["result"]; got != float64(alicePID) {
		t.Errorf("the rotated key resolves to %v", got)
	}

	// A process rotates its own key.
	newer, _ := e.ok("rotate_key", newKey, map[string]any{"process_id": alicePID})["logos-key"].(string)
	e.fail("get_process_id", newKey, nil, 401, "", "invalid_api_key")
	e.ok("get_process_id", newer, nil)

	// Rotating a revoked key makes the process usable again.
	e.ok("revoke_key", e.rootKey, map[string]any{"process_id": bobPID})
	revived, _ := e.ok("rotate_key", e.rootKey, map[string]any{"process_id": bobPID})["logos-key"].(string)
	e.fail("get_process_id", bobKey, nil, 401, "", "invalid_api_key")
	e.ok("get_process_id", revived, nil)

	// The root key itself can be rotated.
	rootNew, _ := e.ok("rotate_key", e.rootKey, map[string]any{"process_id": e.rootPID})["logos-key"].(string)
	e.fail("list_keys", e.rootKey, nil, 401, "", "invalid_api_key")
	e.ok("list_keys", rootNew, nil)

	e.fail("rotate_key", rootNew, map[string]any{"process_id": 999}, 404, "process_id", "not_found")
	e.fail("rotate_key", rootNew, map[string]any{}, 400, "process_id", "missing_field")
	e.fail("rotate_key", rootNew, map[string]any{"process_id": true}, 400, "process_id", "")
}

func TestIdentityWhoAmI(t *testing.T) {
	e := newIdentityEnv(t)
	alicePID, aliceKey := e.user("alice", store.RoleUser)
	_, adminKey := e.user("carol", store.RoleAdmin)
	for _, c := range []struct {
		key, role string
		pid       int64
	}{{e.rootKey, "admin", e.rootPID}, {aliceKey, "user", alicePID}, {adminKey, "admin", 0}} {
		if m := e.ok("get_role", c.key, nil); len(m) != 1 || m["role"] != c.role {
			t.Errorf("get_role %v, want %s", m, c.role)
		}
		if c.pid != 0 {
			if m := e.ok("get_process_id", c.key, map[string]any{}); len(m) != 1 || m["result"] != float64(c.pid) {
				t.Errorf("get_process_id %v, want %d", m, c.pid)
			}
		}
	}
	before := e.changes.Load()
	e.ok("get_role", e.rootKey, nil)
	e.ok("list_keys", e.rootKey, nil)
	if e.changes.Load() != before {
		t.Error("a read called OnChange")
	}
}

func TestIdentityGeneralStats(t *testing.T) {
	e := newIdentityEnv(t)
	alicePID, aliceKey := e.user("alice", store.RoleUser)
	var models []int64
	for _, name := range []string{"m1", "m2", "m3"} {
		m, err := e.st.CreateModel(e.ctx, store.Model{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, m.ID)
	}
	profs, err := e.st.ListProfiles(e.ctx, alicePID)
	if err != nil || len(profs) != 1 {
		t.Fatalf("profiles %v %v", profs, err)
	}
	second := e.id(e.ok("add_profile", e.rootKey, map[string]any{"profile_name": "extra", "process_id": alicePID}), "profile-id")
	for _, g := range [][2]int64{{profs[0].ID, models[0]}, {second, models[0]}, {second, models[1]}} {
		if err := e.st.GrantModel(e.ctx, g[0], g[1]); err != nil {
			t.Fatal(err)
		}
	}
	var records []store.UsageRecord
	for i, pid := range []int64{e.rootPID, e.rootPID, e.rootPID, alicePID} {
		records = append(records, store.UsageRecord{
			RequestID: "req-" + identityJSON(i), ProcessID: pid, ReceivedAt: time.Now().UTC(),
			StatusCode: 200, Outcome: store.OutcomeSuccess, LogLevel: store.LogBilling,
		})
	}
	if _, err := e.st.InsertUsage(e.ctx, records); err != nil {
		t.Fatal(err)
	}
	if m := e.ok("generalstats", e.rootKey, nil); identityJSON(m) != `{"models":3,"processes":2,"requests":4}` {
		t.Errorf("admin stats %v", m)
	}
	if m := e.ok("generalstats", aliceKey, nil); identityJSON(m) != `{"models":2,"processes":1,"requests":1}` {
		t.Errorf("alice's stats %v", m)
	}
	e.fail("generalstats", aliceKey, "[]", 400, "", "invalid_json")
}

// identityFaultyStore fails some operations of a real store.
type identityFaultyStore struct {
	*sqlite.Store
	failProfiles, failLists bool
}

var errIdentityInjected = errors.New("injected failure: secret-looking driver detail")

func (s *identityFaultyStore) CreateProfile(ctx context.Context, p store.Profile) (store.Profile, error) {
	if s.failProfiles {
		return store.Profile{}, errIdentityInjected
	}
	return s.Store.CreateProfile(ctx, p)
}

func (s *identityFaultyStore) ListProcesses(ctx context.Context) ([]store.Process, error) {
	if s.failLists {
		return nil, errIdentityInjected
	}
	return s.Store.ListProcesses(ctx)
}

func TestIdentityStoreFailures(t *testing.T) {
	e := newIdentityEnv(t)
	faulty := &identityFaultyStore{Store: e.st, failProfiles: true, failLists: true}
	e.serve(faulty)
	uid := e.id(e.ok("add_user", e.rootKey, map[string]any{"username": "alice", "role": "user"}), "user-id")

	// A process whose profile cannot be created is removed again.
	before := e.changes.Load()
	e.fail("add_process", e.rootKey, map[string]any{"name": "alice-app", "user_id": uid}, 500, "", "")
	if _, err := e.st.GetProcessByName(e.ctx, "alice-app"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the process without profile is still there: %v", err)
	}
	if e.changes.Load() != before {
		t.Error("a failed write called OnChange")
	}
	e.fail("list_keys", e.rootKey, nil, 500, "", "")
	e.fail("generalstats", e.rootKey, nil, 500, "", "")
	status, raw := e.raw("list_keys", e.rootKey, "{}")
	if status != 500 || strings.Contains(string(raw), "secret-looking") {
		t.Errorf("internal detail in the answer: %d %s", status, raw)
	}
	if !strings.Contains(e.logs.String(), "secret-looking") {
		t.Error("the store failure was not logged")
	}

	faulty.failProfiles, faulty.failLists = false, false
	e.ok("add_process", e.rootKey, map[string]any{"name": "alice-app", "user_id": uid})
}
