-- +goose Up
-- budgets limits what a process, or all the processes of a user, may spend
-- per period. Exactly one owner is set; each owner has at most one budget.
-- limit_micros is in millionths of currency (ISO 4217); only usage records in
-- that currency count against it. Periods are calendar-aligned to starts_at:
-- a period starts at starts_at plus a whole number of days, weeks or months
-- (UTC), so the default anchor 2001-01-01 (a Monday) makes days start at
-- midnight, weeks on Mondays and months on the 1st.
CREATE TABLE budgets (
    id           BIGSERIAL PRIMARY KEY,
    process_id   BIGINT UNIQUE REFERENCES processes (id) ON DELETE CASCADE,
    user_id      BIGINT UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    limit_micros BIGINT NOT NULL CHECK (limit_micros > 0),
    currency     TEXT NOT NULL CHECK (length(currency) = 3),
    period       TEXT NOT NULL CHECK (period IN ('day', 'week', 'month')),
    starts_at    TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((process_id IS NULL) <> (user_id IS NULL))
);

-- +goose Down
DROP TABLE budgets;
