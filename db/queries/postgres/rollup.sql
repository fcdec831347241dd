-- Usage at scale: monthly partitions and hourly rollups (migration 00016).

-- EnsureUsagePartitions creates the monthly usage partitions from the month
-- of @from_at to the month of @to_at that do not exist yet; it returns how
-- many months it created.
-- name: EnsureUsagePartitions :one
SELECT logos_ensure_usage_partitions(@from_at::timestamptz, @to_at::timestamptz)::integer AS created;

-- DropUsageBefore drops the usage (records, tokens and rollups) of the
-- months before the UTC month containing @cutoff; it returns how many
-- monthly partitions it dropped.
-- name: DropUsageBefore :one
SELECT logos_drop_usage_before(@cutoff::timestamptz)::integer AS dropped;

-- UpsertUsageRollup adds the sums of a usage batch to the hourly rollup, one
-- row per element of the arrays (distinct keys, sorted by the caller so that
-- concurrent batches lock rows in one order).
-- name: UpsertUsageRollup :exec
INSERT INTO usage_rollup (
    daily, hour, process_id, profile_id, model_id, model_name, provider_name, currency, outcome, cold_start,
    requests, with_error_message, cost_micros, total_tokens, queue_wait_us, run_us, runs, last_received_at
)
SELECT u.daily, u.hour, u.process_id, u.profile_id, u.model_id, u.model_name, u.provider_name, u.currency,
    u.outcome, u.cold_start, u.requests, u.with_error_message, u.cost_micros, u.total_tokens,
    u.queue_wait_us, u.run_us, u.runs, u.last_received_at
FROM ROWS FROM (
    unnest(@dailies::boolean[]),
    unnest(@hours::timestamptz[]),
    unnest(@process_ids::bigint[]),
    unnest(@profile_ids::bigint[]),
    unnest(@model_ids::bigint[]),
    unnest(@model_names::text[]),
    unnest(@provider_names::text[]),
    unnest(@currencies::text[]),
    unnest(@outcomes::text[]),
    unnest(@cold_starts::boolean[]),
    unnest(@requests::bigint[]),
    unnest(@with_error_messages::bigint[]),
    unnest(@cost_micros::bigint[]),
    unnest(@total_tokens::bigint[]),
    unnest(@queue_wait_us::bigint[]),
    unnest(@run_us::bigint[]),
    unnest(@runs::bigint[]),
    unnest(@last_received_ats::timestamptz[])
) WITH ORDINALITY AS u(
    daily, hour, process_id, profile_id, model_id, model_name, provider_name, currency, outcome, cold_start,
    requests, with_error_message, cost_micros, total_tokens, queue_wait_us, run_us, runs, last_received_at, ord
)
ORDER BY u.ord
ON CONFLICT (daily, hour, process_id, profile_id, model_id, model_name, provider_name, currency, outcome, cold_start)
DO UPDATE SET
    requests = usage_rollup.requests + EXCLUDED.requests,
    with_error_message = usage_rollup.with_error_message + EXCLUDED.with_error_message,
    cost_micros = usage_rollup.cost_micros + EXCLUDED.cost_micros,
    total_tokens = usage_rollup.total_tokens + EXCLUDED.total_tokens,
    queue_wait_us = usage_rollup.queue_wait_us + EXCLUDED.queue_wait_us,
    run_us = usage_rollup.run_us + EXCLUDED.run_us,
    runs = usage_rollup.runs + EXCLUDED.runs,
    last_received_at = GREATEST(usage_rollup.last_received_at, EXCLUDED.last_received_at);

-- UpsertUsageTokenRollup adds the token sums of a usage batch to the hourly
-- token rollup, resolving token types by name (they exist: the batch's tokens
-- were inserted before). Keys are distinct and sorted by the caller.
-- name: UpsertUsageTokenRollup :exec
INSERT INTO usage_token_rollup (
    hour, process_id, profile_id, model_name, provider_name, currency, token_type_id,
    requests, errors, tokens, cost_micros
)
SELECT u.hour, u.process_id, u.profile_id, u.model_name, u.provider_name, u.currency, tt.id,
    u.requests, u.errors, u.tokens, u.cost_micros
