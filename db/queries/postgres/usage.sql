-- LockUsageReferences returns which of the given ids exist, per referenced
-- table, and locks those rows (FOR KEY SHARE) until the transaction ends, so
-- they cannot be deleted before the usage records that name them are
-- inserted. Parent tables are locked before their children (processes before
-- profiles and policies, models and providers before deployments), the order
-- in which cascading deletes lock them, to avoid deadlocks with such deletes.
-- name: LockUsageReferences :one
SELECT
    ARRAY(SELECT id FROM processes WHERE id = ANY (@process_ids::bigint[]) ORDER BY id FOR KEY SHARE)::bigint[] AS process_ids,
    ARRAY(SELECT id FROM models WHERE id = ANY (@model_ids::bigint[]) ORDER BY id FOR KEY SHARE)::bigint[] AS model_ids,
    ARRAY(SELECT id FROM providers WHERE id = ANY (@provider_ids::bigint[]) ORDER BY id FOR KEY SHARE)::bigint[] AS provider_ids,
    ARRAY(SELECT id FROM profiles WHERE id = ANY (@profile_ids::bigint[]) ORDER BY id FOR KEY SHARE)::bigint[] AS profile_ids,
    ARRAY(SELECT id FROM policies WHERE id = ANY (@policy_ids::bigint[]) ORDER BY id FOR KEY SHARE)::bigint[] AS policy_ids,
    ARRAY(SELECT id FROM deployments WHERE id = ANY (@deployment_ids::bigint[]) ORDER BY id FOR KEY SHARE)::bigint[] AS deployment_ids;

-- InsertUsageRecords inserts many records at once, one per element of the
-- arrays (which all have the same length), in array order. Zero ids are
-- stored as NULL; callers pass only ids that LockUsageReferences found.
-- Records whose request id is already stored are skipped. It returns the new
-- records only. total_tokens is store.TotalTokens of each record's tokens.
-- name: InsertUsageRecords :many
INSERT INTO usage_records (
    request_id, process_id, profile_id, model_id, provider_id, deployment_id, policy_id,
    model_name, provider_name, operation, stream, received_at, forwarded_at, first_token_at,
    completed_at, status_code, outcome, error_message, client_ip, priority, queue_wait_us,
    cold_start, log_level, classification, request_payload, response_payload,
    request_headers, response_headers, cost_micros, currency, total_tokens,
    client_request_id, classified_by, classification_us, attempts
)
SELECT
    u.request_id, NULLIF(u.process_id, 0), NULLIF(u.profile_id, 0), NULLIF(u.model_id, 0),
    NULLIF(u.provider_id, 0), NULLIF(u.deployment_id, 0), NULLIF(u.policy_id, 0),
    u.model_name, u.provider_name, u.operation, u.stream, u.received_at, u.forwarded_at,
    u.first_token_at, u.completed_at, u.status_code, u.outcome, u.error_message, u.client_ip,
    u.priority, u.queue_wait_us, u.cold_start, u.log_level, u.classification,
    u.request_payload, u.response_payload, u.request_headers, u.response_headers,
    u.cost_micros, u.currency, u.total_tokens, u.client_request_id, u.classified_by,
    u.classification_us, u.attempts
