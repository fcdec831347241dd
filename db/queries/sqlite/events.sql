-- name: InsertProviderSnapshot :one
INSERT INTO provider_snapshots (provider_id, taken_at, models_loaded, vram_used_bytes, loaded_models, poll_success, error_message,
    running_requests, waiting_requests)
VALUES (@provider_id, @taken_at, @models_loaded, @vram_used_bytes, @loaded_models, @poll_success, @error_message,
    sqlc.narg(running_requests), sqlc.narg(waiting_requests))
RETURNING *;

-- name: ListProviderSnapshots :many
SELECT * FROM provider_snapshots
WHERE provider_id = @provider_id AND taken_at >= @taken_from AND taken_at < @taken_to
ORDER BY taken_at, id;

-- See db/queries/postgres/jobs.sql for the following queries.

-- name: DeleteProviderSnapshotsBefore :execrows
DELETE FROM provider_snapshots
WHERE id IN (
    SELECT old.id FROM provider_snapshots old
    WHERE old.taken_at < @taken_before
    ORDER BY old.taken_at
    LIMIT @max_rows
);

-- ListProviderSnapshotsLatest relies on SQLite's bare columns: with a
-- single max() aggregate, the other columns come from the row holding the
-- maximum (the latest snapshot of the bucket).
-- name: ListProviderSnapshotsLatest :many
SELECT
    CAST(max(taken_at) AS TEXT) AS taken_at,
    id, provider_id, models_loaded, vram_used_bytes, loaded_models, poll_success,
    error_message, running_requests, waiting_requests,
    CAST(strftime('%s', substr(taken_at, 1, 19)) AS INTEGER) / CAST(@bucket_seconds AS INTEGER) AS bucket
FROM provider_snapshots
WHERE provider_id = @provider_id AND poll_success
  AND taken_at >= @taken_from AND taken_at < @taken_to
GROUP BY bucket
ORDER BY 1;

-- name: MaxProviderSnapshotVRAM :one
SELECT CAST(coalesce(max(vram_used_bytes), 0) AS INTEGER) AS max_vram
FROM provider_snapshots
WHERE provider_id = @provider_id AND poll_success
  AND taken_at >= @taken_from AND taken_at < @taken_to;

-- name: ProviderSnapshotBuckets :many
SELECT CAST(bucket AS INTEGER) AS bucket, CAST(sum(vram) AS REAL) AS vram_bytes, CAST(coalesce(sum(waiting), -1) AS REAL) AS waiting
FROM (
    SELECT CAST(strftime('%s', substr(taken_at, 1, 19)) AS INTEGER) / CAST(@bucket_seconds AS INTEGER) * CAST(@bucket_seconds AS INTEGER) AS bucket,
        provider_id, avg(vram_used_bytes) AS vram, avg(waiting_requests) AS waiting
    FROM provider_snapshots
    WHERE poll_success AND taken_at >= @taken_from AND taken_at < @taken_to
    GROUP BY 1, 2
) per_provider
GROUP BY bucket
ORDER BY bucket;
