package router

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/logos-llm/logos/internal/oaierr"
)

// routeMux is an http.ServeMux that remembers the patterns registered on it,
// so the OpenAPI document can be checked against the real routes.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

// Handle registers h for pattern.
func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers f for pattern.
func (m *routeMux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, f)
}

// Patterns returns the patterns registered on the Handler, in the order of
// registration ("POST /logosdb/add_user", "/", ...).
func (h *Handler) Patterns() []string {
	return append([]string(nil), h.mux.patterns...)
}

// apiOp is one documented operation.
type apiOp struct {
	method, path string
	tag, summary string
	// admin: only keys of an admin user may call it.
	admin bool
	// noAuth: no Logos key is needed.
	noAuth bool
	// req is the JSON schema of the request body (nil: none).
	req map[string]any
	// resp is the JSON schema of the 200 answer; respType its media type
	// (default application/json).
	resp     map[string]any
	respType string
	// query lists query parameters "name:type".
	query []string
	// pathParams lists the path's parameters "name:type:description".
	pathParams []string
	// status is the success status (default 200).
	status int
	// errors are more error answers than the usual ones, by status.
	errors map[string]string
	// headerKey: the key is taken from the headers only (Authorization,
	// logos-key), never from the body, which is the upstream's.
	headerKey bool
}

// Schema helpers. A property spec is "name:type" with an optional "!" for
// required; types are string, integer, number, boolean, object, any,
// date-time, [type] for arrays, or a $ref name as #Name.
func schemaOf(typ string) map[string]any {
	switch {
	case strings.HasPrefix(typ, "["):
		return map[string]any{"type": "array", "items": schemaOf(strings.Trim(typ, "[]"))}
	case strings.HasPrefix(typ, "#"):
		return map[string]any{"$ref": "#/components/schemas/" + typ[1:]}
	case typ == "any":
		return map[string]any{}
	case typ == "date-time":
		return map[string]any{"type": "string", "format": "date-time"}
	case typ == "object":
		return map[string]any{"type": "object", "additionalProperties": true}
	case typ == "string?", typ == "integer?", typ == "number?":
		return map[string]any{"type": []string{strings.TrimSuffix(typ, "?"), "null"}}
	}
	return map[string]any{"type": typ}
}

