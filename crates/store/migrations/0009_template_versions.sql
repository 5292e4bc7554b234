-- Immutable template versions (SPEC §5, issue 10). A build runs the version its workspace is
-- pinned to, never the template's current content, so whoever may edit a template cannot make
-- someone else's next start run a script they just wrote. The script, the parameter
-- definitions and the network mode move from `templates` to `template_versions`; a template
-- names its active version (the one new workspaces get).

CREATE TABLE template_versions (
    id              uuid PRIMARY KEY,
    template_id     uuid NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    -- 1, 2, 3, ... per template, in order of creation.
    number          integer NOT NULL CHECK (number > 0),
    startup_script  text NOT NULL DEFAULT '',
    -- [{name, type, default?, required, options, description}], checked by the store.
    parameters      jsonb NOT NULL DEFAULT '[]',
    network         text NOT NULL DEFAULT 'full' CHECK (network IN ('full', 'none')),
    created_by      uuid NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (template_id, number),
    -- The target of the (version, template) references below: a template's active version
    -- and a workspace's pinned version are always versions of that same template.
    UNIQUE (id, template_id)
);

-- What a version runs never changes after it is written (only `created_by` may become NULL
-- when its author is deleted).
CREATE FUNCTION template_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.template_id, NEW.number, NEW.startup_script, NEW.parameters, NEW.network, NEW.created_at)
       IS DISTINCT FROM (OLD.id, OLD.template_id, OLD.number, OLD.startup_script, OLD.parameters, OLD.network, OLD.created_at)
    THEN
        RAISE EXCEPTION 'template versions are immutable';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER template_versions_no_update BEFORE UPDATE ON template_versions
    FOR EACH ROW EXECUTE FUNCTION template_versions_immutable();

-- Every existing template's current content becomes its version 1.
INSERT INTO template_versions (id, template_id, number, startup_script, parameters, created_by, created_at)
SELECT gen_random_uuid(), t.id, 1, t.startup_script, t.parameters, t.created_by, t.updated_at
FROM templates t;

ALTER TABLE templates ADD COLUMN active_version_id uuid NULL;
UPDATE templates t SET active_version_id = v.id FROM template_versions v WHERE v.template_id = t.id;
ALTER TABLE templates ALTER COLUMN active_version_id SET NOT NULL;
ALTER TABLE templates DROP COLUMN startup_script, DROP COLUMN parameters;
-- A template and its first version are written in one transaction, template first, so this
-- reference is checked at commit.
ALTER TABLE templates ADD CONSTRAINT templates_active_version_fk
    FOREIGN KEY (active_version_id, id) REFERENCES template_versions (id, template_id)
    DEFERRABLE INITIALLY DEFERRED;

-- The version a workspace builds with until someone with `ssh` on it updates it.
ALTER TABLE workspaces ADD COLUMN template_version_id uuid NULL;
UPDATE workspaces w SET template_version_id = t.active_version_id FROM templates t WHERE t.id = w.template_id;
ALTER TABLE workspaces ALTER COLUMN template_version_id SET NOT NULL;
ALTER TABLE workspaces ADD CONSTRAINT workspaces_template_version_fk
    FOREIGN KEY (template_version_id, template_id) REFERENCES template_versions (id, template_id)
    ON DELETE CASCADE;

-- The version each build ran (or will run).
ALTER TABLE workspace_builds ADD COLUMN template_version_id uuid NULL
    REFERENCES template_versions (id) ON DELETE CASCADE;
UPDATE workspace_builds b SET template_version_id = w.template_version_id FROM workspaces w WHERE w.id = b.workspace_id;
ALTER TABLE workspace_builds ALTER COLUMN template_version_id SET NOT NULL;
