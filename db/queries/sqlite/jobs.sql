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
