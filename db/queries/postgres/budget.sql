-- SetProcessBudget creates or replaces the budget of a process.
-- name: SetProcessBudget :one
INSERT INTO budgets AS b (process_id, limit_micros, currency, period, starts_at)
VALUES (@process_id, @limit_micros, @currency, @period, @starts_at)
ON CONFLICT (process_id) DO UPDATE
SET limit_micros = EXCLUDED.limit_micros, currency = EXCLUDED.currency,
    period = EXCLUDED.period, starts_at = EXCLUDED.starts_at, updated_at = now()
RETURNING *;

-- SetUserBudget creates or replaces the budget of a user.
-- name: SetUserBudget :one
INSERT INTO budgets AS b (user_id, limit_micros, currency, period, starts_at)
VALUES (@user_id, @limit_micros, @currency, @period, @starts_at)
ON CONFLICT (user_id) DO UPDATE
SET limit_micros = EXCLUDED.limit_micros, currency = EXCLUDED.currency,
    period = EXCLUDED.period, starts_at = EXCLUDED.starts_at, updated_at = now()
RETURNING *;

-- name: DeleteBudget :execrows
DELETE FROM budgets WHERE id = @id;

-- name: ListBudgets :many
SELECT * FROM budgets ORDER BY id;

-- ProcessSpentMicros sums the cost of a process's usage records in a currency
-- received since a time.
-- name: ProcessSpentMicros :one
SELECT COALESCE(SUM(cost_micros), 0)::bigint AS spent
FROM usage_records
WHERE process_id = @process_id AND currency = @currency AND received_at >= @since;

-- UserSpentMicros sums the cost of the usage records of every process a user
-- owns, in a currency, received since a time.
-- name: UserSpentMicros :one
SELECT COALESCE(SUM(u.cost_micros), 0)::bigint AS spent
FROM usage_records u
JOIN processes p ON p.id = u.process_id
WHERE p.user_id = @user_id AND u.currency = @currency AND u.received_at >= @since;
