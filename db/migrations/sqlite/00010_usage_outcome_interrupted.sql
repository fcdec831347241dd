-- +goose Up
-- A usage record may have the outcome 'interrupted': a request that was in
-- flight when logosd stopped without finishing it (kill -9, a crash). Its
-- record is made on the next start from the "started" marker in the local
-- usage log. A CHECK cannot be altered in SQLite, so the table is rebuilt
-- (same columns, same order, same ids), as in 00007.
CREATE TABLE usage_records_new (
    id                INTEGER PRIMARY KEY,
    request_id        TEXT NOT NULL UNIQUE CHECK (request_id <> ''),
    process_id        INTEGER REFERENCES processes (id) ON DELETE SET NULL,
    profile_id        INTEGER REFERENCES profiles (id) ON DELETE SET NULL,
    model_id          INTEGER REFERENCES models (id) ON DELETE SET NULL,
    provider_id       INTEGER REFERENCES providers (id) ON DELETE SET NULL,
    deployment_id     INTEGER REFERENCES deployments (id) ON DELETE SET NULL,
    policy_id         INTEGER REFERENCES policies (id) ON DELETE SET NULL,
    model_name        TEXT NOT NULL DEFAULT '',
    provider_name     TEXT NOT NULL DEFAULT '',
    operation         TEXT NOT NULL DEFAULT '',
    stream            INTEGER NOT NULL DEFAULT 0,
    received_at       TEXT NOT NULL,
    forwarded_at      TEXT,
    first_token_at    TEXT,
    completed_at      TEXT,
    status_code       INTEGER NOT NULL DEFAULT 0,
    outcome           TEXT NOT NULL CHECK (outcome = 'success' OR outcome = 'error' OR outcome = 'timeout' OR outcome = 'cancelled' OR outcome = 'rejected' OR outcome = 'interrupted'),
    error_message     TEXT NOT NULL DEFAULT '',
    client_ip         TEXT NOT NULL DEFAULT '',
    priority          INTEGER NOT NULL DEFAULT 5,
    queue_wait_us     INTEGER NOT NULL DEFAULT 0,
    cold_start        INTEGER NOT NULL DEFAULT 0,
    log_level         TEXT NOT NULL DEFAULT 'BILLING' CHECK (log_level IN ('BILLING', 'FULL')),
    classification    TEXT,
    request_payload   TEXT,
    response_payload  TEXT,
    request_headers   TEXT,
    response_headers  TEXT,
    cost_micros       INTEGER NOT NULL DEFAULT 0,
    currency          TEXT NOT NULL DEFAULT '',
    total_tokens      INTEGER NOT NULL DEFAULT 0,
    client_request_id TEXT NOT NULL DEFAULT ''
);
INSERT INTO usage_records_new SELECT * FROM usage_records;
DROP TABLE usage_records;
ALTER TABLE usage_records_new RENAME TO usage_records;
CREATE INDEX usage_records_received_idx ON usage_records (received_at);
CREATE INDEX usage_records_process_received_idx ON usage_records (process_id, received_at);


-- +goose Down
DELETE FROM usage_records WHERE outcome = 'interrupted';
CREATE TABLE usage_records_new (
    id                INTEGER PRIMARY KEY,
    request_id        TEXT NOT NULL UNIQUE CHECK (request_id <> ''),
    process_id        INTEGER REFERENCES processes (id) ON DELETE SET NULL,
    profile_id        INTEGER REFERENCES profiles (id) ON DELETE SET NULL,
    model_id          INTEGER REFERENCES models (id) ON DELETE SET NULL,
    provider_id       INTEGER REFERENCES providers (id) ON DELETE SET NULL,
    deployment_id     INTEGER REFERENCES deployments (id) ON DELETE SET NULL,
    policy_id         INTEGER REFERENCES policies (id) ON DELETE SET NULL,
    model_name        TEXT NOT NULL DEFAULT '',
    provider_name     TEXT NOT NULL DEFAULT '',
    operation         TEXT NOT NULL DEFAULT '',
    stream            INTEGER NOT NULL DEFAULT 0,
    received_at       TEXT NOT NULL,
    forwarded_at      TEXT,
    first_token_at    TEXT,
    completed_at      TEXT,
    status_code       INTEGER NOT NULL DEFAULT 0,
    outcome           TEXT NOT NULL CHECK (outcome = 'success' OR outcome = 'error' OR outcome = 'timeout' OR outcome = 'cancelled' OR outcome = 'rejected'),
    error_message     TEXT NOT NULL DEFAULT '',
    client_ip         TEXT NOT NULL DEFAULT '',
    priority          INTEGER NOT NULL DEFAULT 5,
    queue_wait_us     INTEGER NOT NULL DEFAULT 0,
    cold_start        INTEGER NOT NULL DEFAULT 0,
    log_level         TEXT NOT NULL DEFAULT 'BILLING' CHECK (log_level IN ('BILLING', 'FULL')),
    classification    TEXT,
    request_payload   TEXT,
    response_payload  TEXT,
    request_headers   TEXT,
    response_headers  TEXT,
    cost_micros       INTEGER NOT NULL DEFAULT 0,
    currency          TEXT NOT NULL DEFAULT '',
    total_tokens      INTEGER NOT NULL DEFAULT 0,
    client_request_id TEXT NOT NULL DEFAULT ''
);
INSERT INTO usage_records_new SELECT * FROM usage_records;
DROP TABLE usage_records;
ALTER TABLE usage_records_new RENAME TO usage_records;
CREATE INDEX usage_records_received_idx ON usage_records (received_at);
CREATE INDEX usage_records_process_received_idx ON usage_records (process_id, received_at);