FROM ROWS FROM (
    unnest(@request_ids::text[]),
    unnest(@process_ids::bigint[]),
    unnest(@profile_ids::bigint[]),
    unnest(@model_ids::bigint[]),
    unnest(@provider_ids::bigint[]),
    unnest(@deployment_ids::bigint[]),
    unnest(@policy_ids::bigint[]),
    unnest(@model_names::text[]),
    unnest(@provider_names::text[]),
    unnest(@operations::text[]),
    unnest(@streams::boolean[]),
    unnest(@received_ats::timestamptz[]),
    unnest(@forwarded_ats::timestamptz[]),
    unnest(@first_token_ats::timestamptz[]),
    unnest(@completed_ats::timestamptz[]),
    unnest(@status_codes::integer[]),
    unnest(@outcomes::text[]),
    unnest(@error_messages::text[]),
    unnest(@client_ips::text[]),
    unnest(@priorities::integer[]),
    unnest(@queue_wait_us::bigint[]),
    unnest(@cold_starts::boolean[]),
    unnest(@log_levels::text[]),
    unnest(@classifications::jsonb[]),
    unnest(@request_payloads::jsonb[]),
    unnest(@response_payloads::jsonb[]),
    unnest(@request_headers::jsonb[]),
    unnest(@response_headers::jsonb[]),
    unnest(@cost_micros::bigint[]),
    unnest(@currencies::text[]),
    unnest(@total_tokens::bigint[]),
    unnest(@client_request_ids::text[]),
    unnest(@classified_bys::text[]),
    unnest(@classification_us::bigint[]),
    unnest(@attempts::integer[])
) WITH ORDINALITY AS u(
    request_id, process_id, profile_id, model_id, provider_id, deployment_id, policy_id,
    model_name, provider_name, operation, stream, received_at, forwarded_at, first_token_at,
    completed_at, status_code, outcome, error_message, client_ip, priority, queue_wait_us,
    cold_start, log_level, classification, request_payload, response_payload,
    request_headers, response_headers, cost_micros, currency, total_tokens,
    client_request_id, classified_by, classification_us, attempts, ord
)
ORDER BY u.ord
ON CONFLICT (request_id, received_at) DO NOTHING
RETURNING id, request_id;

-- EnsureTokenTypeNames creates the token types named that do not exist yet, in
-- array order (callers sort the names so concurrent calls lock alike).
-- name: EnsureTokenTypeNames :exec
INSERT INTO token_types (name)
SELECT n FROM unnest(@names::text[]) WITH ORDINALITY AS t(n, ord)
ORDER BY t.ord
ON CONFLICT (name) DO NOTHING;

-- InsertUsageTokens inserts token counts, one per element of the arrays,
-- resolving token types by name. received_at is the record's (the partition
-- key of usage_tokens).
-- name: InsertUsageTokens :exec
INSERT INTO usage_tokens (usage_id, token_type_id, count, cost_micros, received_at)
SELECT u.usage_id, tt.id, u.token_count, u.cost_micros, u.received_at
FROM ROWS FROM (
    unnest(@usage_ids::bigint[]),
    unnest(@type_names::text[]),
    unnest(@counts::bigint[]),
    unnest(@cost_micros::bigint[]),
    unnest(@received_ats::timestamptz[])
) AS u(usage_id, type_name, token_count, cost_micros, received_at)
JOIN token_types tt ON tt.name = u.type_name;

-- name: GetUsage :one
SELECT * FROM usage_records WHERE request_id = @request_id;

-- ListUsage returns records newest first. Zero process id and NULL bounds do
-- not filter.
-- name: ListUsage :many
SELECT * FROM usage_records
WHERE (@process_id::bigint = 0 OR process_id = @process_id::bigint)
  AND (sqlc.narg(received_from)::timestamptz IS NULL OR received_at >= sqlc.narg(received_from)::timestamptz)
  AND (sqlc.narg(received_to)::timestamptz IS NULL OR received_at < sqlc.narg(received_to)::timestamptz)
ORDER BY received_at DESC, id DESC
LIMIT @max_rows::integer;

-- name: CountUsage :one
SELECT count(*) FROM usage_records
WHERE (@process_id::bigint = 0 OR process_id = @process_id::bigint)
  AND (sqlc.narg(received_from)::timestamptz IS NULL OR received_at >= sqlc.narg(received_from)::timestamptz)
  AND (sqlc.narg(received_to)::timestamptz IS NULL OR received_at < sqlc.narg(received_to)::timestamptz);

-- ListUsageTokens returns the token counts of the given records, ordered by
-- record and token type name.
-- name: ListUsageTokens :many
SELECT ut.usage_id, tt.name, ut.count, ut.cost_micros
FROM usage_tokens ut
JOIN token_types tt ON tt.id = ut.token_type_id
WHERE ut.usage_id = ANY (@usage_ids::bigint[])
ORDER BY ut.usage_id, tt.name;
