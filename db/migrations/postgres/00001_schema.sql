-- +goose Up
-- The Logos domain schema. Every table has the same columns and meaning in the
-- SQLite migration of the same number.

-- instance holds one row once the store has been bootstrapped; its primary key
-- makes a second bootstrap fail, also across replicas.
CREATE TABLE instance (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    bootstrapped TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id         BIGSERIAL PRIMARY KEY,
    username   TEXT NOT NULL UNIQUE CHECK (username <> ''),
    prename    TEXT NOT NULL DEFAULT '',
    name       TEXT NOT NULL DEFAULT '',
    role       TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE services (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE CHECK (name <> ''),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE processes (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE CHECK (name <> ''),
    key_hash   BYTEA NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL DEFAULT '',
    user_id    BIGINT REFERENCES users (id) ON DELETE CASCADE,
    service_id BIGINT REFERENCES services (id) ON DELETE CASCADE,
    log_level  TEXT NOT NULL DEFAULT 'BILLING' CHECK (log_level IN ('BILLING', 'FULL')),
    priority   INTEGER NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 10),
    settings   JSONB NOT NULL DEFAULT '{}',
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((user_id IS NULL) <> (service_id IS NULL))
);

CREATE TABLE profiles (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL CHECK (name <> ''),
    process_id BIGINT NOT NULL REFERENCES processes (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (process_id, name)
);

CREATE TABLE providers (
    id                 BIGSERIAL PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE CHECK (name <> ''),
    kind               TEXT NOT NULL CHECK (kind IN ('openai', 'azure', 'ollama', 'openai_compatible')),
    base_url           TEXT NOT NULL,
    auth_header        TEXT NOT NULL DEFAULT '',
    auth_format        TEXT NOT NULL DEFAULT '',
    credential         TEXT NOT NULL DEFAULT '',
    api_version        TEXT NOT NULL DEFAULT '',
    privacy            TEXT NOT NULL DEFAULT 'LOCAL' CHECK (privacy IN ('LOCAL', 'CLOUD_IN_EU_BY_EU_PROVIDER', 'CLOUD_IN_EU_BY_US_PROVIDER', 'CLOUD_NOT_IN_EU_BY_US_PROVIDER')),
    admin_url          TEXT NOT NULL DEFAULT '',
    total_vram_mb      BIGINT NOT NULL DEFAULT 0 CHECK (total_vram_mb >= 0),
    parallel_capacity  INTEGER NOT NULL DEFAULT 0 CHECK (parallel_capacity >= 0),
    keep_alive_seconds INTEGER NOT NULL DEFAULT 0 CHECK (keep_alive_seconds >= 0),
    max_loaded_models  INTEGER NOT NULL DEFAULT 0 CHECK (max_loaded_models >= 0),
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE models (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE CHECK (name <> ''),
    weight_privacy  TEXT NOT NULL DEFAULT 'LOCAL' CHECK (weight_privacy IN ('LOCAL', 'CLOUD_IN_EU_BY_EU_PROVIDER', 'CLOUD_IN_EU_BY_US_PROVIDER', 'CLOUD_NOT_IN_EU_BY_US_PROVIDER')),
    weight_latency  INTEGER NOT NULL DEFAULT 0,
    weight_accuracy INTEGER NOT NULL DEFAULT 0,
    weight_cost     INTEGER NOT NULL DEFAULT 0,
    weight_quality  INTEGER NOT NULL DEFAULT 0,
    tags            TEXT NOT NULL DEFAULT '',
    parallel        INTEGER NOT NULL DEFAULT 1 CHECK (parallel BETWEEN 1 AND 256),
    description     TEXT NOT NULL DEFAULT '',
    context_window  INTEGER NOT NULL DEFAULT 0 CHECK (context_window >= 0),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE deployments (
    id                BIGSERIAL PRIMARY KEY,
    model_id          BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    provider_id       BIGINT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    upstream_model    TEXT NOT NULL DEFAULT '',
    endpoint          TEXT NOT NULL DEFAULT '',
    credential        TEXT NOT NULL DEFAULT '',
    api_version       TEXT NOT NULL DEFAULT '',
    parallel_capacity INTEGER NOT NULL DEFAULT 0 CHECK (parallel_capacity >= 0),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (model_id, provider_id)
);
CREATE INDEX deployments_provider_idx ON deployments (provider_id);

CREATE TABLE profile_permissions (
    profile_id BIGINT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    model_id   BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    PRIMARY KEY (profile_id, model_id)
);
CREATE INDEX profile_permissions_model_idx ON profile_permissions (model_id);

CREATE TABLE policies (
    id                 BIGSERIAL PRIMARY KEY,
    process_id         BIGINT NOT NULL REFERENCES processes (id) ON DELETE CASCADE,
    name               TEXT NOT NULL CHECK (name <> ''),
    description        TEXT NOT NULL DEFAULT '',
    threshold_privacy  TEXT NOT NULL DEFAULT 'LOCAL' CHECK (threshold_privacy IN ('LOCAL', 'CLOUD_IN_EU_BY_EU_PROVIDER', 'CLOUD_IN_EU_BY_US_PROVIDER', 'CLOUD_NOT_IN_EU_BY_US_PROVIDER')),
    threshold_latency  INTEGER NOT NULL DEFAULT 0,
    threshold_accuracy INTEGER NOT NULL DEFAULT 0,
    threshold_cost     INTEGER NOT NULL DEFAULT 0,
    threshold_quality  INTEGER NOT NULL DEFAULT 0,
    priority           INTEGER NOT NULL DEFAULT 0,
    topic              TEXT NOT NULL DEFAULT '',
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (process_id, name)
);

CREATE TABLE token_types (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE CHECK (name <> ''),
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE prices (
    id                 BIGSERIAL PRIMARY KEY,
    token_type_id      BIGINT NOT NULL REFERENCES token_types (id) ON DELETE CASCADE,
    model_id           BIGINT REFERENCES models (id) ON DELETE CASCADE,
    provider_id        BIGINT REFERENCES providers (id) ON DELETE CASCADE,
    valid_from         TIMESTAMPTZ NOT NULL,
    micros_per_million BIGINT NOT NULL CHECK (micros_per_million >= 0),
    currency           TEXT NOT NULL DEFAULT 'EUR' CHECK (length(currency) = 3),
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX prices_scope_uidx ON prices (token_type_id, COALESCE(model_id, 0), COALESCE(provider_id, 0), valid_from);

CREATE TABLE usage_records (
    id               BIGSERIAL PRIMARY KEY,
    request_id       TEXT NOT NULL UNIQUE CHECK (request_id <> ''),
    process_id       BIGINT REFERENCES processes (id) ON DELETE SET NULL,
    profile_id       BIGINT REFERENCES profiles (id) ON DELETE SET NULL,
    model_id         BIGINT REFERENCES models (id) ON DELETE SET NULL,
    provider_id      BIGINT REFERENCES providers (id) ON DELETE SET NULL,
    deployment_id    BIGINT REFERENCES deployments (id) ON DELETE SET NULL,
    policy_id        BIGINT REFERENCES policies (id) ON DELETE SET NULL,
    model_name       TEXT NOT NULL DEFAULT '',
    provider_name    TEXT NOT NULL DEFAULT '',
    operation        TEXT NOT NULL DEFAULT '',
    stream           BOOLEAN NOT NULL DEFAULT false,
    received_at      TIMESTAMPTZ NOT NULL,
    forwarded_at     TIMESTAMPTZ,
    first_token_at   TIMESTAMPTZ,
    completed_at     TIMESTAMPTZ,
    status_code      INTEGER NOT NULL DEFAULT 0,
    outcome          TEXT NOT NULL CHECK (outcome IN ('success', 'error', 'timeout', 'cancelled', 'rejected')),
    error_message    TEXT NOT NULL DEFAULT '',
    client_ip        TEXT NOT NULL DEFAULT '',
    priority         INTEGER NOT NULL DEFAULT 5,
    queue_wait_us    BIGINT NOT NULL DEFAULT 0,
    cold_start       BOOLEAN NOT NULL DEFAULT false,
    log_level        TEXT NOT NULL DEFAULT 'BILLING' CHECK (log_level IN ('BILLING', 'FULL')),
    classification   JSONB,
    request_payload  JSONB,
    response_payload JSONB,
    request_headers  JSONB,
    response_headers JSONB,
    cost_micros      BIGINT NOT NULL DEFAULT 0,
    currency         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX usage_records_received_idx ON usage_records (received_at);
CREATE INDEX usage_records_process_received_idx ON usage_records (process_id, received_at);
CREATE INDEX usage_records_model_received_idx ON usage_records (model_id, received_at);

-- usage_tokens is written only by the usage insert, in the same transaction
-- as its record and from token type ids resolved in that transaction, so it
-- carries no foreign keys: their per-row checks cost a third of the insert
-- time of a usage batch. Whatever deletes usage records (retention) deletes
-- their tokens first; token types are never deleted.
CREATE TABLE usage_tokens (
    usage_id      BIGINT NOT NULL,
    token_type_id BIGINT NOT NULL,
    count         BIGINT NOT NULL CHECK (count >= 0),
    cost_micros   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (usage_id, token_type_id)
);
CREATE INDEX usage_tokens_type_idx ON usage_tokens (token_type_id);

CREATE TABLE jobs (
    id              BIGSERIAL PRIMARY KEY,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'success', 'failed')),
    process_id      BIGINT NOT NULL REFERENCES processes (id) ON DELETE CASCADE,
    profile_id      BIGINT REFERENCES profiles (id) ON DELETE CASCADE,
    request_payload JSONB NOT NULL,
    result_payload  JSONB,
    status_code     INTEGER NOT NULL DEFAULT 0,
    error_message   TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX jobs_status_idx ON jobs (status, id);

CREATE TABLE provider_snapshots (
    id              BIGSERIAL PRIMARY KEY,
    provider_id     BIGINT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    taken_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    models_loaded   INTEGER NOT NULL DEFAULT 0,
    vram_used_bytes BIGINT NOT NULL DEFAULT 0,
    loaded_models   JSONB NOT NULL DEFAULT '[]',
    poll_success    BOOLEAN NOT NULL DEFAULT true,
    error_message   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX provider_snapshots_provider_taken_idx ON provider_snapshots (provider_id, taken_at);

-- +goose Down
DROP TABLE provider_snapshots;
DROP TABLE jobs;
DROP TABLE usage_tokens;
DROP TABLE usage_records;
DROP TABLE prices;
DROP TABLE token_types;
DROP TABLE policies;
DROP TABLE profile_permissions;
DROP TABLE deployments;
DROP TABLE models;
DROP TABLE providers;
DROP TABLE profiles;
DROP TABLE processes;
DROP TABLE services;
DROP TABLE users;
DROP TABLE instance;
