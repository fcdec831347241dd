-- Usage statistics. Every query aggregates in the database and returns one row
-- per group. Grouping is chosen by boolean parameters: a dimension that is not
-- grouped by collapses to a constant (0 or ''), so one statement serves every
-- combination of dimensions. The received_at bounds are always concrete
-- (callers pass -infinity/infinity for open ends) so the range indexes apply.
-- The time bucket is date_bin(@stride) from a UTC midnight (integer arithmetic,
-- unlike a time zone aware date_trunc), or NULL when @stride is NULL.

-- TuneStatsTransaction gives the rest of the (read-only) transaction the
-- memory to hash-join and sort a month of records without spilling to disk,
-- and turns off JIT compilation, which costs more than it saves on these
-- short aggregations. set_config(..., true) is SET LOCAL.
-- name: TuneStatsTransaction :exec
SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true);

-- UsageRecordTotals counts records, errors, tokens (the records' request
-- totals, usage_records.total_tokens) and cost per group.
-- name: UsageRecordTotals :many
SELECT
    date_bin(sqlc.narg(stride)::interval, r.received_at, timestamptz '2000-01-01 00:00:00+00')::timestamptz AS bucket,
    COALESCE(CASE WHEN @by_process::boolean THEN r.process_id END, 0)::bigint AS process_id,
    COALESCE(CASE WHEN @by_profile::boolean THEN r.profile_id END, 0)::bigint AS profile_id,
    COALESCE(CASE WHEN @by_user::boolean THEN (SELECT p.user_id FROM processes p WHERE p.id = r.process_id) END, 0)::bigint AS user_id,
    (CASE WHEN @by_model::boolean THEN r.model_name ELSE '' END)::text AS model_name,
    (CASE WHEN @by_provider::boolean THEN r.provider_name ELSE '' END)::text AS provider_name,
    r.currency,
    count(*)::bigint AS requests,
    (count(*) FILTER (WHERE r.outcome <> 'success'))::bigint AS errors,
    COALESCE(sum(r.cost_micros), 0)::bigint AS cost_micros,
    COALESCE(sum(r.total_tokens), 0)::bigint AS tokens
FROM usage_records r
WHERE r.received_at >= @received_from AND r.received_at < @received_to
  AND (@process_id::bigint = 0 OR r.process_id = @process_id::bigint)
  AND (@user_id::bigint = 0 OR r.process_id IN (SELECT p.id FROM processes p WHERE p.user_id = @user_id::bigint))
GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- UsageTokenTotals sums token counts per group and token type, joining each
-- record's tokens; it also counts, per type, the records that have tokens of
-- it, and sums the tokens' costs. Only meaningful with @by_token_type: summed
-- over all types, subsets and total_tokens would count tokens several times
-- (UsageRecordTotals has the request totals).
-- name: UsageTokenTotals :many
SELECT
    date_bin(sqlc.narg(stride)::interval, r.received_at, timestamptz '2000-01-01 00:00:00+00')::timestamptz AS bucket,
    COALESCE(CASE WHEN @by_process::boolean THEN r.process_id END, 0)::bigint AS process_id,
    COALESCE(CASE WHEN @by_profile::boolean THEN r.profile_id END, 0)::bigint AS profile_id,
    COALESCE(CASE WHEN @by_user::boolean THEN (SELECT p.user_id FROM processes p WHERE p.id = r.process_id) END, 0)::bigint AS user_id,
    (CASE WHEN @by_model::boolean THEN r.model_name ELSE '' END)::text AS model_name,
    (CASE WHEN @by_provider::boolean THEN r.provider_name ELSE '' END)::text AS provider_name,
    (CASE WHEN @by_token_type::boolean THEN ut.token_type_id ELSE 0 END)::bigint AS token_type_id,
    r.currency,
    count(*)::bigint AS requests,
    (count(*) FILTER (WHERE r.outcome <> 'success'))::bigint AS errors,
    COALESCE(sum(ut.count), 0)::bigint AS tokens,
    COALESCE(sum(ut.cost_micros), 0)::bigint AS cost_micros
FROM usage_records r
JOIN usage_tokens ut ON ut.usage_id = r.id
WHERE r.received_at >= @received_from AND r.received_at < @received_to
  AND (@process_id::bigint = 0 OR r.process_id = @process_id::bigint)
  AND (@user_id::bigint = 0 OR r.process_id IN (SELECT p.id FROM processes p WHERE p.user_id = @user_id::bigint))
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

