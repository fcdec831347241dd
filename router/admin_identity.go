package router

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/internal/catalog"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/store"
)

// adminIdentityRoutes registers the admin endpoints for keys, processes,
// profiles, services, policies, log levels and the caller's own view.
//
// Every endpoint is POST /logosdb/<name> with a JSON object body and answers
// with a JSON object and a real status code. Creating endpoints answer 200
// like /logosdb/setup. A key is shown only in the answer of the call that
// created it (add_service, add_process, connect_service_process, rotate_key).
//
// Write endpoints need an admin key, except set_log, revoke_key and
// rotate_key, which a process may also call on itself. Reads are scoped: a
// non-admin sees only its own process. A non-admin naming another process id
// gets 403 whether or not it exists; a policy of another process is 404 to it.
func (h *Handler) adminIdentityRoutes() {
	x := identityAPI{h}
	// Users, processes, profiles and services.
	h.adminRoute("add_user", true, true, x.addUser)
	h.adminRoute("add_process", true, true, x.addProcess)
	h.adminRoute("add_profile", true, true, x.addProfile)
	h.adminRoute("add_service", true, true, x.addService)
	h.adminRoute("connect_service_process", true, true, x.connectServiceProcess)
	// Keys and log levels.
	h.adminRoute("list_keys", false, false, x.listKeys)
	h.adminRoute("revoke_key", false, true, x.revokeKey)
	h.adminRoute("rotate_key", false, true, x.rotateKey)
	h.adminRoute("set_log", false, true, x.setLog)
	// Policies.
	h.adminRoute("add_policy", true, true, x.addPolicy)
	h.adminRoute("update_policy", true, true, x.updatePolicy)
	h.adminRoute("delete_policy", true, true, x.deletePolicy)
	h.adminRoute("get_policy", false, false, x.getPolicy)
	h.adminRoute("get_policies", false, false, x.getPolicies)
	// The caller's own view.
	h.adminRoute("get_process_id", false, false, x.getProcessID)
	h.adminRoute("get_role", false, false, x.getRole)
	h.adminRoute("generalstats", false, false, x.generalStats)
}

// identityAPI implements the identity endpoints. Its methods are kept off
// Handler so their names cannot collide with other admin endpoints.
type identityAPI struct{ *Handler }

// ---- users, processes, profiles, services ----

// addUser creates a user.
//
//	{username, prename?, name?, role: "admin"|"user"} → {"result":"Created user","user-id"}
func (x identityAPI) addUser(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		Username string `json:"username"`
		Prename  string `json:"prename"`
		Name     string `json:"name"`
		Role     string `json:"role"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	u, err := x.cat.NewUser(a.ctx, store.User{Username: req.Username, Prename: req.Prename, Name: req.Name, Role: store.Role(req.Role)})
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	x.log.Info("admin: user created", "user_id", u.ID, "role", u.Role, "by_process", a.caller.Process.ID)
	return http.StatusOK, result("Created user", "user-id", u.ID), nil
}

// addProcess creates a process of a user or a service, its key and a profile
// named after it.
//
//	{name, user_id | service_id, log_level?, priority?}
//	→ {"result":"Created process","process-id","profile-id","logos-key"}
func (x identityAPI) addProcess(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		Name      string `json:"name"`
		UserID    int64  `json:"user_id"`
		ServiceID int64  `json:"service_id"`
		LogLevel  string `json:"log_level"`
		Priority  int    `json:"priority"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	c, err := x.cat.NewProcess(a.ctx, catalog.NewProcessRequest{
		Name: req.Name, UserID: req.UserID, ServiceID: req.ServiceID, LogLevel: req.LogLevel, Priority: req.Priority,
	})
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	x.logCreated(a, c.Process)
	return http.StatusOK, result("Created process", "process-id", c.Process.ID, "profile-id", c.Profile.ID, "logos-key", c.Key), nil
}

