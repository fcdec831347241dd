-- Usage statistics; see db/queries/postgres/stats.sql. Grouping is chosen by
-- flag parameters (0 or 1): a dimension that is not grouped by collapses to a
-- constant (0 or ''). Times are fixed-width RFC 3339 text, so a time bucket is
-- a prefix of received_at padded back to a full time: @unit 'hour' or 'day',
-- anything else gives the empty bucket ''. Callers always pass both range
-- bounds ('' and '~' for open ends).

-- name: UsageRecordTotals :many
SELECT
    CAST(CASE CAST(@unit AS TEXT)
        WHEN 'hour' THEN substr(r.received_at, 1, 13) || ':00:00.000000Z'
        WHEN 'day' THEN substr(r.received_at, 1, 10) || 'T00:00:00.000000Z'
        ELSE '' END AS TEXT) AS bucket,
    CAST(CASE WHEN CAST(@by_process AS INTEGER) THEN coalesce(r.process_id, 0) ELSE 0 END AS INTEGER) AS process_id,
    CAST(CASE WHEN CAST(@by_profile AS INTEGER) THEN coalesce(r.profile_id, 0) ELSE 0 END AS INTEGER) AS profile_id,
    CAST(CASE WHEN CAST(@by_user AS INTEGER) THEN coalesce((SELECT p.user_id FROM processes p WHERE p.id = r.process_id), 0) ELSE 0 END AS INTEGER) AS user_id,
    CAST(CASE WHEN CAST(@by_model AS INTEGER) THEN r.model_name ELSE '' END AS TEXT) AS model_name,
    CAST(CASE WHEN CAST(@by_provider AS INTEGER) THEN r.provider_name ELSE '' END AS TEXT) AS provider_name,
    r.currency,
    CAST(count(*) AS INTEGER) AS requests,
    CAST(count(*) FILTER (WHERE r.outcome <> 'success') AS INTEGER) AS errors,
    CAST(coalesce(sum(r.cost_micros), 0) AS INTEGER) AS cost_micros,
    CAST(coalesce(sum(r.total_tokens), 0) AS INTEGER) AS tokens
FROM usage_records r
WHERE r.received_at >= @received_from AND r.received_at < @received_to
  AND (CAST(@process_id AS INTEGER) = 0 OR r.process_id = @process_id)
  AND (CAST(@user_id AS INTEGER) = 0 OR r.process_id IN (SELECT p.id FROM processes p WHERE p.user_id = @user_id))
GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- name: UsageTokenTotals :many
SELECT
    CAST(CASE CAST(@unit AS TEXT)
        WHEN 'hour' THEN substr(r.received_at, 1, 13) || ':00:00.000000Z'
        WHEN 'day' THEN substr(r.received_at, 1, 10) || 'T00:00:00.000000Z'
        ELSE '' END AS TEXT) AS bucket,
    CAST(CASE WHEN CAST(@by_process AS INTEGER) THEN coalesce(r.process_id, 0) ELSE 0 END AS INTEGER) AS process_id,
    CAST(CASE WHEN CAST(@by_profile AS INTEGER) THEN coalesce(r.profile_id, 0) ELSE 0 END AS INTEGER) AS profile_id,
    CAST(CASE WHEN CAST(@by_user AS INTEGER) THEN coalesce((SELECT p.user_id FROM processes p WHERE p.id = r.process_id), 0) ELSE 0 END AS INTEGER) AS user_id,
    CAST(CASE WHEN CAST(@by_model AS INTEGER) THEN r.model_name ELSE '' END AS TEXT) AS model_name,
    CAST(CASE WHEN CAST(@by_provider AS INTEGER) THEN r.provider_name ELSE '' END AS TEXT) AS provider_name,
    CAST(CASE WHEN CAST(@by_token_type AS INTEGER) THEN ut.token_type_id ELSE 0 END AS INTEGER) AS token_type_id,
    r.currency,
    CAST(count(*) AS INTEGER) AS requests,
    CAST(count(*) FILTER (WHERE r.outcome <> 'success') AS INTEGER) AS errors,
    CAST(coalesce(sum(ut.count), 0) AS INTEGER) AS tokens,
    CAST(coalesce(sum(ut.cost_micros), 0) AS INTEGER) AS cost_micros
FROM usage_records r
JOIN usage_tokens ut ON ut.usage_id = r.id
WHERE r.received_at >= @received_from AND r.received_at < @received_to
  AND (CAST(@process_id AS INTEGER) = 0 OR r.process_id = @process_id)
  AND (CAST(@user_id AS INTEGER) = 0 OR r.process_id IN (SELECT p.id FROM processes p WHERE p.user_id = @user_id))
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

