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