// addProfile adds a profile to a process.
//
//	{profile_name, process_id} → {"result":"Added profile","profile-id"}
func (x identityAPI) addProfile(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		ProfileName string `json:"profile_name"`
		ProcessID   int64  `json:"process_id"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	name, err := catalog.NonEmpty("profile_name", req.ProfileName)
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	p, e := x.process(a, "process_id", req.ProcessID)
	if e != nil {
		return 0, nil, e
	}
	prof, err := x.cat.NewProfile(a.ctx, p.ID, name)
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Added profile", "profile-id", prof.ID), nil
}

// addService creates a service with a process, key and profile all named
// after it.
//
//	{name} → {"result":"Created Service.","service-id","process-id","profile-id","logos-key"}
func (x identityAPI) addService(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		Name string `json:"name"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	c, err := x.cat.NewService(a.ctx, req.Name)
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	x.logCreated(a, c.Process)
	return http.StatusOK, result("Created Service.",
		"service-id", c.Service.ID, "process-id", c.Process.ID, "profile-id", c.Profile.ID, "logos-key", c.Key), nil
}

// connectServiceProcess creates another process and key for a service. It is
// idempotent: when the service already has a process of that name, it
// answers 200 with that process's id and no key (rotate_key issues a new one).
//
//	{service_id, process_name} → {"result":"Connected service. Process-ID: N.","process-id","api-key"?}
func (x identityAPI) connectServiceProcess(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		ServiceID   int64  `json:"service_id"`
		ProcessName string `json:"process_name"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	p, key, created, err := x.cat.ConnectServiceProcess(a.ctx, req.ServiceID, req.ProcessName)
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	res := x.connected(p.ID)
	if created {
		x.logCreated(a, p)
		res["api-key"] = key
	}
	return http.StatusOK, res, nil
}

// connected is the answer of connect_service_process.
func (identityAPI) connected(processID int64) map[string]any {
	return result(fmt.Sprintf("Connected service. Process-ID: %d.", processID), "process-id", processID)
}

// logCreated logs the creation of a process by the caller.
func (x identityAPI) logCreated(a *adminRequest, p store.Process) {
	x.log.Info("admin: process created", "process_id", p.ID, "key_prefix", p.KeyPrefix, "by_process", a.caller.Process.ID)
}

// ---- keys and log levels ----

// keyInfo describes a process's key without the key or its hash.
type keyInfo struct {
	ProcessID int64          `json:"process-id"`
	Name      string         `json:"name"`
	Prefix    string         `json:"prefix"`
	Owner     keyOwner       `json:"owner"`
	LogLevel  store.LogLevel `json:"log_level"`
	Priority  int            `json:"priority"`
	Revoked   bool           `json:"revoked"`
	CreatedAt time.Time      `json:"created_at"`
}

// keyOwner is the user or service a process belongs to.
type keyOwner struct {
	UserID    int64 `json:"user-id,omitempty"`
	ServiceID int64 `json:"service-id,omitempty"`
}

func newKeyInfo(p store.Process) keyInfo {
	return keyInfo{
		ProcessID: p.ID,
		Name:      p.Name,
		Prefix:    p.KeyPrefix,
		Owner:     keyOwner{UserID: p.UserID, ServiceID: p.ServiceID},
		LogLevel:  p.LogLevel,
		Priority:  p.Priority,
		Revoked:   !p.RevokedAt.IsZero(),
		CreatedAt: p.CreatedAt,
	}
}

// listKeys lists the keys of every process (admin) or of the caller's.
//
//	{} → {"keys":[{"process-id","name","prefix","owner","log_level","priority","revoked","created_at"}]}
func (x identityAPI) listKeys(a *adminRequest) (int, any, *oaierr.Error) {
	if e := a.decode(&struct{}{}); e != nil {
		return 0, nil, e
	}
	procs := []store.Process{a.caller.Process}
	if a.caller.Admin {
		var err error
		if procs, err = x.db.ListProcesses(a.ctx); err != nil {
			return 0, nil, x.storeError(err, "processes", "")
		}
	}
	keys := make([]keyInfo, len(procs))
	for i, p := range procs {
		keys[i] = newKeyInfo(p)
	}
	return http.StatusOK, map[string]any{"keys": keys}, nil
}

// revokeKey revokes a process's key. Revoking a revoked key succeeds; the
// last active admin key cannot be revoked (409), so the instance cannot be
// locked out; rotate it instead.
//
//	{process_id} → {"result":"Revoked key","process-id"}
func (x identityAPI) revokeKey(a *adminRequest) (int, any, *oaierr.Error) {
	p, e := x.decodeProcess(a)
	if e != nil {
		return 0, nil, e
	}
	if err := x.cat.RevokeKey(a.ctx, p); err != nil {
		return 0, nil, x.catalogError(err)
	}
	if p.RevokedAt.IsZero() {
		x.log.Info("admin: key revoked", "process_id", p.ID, "key_prefix", p.KeyPrefix, "by_process", a.caller.Process.ID)
	}
	return http.StatusOK, result("Revoked key", "process-id", p.ID), nil
}

// rotateKey gives a process a new key, returned only here; the old key stops
// working at once and a revoked key becomes active again.
//
//	{process_id} → {"result":"Rotated key","process-id","logos-key"}
func (x identityAPI) rotateKey(a *adminRequest) (int, any, *oaierr.Error) {
	p, e := x.decodeProcess(a)
	if e != nil {
		return 0, nil, e
	}
	key, err := x.cat.RotateKey(a.ctx, p)
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	x.log.Info("admin: key rotated", "process_id", p.ID, "key_prefix", apikey.Prefix(key), "by_process", a.caller.Process.ID)
	return http.StatusOK, result("Rotated key", "process-id", p.ID, "logos-key", key), nil
}

// decodeProcess decodes {process_id} and returns that process if the caller
// may act on it.
func (x identityAPI) decodeProcess(a *adminRequest) (store.Process, *oaierr.Error) {
	var req struct {
		ProcessID int64 `json:"process_id"`
	}
	if e := a.decode(&req); e != nil {
		return store.Process{}, e
	}
	return x.process(a, "process_id", req.ProcessID)
}

// setLog sets a process's log level.
//
//	{set_log: "BILLING"|"FULL", process_id} → {"result":"Updated log level to FULL"}
func (x identityAPI) setLog(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		SetLog    string `json:"set_log"`
		ProcessID int64  `json:"process_id"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	if err := catalog.CheckLogLevel("set_log", req.SetLog); err != nil {
		return 0, nil, x.catalogError(err)
	}
	p, e := x.process(a, "process_id", req.ProcessID)
	if e != nil {
		return 0, nil, e
	}
	if err := x.cat.SetLogLevel(a.ctx, p, req.SetLog); err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Updated log level to " + req.SetLog), nil
}

