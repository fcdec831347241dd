-- +goose Up
-- client_request_id is the client's X-Request-ID, kept for correlation. It is
-- not unique (clients retry with the same id, or send a fixed one) and empty
-- when the client sent none or an invalid one; request_id is always generated
-- by Logos. Same column as the PostgreSQL migration of the same number.
ALTER TABLE usage_records ADD COLUMN client_request_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE usage_records DROP COLUMN client_request_id;
