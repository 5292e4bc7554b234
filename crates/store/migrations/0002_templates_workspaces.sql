-- Templates, workspaces, their builds and build logs (SPEC §1, §5).

CREATE TABLE templates (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    display_name    text NOT NULL,
    description     text NOT NULL DEFAULT '',
    startup_script  text NOT NULL DEFAULT '',
    -- [{name, type: string|number|bool, default?, required, options, description}], validated
    -- by the store before it is written.
    parameters      jsonb NOT NULL DEFAULT '[]',
    deprecated      boolean NOT NULL DEFAULT false,
    created_by      uuid NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX templates_org_name_idx ON templates (organization_id, lower(name));

CREATE TABLE workspaces (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    owner_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- A template with live workspaces cannot be deleted (the store refuses); deleted
    -- workspaces go with their template.
    template_id     uuid NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    name            text NOT NULL,
    -- Set when a delete build succeeds; the row and its builds stay for the audit trail.
    deleted         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX workspaces_owner_name_idx ON workspaces (owner_id, lower(name)) WHERE NOT deleted;
CREATE INDEX workspaces_org_owner_idx ON workspaces (organization_id, owner_id);
CREATE INDEX workspaces_template_idx ON workspaces (template_id);

CREATE TABLE workspace_builds (
    id           uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    build_number integer NOT NULL,
    transition   text NOT NULL CHECK (transition IN ('start', 'stop', 'delete')),
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'canceled')),
    error        text NULL,
    -- The resolved parameter values the build ran with: [{name, value}].
    parameters   jsonb NOT NULL DEFAULT '[]',
    initiator_id uuid NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz NULL,
    completed_at timestamptz NULL,
    UNIQUE (workspace_id, build_number)
);
-- The runner's queue and start-up recovery look only at unfinished builds.
CREATE INDEX workspace_builds_active_idx ON workspace_builds (created_at)
    WHERE status IN ('pending', 'running');

CREATE TABLE workspace_build_logs (
    id         bigserial PRIMARY KEY,
    build_id   uuid NOT NULL REFERENCES workspace_builds (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- `provisioner` for the provisioner's own messages, `script` for the startup script's
    -- output (standard output and error interleaved).
    stream     text NOT NULL CHECK (stream IN ('provisioner', 'script')),
    output     text NOT NULL
);
CREATE INDEX workspace_build_logs_build_idx ON workspace_build_logs (build_id, id);
