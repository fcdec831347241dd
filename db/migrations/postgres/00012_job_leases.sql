-- +goose Up
-- Jobs become a work queue shared by every replica on this database:
--
-- A replica claims a job by setting lease_owner and lease_expires_at (the
-- claim takes the oldest claimable row FOR UPDATE SKIP LOCKED, so two
-- replicas never claim the same one) and renews the lease while the job
-- runs. reached_upstream_at is set, before the request is sent, once the
-- job is about to reach a provider: a job whose lease ran out before that
-- is claimed again, one whose lease ran out after it is failed (an LLM call
-- is not idempotent; the user decides whether to resubmit).
--
-- The states are renamed to what the API reports: 'success' becomes
-- 'succeeded', and 'cancelled' is added for DELETE /jobs/{id}.
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
UPDATE jobs SET status = 'succeeded' WHERE status = 'success';
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled'));
ALTER TABLE jobs
    ADD COLUMN lease_owner         TEXT NOT NULL DEFAULT '',
    ADD COLUMN lease_expires_at    TIMESTAMPTZ,
    ADD COLUMN reached_upstream_at TIMESTAMPTZ,
    ADD COLUMN attempts            INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN request_id          TEXT NOT NULL DEFAULT '';
-- Listing a process's jobs, newest first.
CREATE INDEX jobs_process_idx ON jobs (process_id, id);
-- Retention: finished jobs by age.
CREATE INDEX jobs_finished_idx ON jobs (updated_at) WHERE status IN ('succeeded', 'failed', 'cancelled');

-- +goose Down
DROP INDEX jobs_finished_idx;
DROP INDEX jobs_process_idx;
ALTER TABLE jobs
    DROP COLUMN request_id,
    DROP COLUMN attempts,
    DROP COLUMN reached_upstream_at,
    DROP COLUMN lease_expires_at,
    DROP COLUMN lease_owner;
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
UPDATE jobs SET status = 'success' WHERE status = 'succeeded';
UPDATE jobs SET status = 'failed' WHERE status = 'cancelled';
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check CHECK (status IN ('pending', 'running', 'success', 'failed'));
