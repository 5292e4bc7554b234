-- Workspace agents run as their own processes and dial in to any replica (issue 13).

-- Every server process registers itself with the address other replicas reach it at for
-- relaying workspace operations, and heartbeats. A replica whose heartbeat is older than a
-- few intervals is dead; its row is removed on a clean shutdown and ignored otherwise.
CREATE TABLE replicas (
    id uuid PRIMARY KEY,
    relay_address text NOT NULL,
    hostname text NOT NULL DEFAULT '',
    version text NOT NULL DEFAULT '',
    started_at timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Agent tokens: minted per build, only their SHA-256 stored, valid only on the agent routes
-- of their workspace, revoked when the workspace is stopped or deleted.
CREATE TABLE workspace_agent_tokens (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    build_id uuid REFERENCES workspace_builds(id) ON DELETE CASCADE,
    hashed_secret bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX workspace_agent_tokens_live_idx ON workspace_agent_tokens (workspace_id) WHERE revoked_at IS NULL;

-- Where each workspace's agent is connected. `connection_id` is set while a connection is
-- open (on `replica_id`), cleared when it closes; a connection on a replica that died keeps
-- its row until the agent reconnects elsewhere, and readers treat it as disconnected.
CREATE TABLE workspace_agents (
    workspace_id uuid PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    connection_id uuid,
    replica_id uuid,
    version text NOT NULL DEFAULT '',
    first_connected_at timestamptz,
    connected_at timestamptz,
    disconnected_at timestamptz,
    last_seen_at timestamptz
);

-- The secret replicas present to each other on relay calls. It never leaves the database and
-- the server processes.
INSERT INTO site_config (key, value)
VALUES ('replica_relay_secret', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));

-- A template's kind says who runs its workspaces' agents: `local` (this server starts the
-- agent in a sandbox on its host) or `external` (the user starts `agentry agent` wherever the
-- workspace should live). Fixed when the template is created.
ALTER TABLE templates ADD COLUMN kind text NOT NULL DEFAULT 'local' CHECK (kind IN ('local', 'external'));

-- The replica running a build, so a replica that starts fails only the builds of replicas
-- that are gone (not a live peer's).
ALTER TABLE workspace_builds ADD COLUMN runner_replica_id uuid;