// obj returns an object schema from property specs.
func obj(specs ...string) map[string]any {
	props := map[string]any{}
	var required []string
	for _, s := range specs {
		name, typ, _ := strings.Cut(s, ":")
		if strings.HasSuffix(name, "!") {
			name = strings.TrimSuffix(name, "!")
			required = append(required, name)
		}
		props[name] = schemaOf(typ)
	}
	o := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// with returns o with more properties (schemas, not specs).
func with(o map[string]any, kv ...any) map[string]any {
	props := o["properties"].(map[string]any)
	for i := 0; i+1 < len(kv); i += 2 {
		props[kv[i].(string)] = kv[i+1]
	}
	return o
}

func arrayOf(s map[string]any) map[string]any { return map[string]any{"type": "array", "items": s} }

// resultResp is the original's success envelope {"result": ..., extra}.
func resultResp(extra ...string) map[string]any {
	o := obj(append([]string{"result!:any"}, extra...)...)
	o["additionalProperties"] = true
	return o
}

// apiOps lists every documented operation.
func apiOps() []apiOp {
	const (
		tagSetup    = "Setup and health"
		tagIdentity = "Users, processes and keys"
		tagPolicy   = "Policies"
		tagCatalog  = "Catalogue"
		tagPrices   = "Prices and budgets"
		tagStats    = "Statistics"
		tagMonitor  = "Monitoring"
		tagJobs     = "Jobs"
	)
	stat := func(name, summary string, req, resp map[string]any) apiOp {
		return apiOp{method: "POST", path: "/logosdb/" + name, tag: tagStats, summary: summary, req: req, resp: resp}
	}
	post := func(name, tag, summary string, admin bool, req, resp map[string]any) apiOp {
		return apiOp{method: "POST", path: "/logosdb/" + name, tag: tag, summary: summary, admin: admin, req: req, resp: resp}
	}
	providerFields := []string{"provider_name:string", "provider_type:string", "base_url:string", "api_key:string", "auth_name:string",
		"auth_format:string", "api_version:string", "privacy:string", "admin_url:string", "total_vram_mb:integer",
		"parallel_capacity:integer", "keep_alive_seconds:integer", "max_loaded_models:integer"}
	policyFields := []string{"entity_id:integer", "name:string", "description:string", "threshold_privacy:string", "threshold_latency:integer",
		"threshold_accuracy:integer", "threshold_cost:integer", "threshold_quality:integer", "priority:integer", "topic:string"}
	usageRange := []string{"from:string", "to:string", "process_id:integer"}
	jobID := []string{"id:integer:The job's id (job_id)."}
	jobNotFound := map[string]string{"404": "No such job (job_not_found)"}
	return append(jobOps(tagJobs), []apiOp{
		{method: "GET", path: "/healthz", tag: tagSetup, summary: "Liveness: the process serves HTTP.", noAuth: true, resp: obj("status!:string")},
		{method: "GET", path: "/readyz", tag: tagSetup, summary: "Readiness: the store answers (503 otherwise).", noAuth: true, resp: obj("status!:string", "error:string")},
		{method: "GET", path: "/metrics", tag: tagMonitor, summary: "Prometheus exposition; needs the metrics token as a bearer token.", noAuth: true, respType: "text/plain"},
		{method: "GET", path: "/openapi.json", tag: tagSetup, summary: "This document.", noAuth: true, resp: obj("openapi!:string", "paths!:object")},
		{method: "POST", path: "/logosdb/setup", tag: tagSetup, noAuth: true,
			summary: "Create the admin user, root process and first provider on an empty store; answers the root key once.",
			req:     obj(append([]string{"base_url!:string", "provider_name!:string", "provider_type!:string"}, providerFields[3:]...)...),
			resp:    resultResp("logos-key:string", "provider-id:integer")},

		post("add_user", tagIdentity, "Add a user.", true, obj("username!:string", "prename:string", "name:string", "role:string"), resultResp("user-id:integer")),
		post("add_process", tagIdentity, "Add a process (an API key) for a user or service.", true,
			obj("name!:string", "user_id:integer", "service_id:integer", "log_level:string", "priority:integer"), resultResp("process-id:integer", "logos-key:string")),
		post("add_profile", tagIdentity, "Add a profile to a process.", true, obj("profile_name!:string", "process_id!:integer"), resultResp("profile-id:integer")),
		post("add_service", tagIdentity, "Add a service with its process, key and profile.", true, obj("name!:string"), resultResp("logos-key:string", "process-id:integer", "profile-id:integer")),
		post("connect_service_process", tagIdentity, "Attach a new process to a service.", true, obj("service_id!:integer", "process_name!:string"), resultResp()),
		post("list_keys", tagIdentity, "List keys (prefixes only): all for an admin, else the caller's.", false, obj(), obj("keys!:[object]")),
		post("revoke_key", tagIdentity, "Revoke a process's key (a non-admin only its own).", false, obj("process_id:integer"), resultResp()),
		post("rotate_key", tagIdentity, "Replace a process's key; answers the new key once.", false, obj("process_id:integer"), resultResp("logos-key:string")),
		post("set_log", tagIdentity, "Set a process's log level (BILLING or FULL).", false, obj("set_log!:string", "process_id:integer"), resultResp()),
		post("get_process_id", tagIdentity, "The caller's process id.", false, obj(), obj("result!:integer")),
		post("get_role", tagIdentity, "The caller's role: admin, user or service.", false, obj(), obj("role!:string")),
		post("generalstats", tagStats, "Counts of models, processes and requests in the caller's scope.", false, obj(), obj("models!:integer", "processes!:integer", "requests!:integer")),

		post("add_policy", tagPolicy, "Add a routing policy to a process.", true, obj(policyFields...), resultResp("policy-id:integer")),
		post("update_policy", tagPolicy, "Change fields of a policy.", true, obj(append([]string{"id!:integer"}, policyFields...)...), resultResp()),
		post("delete_policy", tagPolicy, "Delete a policy.", true, obj("id!:integer"), resultResp()),
		post("get_policy", tagPolicy, "One policy of the caller's scope.", false, obj("id!:integer"), obj()),
		post("get_policies", tagPolicy, "The policies of a process of the caller's scope.", false, obj("process_id:integer"), obj()),

		post("add_provider", tagCatalog, "Add a provider; its credential is sealed.", true, obj(providerFields...), resultResp("provider-id:integer")),
		post("update_provider", tagCatalog, "Change fields of a provider.", true, obj(append([]string{"provider_id!:integer"}, providerFields...)...), resultResp()),
		post("update_provider_sdi_config", tagCatalog, "Alias of update_provider (the original's name).", true, obj(append([]string{"provider_id!:integer"}, providerFields...)...), resultResp()),
		post("get_providers", tagCatalog, "Providers the caller reaches; credentials are never returned.", false, obj(), obj("providers!:[#Provider]")),
		post("add_model", tagCatalog, "Add a model by name.", true, obj("name!:string"), resultResp("model_id:integer")),
		post("add_full_model", tagCatalog, "Add a model with its weights.", true, obj("name!:string", "weight_privacy:string", "worse_accuracy:integer?", "worse_quality:integer?",
			"worse_latency:integer?", "worse_cost:integer?", "tags:string", "parallel:integer", "description:string", "context_window:integer",
			"retry_max_attempts:integer", "retry_attempt_timeout_ms:integer", "retry_deadline_ms:integer"), resultResp("model_id:integer")),
		post("update_model", tagCatalog, "Change one field of a model, or rank it by feedback.", true, obj("id!:integer", "category!:string", "value!:any"), resultResp()),
		post("delete_model", tagCatalog, "Delete a model.", true, obj("id!:integer"), resultResp()),
		post("get_model", tagCatalog, "One model.", false, obj("id!:integer"), schemaOf("#Model")),
		post("get_models", tagCatalog, "Models the caller may use (all for an admin).", false, obj(), obj("models!:[#Model]")),
		post("connect_model_provider", tagCatalog, "Deploy a model on a provider.", true, obj("model_id!:integer", "provider_id!:integer", "upstream_model:string",
			"endpoint:string", "api_version:string", "parallel_capacity:integer"), resultResp()),
		post("connect_model_api", tagCatalog, "Set a deployment's credential and endpoint.", true, obj("model_id!:integer", "provider_id!:integer", "api_key:string", "endpoint:string"), resultResp()),
		post("list_deployments", tagCatalog, "All deployments.", true, obj(), obj("deployments!:[object]")),
		post("connect_profile_model", tagCatalog, "Allow a profile to use a model.", true, obj("profile_id!:integer", "model_id!:integer"), resultResp()),
		post("connect_process_model", tagCatalog, "Alias of connect_profile_model (the original's name).", true, obj("profile_id!:integer", "model_id!:integer"), resultResp()),
		post("connect_process_provider", tagCatalog, "Allow a profile every model of a provider.", true, obj("profile_id!:integer", "provider_id!:integer"), resultResp()),
		post("export", tagCatalog, "The catalogue as a config document.", true, obj("include_secrets:boolean"), resultResp()),
		post("import", tagCatalog, "Apply a config document.", true, obj("json_data!:object", "prune:boolean"), resultResp()),

		post("add_billing", tagPrices, "Add a price per 1,000 tokens of a token type.", true, obj("type_name!:string", "type_cost!:number", "valid_from!:string",
			"currency:string", "model_id:integer", "provider_id:integer"), resultResp()),
		stat("get_prices", "Prices in force (a non-admin: those of its models and those for any model).", obj(), obj("prices!:[#Price]")),
		post("set_budget", tagPrices, "Create or replace the budget of a process or user.", true, obj("process_id:integer", "user_id:integer", "limit!:string",
			"currency!:string", "period!:string", "starts_at:date-time"), resultResp("budget-id:integer", "budget:#Budget")),
		post("get_budgets", tagPrices, "Budgets with the current period's spending (a non-admin: its own).", false, obj(), obj("budgets!:[#Budget]")),

		stat("usage_stats", "Usage and cost totals or hourly/daily series, grouped.", obj(append(usageRange, "group_by:[string]", "interval:string", "user_id:integer")...),
			obj("from!:date-time", "to!:date-time", "group_by!:[string]", "interval!:string", "buckets!:[#UsageBucket]")),
		stat("latest_requests", "The 10 newest requests in the original's shape.", obj("process_id:integer"), obj("requests!:[object]")),
		stat("request_event_stats", "The original's dashboard summary (spec §7.4).", obj("start_date:string", "end_date:string", "target_buckets:integer", "process_id:integer"),
			obj("range!:object", "bucketSeconds!:integer", "stats!:object")),
		stat("list_requests", "Newest usage records of a range (at most 92 days, 500 rows), filtered.", obj(append(usageRange, "model:string", "provider:string",
			"outcome:string", "status_code:integer", "limit:integer")...), obj("from!:date-time", "to!:date-time", "requests!:[#RequestSummary]", "truncated!:boolean")),
		stat("get_request", "One usage record; payloads only when stored (log level FULL), headers redacted.", obj("request_id!:string"),
			obj("request!:#RequestRecord")),
		stat("latency_stats", "TTFT and latency p50/p95 per time bucket (at most 1000 buckets).", obj(append(usageRange, "target_buckets:integer")...),
			obj("from!:date-time", "to!:date-time", "bucket_seconds!:integer", "series!:[#LatencyPoint]")),
		{method: "GET", path: "/logosdb/usage_csv", tag: tagStats, summary: "Usage records of a range as CSV; key in the Authorization header.",
			query: []string{"from:string", "to:string", "process_id:integer"}, respType: "text/csv"},
		{method: "POST", path: "/logosdb/usage_csv", tag: tagStats, summary: "Usage records of a range as CSV.",
			req: obj(usageRange...), respType: "text/csv"},

		{method: "GET", path: "/logosdb/scheduler_state", tag: tagMonitor, admin: true, summary: "The scheduler's queues per deployment; key in the Authorization header.",
			resp: obj("queue_total!:integer", "deployments!:object")},
		post("scheduler_state", tagMonitor, "The scheduler's queues per deployment.", true, obj(), obj("queue_total!:integer", "deployments!:object")),
		post("get_ollama_vram_stats", tagMonitor, "One UTC day of VRAM use per Ollama provider, a point per minute (404 without data).", false,
			obj("day!:string"), obj("providers!:[#VRAMProvider]")),
		post("list_jobs", tagJobs, "Jobs newest first, filtered and paged (an admin: every process's; else the caller's process's); no results.", false,
			obj("process_id:integer", "status:string", "limit:integer", "before:integer"),
			obj("enabled!:boolean", "jobs!:[#JobRow]", "has_more!:boolean", "next_before:integer")),

		{method: "GET", path: "/jobs/{id}", tag: tagJobs, headerKey: true, pathParams: jobID, errors: jobNotFound,
			summary: "A job of the caller's process and profile (an admin: any job) with its status and, once finished, its answer.",
			resp:    schemaOf("#Job")},
		{method: "DELETE", path: "/jobs/{id}", tag: tagJobs, headerKey: true, pathParams: jobID,
			errors:  map[string]string{"404": "No such job (job_not_found)", "409": "The job has already finished (job_finished)"},
			summary: "Cancel a pending or running job; answers the cancelled job.", resp: schemaOf("#Job")},
		{method: "GET", path: "/jobs", tag: tagJobs, headerKey: true,
			summary: "The jobs of the caller's key and profile, newest first.",
			query:   []string{"status:string", "limit:integer", "before:integer"},
			resp:    obj("object!:string", "data!:[#Job]", "has_more!:boolean", "next_before:integer")},
	}...)
}

// jobOps documents job submission: POST /jobs/<prefix>/{op} for the two
// OpenAI-compatible prefixes.
func jobOps(tag string) []apiOp {
	var ops []apiOp
	for _, prefix := range []string{"v1", "openai"} {
		req := obj("model:string", "stream:boolean")
		req["additionalProperties"] = true
		req["description"] = "The body of the OpenAI-compatible request, as for POST /" + prefix + "/{op}. A stream is turned off: the job stores the whole answer."
		ops = append(ops, apiOp{method: "POST", path: "/jobs/" + prefix + "/{op}", tag: tag, headerKey: true, status: http.StatusAccepted,
			summary:    "Submit /" + prefix + "/{op} (chat/completions, embeddings, ...) as an asynchronous job; checked and admitted like the synchronous request.",
			pathParams: []string{"op:string:The OpenAI operation path, for example chat/completions; it may contain slashes."},
			errors:     map[string]string{"429": "Rate limit or budget exceeded", "503": "The job could not be stored (store_unavailable)"},
			req:        req, resp: obj("job_id!:integer", "status_url!:string", "profile_id!:integer")})
	}
	return ops
}

// apiSchemas are the shared component schemas.
func apiSchemas() map[string]any {
	summary := obj("request_id!:string", "process_id!:integer", "model!:string", "provider!:string", "operation!:string", "stream!:boolean",
		"received_at!:date-time", "status_code!:integer", "outcome!:string", "ttft_ms!:integer?", "latency_ms!:integer?", "queue_ms!:integer",
		"tokens!:integer", "cost_micros!:integer", "cost!:number", "currency!:string", "cold_start!:boolean", "error_message!:string", "log_level!:string")
	record := obj("request_id!:string", "process_id!:integer", "model!:string", "provider!:string", "operation!:string", "stream!:boolean",
		"received_at!:date-time", "status_code!:integer", "outcome!:string", "ttft_ms!:integer?", "latency_ms!:integer?", "queue_ms!:integer",
		"tokens!:integer", "cost_micros!:integer", "cost!:number", "currency!:string", "cold_start!:boolean", "error_message!:string", "log_level!:string",
		"client_request_id!:string", "profile_id!:integer", "model_id!:integer", "provider_id!:integer", "deployment_id!:integer", "policy_id!:integer",
		"forwarded_at!:string?", "first_token_at!:string?", "completed_at!:string?", "priority!:integer", "client_ip!:string",
		"classification!:any", "request_payload!:any", "response_payload!:any", "request_headers!:any", "response_headers!:any", "attempts!:integer")
	with(record, "token_counts", arrayOf(obj("type!:string", "count!:integer", "cost_micros!:integer")))
	record["required"] = append(record["required"].([]string), "token_counts")
	return map[string]any{
		"Error":     obj("error!:#ErrorBody"),
		"ErrorBody": obj("message!:string", "type!:string", "param!:string?", "code!:string?"),
		"Model": obj("id!:integer", "name!:string", "weight_privacy!:string", "weight_latency!:integer", "weight_accuracy!:integer", "weight_cost!:integer",
			"weight_quality!:integer", "tags!:string", "parallel!:integer", "description!:string", "context_window!:integer",
			"retry_max_attempts!:integer", "retry_attempt_timeout_ms!:integer", "retry_deadline_ms!:integer", "created_at!:date-time", "updated_at!:date-time"),
		"Provider": obj("id!:integer", "name!:string", "kind!:string", "base_url!:string", "auth_name!:string", "auth_format!:string", "api_version!:string",
			"privacy!:string", "admin_url!:string", "total_vram_mb!:integer", "parallel_capacity!:integer", "keep_alive_seconds!:integer",
			"max_loaded_models!:integer", "has_api_key!:boolean"),
		"Price": obj("token_type!:string", "model_id!:integer", "model!:string", "provider_id!:integer", "provider!:string", "per_million!:number",
			"micros_per_million!:integer", "currency!:string", "valid_from!:date-time"),
		"Budget": obj("budget-id!:integer", "process_id:integer", "user_id:integer", "limit!:string", "limit_micros!:integer", "currency!:string",
			"period!:string", "starts_at!:date-time", "period_start:date-time", "period_end:date-time", "spent:string", "spent_micros:integer"),
		"UsageBucket": obj("start:date-time", "process_id:integer", "profile_id:integer", "user_id:integer", "model:string", "provider:string",
			"token_type:string", "requests!:integer", "errors!:integer", "tokens!:integer", "cost_micros!:integer", "currency!:string"),
		"RequestSummary": summary,
		"RequestRecord":  record,
		"LatencyPoint": obj("start!:date-time", "requests!:integer", "errors!:integer", "ttft_p50_ms!:number?", "ttft_p95_ms!:number?",
			"latency_p50_ms!:number?", "latency_p95_ms!:number?"),
		"Job": obj("job_id!:integer", "status!:#JobStatus", "status_code!:integer?", "result!:any", "error!:string?",
			"created_at!:date-time", "updated_at!:date-time", "profile_id!:integer"),
		"JobRow": obj("job_id!:integer", "process_id!:integer", "profile_id!:integer", "status!:#JobStatus", "status_code!:integer?",
			"error!:string?", "operation!:string", "model!:string", "request_id!:string", "attempts!:integer",
			"created_at!:date-time", "updated_at!:date-time"),
		"JobStatus": map[string]any{"type": "string", "enum": []string{"pending", "running", "succeeded", "failed", "cancelled"}},
		"VRAMProvider": with(obj("provider_id!:integer", "name!:string"), "data", arrayOf(obj("timestamp!:date-time", "vram_mb!:number", "vram_bytes!:integer",
			"used_vram_mb!:number", "remaining_vram_mb!:number", "total_vram_mb!:number", "models_loaded!:integer", "loaded_models!:[object]"))),
	}
}

// openAPIDocument builds the OpenAPI 3.1 document of the admin, statistics
// and monitoring API.
func openAPIDocument() map[string]any {
	paths := map[string]any{}
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": schemaOf("#Error")}}}
	}
	for _, op := range apiOps() {
		o := map[string]any{"summary": op.summary, "tags": []string{op.tag},
			"operationId": strings.ToLower(op.method) + strings.NewReplacer("/", "_", ".", "_", "{", "", "}", "").Replace(op.path)}
		ok := map[string]any{"description": "Success"}
		status := "200"
		if op.status != 0 {
			status = strconv.Itoa(op.status)
			ok["description"] = http.StatusText(op.status)
		}
		switch {
		case op.respType != "":
			ok["content"] = map[string]any{op.respType: map[string]any{"schema": schemaOf("string")}}
		case op.resp != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": op.resp}}
		}
		responses := map[string]any{status: ok}
		for code, desc := range op.errors {
			responses[code] = errResp(desc)
		}
		if !op.noAuth {
			o["security"] = []any{map[string]any{"bearer": []string{}}}
			responses["401"] = errResp("Missing, invalid or revoked Logos key")
			responses["403"] = errResp("The key may not do this (an admin key is required, or another process's data was asked for)")
		}
		if op.req != nil {
			body := op.req
			if !op.noAuth && !op.headerKey && op.method == "POST" {
				// Every admin call also takes the key in the body.
				body = cloneSchema(body)
				body["properties"].(map[string]any)["logos_key"] = map[string]any{"type": "string", "description": "The Logos key, if not sent as Authorization: Bearer."}
			}
			o["requestBody"] = map[string]any{"required": false, "content": map[string]any{"application/json": map[string]any{"schema": body}}}
			responses["400"] = errResp("Invalid request: the error names the field in param")
		}
		var params []any
		for _, q := range op.pathParams {
			name, rest, _ := strings.Cut(q, ":")
			typ, desc, _ := strings.Cut(rest, ":")
			params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": schemaOf(typ), "description": desc})
		}
		for _, q := range op.query {
			name, typ, _ := strings.Cut(q, ":")
			params = append(params, map[string]any{"name": name, "in": "query", "schema": schemaOf(typ)})
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.admin {
			o["description"] = "Admin keys only."
		}
		o["responses"] = responses
		item, _ := paths[op.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.path] = item
		}
		item[strings.ToLower(op.method)] = o
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Logos admin, statistics and job API", "version": "1",
			"description": "The /logosdb API and the job API (/jobs) of Logos. Every call but setup and the health endpoints needs a Logos key, as 'Authorization: Bearer <key>' or as logos_key in the JSON body. An admin key sees every process; any other key only its own. The job API takes the key from the headers only. Errors are OpenAI-format JSON. The OpenAI-compatible API under /v1 is OpenAI's and is not described here; a job's request body is one of its requests."},
		"paths":      paths,
		"components": map[string]any{"schemas": apiSchemas(), "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}}},
	}
}

func cloneSchema(s map[string]any) map[string]any {
	out := make(map[string]any, len(s))
	for k, v := range s {
		out[k] = v
	}
	props := map[string]any{}
	for k, v := range s["properties"].(map[string]any) {
		props[k] = v
	}
	out["properties"] = props
	return out
}

// openAPI serves GET /openapi.json, rendering the document on first use.
func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request) {
	b := h.openapi()
	if b == nil {
		oaierr.Write(w, oaierr.New(http.StatusInternalServerError, "Internal server error"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

// renderOpenAPI renders the document; nil if it cannot be (it is built from
// literals, so never in practice).
func renderOpenAPI() []byte {
	b, err := json.MarshalIndent(openAPIDocument(), "", "  ")
	if err != nil {
		return nil
	}
	return b
}
