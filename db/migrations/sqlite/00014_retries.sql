-- +goose Up
-- Retries and fallbacks before the first byte (issue 22 item 4). A usage
-- record keeps how many upstream attempts its request made (0: never
-- forwarded; above 1: the earlier ones failed before any byte reached the
-- client, and deployment_id is the deployment that answered). A model keeps
-- its retry policy; 0 in any column means the gateway's default. Same
-- columns as the other dialect's migration of the same number.
ALTER TABLE usage_records ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE models ADD COLUMN retry_max_attempts INTEGER NOT NULL DEFAULT 0
    CHECK (retry_max_attempts BETWEEN 0 AND 100);
ALTER TABLE models ADD COLUMN retry_attempt_timeout_ms INTEGER NOT NULL DEFAULT 0
    CHECK (retry_attempt_timeout_ms BETWEEN 0 AND 3600000);
ALTER TABLE models ADD COLUMN retry_deadline_ms INTEGER NOT NULL DEFAULT 0
    CHECK (retry_deadline_ms BETWEEN 0 AND 3600000);

-- +goose Down
ALTER TABLE models DROP COLUMN retry_deadline_ms;
ALTER TABLE models DROP COLUMN retry_attempt_timeout_ms;
ALTER TABLE models DROP COLUMN retry_max_attempts;
ALTER TABLE usage_records DROP COLUMN attempts;
