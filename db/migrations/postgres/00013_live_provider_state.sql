-- +goose Up
-- Live provider state (issue 21): per-provider poll settings, the backend's
-- queue in every snapshot, and an index for the retention's deletes.
ALTER TABLE providers
    ADD COLUMN poll_interval_ms INTEGER NOT NULL DEFAULT 0 CHECK (poll_interval_ms >= 0),
    ADD COLUMN poll_timeout_ms  INTEGER NOT NULL DEFAULT 0 CHECK (poll_timeout_ms >= 0),
    ADD COLUMN sleep_mode       BOOLEAN NOT NULL DEFAULT false;
-- NULL: the provider did not report its queue.
ALTER TABLE provider_snapshots
    ADD COLUMN running_requests INTEGER,
    ADD COLUMN waiting_requests INTEGER;
CREATE INDEX provider_snapshots_taken_idx ON provider_snapshots (taken_at);

-- +goose Down
DROP INDEX provider_snapshots_taken_idx;
ALTER TABLE provider_snapshots DROP COLUMN running_requests, DROP COLUMN waiting_requests;
ALTER TABLE providers DROP COLUMN poll_interval_ms, DROP COLUMN poll_timeout_ms, DROP COLUMN sleep_mode;
