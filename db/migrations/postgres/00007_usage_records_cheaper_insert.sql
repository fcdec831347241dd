-- +goose Up
-- usage_records_model_received_idx served no query (usage is listed and
-- counted by time and process, and statistics group by model name); it only
-- sped up deleting a model, a rare administrative act, at the price of an
-- index insert per request. The SQLite migration of the same number drops it
-- too (and rewrites a CHECK that only SQLite evaluates slowly).
DROP INDEX usage_records_model_received_idx;

-- +goose Down
CREATE INDEX usage_records_model_received_idx ON usage_records (model_id, received_at);