FROM ROWS FROM (
    unnest(@hours::timestamptz[]),
    unnest(@process_ids::bigint[]),
    unnest(@profile_ids::bigint[]),
    unnest(@model_names::text[]),
    unnest(@provider_names::text[]),
    unnest(@currencies::text[]),
    unnest(@type_names::text[]),
    unnest(@requests::bigint[]),
    unnest(@errors::bigint[]),
    unnest(@tokens::bigint[]),
    unnest(@cost_micros::bigint[])
) WITH ORDINALITY AS u(
    hour, process_id, profile_id, model_name, provider_name, currency, type_name,
    requests, errors, tokens, cost_micros, ord
)
JOIN token_types tt ON tt.name = u.type_name
ORDER BY u.ord
ON CONFLICT (hour, process_id, profile_id, model_name, provider_name, currency, token_type_id)
DO UPDATE SET
    requests = usage_token_rollup.requests + EXCLUDED.requests,
    errors = usage_token_rollup.errors + EXCLUDED.errors,
    tokens = usage_token_rollup.tokens + EXCLUDED.tokens,
    cost_micros = usage_token_rollup.cost_micros + EXCLUDED.cost_micros;

-- The statistics below read the daily rollup rows for the whole days
-- [@day_from, @day_to), the hourly ones for the rest of the whole hours
-- [@hour_from, @hour_to), and the records for the rest of
-- [@received_from, @received_to), the partial hours at its edges. With
-- @day_from = @day_to = @hour_to they read no daily rows, with also
-- @hour_from = @hour_to = @received_to only records. They return what the
-- queries of stats.sql return, row for row.

-- RollupRecordTotals is UsageRecordTotals served from the rollup.
-- name: RollupRecordTotals :many
WITH parts AS (
    SELECT u.hour AS at, u.process_id, u.profile_id, u.model_name, u.provider_name, u.currency,
        u.requests, CASE WHEN u.outcome <> 'success' THEN u.requests ELSE 0 END AS errors,
        u.cost_micros, u.total_tokens AS tokens
    FROM usage_rollup u
    WHERE ((NOT u.daily AND ((u.hour >= @hour_from::timestamptz AND u.hour < @day_from::timestamptz)
            OR (u.hour >= @day_to::timestamptz AND u.hour < @hour_to::timestamptz)))
        OR (u.daily AND u.hour >= @day_from::timestamptz AND u.hour < @day_to::timestamptz))
      AND (@process_id::bigint = 0 OR u.process_id = @process_id::bigint)
      AND (@user_id::bigint = 0 OR u.process_id IN (SELECT p.id FROM processes p WHERE p.user_id = @user_id::bigint))
    UNION ALL
    SELECT r.received_at, COALESCE(r.process_id, 0), COALESCE(r.profile_id, 0), r.model_name, r.provider_name,
        r.currency, 1::bigint, CASE WHEN r.outcome <> 'success' THEN 1 ELSE 0 END::bigint,
        r.cost_micros, r.total_tokens
    FROM usage_records r
    WHERE ((r.received_at >= @received_from::timestamptz AND r.received_at < @hour_from::timestamptz)
        OR (r.received_at >= @hour_to::timestamptz AND r.received_at < @received_to::timestamptz))
      AND (@process_id::bigint = 0 OR r.process_id = @process_id::bigint)
      AND (@user_id::bigint = 0 OR r.process_id IN (SELECT p.id FROM processes p WHERE p.user_id = @user_id::bigint))
)
SELECT
    date_bin(sqlc.narg(stride)::interval, x.at, timestamptz '2000-01-01 00:00:00+00')::timestamptz AS bucket,
    (CASE WHEN @by_process::boolean THEN x.process_id ELSE 0 END)::bigint AS process_id,
    (CASE WHEN @by_profile::boolean THEN x.profile_id ELSE 0 END)::bigint AS profile_id,
    COALESCE(CASE WHEN @by_user::boolean THEN (SELECT p.user_id FROM processes p WHERE p.id = x.process_id) END, 0)::bigint AS user_id,
    (CASE WHEN @by_model::boolean THEN x.model_name ELSE '' END)::text AS model_name,
    (CASE WHEN @by_provider::boolean THEN x.provider_name ELSE '' END)::text AS provider_name,
    x.currency::text AS currency,
    sum(x.requests)::bigint AS requests,
    sum(x.errors)::bigint AS errors,
    COALESCE(sum(x.cost_micros), 0)::bigint AS cost_micros,
    COALESCE(sum(x.tokens), 0)::bigint AS tokens
