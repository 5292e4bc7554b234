-- Organizations own their AI (issue 14 items 1, 2): a provider is site-wide (organization_id
-- NULL) or belongs to one organization; several providers of one type may coexist when their
-- display names differ. A model config names its provider by id, is site-wide or owned by one
-- organization, and a site-wide one lists the organizations that may use it
-- (organization_ids NULL = every organization).

ALTER TABLE chat_providers
    ADD COLUMN organization_id uuid NULL REFERENCES organizations (id) ON DELETE CASCADE;
DROP INDEX chat_providers_provider_idx;
CREATE UNIQUE INDEX chat_providers_name_idx ON chat_providers
    (COALESCE(organization_id, '00000000-0000-0000-0000-000000000000'::uuid), provider, display_name);

ALTER TABLE chat_model_configs
    ADD COLUMN provider_id uuid NULL REFERENCES chat_providers (id) ON DELETE SET NULL,
    ADD COLUMN organization_id uuid NULL REFERENCES organizations (id) ON DELETE CASCADE,
    ADD COLUMN organization_ids uuid[] NULL,
    ADD CONSTRAINT chat_model_configs_org_list_site_only CHECK (organization_id IS NULL OR organization_ids IS NULL);
-- Until now there was at most one provider per type: that one is every model's provider.
UPDATE chat_model_configs m SET provider_id = p.id FROM chat_providers p WHERE p.provider = m.provider;
CREATE INDEX chat_model_configs_org_idx ON chat_model_configs (organization_id) WHERE organization_id IS NOT NULL;

-- Per-organization chat settings: the organization's default model.
CREATE TABLE chat_org_settings (
    organization_id         uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    default_model_config_id uuid NULL REFERENCES chat_model_configs (id) ON DELETE SET NULL,
    updated_at              timestamptz NOT NULL DEFAULT now()
);

-- What a new organization may use of the site-wide models whose list is "every organization":
-- 'all' (today's behaviour) or 'none' (a new organization is left out of them).
INSERT INTO site_config (key, value) VALUES ('chat_new_org_models', 'all') ON CONFLICT (key) DO NOTHING;
