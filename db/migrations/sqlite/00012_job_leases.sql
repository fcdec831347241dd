-- +goose Up
-- Jobs become a work queue (see the PostgreSQL migration of the same
-- number): lease columns, a reached-upstream marker, and the states renamed
-- to what the API reports ('success' becomes 'succeeded', 'cancelled' is
-- added). A CHECK cannot be altered in SQLite, so the table is rebuilt with
-- the same ids; no table refers to jobs.
CREATE TABLE jobs_new (
    id                  INTEGER PRIMARY KEY,
    status              TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    process_id          INTEGER NOT NULL REFERENCES processes (id) ON DELETE CASCADE,
    profile_id          INTEGER REFERENCES profiles (id) ON DELETE CASCADE,
    request_payload     TEXT NOT NULL,
    result_payload      TEXT,
    status_code         INTEGER NOT NULL DEFAULT 0,
    error_message       TEXT NOT NULL DEFAULT '',
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z','now')),
    updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z','now')),
    lease_owner         TEXT NOT NULL DEFAULT '',
    lease_expires_at    TEXT,
    reached_upstream_at TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    request_id          TEXT NOT NULL DEFAULT ''
);
INSERT INTO jobs_new (id, status, process_id, profile_id, request_payload, result_payload, status_code, error_message, created_at, updated_at)
SELECT id, CASE status WHEN 'success' THEN 'succeeded' ELSE status END, process_id, profile_id, request_payload,
       result_payload, status_code, error_message, created_at, updated_at
FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_status_idx ON jobs (status, id);
CREATE INDEX jobs_process_idx ON jobs (process_id, id);
CREATE INDEX jobs_finished_idx ON jobs (updated_at) WHERE status IN ('succeeded', 'failed', 'cancelled');

-- +goose Down
CREATE TABLE jobs_old (
    id              INTEGER PRIMARY KEY,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'success', 'failed')),
    process_id      INTEGER NOT NULL REFERENCES processes (id) ON DELETE CASCADE,
    profile_id      INTEGER REFERENCES profiles (id) ON DELETE CASCADE,
    request_payload TEXT NOT NULL,
    result_payload  TEXT,
    status_code     INTEGER NOT NULL DEFAULT 0,
    error_message   TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z','now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z','now'))
);
INSERT INTO jobs_old (id, status, process_id, profile_id, request_payload, result_payload, status_code, error_message, created_at, updated_at)
SELECT id, CASE status WHEN 'succeeded' THEN 'success' WHEN 'cancelled' THEN 'failed' ELSE status END, process_id, profile_id,
       request_payload, result_payload, status_code, error_message, created_at, updated_at
FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_old RENAME TO jobs;
CREATE INDEX jobs_status_idx ON jobs (status, id);
