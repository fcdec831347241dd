-- name: InsertProviderSnapshot :one
INSERT INTO provider_snapshots (provider_id, taken_at, models_loaded, vram_used_bytes, loaded_models, poll_success, error_message)
VALUES (@provider_id, @taken_at, @models_loaded, @vram_used_bytes, @loaded_models, @poll_success, @error_message)
RETURNING *;

-- name: ListProviderSnapshots :many
SELECT * FROM provider_snapshots
WHERE provider_id = @provider_id AND taken_at >= @taken_from AND taken_at < @taken_to
ORDER BY taken_at, id;
