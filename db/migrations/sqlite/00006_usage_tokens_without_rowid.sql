-- +goose Up
-- usage_tokens takes two or three rows per request, and every row was three
-- b-tree inserts: the rowid table, its primary key index and the token type
-- index. Keyed by its primary key (WITHOUT ROWID) it is one; the type index
-- served no query (tokens are always reached through their record) and only
-- a token type delete, which never happens. The PostgreSQL migration of the
-- same number drops that index too.
CREATE TABLE usage_tokens_new (
    usage_id      INTEGER NOT NULL,
    token_type_id INTEGER NOT NULL,
    count         INTEGER NOT NULL CHECK (count >= 0),
    cost_micros   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (usage_id, token_type_id)
) WITHOUT ROWID;
INSERT INTO usage_tokens_new (usage_id, token_type_id, count, cost_micros)
SELECT usage_id, token_type_id, count, cost_micros FROM usage_tokens;
DROP TABLE usage_tokens;
ALTER TABLE usage_tokens_new RENAME TO usage_tokens;

-- +goose Down
CREATE TABLE usage_tokens_old (
    usage_id      INTEGER NOT NULL,
    token_type_id INTEGER NOT NULL,
    count         INTEGER NOT NULL CHECK (count >= 0),
    cost_micros   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (usage_id, token_type_id)
);
INSERT INTO usage_tokens_old (usage_id, token_type_id, count, cost_micros)
SELECT usage_id, token_type_id, count, cost_micros FROM usage_tokens;
DROP TABLE usage_tokens;
ALTER TABLE usage_tokens_old RENAME TO usage_tokens;
CREATE INDEX usage_tokens_type_idx ON usage_tokens (token_type_id);
