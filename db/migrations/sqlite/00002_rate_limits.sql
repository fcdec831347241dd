-- +goose Up
-- rate_windows counts, per rate-limit key (a process, or a process and a
-- model) and per fixed window (window_start is the start of a minute, as
-- fixed-width RFC 3339 text like every time), the request permits the replicas
-- have claimed and the tokens they have recorded. Every replica sharing the
-- database claims from the same row, which makes a limit hold across replicas.
-- last_grant is how many permits the latest claim obtained: a claim reads it
-- back in the same statement, since RETURNING sees only the new row. Rows are
-- disposable once their window has passed. Same columns and meaning as the
-- PostgreSQL migration of the same number.
CREATE TABLE rate_windows (
    key          TEXT NOT NULL CHECK (key <> ''),
    window_start TEXT NOT NULL,
    requests     INTEGER NOT NULL DEFAULT 0 CHECK (requests >= 0),
    last_grant   INTEGER NOT NULL DEFAULT 0 CHECK (last_grant >= 0),
    tokens       INTEGER NOT NULL DEFAULT 0 CHECK (tokens >= 0),
    PRIMARY KEY (key, window_start)
) WITHOUT ROWID;
CREATE INDEX rate_windows_window_start_idx ON rate_windows (window_start);

-- +goose Down
DROP TABLE rate_windows;
