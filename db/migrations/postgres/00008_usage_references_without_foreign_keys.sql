-- +goose Up
-- Every inserted usage record ran six foreign key checks, one trigger and
-- one SELECT ... FOR KEY SHARE per reference, a third of the server's time
-- per record. They guarded nothing the insert does not guard already: a
-- usage batch locks the rows it refers to FOR KEY SHARE first and stores
-- only ids it found (LockUsageReferences), so a referenced row cannot go
-- away before the batch commits. What the constraints did on the other side,
-- ON DELETE SET NULL, is now done by a trigger on each referenced table. A
-- delete waits for the usage batches holding its row, and the trigger's
-- UPDATE, a statement of its own, sees what they committed.
ALTER TABLE usage_records
    DROP CONSTRAINT usage_records_process_id_fkey,
    DROP CONSTRAINT usage_records_profile_id_fkey,
    DROP CONSTRAINT usage_records_model_id_fkey,
    DROP CONSTRAINT usage_records_provider_id_fkey,
    DROP CONSTRAINT usage_records_deployment_id_fkey,
    DROP CONSTRAINT usage_records_policy_id_fkey;

-- +goose StatementBegin
CREATE FUNCTION usage_records_forget_reference() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    CASE TG_TABLE_NAME
    WHEN 'processes' THEN
        UPDATE usage_records SET process_id = NULL WHERE process_id = OLD.id;
    WHEN 'profiles' THEN
        UPDATE usage_records SET profile_id = NULL WHERE profile_id = OLD.id;
    WHEN 'models' THEN
        UPDATE usage_records SET model_id = NULL WHERE model_id = OLD.id;
    WHEN 'providers' THEN
        UPDATE usage_records SET provider_id = NULL WHERE provider_id = OLD.id;
    WHEN 'deployments' THEN
        UPDATE usage_records SET deployment_id = NULL WHERE deployment_id = OLD.id;
    WHEN 'policies' THEN
        UPDATE usage_records SET policy_id = NULL WHERE policy_id = OLD.id;
    END CASE;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER processes_forget_usage AFTER DELETE ON processes
    FOR EACH ROW EXECUTE FUNCTION usage_records_forget_reference();
CREATE TRIGGER profiles_forget_usage AFTER DELETE ON profiles
    FOR EACH ROW EXECUTE FUNCTION usage_records_forget_reference();
CREATE TRIGGER models_forget_usage AFTER DELETE ON models
    FOR EACH ROW EXECUTE FUNCTION usage_records_forget_reference();
CREATE TRIGGER providers_forget_usage AFTER DELETE ON providers
    FOR EACH ROW EXECUTE FUNCTION usage_records_forget_reference();
CREATE TRIGGER deployments_forget_usage AFTER DELETE ON deployments
    FOR EACH ROW EXECUTE FUNCTION usage_records_forget_reference();
CREATE TRIGGER policies_forget_usage AFTER DELETE ON policies
    FOR EACH ROW EXECUTE FUNCTION usage_records_forget_reference();

-- +goose Down
DROP TRIGGER processes_forget_usage ON processes;
DROP TRIGGER profiles_forget_usage ON profiles;
DROP TRIGGER models_forget_usage ON models;
DROP TRIGGER providers_forget_usage ON providers;
DROP TRIGGER deployments_forget_usage ON deployments;
DROP TRIGGER policies_forget_usage ON policies;
DROP FUNCTION usage_records_forget_reference();

UPDATE usage_records u SET process_id = NULL
WHERE process_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM processes p WHERE p.id = u.process_id);
UPDATE usage_records u SET profile_id = NULL
WHERE profile_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM profiles p WHERE p.id = u.profile_id);
UPDATE usage_records u SET model_id = NULL
WHERE model_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM models m WHERE m.id = u.model_id);
UPDATE usage_records u SET provider_id = NULL
WHERE provider_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM providers p WHERE p.id = u.provider_id);
UPDATE usage_records u SET deployment_id = NULL
WHERE deployment_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.id = u.deployment_id);
UPDATE usage_records u SET policy_id = NULL
WHERE policy_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM policies p WHERE p.id = u.policy_id);
ALTER TABLE usage_records
    ADD CONSTRAINT usage_records_process_id_fkey FOREIGN KEY (process_id) REFERENCES processes (id) ON DELETE SET NULL,
    ADD CONSTRAINT usage_records_profile_id_fkey FOREIGN KEY (profile_id) REFERENCES profiles (id) ON DELETE SET NULL,
    ADD CONSTRAINT usage_records_model_id_fkey FOREIGN KEY (model_id) REFERENCES models (id) ON DELETE SET NULL,
    ADD CONSTRAINT usage_records_provider_id_fkey FOREIGN KEY (provider_id) REFERENCES providers (id) ON DELETE SET NULL,
    ADD CONSTRAINT usage_records_deployment_id_fkey FOREIGN KEY (deployment_id) REFERENCES deployments (id) ON DELETE SET NULL,
    ADD CONSTRAINT usage_records_policy_id_fkey FOREIGN KEY (policy_id) REFERENCES policies (id) ON DELETE SET NULL;