// ---- policies ----

// policyView is a policy as the API shows it; its field names are those of
// add_policy and update_policy, so it can be edited and sent back.
type policyView struct {
	ID                int64     `json:"id"`
	EntityID          int64     `json:"entity_id"`
	Name              string    `json:"name"`
	Description       string    `json:"description"`
	ThresholdPrivacy  string    `json:"threshold_privacy"`
	ThresholdLatency  int       `json:"threshold_latency"`
	ThresholdAccuracy int       `json:"threshold_accuracy"`
	ThresholdCost     int       `json:"threshold_cost"`
	ThresholdQuality  int       `json:"threshold_quality"`
	Priority          int       `json:"priority"`
	Topic             string    `json:"topic"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

func newPolicyView(p store.Policy) policyView {
	return policyView{
		ID:                p.ID,
		EntityID:          p.ProcessID,
		Name:              p.Name,
		Description:       p.Description,
		ThresholdPrivacy:  string(p.ThresholdPrivacy),
		ThresholdLatency:  p.ThresholdLatency,
		ThresholdAccuracy: p.ThresholdAccuracy,
		ThresholdCost:     p.ThresholdCost,
		ThresholdQuality:  p.ThresholdQuality,
		Priority:          p.Priority,
		Topic:             p.Topic,
		CreatedAt:         p.CreatedAt,
		UpdatedAt:         p.UpdatedAt,
	}
}

// addPolicy creates a policy of a process (entity_id). Absent thresholds are
// 0, an absent threshold_privacy is LOCAL.
//
//	{entity_id, name, description?, threshold_privacy?, threshold_latency?,
//	 threshold_accuracy?, threshold_cost?, threshold_quality?, priority?, topic?}
//	→ {"result":"Created Policy","policy-id"}
func (x identityAPI) addPolicy(a *adminRequest) (int, any, *oaierr.Error) {
	var req catalog.PolicyFields
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	switch {
	case req.EntityID == nil:
		return 0, nil, missing("entity_id")
	case req.Name == nil:
		return 0, nil, missing("name")
	}
	p := store.Policy{ThresholdPrivacy: store.PrivacyLocal}
	if err := req.ApplyTo(&p); err != nil {
		return 0, nil, x.catalogError(err)
	}
	if _, e := x.process(a, "entity_id", p.ProcessID); e != nil {
		return 0, nil, e
	}
	created, err := x.cat.NewPolicy(a.ctx, p)
	if err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Created Policy", "policy-id", created.ID), nil
}

// updatePolicy changes the fields given of a policy; absent fields keep their
// values.
//
//	{id, <add_policy fields>...} → {"result":"Updated Policy"}
func (x identityAPI) updatePolicy(a *adminRequest) (int, any, *oaierr.Error) {
	// Two decodes rather than one into a struct embedding policyFields:
	// encoding/json would name a mistyped field "policyFields.name".
	var req struct {
		ID int64 `json:"id"`
	}
	var fields catalog.PolicyFields
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	if e := a.decode(&fields); e != nil {
		return 0, nil, e
	}
	p, e := x.policy(a, req.ID)
	if e != nil {
		return 0, nil, e
	}
	owner := p.ProcessID
	if err := fields.ApplyTo(&p); err != nil {
		return 0, nil, x.catalogError(err)
	}
	if p.ProcessID != owner {
		if _, e := x.process(a, "entity_id", p.ProcessID); e != nil {
			return 0, nil, e
		}
	}
	if _, err := x.cat.EditPolicy(a.ctx, p); err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Updated Policy"), nil
}

// deletePolicy deletes a policy.
//
//	{id} → {"result":"Deleted Policy"}
func (x identityAPI) deletePolicy(a *adminRequest) (int, any, *oaierr.Error) {
	id, e := x.decodePolicyID(a)
	if e != nil {
		return 0, nil, e
	}
	if err := x.cat.DropPolicy(a.ctx, id); err != nil {
		return 0, nil, x.catalogError(err)
	}
	return http.StatusOK, result("Deleted Policy"), nil
}

// getPolicy returns one policy of the caller's process (any process for an
// admin).
//
//	{id} → {"id","entity_id","name",...,"created_at","updated_at"}
func (x identityAPI) getPolicy(a *adminRequest) (int, any, *oaierr.Error) {
	id, e := x.decodePolicyID(a)
	if e != nil {
		return 0, nil, e
	}
	p, e := x.policy(a, id)
	if e != nil {
		return 0, nil, e
	}
	return http.StatusOK, newPolicyView(p), nil
}

// getPolicies lists the policies of the caller's process; an admin may name
// another with process_id.
//
//	{process_id?} → {"policies":[<get_policy objects>]}
func (x identityAPI) getPolicies(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		ProcessID int64 `json:"process_id"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	pid := a.caller.Process.ID
	if req.ProcessID != 0 && req.ProcessID != pid {
		p, e := x.process(a, "process_id", req.ProcessID)
		if e != nil {
			return 0, nil, e
		}
		pid = p.ID
	}
	list, err := x.db.ListPolicies(a.ctx, pid)
	if err != nil {
		return 0, nil, x.storeError(err, fmt.Sprintf("policies of process %d", pid), "process_id")
	}
	views := make([]policyView, len(list))
	for i, p := range list {
		views[i] = newPolicyView(p)
	}
	return http.StatusOK, map[string]any{"policies": views}, nil
}

