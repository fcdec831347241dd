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

-- ClaimJob takes the oldest claimable job for a replica: a pending one, or a
-- running one whose lease ran out before it reached the upstream. SKIP LOCKED
-- makes concurrent claims on other replicas pass over it.
-- name: ClaimJob :one
UPDATE jobs
SET status = 'running', lease_owner = @lease_owner,
    lease_expires_at = now() + make_interval(secs => @lease_seconds::float8),
    attempts = attempts + 1, updated_at = now()
WHERE id = (
    SELECT c.id FROM jobs c
    WHERE c.status = 'pending'
       OR (c.status = 'running' AND c.lease_expires_at < now() AND c.reached_upstream_at IS NULL)
    ORDER BY c.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING *;

-- name: RenewJobLease :one
UPDATE jobs
SET lease_expires_at = now() + make_interval(secs => @lease_seconds::float8)
WHERE id = @id AND status = 'running' AND lease_owner = @lease_owner
RETURNING *;

-- name: MarkJobUpstream :one
UPDATE jobs
SET reached_upstream_at = now(), request_id = @request_id, updated_at = now()
WHERE id = @id AND status = 'running' AND lease_owner = @lease_owner
RETURNING *;

-- name: CompleteJob :one
UPDATE jobs
SET status = @status, result_payload = @result_payload, status_code = @status_code,
    error_message = @error_message, request_id = CASE WHEN @request_id::text = '' THEN request_id ELSE @request_id::text END,
    lease_owner = '', lease_expires_at = NULL, updated_at = now()
WHERE id = @id AND status = 'running' AND lease_owner = @lease_owner
RETURNING *;

-- name: ReleaseJob :one
UPDATE jobs
SET status = 'pending', lease_owner = '', lease_expires_at = NULL, updated_at = now()
WHERE id = @id AND status = 'running' AND lease_owner = @lease_owner AND reached_upstream_at IS NULL
RETURNING *;

-- name: CancelJob :one
UPDATE jobs
SET status = 'cancelled', status_code = 499, error_message = @error_message,
    lease_owner = '', lease_expires_at = NULL, updated_at = now()
WHERE id = @id AND status IN ('pending', 'running')
RETURNING *;

-- FailAbandonedJobs fails the running jobs whose lease ran out after they
-- reached the upstream.
-- name: FailAbandonedJobs :many
UPDATE jobs
SET status = 'failed', status_code = @status_code, error_message = @error_message, result_payload = @result_payload,
    lease_owner = '', lease_expires_at = NULL, updated_at = now()
WHERE status = 'running' AND lease_expires_at < now() AND reached_upstream_at IS NOT NULL
RETURNING *;

-- ListJobs returns jobs newest first: a process's (or all with a NULL
-- process), optionally of one status, with ids below before_id.
-- name: ListJobs :many
SELECT * FROM jobs
WHERE (sqlc.narg(process_id)::bigint IS NULL OR process_id = sqlc.narg(process_id)::bigint)
  AND (sqlc.narg(profile_id)::bigint IS NULL OR profile_id = sqlc.narg(profile_id)::bigint)
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(before_id)::bigint IS NULL OR id < sqlc.narg(before_id)::bigint)
ORDER BY id DESC
LIMIT @max_rows;

-- name: DeleteFinishedJobs :execrows
DELETE FROM jobs
WHERE id IN (
    SELECT d.id FROM jobs d
    WHERE d.status IN ('succeeded', 'failed', 'cancelled') AND d.updated_at < @finished_before
    ORDER BY d.updated_at
    LIMIT @max_rows
);
