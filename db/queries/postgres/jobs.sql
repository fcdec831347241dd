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
    provider_id, taken_at, models_loaded, vram_used_bytes, loaded_models, poll_success, error_message,
    running_requests, waiting_requests
) VALUES (
    @provider_id, COALESCE(sqlc.narg(taken_at)::timestamptz, now()), @models_loaded, @vram_used_bytes,
    COALESCE(sqlc.narg(loaded_models)::jsonb, '[]'::jsonb), @poll_success, @error_message,
    sqlc.narg(running_requests), sqlc.narg(waiting_requests)
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

-- DeleteProviderSnapshotsBefore deletes at most @max_rows snapshots taken
-- before @taken_before, oldest first (the retention deletes in batches).
-- name: DeleteProviderSnapshotsBefore :execrows
DELETE FROM provider_snapshots
WHERE id IN (
    SELECT old.id FROM provider_snapshots old
    WHERE old.taken_at < @taken_before
    ORDER BY old.taken_at
    LIMIT @max_rows
);

-- ListProviderSnapshotsLatest returns a provider's latest successful
-- snapshot of each bucket of @bucket_seconds (aligned to the Unix epoch)
-- taken in [taken_from, taken_to), oldest first.
-- name: ListProviderSnapshotsLatest :many
SELECT DISTINCT ON (floor(EXTRACT(EPOCH FROM taken_at) / @bucket_seconds::bigint))
    id, provider_id, taken_at, models_loaded, vram_used_bytes, loaded_models, poll_success,
    error_message, running_requests, waiting_requests
FROM provider_snapshots
WHERE provider_id = @provider_id AND poll_success
  AND taken_at >= @taken_from AND taken_at < @taken_to
ORDER BY floor(EXTRACT(EPOCH FROM taken_at) / @bucket_seconds::bigint), taken_at DESC, id DESC;

-- MaxProviderSnapshotVRAM returns the highest VRAM use of a provider's
-- successful snapshots taken in [taken_from, taken_to), 0 if none.
-- name: MaxProviderSnapshotVRAM :one
SELECT COALESCE(max(vram_used_bytes), 0)::bigint AS max_vram
FROM provider_snapshots
WHERE provider_id = @provider_id AND poll_success
  AND taken_at >= @taken_from AND taken_at < @taken_to;

-- ProviderSnapshotBuckets summarises the successful snapshots of every
-- provider per bucket of @bucket_seconds (aligned to the Unix epoch, as Unix
-- seconds): the VRAM in use and the upstream queue, each averaged per
-- provider and summed over providers. waiting is -1 when no provider
-- reported its queue in the bucket.
-- name: ProviderSnapshotBuckets :many
SELECT bucket::bigint AS bucket, sum(vram)::float8 AS vram_bytes, COALESCE(sum(waiting), -1)::float8 AS waiting
FROM (
    SELECT floor(EXTRACT(EPOCH FROM taken_at) / @bucket_seconds::bigint)::bigint * @bucket_seconds::bigint AS bucket,
        provider_id, avg(vram_used_bytes) AS vram, avg(waiting_requests) AS waiting
    FROM provider_snapshots
    WHERE poll_success AND taken_at >= @taken_from AND taken_at < @taken_to
    GROUP BY 1, 2
) per_provider
GROUP BY bucket
ORDER BY bucket;