// decodePolicyID decodes {id}.
func (x identityAPI) decodePolicyID(a *adminRequest) (int64, *oaierr.Error) {
	var req struct {
		ID int64 `json:"id"`
	}
	if e := a.decode(&req); e != nil {
		return 0, e
	}
	return req.ID, x.id("id", req.ID)
}

// policy returns the policy with the given id (request field "id") if the
// caller may see it; another process's policy is "not found" to a non-admin.
func (x identityAPI) policy(a *adminRequest, id int64) (store.Policy, *oaierr.Error) {
	if e := x.id("id", id); e != nil {
		return store.Policy{}, e
	}
	p, err := x.db.GetPolicy(a.ctx, id)
	if err == nil && !a.caller.Admin && p.ProcessID != a.caller.Process.ID {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Policy{}, x.storeError(err, fmt.Sprintf("policy %d", id), "id")
	}
	return p, nil
}

// ---- the caller's own view ----

// getProcessID returns the caller's process id.
//
//	{} → {"result": process_id}
func (x identityAPI) getProcessID(a *adminRequest) (int, any, *oaierr.Error) {
	if e := a.decode(&struct{}{}); e != nil {
		return 0, nil, e
	}
	return http.StatusOK, map[string]int64{"result": a.caller.Process.ID}, nil
}