FROM parts x
GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- RollupTokenTotals is UsageTokenTotals served from the token rollup.
-- name: RollupTokenTotals :many
WITH parts AS (
    SELECT u.hour AS at, u.process_id, u.profile_id, u.model_name, u.provider_name, u.currency,
        u.token_type_id, u.requests, u.errors, u.tokens, u.cost_micros
    FROM usage_token_rollup u
    WHERE u.hour >= @hour_from::timestamptz AND u.hour < @hour_to::timestamptz
      AND (@process_id::bigint = 0 OR u.process_id = @process_id::bigint)
      AND (@user_id::bigint = 0 OR u.process_id IN (SELECT p.id FROM processes p WHERE p.user_id = @user_id::bigint))
    UNION ALL
    SELECT r.received_at, COALESCE(r.process_id, 0), COALESCE(r.profile_id, 0), r.model_name, r.provider_name,
        r.currency, ut.token_type_id, 1::bigint, CASE WHEN r.outcome <> 'success' THEN 1 ELSE 0 END::bigint,
        ut.count, ut.cost_micros
    FROM usage_records r
    JOIN usage_tokens ut ON ut.usage_id = r.id AND ut.received_at = r.received_at
    WHERE ((r.received_at >= @received_from::timestamptz AND r.received_at < @hour_from::timestamptz)
        OR (r.received_at >= @hour_to::timestamptz AND r.received_at < @received_to::timestamptz))
      AND (@process_id::bigint = 0 OR r.process_id = @process_id::bigint)
      AND (@user_id::bigint = 0 OR r.process_id IN (SELECT p.id FROM processes p WHERE p.user_id = @user_id::bigint))
)
SELECT
    date_bin(sqlc.narg(stride)::interval, x.at, timestamptz '2000-01-01 00:00:00+00')::timestamptz AS bucket,
    (CASE WHEN @by_process::boolean THEN x.process_id ELSE 0 END)::bigint AS process_id,
    (CASE WHEN @by_profile::boolean THEN x.profile_id ELSE 0 END)::bigint AS profile_id,
    COALESCE(CASE WHEN @by_user::boolean THEN (SELECT p.user_id FROM processes p WHERE p.id = x.process_id) END, 0)::bigint AS user_id,
    (CASE WHEN @by_model::boolean THEN x.model_name ELSE '' END)::text AS model_name,
    (CASE WHEN @by_provider::boolean THEN x.provider_name ELSE '' END)::text AS provider_name,
    (CASE WHEN @by_token_type::boolean THEN x.token_type_id ELSE 0 END)::bigint AS token_type_id,
    x.currency::text AS currency,
    sum(x.requests)::bigint AS requests,
    sum(x.errors)::bigint AS errors,
    COALESCE(sum(x.tokens), 0)::bigint AS tokens,
    COALESCE(sum(x.cost_micros), 0)::bigint AS cost_micros
FROM parts x
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

-- RollupRequestStatsByModel is RequestStatsByModel served from the rollup.
-- Run times are summed in whole microseconds and converted once, which is
-- exactly what summing the records' EXTRACT(EPOCH ...) (numeric) gives.
-- name: RollupRequestStatsByModel :many
WITH parts AS (
    SELECT u.model_id, u.model_name, u.provider_name, u.last_received_at AS received_at, u.outcome,
        u.cold_start, u.requests, u.with_error_message, u.queue_wait_us, u.run_us, u.runs
    FROM usage_rollup u
    WHERE ((NOT u.daily AND ((u.hour >= @hour_from::timestamptz AND u.hour < @day_from::timestamptz)
            OR (u.hour >= @day_to::timestamptz AND u.hour < @hour_to::timestamptz)))
        OR (u.daily AND u.hour >= @day_from::timestamptz AND u.hour < @day_to::timestamptz))
      AND (@process_id::bigint = 0 OR u.process_id = @process_id::bigint)
    UNION ALL
    SELECT COALESCE(r.model_id, 0), r.model_name, r.provider_name, r.received_at, r.outcome,
        r.cold_start, 1::bigint, CASE WHEN r.error_message <> '' THEN 1 ELSE 0 END::bigint, r.queue_wait_us,
        COALESCE((EXTRACT(EPOCH FROM r.completed_at - r.forwarded_at) * 1000000)::bigint, 0),
        CASE WHEN r.completed_at IS NOT NULL AND r.forwarded_at IS NOT NULL THEN 1 ELSE 0 END::bigint
    FROM usage_records r
    WHERE ((r.received_at >= @received_from::timestamptz AND r.received_at < @hour_from::timestamptz)
        OR (r.received_at >= @hour_to::timestamptz AND r.received_at < @received_to::timestamptz))
      AND (@process_id::bigint = 0 OR r.process_id = @process_id::bigint)
)
SELECT
    x.model_id::bigint AS model_id,
    COALESCE(max(m.name), max(x.model_name))::text AS model_name,
    max(x.provider_name)::text AS provider_name,
    max(x.received_at)::timestamptz AS last_received_at,
    sum(x.requests)::bigint AS requests,
    COALESCE(sum(x.requests) FILTER (WHERE m.weight_privacy IS NOT NULL AND m.weight_privacy <> 'LOCAL'), 0)::bigint AS cloud_requests,
    COALESCE(sum(x.requests) FILTER (WHERE x.cold_start), 0)::bigint AS cold_starts,
    COALESCE(sum(x.requests) FILTER (WHERE x.outcome = 'success'), 0)::bigint AS success,
    COALESCE(sum(x.requests) FILTER (WHERE x.outcome = 'error'), 0)::bigint AS error,
    COALESCE(sum(x.requests) FILTER (WHERE x.outcome = 'timeout'), 0)::bigint AS timeout,
    COALESCE(sum(x.requests) FILTER (WHERE x.outcome NOT IN ('success', 'error', 'timeout')), 0)::bigint AS other,
    sum(CASE WHEN x.outcome <> 'success' THEN x.requests ELSE x.with_error_message END)::bigint AS errors,
    (sum(x.queue_wait_us) / 1e6)::float8 AS queue_seconds,
    (sum(x.run_us) / 1e6)::float8 AS run_seconds,
    sum(x.runs)::bigint AS runs,
    (COALESCE(sum(x.run_us) FILTER (WHERE x.cold_start), 0) / 1e6)::float8 AS cold_run_seconds,
    COALESCE(sum(x.runs) FILTER (WHERE x.cold_start), 0)::bigint AS cold_runs