-- RequestStatsByModel summarises requests per model: per model id, and for
-- records whose model is unknown or deleted per recorded model name. The name
-- is the model's current name, else the recorded one; the provider name is the
-- greatest recorded one. Cloud means the model's privacy weight is not LOCAL;
-- run time is completed_at - forwarded_at.
-- name: RequestStatsByModel :many
SELECT
    COALESCE(r.model_id, 0)::bigint AS model_id,
    COALESCE(max(m.name), max(r.model_name))::text AS model_name,
    max(r.provider_name)::text AS provider_name,
    max(r.received_at)::timestamptz AS last_received_at,
    count(*)::bigint AS requests,
    (count(*) FILTER (WHERE m.weight_privacy IS NOT NULL AND m.weight_privacy <> 'LOCAL'))::bigint AS cloud_requests,
    (count(*) FILTER (WHERE r.cold_start))::bigint AS cold_starts,
    (count(*) FILTER (WHERE r.outcome = 'success'))::bigint AS success,
    (count(*) FILTER (WHERE r.outcome = 'error'))::bigint AS error,
    (count(*) FILTER (WHERE r.outcome = 'timeout'))::bigint AS timeout,
    (count(*) FILTER (WHERE r.outcome NOT IN ('success', 'error', 'timeout')))::bigint AS other,
    (count(*) FILTER (WHERE r.outcome <> 'success' OR r.error_message <> ''))::bigint AS errors,
    (COALESCE(sum(r.queue_wait_us), 0) / 1e6)::float8 AS queue_seconds,
    COALESCE(sum(EXTRACT(EPOCH FROM r.completed_at - r.forwarded_at)), 0)::float8 AS run_seconds,
    count(r.completed_at - r.forwarded_at)::bigint AS runs,
    COALESCE(sum(EXTRACT(EPOCH FROM r.completed_at - r.forwarded_at)) FILTER (WHERE r.cold_start), 0)::float8 AS cold_run_seconds,
    (count(r.completed_at - r.forwarded_at) FILTER (WHERE r.cold_start))::bigint AS cold_runs
FROM usage_records r
LEFT JOIN models m ON m.id = r.model_id
WHERE r.received_at >= @received_from AND r.received_at < @received_to
  AND (@process_id::bigint = 0 OR r.process_id = @process_id::bigint)
GROUP BY COALESCE(r.model_id, 0), CASE WHEN r.model_id IS NULL THEN r.model_name ELSE '' END;

-- RequestStatsSeries summarises requests per time bucket of @bucket_seconds,
-- aligned to the Unix epoch; only buckets with requests are returned.
-- name: RequestStatsSeries :many
SELECT
    to_timestamp(floor(EXTRACT(EPOCH FROM r.received_at) / @bucket_seconds::bigint) * @bucket_seconds::bigint)::timestamptz AS bucket,
    count(*)::bigint AS requests,
    (count(*) FILTER (WHERE m.weight_privacy IS NOT NULL AND m.weight_privacy <> 'LOCAL'))::bigint AS cloud_requests,
    (count(*) FILTER (WHERE r.cold_start))::bigint AS cold_starts,
    (count(*) FILTER (WHERE r.outcome <> 'success' OR r.error_message <> ''))::bigint AS errors,
    COALESCE(sum(EXTRACT(EPOCH FROM r.completed_at - r.forwarded_at)), 0)::float8 AS run_seconds,
    count(r.completed_at - r.forwarded_at)::bigint AS runs
FROM usage_records r
LEFT JOIN models m ON m.id = r.model_id
WHERE r.received_at >= @received_from AND r.received_at < @received_to
  AND (@process_id::bigint = 0 OR r.process_id = @process_id::bigint)
GROUP BY 1
ORDER BY 1;

-- ScanUsagePage returns the next page of records in (received_at, id) order
-- after the given position, without payloads, headers and classification.
-- name: ScanUsagePage :many
SELECT
    r.id, r.request_id, r.process_id, r.profile_id, r.model_id, r.provider_id, r.deployment_id,
    r.policy_id, r.model_name, r.provider_name, r.operation, r.stream, r.received_at,
    r.forwarded_at, r.first_token_at, r.completed_at, r.status_code, r.outcome,
    r.error_message, r.client_ip, r.priority, r.queue_wait_us, r.cold_start, r.log_level,
    r.cost_micros, r.currency, r.classified_by, r.classification_us
FROM usage_records r
WHERE r.received_at >= @received_from AND r.received_at < @received_to
  AND (@process_id::bigint = 0 OR r.process_id = @process_id::bigint)
  AND (r.received_at, r.id) > (@after_received_at::timestamptz, @after_id::bigint)
ORDER BY r.received_at, r.id
LIMIT @max_rows::integer;
