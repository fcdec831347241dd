-- +goose Up
-- rate_windows counts, per rate-limit key (a process, or a process and a
-- model) and per fixed window (window_start is the start of a minute), the
-- request permits the replicas have claimed and the tokens they have recorded.
-- Every replica sharing the database claims from the same row, which makes a
-- limit hold across replicas. last_grant is how many permits the latest claim
-- obtained: a claim reads it back in the same statement, since RETURNING sees
-- only the new row. Rows are disposable once their window has passed.
CREATE TABLE rate_windows (
    key          TEXT NOT NULL CHECK (key <> ''),
    window_start TIMESTAMPTZ NOT NULL,
    requests     BIGINT NOT NULL DEFAULT 0 CHECK (requests >= 0),
    last_grant   BIGINT NOT NULL DEFAULT 0 CHECK (last_grant >= 0),
    tokens       BIGINT NOT NULL DEFAULT 0 CHECK (tokens >= 0),
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_windows_window_start_idx ON rate_windows (window_start);

-- +goose Down
DROP TABLE rate_windows;
