-- +goose Up
-- How a classified request (one that named no model) chose its model: the
-- stage that decided (filter, policy, token, similarity or tie; empty for
-- requests that named a model) and the classification's time in
-- microseconds. The candidates and their scores stay in classification (JSON);
-- these two are what latest_requests and the CSV export show. Same columns as
-- the PostgreSQL migration of the same number.
ALTER TABLE usage_records ADD COLUMN classified_by TEXT NOT NULL DEFAULT '';
ALTER TABLE usage_records ADD COLUMN classification_us INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE usage_records DROP COLUMN classification_us;
ALTER TABLE usage_records DROP COLUMN classified_by;
