-- +goose Up
-- budgets limits what a process, or all the processes of a user, may spend
-- per period. Exactly one owner is set; each owner has at most one budget.
-- limit_micros is in millionths of currency (ISO 4217); only usage records in
-- that currency count against it. Periods are calendar-aligned to starts_at
-- (fixed-width RFC 3339 text like every time): a period starts at starts_at
-- plus a whole number of days, weeks or months (UTC). Same columns and
-- meaning as the PostgreSQL migration of the same number.
CREATE TABLE budgets (
    id           INTEGER PRIMARY KEY,
    process_id   INTEGER UNIQUE REFERENCES processes (id) ON DELETE CASCADE,
    user_id      INTEGER UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    limit_micros INTEGER NOT NULL CHECK (limit_micros > 0),
    currency     TEXT NOT NULL CHECK (length(currency) = 3),
    period       TEXT NOT NULL CHECK (period IN ('day', 'week', 'month')),
    starts_at    TEXT NOT NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z','now')),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z','now')),
    CHECK ((process_id IS NULL) <> (user_id IS NULL))
);

-- +goose Down
DROP TABLE budgets;
