-- +goose Up
-- Logos forwards only the operations it knows (chat/completions, embeddings,
-- responses, audio, images, moderations, rerank ...). extra_operations lists,
-- one path pattern per line, further operations an admin allows for one
-- provider (for example "batches" or "files/*"); empty allows none.
ALTER TABLE providers ADD COLUMN extra_operations TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE providers DROP COLUMN extra_operations;
