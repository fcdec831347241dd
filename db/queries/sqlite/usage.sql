-- name: InsertUsageRecord :execresult
-- InsertUsageRecord stores one record unless its request id is already stored,
-- in which case it affects no row. Catalogue ids that do not exist (or no longer
-- exist) resolve to NULL, so a record is never refused because the catalogue
-- changed under it.
INSERT INTO usage_records (
    request_id, process_id, profile_id, model_id, provider_id, deployment_id, policy_id,
    model_name, provider_name, operation, stream, received_at, forwarded_at,
    first_token_at, completed_at, status_code, outcome, error_message, client_ip,
    priority, queue_wait_us, cold_start, log_level, classification, request_payload,
    response_payload, request_headers, response_headers, cost_micros, currency,
    total_tokens, client_request_id, classified_by, classification_us, attempts
) VALUES (
    @request_id,
    (SELECT p.id FROM processes p WHERE p.id = @process_id),
    (SELECT pr.id FROM profiles pr WHERE pr.id = @profile_id),
    (SELECT m.id FROM models m WHERE m.id = @model_id),
    (SELECT pv.id FROM providers pv WHERE pv.id = @provider_id),
    (SELECT d.id FROM deployments d WHERE d.id = @deployment_id),
    (SELECT po.id FROM policies po WHERE po.id = @policy_id),
    @model_name, @provider_name, @operation, @stream, @received_at, @forwarded_at,
    @first_token_at, @completed_at, @status_code, @outcome, @error_message, @client_ip,
    @priority, @queue_wait_us, @cold_start, @log_level, @classification, @request_payload,
    @response_payload, @request_headers, @response_headers, @cost_micros, @currency,
    @total_tokens, @client_request_id, @classified_by, @classification_us, @attempts
)
ON CONFLICT (request_id) DO NOTHING;

-- name: GetUsageByRequestID :one
SELECT * FROM usage_records WHERE request_id = @request_id;

-- name: ListUsage :many
-- ListUsage bounds received_at on both sides so that an index always applies;
-- callers pass the empty string and a value above every time for an open range. The same
-- holds for the other usage list and count queries.
SELECT * FROM usage_records
WHERE received_at >= @received_from AND received_at < @received_to
ORDER BY received_at DESC, id DESC
LIMIT @max_rows;

-- name: ListUsageByProcess :many
SELECT * FROM usage_records
WHERE process_id = @process_id AND received_at >= @received_from AND received_at < @received_to
ORDER BY received_at DESC, id DESC
LIMIT @max_rows;

-- name: CountUsage :one
SELECT count(*) FROM usage_records
WHERE received_at >= @received_from AND received_at < @received_to;

-- name: CountUsageByProcess :one
SELECT count(*) FROM usage_records
WHERE process_id = @process_id AND received_at >= @received_from AND received_at < @received_to;

-- name: ListUsageTokens :many
SELECT ut.usage_id, tt.name, ut.count, ut.cost_micros
FROM usage_tokens ut
JOIN token_types tt ON tt.id = ut.token_type_id
WHERE ut.usage_id IN (sqlc.slice(usage_ids))
ORDER BY ut.usage_id, tt.name;
