-- +goose Up
-- total_tokens is the record's request total (store.TotalTokens): its
-- total_tokens count when positive, else prompt_tokens plus
-- completion_tokens. Usage statistics sum it instead of joining usage_tokens,
-- whose subset types (prompt_cached_tokens, ...) and total_tokens would count
-- the same tokens several times. Existing records are backfilled by the same
-- rule.
ALTER TABLE usage_records ADD COLUMN total_tokens BIGINT NOT NULL DEFAULT 0;

UPDATE usage_records r
SET total_tokens = CASE WHEN t.total > 0 THEN t.total ELSE t.prompt + t.completion END
FROM (
    SELECT ut.usage_id,
        COALESCE(sum(ut.count) FILTER (WHERE tt.name = 'total_tokens'), 0) AS total,
        COALESCE(sum(ut.count) FILTER (WHERE tt.name = 'prompt_tokens'), 0) AS prompt,
        COALESCE(sum(ut.count) FILTER (WHERE tt.name = 'completion_tokens'), 0) AS completion
    FROM usage_tokens ut
    JOIN token_types tt ON tt.id = ut.token_type_id
    WHERE tt.name IN ('total_tokens', 'prompt_tokens', 'completion_tokens')
    GROUP BY ut.usage_id
) t
WHERE r.id = t.usage_id;

-- +goose Down
ALTER TABLE usage_records DROP COLUMN total_tokens;