FROM parts x
LEFT JOIN models m ON m.id = x.model_id
GROUP BY x.model_id, CASE WHEN x.model_id = 0 THEN x.model_name ELSE '' END;

-- RollupRequestStatsSeries is RequestStatsSeries served from the rollup; the
-- rollup serves only buckets made of whole hours (@bucket_seconds a multiple
-- of 3600), the caller passes an empty hour range otherwise.
-- name: RollupRequestStatsSeries :many
WITH parts AS (
    SELECT u.hour AS at, u.model_id, u.cold_start, u.outcome, u.requests, u.with_error_message,
        u.run_us, u.runs
    FROM usage_rollup u
    WHERE ((NOT u.daily AND ((u.hour >= @hour_from::timestamptz AND u.hour < @day_from::timestamptz)
            OR (u.hour >= @day_to::timestamptz AND u.hour < @hour_to::timestamptz)))
        OR (u.daily AND u.hour >= @day_from::timestamptz AND u.hour < @day_to::timestamptz))
      AND (@process_id::bigint = 0 OR u.process_id = @process_id::bigint)
    UNION ALL
    SELECT r.received_at, COALESCE(r.model_id, 0), r.cold_start, r.outcome, 1::bigint,
        CASE WHEN r.error_message <> '' THEN 1 ELSE 0 END::bigint,
        COALESCE((EXTRACT(EPOCH FROM r.completed_at - r.forwarded_at) * 1000000)::bigint, 0),
        CASE WHEN r.completed_at IS NOT NULL AND r.forwarded_at IS NOT NULL THEN 1 ELSE 0 END::bigint
    FROM usage_records r
    WHERE ((r.received_at >= @received_from::timestamptz AND r.received_at < @hour_from::timestamptz)
        OR (r.received_at >= @hour_to::timestamptz AND r.received_at < @received_to::timestamptz))
      AND (@process_id::bigint = 0 OR r.process_id = @process_id::bigint)
)
SELECT
    to_timestamp(floor(EXTRACT(EPOCH FROM x.at) / @bucket_seconds::bigint) * @bucket_seconds::bigint)::timestamptz AS bucket,
    sum(x.requests)::bigint AS requests,
    COALESCE(sum(x.requests) FILTER (WHERE m.weight_privacy IS NOT NULL AND m.weight_privacy <> 'LOCAL'), 0)::bigint AS cloud_requests,
    COALESCE(sum(x.requests) FILTER (WHERE x.cold_start), 0)::bigint AS cold_starts,
    sum(CASE WHEN x.outcome <> 'success' THEN x.requests ELSE x.with_error_message END)::bigint AS errors,
    (sum(x.run_us) / 1e6)::float8 AS run_seconds,
    sum(x.runs)::bigint AS runs
FROM parts x
LEFT JOIN models m ON m.id = x.model_id
GROUP BY 1
ORDER BY 1;
