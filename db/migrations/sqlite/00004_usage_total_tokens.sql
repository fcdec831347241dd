-- +goose Up
-- total_tokens is the record's request total (store.TotalTokens): its
-- total_tokens count when positive, else prompt_tokens plus
-- completion_tokens. Same column, rule and backfill as the PostgreSQL
-- migration of the same number.
ALTER TABLE usage_records ADD COLUMN total_tokens INTEGER NOT NULL DEFAULT 0;

UPDATE usage_records
SET total_tokens = coalesce((
    SELECT CASE
        WHEN coalesce(sum(CASE WHEN tt.name = 'total_tokens' THEN ut.count END), 0) > 0
            THEN sum(CASE WHEN tt.name = 'total_tokens' THEN ut.count END)
        ELSE coalesce(sum(CASE WHEN tt.name IN ('prompt_tokens', 'completion_tokens') THEN ut.count END), 0)
    END
    FROM usage_tokens ut
    JOIN token_types tt ON tt.id = ut.token_type_id
    WHERE ut.usage_id = usage_records.id
      AND tt.name IN ('total_tokens', 'prompt_tokens', 'completion_tokens')
), 0)
WHERE id IN (SELECT usage_id FROM usage_tokens);

-- +goose Down
ALTER TABLE usage_records DROP COLUMN total_tokens;
