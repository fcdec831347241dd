-- +goose Up
-- A usage record may have the outcome 'interrupted': a request that was in
-- flight when logosd stopped without finishing it (kill -9, a crash). Its
-- record is made on the next start from the "started" marker in the local
-- usage log. NOT VALID skips re-checking the existing rows, which all pass.
ALTER TABLE usage_records DROP CONSTRAINT usage_records_outcome_check;
ALTER TABLE usage_records ADD CONSTRAINT usage_records_outcome_check
    CHECK (outcome IN ('success', 'error', 'timeout', 'cancelled', 'rejected', 'interrupted')) NOT VALID;

-- +goose Down
DELETE FROM usage_records WHERE outcome = 'interrupted';
ALTER TABLE usage_records DROP CONSTRAINT usage_records_outcome_check;
ALTER TABLE usage_records ADD CONSTRAINT usage_records_outcome_check
    CHECK (outcome IN ('success', 'error', 'timeout', 'cancelled', 'rejected')) NOT VALID;
