-- name: CreateJob :one
INSERT INTO jobs (status, process_id, profile_id, request_payload, result_payload, status_code, error_message, created_at, updated_at)
VALUES (@status, @process_id, @profile_id, @request_payload, @result_payload, @status_code, @error_message, @created_at, @updated_at)
RETURNING *;

-- name: GetJob :one
SELECT * FROM jobs WHERE id = @id;

-- name: UpdateJob :one
UPDATE jobs
SET status = @status, result_payload = @result_payload, status_code = @status_code,
    error_message = @error_message, updated_at = @updated_at
WHERE id = @id
RETURNING *;

-- name: ListJobsByStatus :many
SELECT * FROM jobs WHERE status = @status ORDER BY id;

-- ClaimJob takes the oldest claimable job: a pending one, or a running one
-- whose lease ran out before it reached the upstream. One statement on the
-- single writer connection, so two claims never take the same job.
-- name: ClaimJob :one
UPDATE jobs
SET status = 'running', lease_owner = @lease_owner, lease_expires_at = @lease_expires_at,
    attempts = attempts + 1, updated_at = @now
WHERE id = (
    SELECT c.id FROM jobs c
    WHERE c.status = 'pending'
       OR (c.status = 'running' AND c.lease_expires_at < @now AND c.reached_upstream_at IS NULL)
    ORDER BY c.id
    LIMIT 1
)
RETURNING *;

-- name: RenewJobLease :one
UPDATE jobs
SET lease_expires_at = @lease_expires_at
WHERE id = @id AND status = 'running' AND lease_owner = @lease_owner
RETURNING *;

-- name: MarkJobUpstream :one
UPDATE jobs
SET reached_upstream_at = @now, request_id = @request_id, updated_at = @now
WHERE id = @id AND status = 'running' AND lease_owner = @lease_owner
RETURNING *;

-- name: CompleteJob :one
UPDATE jobs
SET status = @status, result_payload = @result_payload, status_code = @status_code,
    error_message = @error_message, request_id = CASE WHEN @request_id = '' THEN request_id ELSE @request_id END,
    lease_owner = '', lease_expires_at = NULL, updated_at = @now
WHERE id = @id AND status = 'running' AND lease_owner = @lease_owner
RETURNING *;

-- name: ReleaseJob :one
UPDATE jobs
SET status = 'pending', lease_owner = '', lease_expires_at = NULL, updated_at = @now
WHERE id = @id AND status = 'running' AND lease_owner = @lease_owner AND reached_upstream_at IS NULL
RETURNING *;

-- name: CancelJob :one
UPDATE jobs
SET status = 'cancelled', status_code = 499, error_message = @error_message,
    lease_owner = '', lease_expires_at = NULL, updated_at = @now
WHERE id = @id AND status IN ('pending', 'running')
RETURNING *;

-- name: FailAbandonedJobs :many
UPDATE jobs
SET status = 'failed', status_code = @status_code, error_message = @error_message, result_payload = @result_payload,
    lease_owner = '', lease_expires_at = NULL, updated_at = @now
WHERE status = 'running' AND lease_expires_at < @now AND reached_upstream_at IS NOT NULL
RETURNING *;

-- name: ListJobs :many
SELECT * FROM jobs
WHERE (sqlc.narg(process_id) IS NULL OR process_id = sqlc.narg(process_id))
  AND (sqlc.narg(profile_id) IS NULL OR profile_id = sqlc.narg(profile_id))
  AND (sqlc.narg(status) IS NULL OR status = sqlc.narg(status))
  AND (sqlc.narg(before_id) IS NULL OR id < sqlc.narg(before_id))
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