-- RequestStatsByModel: see the PostgreSQL query. A time difference is
-- computed exactly from the fixed-width text: whole seconds by strftime('%s')
-- plus the microsecond digits.
-- name: RequestStatsByModel :many
SELECT
    CAST(coalesce(r.model_id, 0) AS INTEGER) AS model_id,
    CAST(coalesce(max(m.name), max(r.model_name)) AS TEXT) AS model_name,
    CAST(max(r.provider_name) AS TEXT) AS provider_name,
    CAST(max(r.received_at) AS TEXT) AS last_received_at,
    CAST(count(*) AS INTEGER) AS requests,
    CAST(count(*) FILTER (WHERE m.weight_privacy IS NOT NULL AND m.weight_privacy <> 'LOCAL') AS INTEGER) AS cloud_requests,
    CAST(count(*) FILTER (WHERE r.cold_start) AS INTEGER) AS cold_starts,
    CAST(count(*) FILTER (WHERE r.outcome = 'success') AS INTEGER) AS success,
    CAST(count(*) FILTER (WHERE r.outcome = 'error') AS INTEGER) AS error,
    CAST(count(*) FILTER (WHERE r.outcome = 'timeout') AS INTEGER) AS timeout,
    CAST(count(*) FILTER (WHERE r.outcome NOT IN ('success', 'error', 'timeout')) AS INTEGER) AS other,
    CAST(count(*) FILTER (WHERE r.outcome <> 'success' OR r.error_message <> '') AS INTEGER) AS errors,
    CAST(coalesce(sum(r.queue_wait_us), 0) / 1e6 AS REAL) AS queue_seconds,
    CAST(coalesce(sum(
        (CAST(strftime('%s', substr(r.completed_at, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(r.forwarded_at, 1, 19)) AS INTEGER))
        + (CAST(substr(r.completed_at, 21, 6) AS INTEGER) - CAST(substr(r.forwarded_at, 21, 6) AS INTEGER)) / 1e6
    ), 0) AS REAL) AS run_seconds,
    CAST(count(*) FILTER (WHERE r.completed_at IS NOT NULL AND r.forwarded_at IS NOT NULL) AS INTEGER) AS runs,
    CAST(coalesce(sum(
        (CAST(strftime('%s', substr(r.completed_at, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(r.forwarded_at, 1, 19)) AS INTEGER))
        + (CAST(substr(r.completed_at, 21, 6) AS INTEGER) - CAST(substr(r.forwarded_at, 21, 6) AS INTEGER)) / 1e6
    ) FILTER (WHERE r.cold_start), 0) AS REAL) AS cold_run_seconds,
    CAST(count(*) FILTER (WHERE r.cold_start AND r.completed_at IS NOT NULL AND r.forwarded_at IS NOT NULL) AS INTEGER) AS cold_runs
FROM usage_records r
LEFT JOIN models m ON m.id = r.model_id
WHERE r.received_at >= @received_from AND r.received_at < @received_to
  AND (CAST(@process_id AS INTEGER) = 0 OR r.process_id = @process_id)
GROUP BY coalesce(r.model_id, 0), CASE WHEN r.model_id IS NULL THEN r.model_name ELSE '' END;

-- RequestStatsSeries: buckets of @bucket_seconds aligned to the Unix epoch,
-- as Unix seconds.
-- name: RequestStatsSeries :many
SELECT
    CAST(CAST(strftime('%s', substr(r.received_at, 1, 19)) AS INTEGER) / CAST(@bucket_seconds AS INTEGER) * @bucket_seconds AS INTEGER) AS bucket,
    CAST(count(*) AS INTEGER) AS requests,
    CAST(count(*) FILTER (WHERE m.weight_privacy IS NOT NULL AND m.weight_privacy <> 'LOCAL') AS INTEGER) AS cloud_requests,
    CAST(count(*) FILTER (WHERE r.cold_start) AS INTEGER) AS cold_starts,
    CAST(count(*) FILTER (WHERE r.outcome <> 'success' OR r.error_message <> '') AS INTEGER) AS errors,
    CAST(coalesce(sum(
        (CAST(strftime('%s', substr(r.completed_at, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(r.forwarded_at, 1, 19)) AS INTEGER))
        + (CAST(substr(r.completed_at, 21, 6) AS INTEGER) - CAST(substr(r.forwarded_at, 21, 6) AS INTEGER)) / 1e6
    ), 0) AS REAL) AS run_seconds,
    CAST(count(*) FILTER (WHERE r.completed_at IS NOT NULL AND r.forwarded_at IS NOT NULL) AS INTEGER) AS runs
FROM usage_records r
LEFT JOIN models m ON m.id = r.model_id
WHERE r.received_at >= @received_from AND r.received_at < @received_to
  AND (CAST(@process_id AS INTEGER) = 0 OR r.process_id = @process_id)
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
  AND (CAST(@process_id AS INTEGER) = 0 OR r.process_id = @process_id)
  AND (r.received_at > @after_received_at OR (r.received_at = @after_received_at AND r.id > @after_id))
ORDER BY r.received_at, r.id
LIMIT @max_rows;
