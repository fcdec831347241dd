-- name: CreateJob :one
INSERT INTO jobs (status, process_id, profile_id, request_payload, result_payload, status_code, error_message)
VALUES (@status, @process_id, sqlc.narg(profile_id), @request_payload, @result_payload, @status_code, @error_message)
RETURNING *;

-- name: GetJob :one
SELECT * FROM jobs WHERE id = @id;

-- name: UpdateJob :one
UPDATE jobs
SET status = @status, result_payload = @result_payload, status_code = @status_code,
    error_message = @error_message, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: ListJobsByStatus :many
SELECT * FROM jobs WHERE status = @status ORDER BY id;

-- name: InsertProviderSnapshot :one
INSERT INTO provider_snapshots (
    provider_id, taken_at, models_loaded, vram_used_bytes, loaded_models, poll_success, error_message
) VALUES (
    @provider_id, COALESCE(sqlc.narg(taken_at)::timestamptz, now()), @models_loaded, @vram_used_bytes,
    COALESCE(sqlc.narg(loaded_models)::jsonb, '[]'::jsonb), @poll_success, @error_message
)
RETURNING *;

-- ListProviderSnapshots returns a provider's snapshots taken in [from, to),
-- oldest first. NULL bounds do not filter.
-- name: ListProviderSnapshots :many
SELECT * FROM provider_snapshots
WHERE provider_id = @provider_id
  AND (sqlc.narg(taken_from)::timestamptz IS NULL OR taken_at >= sqlc.narg(taken_from)::timestamptz)
  AND (sqlc.narg(taken_to)::timestamptz IS NULL OR taken_at < sqlc.narg(taken_to)::timestamptz)
ORDER BY taken_at, id;
