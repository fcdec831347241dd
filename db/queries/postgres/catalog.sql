-- name: CreateProvider :one
INSERT INTO providers (
    name, kind, base_url, auth_header, auth_format, credential, api_version, privacy,
    admin_url, total_vram_mb, parallel_capacity, keep_alive_seconds, max_loaded_models,
    extra_operations, poll_interval_ms, poll_timeout_ms, sleep_mode
) VALUES (
    @name, @kind, @base_url, @auth_header, @auth_format, @credential, @api_version, @privacy,
    @admin_url, @total_vram_mb, @parallel_capacity, @keep_alive_seconds, @max_loaded_models,
    @extra_operations, @poll_interval_ms, @poll_timeout_ms, @sleep_mode
)
RETURNING *;

-- name: GetProvider :one
SELECT * FROM providers WHERE id = @id;

-- name: ListProviders :many
SELECT * FROM providers ORDER BY id;

-- name: UpdateProvider :one
UPDATE providers
SET name = @name, kind = @kind, base_url = @base_url, auth_header = @auth_header,
    auth_format = @auth_format, credential = @credential, api_version = @api_version,
    privacy = @privacy, admin_url = @admin_url, total_vram_mb = @total_vram_mb,
    parallel_capacity = @parallel_capacity, keep_alive_seconds = @keep_alive_seconds,
    max_loaded_models = @max_loaded_models, extra_operations = @extra_operations, poll_interval_ms = @poll_interval_ms,
    poll_timeout_ms = @poll_timeout_ms, sleep_mode = @sleep_mode, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: DeleteProvider :execrows
DELETE FROM providers WHERE id = @id;

-- name: CreateModel :one
INSERT INTO models (
    name, weight_privacy, weight_latency, weight_accuracy, weight_cost, weight_quality,
    tags, parallel, description, context_window, retry_max_attempts,
    retry_attempt_timeout_ms, retry_deadline_ms
) VALUES (
    @name, @weight_privacy, @weight_latency, @weight_accuracy, @weight_cost, @weight_quality,
    @tags, @parallel, @description, @context_window, @retry_max_attempts,
    @retry_attempt_timeout_ms, @retry_deadline_ms
)
RETURNING *;

-- name: GetModel :one
SELECT * FROM models WHERE id = @id;

-- name: GetModelByName :one
SELECT * FROM models WHERE name = @name;

-- name: ListModels :many
SELECT * FROM models ORDER BY id;

-- name: UpdateModel :one
UPDATE models
SET name = @name, weight_privacy = @weight_privacy, weight_latency = @weight_latency,
    weight_accuracy = @weight_accuracy, weight_cost = @weight_cost,
    weight_quality = @weight_quality, tags = @tags, parallel = @parallel,
    description = @description, context_window = @context_window,
    retry_max_attempts = @retry_max_attempts, retry_attempt_timeout_ms = @retry_attempt_timeout_ms,
    retry_deadline_ms = @retry_deadline_ms, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: DeleteModel :execrows
DELETE FROM models WHERE id = @id;

-- name: CreateDeployment :one
INSERT INTO deployments (
    model_id, provider_id, upstream_model, endpoint, credential, api_version, parallel_capacity
) VALUES (
    @model_id, @provider_id, @upstream_model, @endpoint, @credential, @api_version, @parallel_capacity
)
RETURNING *;

-- name: GetDeployment :one
SELECT * FROM deployments WHERE id = @id;

-- name: ListDeployments :many
SELECT * FROM deployments ORDER BY id;

-- name: UpdateDeployment :one
UPDATE deployments
SET model_id = @model_id, provider_id = @provider_id, upstream_model = @upstream_model,
    endpoint = @endpoint, credential = @credential, api_version = @api_version,
    parallel_capacity = @parallel_capacity, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: DeleteDeployment :execrows
DELETE FROM deployments WHERE id = @id;

-- name: GrantModel :exec
INSERT INTO profile_permissions (profile_id, model_id) VALUES (@profile_id, @model_id);

-- name: RevokeModel :execrows
DELETE FROM profile_permissions WHERE profile_id = @profile_id AND model_id = @model_id;

-- name: ListPermissions :many
SELECT * FROM profile_permissions WHERE profile_id = @profile_id ORDER BY model_id;

-- name: ListAllPermissions :many
SELECT * FROM profile_permissions ORDER BY profile_id, model_id;

-- name: CreatePolicy :one
INSERT INTO policies (
    process_id, name, description, threshold_privacy, threshold_latency, threshold_accuracy,
    threshold_cost, threshold_quality, priority, topic
) VALUES (
    @process_id, @name, @description, @threshold_privacy, @threshold_latency, @threshold_accuracy,
    @threshold_cost, @threshold_quality, @priority, @topic
)
RETURNING *;

-- name: GetPolicy :one
SELECT * FROM policies WHERE id = @id;

-- name: ListPolicies :many
SELECT * FROM policies WHERE process_id = @process_id ORDER BY id;

-- name: ListAllPolicies :many
SELECT * FROM policies ORDER BY id;

-- name: UpdatePolicy :one
UPDATE policies
SET process_id = @process_id, name = @name, description = @description,
    threshold_privacy = @threshold_privacy, threshold_latency = @threshold_latency,
    threshold_accuracy = @threshold_accuracy, threshold_cost = @threshold_cost,
    threshold_quality = @threshold_quality, priority = @priority, topic = @topic,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: DeletePolicy :execrows
DELETE FROM policies WHERE id = @id;

-- name: GetTokenTypeByName :one
SELECT * FROM token_types WHERE name = @name;

-- InsertTokenType returns no row if a token type of that name already exists.
-- name: InsertTokenType :one
INSERT INTO token_types (name) VALUES (@name)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- name: ListTokenTypes :many
SELECT * FROM token_types ORDER BY id;

-- name: CreatePrice :one
INSERT INTO prices (token_type_id, model_id, provider_id, valid_from, micros_per_million, currency)
VALUES (@token_type_id, sqlc.narg(model_id), sqlc.narg(provider_id), sqlc.narg(valid_from), @micros_per_million, @currency)
RETURNING *;

-- name: ListPrices :many
SELECT * FROM prices ORDER BY id;

-- name: DeletePrice :execrows
DELETE FROM prices WHERE id = @id;