// getRole returns the caller's role.
//
//	{} → {"role": "admin"|"user"|"service"}
func (x identityAPI) getRole(a *adminRequest) (int, any, *oaierr.Error) {
	if e := a.decode(&struct{}{}); e != nil {
		return 0, nil, e
	}
	role := string(store.RoleUser)
	switch {
	case a.caller.Admin:
		role = string(store.RoleAdmin)
	case a.caller.Process.ServiceID != 0:
		role = "service"
	}
	return http.StatusOK, map[string]string{"role": role}, nil
}

// generalStats counts models, processes and requests: all of them for an
// admin; for anyone else the models its profiles may use, its own process and
// its own requests.
//
//	{} → {"models": n, "processes": n, "requests": n}
func (x identityAPI) generalStats(a *adminRequest) (int, any, *oaierr.Error) {
	if e := a.decode(&struct{}{}); e != nil {
		return 0, nil, e
	}
	var (
		models, processes int
		filter            store.UsageFilter
		err               error
	)
	if a.caller.Admin {
		models, processes, err = x.globalCounts(a.ctx)
	} else {
		processes = 1
		filter.ProcessID = a.caller.Process.ID
		models, err = x.permittedModels(a.ctx, a.caller.Process.ID)
	}
	if err != nil {
		return 0, nil, x.storeError(err, "statistics", "")
	}
	requests, err := x.db.CountUsage(a.ctx, filter)
	if err != nil {
		return 0, nil, x.storeError(err, "statistics", "")
	}
	return http.StatusOK, map[string]any{"models": models, "processes": processes, "requests": requests}, nil
}

// globalCounts returns the number of models and processes.
func (x identityAPI) globalCounts(ctx context.Context) (models, processes int, err error) {
	ms, err := x.db.ListModels(ctx)
	if err != nil {
		return 0, 0, err
	}
	ps, err := x.db.ListProcesses(ctx)
	if err != nil {
		return 0, 0, err
	}
	return len(ms), len(ps), nil
}

// permittedModels returns how many distinct models any profile of the
// process may use.
func (x identityAPI) permittedModels(ctx context.Context, processID int64) (int, error) {
	profiles, err := x.db.ListProfiles(ctx, processID)
	if err != nil {
		return 0, err
	}
	seen := make(map[int64]bool)
	for _, prof := range profiles {
		perms, err := x.db.ListPermissions(ctx, prof.ID)
		if err != nil {
			return 0, err
		}
		for _, perm := range perms {
			seen[perm.ModelID] = true
		}
	}
	return len(seen), nil
}

// ---- validation ----

// id checks a required id field by the catalogue's rule (absent or 0 is
// missing, negative invalid), so the admin API has one rule and one message.
func (x identityAPI) id(field string, v int64) *oaierr.Error {
	if err := catalog.CheckID(field, v); err != nil {
		return x.catalogError(err)
	}
	return nil
}

// process returns the process with id (from request field) if the caller may
// act on it: an admin on any, anyone else only on its own. A non-admin naming
// another id gets 403 whether or not that process exists.
func (x identityAPI) process(a *adminRequest, field string, id int64) (store.Process, *oaierr.Error) {
	if e := x.id(field, id); e != nil {
		return store.Process{}, e
	}
	if !a.caller.Admin && id != a.caller.Process.ID {
		return store.Process{}, oaierr.New(http.StatusForbidden, "Only an admin key may act on another process").WithParam(field).WithCode("not_owner")
	}
	p, err := x.db.GetProcess(a.ctx, id)
	if err != nil {
		return store.Process{}, x.storeError(err, fmt.Sprintf("process %d", id), field)
	}
	return p, nil
}
