-- SetProcessBudget creates or replaces the budget of a process.
-- name: SetProcessBudget :one
INSERT INTO budgets (process_id, limit_micros, currency, period, starts_at, created_at, updated_at)
VALUES (@process_id, @limit_micros, @currency, @period, @starts_at, @now, @now)
ON CONFLICT (process_id) DO UPDATE
SET limit_micros = excluded.limit_micros, currency = excluded.currency,
    period = excluded.period, starts_at = excluded.starts_at, updated_at = excluded.updated_at
RETURNING *;

-- SetUserBudget creates or replaces the budget of a user.
-- name: SetUserBudget :one
INSERT INTO budgets (user_id, limit_micros, currency, period, starts_at, created_at, updated_at)
VALUES (@user_id, @limit_micros, @currency, @period, @starts_at, @now, @now)
ON CONFLICT (user_id) DO UPDATE
SET limit_micros = excluded.limit_micros, currency = excluded.currency,
    period = excluded.period, starts_at = excluded.starts_at, updated_at = excluded.updated_at
RETURNING *;

-- name: DeleteBudget :execrows
DELETE FROM budgets WHERE id = @id;

-- name: ListBudgets :many
SELECT * FROM budgets ORDER BY id;

-- ProcessSpentMicros sums the cost of a process's usage records in a currency
-- received since a time.
-- name: ProcessSpentMicros :one
SELECT CAST(COALESCE(SUM(cost_micros), 0) AS INTEGER) AS spent
FROM usage_records
WHERE process_id = @process_id AND currency = @currency AND received_at >= @since;

-- UserSpentMicros sums the cost of the usage records of every process a user
-- owns, in a currency, received since a time.
-- name: UserSpentMicros :one
SELECT CAST(COALESCE(SUM(u.cost_micros), 0) AS INTEGER) AS spent
FROM usage_records u
JOIN processes p ON p.id = u.process_id
WHERE p.user_id = @user_id AND u.currency = @currency AND u.received_at >= @since;
