-- +goose Up
-- The token type index served no query (tokens are always reached through
-- their record) and only a token type delete, which never happens; it cost an
-- index insert for each of the two or three token rows of every request. The
-- SQLite migration of the same number drops it too.
DROP INDEX usage_tokens_type_idx;

-- +goose Down
CREATE INDEX usage_tokens_type_idx ON usage_tokens (token_type_id);
