-- Platform schema: organizations, users, memberships, API keys and the audit log.

CREATE TABLE organizations (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    display_name text NOT NULL,
    description  text NOT NULL DEFAULT '',
    is_default   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organizations_name_idx ON organizations (lower(name));
-- At most one default organization.
CREATE UNIQUE INDEX organizations_single_default_idx ON organizations (is_default) WHERE is_default;

-- The default organization exists from the first start; migrations run once, under a lock.
INSERT INTO organizations (id, name, display_name, description, is_default)
VALUES (gen_random_uuid(), 'default', 'Default', 'The default organization.', true);

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    email           text NOT NULL,
    username        text NOT NULL,
    name            text NOT NULL DEFAULT '',
    hashed_password text NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    -- Site roles besides the implicit `member`.
    site_roles      text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));
CREATE UNIQUE INDEX users_username_idx ON users (lower(username));

CREATE TABLE organization_members (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Assigned org roles; `organization-member` is implied by the row itself.
    roles           text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_members_user_idx ON organization_members (user_id, created_at);

-- Session tokens and API keys. A token is `<id>-<secret>`; only sha256(secret) is stored.
CREATE TABLE api_keys (
    id            text PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hashed_secret bytea NOT NULL,
    login_type    text NOT NULL CHECK (login_type IN ('password', 'token')),
    token_name    text NOT NULL DEFAULT '',
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

CREATE TABLE audit_logs (
    id              uuid PRIMARY KEY,
    time            timestamptz NOT NULL DEFAULT now(),
    user_id         uuid NULL,
    organization_id uuid NULL,
    action          text NOT NULL,
    resource_type   text NOT NULL,
    resource_id     uuid NOT NULL,
    resource_target text NOT NULL DEFAULT '',
    diff            jsonb NOT NULL DEFAULT '{}',
    description     text NOT NULL DEFAULT ''
);
CREATE INDEX audit_logs_time_idx ON audit_logs (time DESC, id DESC);
CREATE INDEX audit_logs_org_idx ON audit_logs (organization_id, time DESC);
