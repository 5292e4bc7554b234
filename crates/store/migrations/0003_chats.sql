-- Chats as first shipped: owned by a user, optionally bound to a workspace, not yet scoped to an
-- organization. 0004 adds the organization (as the reference system did, in its own step).

CREATE TABLE chat_providers (
    id           uuid PRIMARY KEY,
    provider     text NOT NULL CHECK (provider IN ('openai', 'anthropic', 'openai-compat')),
    display_name text NOT NULL DEFAULT '',
    -- Never returned by the API; `has_api_key` is.
    api_key      text NULL,
    base_url     text NULL,
    enabled      boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX chat_providers_provider_idx ON chat_providers (provider);

CREATE TABLE chat_model_configs (
    id            uuid PRIMARY KEY,
    provider      text NOT NULL CHECK (provider IN ('openai', 'anthropic', 'openai-compat')),
    model         text NOT NULL,
    display_name  text NOT NULL DEFAULT '',
    enabled       boolean NOT NULL DEFAULT true,
    is_default    boolean NOT NULL DEFAULT false,
    context_limit bigint NOT NULL DEFAULT 128000 CHECK (context_limit > 0),
    -- Prices in micro-dollars per million tokens; NULL = unpriced.
    input_price_micros_per_million  bigint NULL CHECK (input_price_micros_per_million >= 0),
    output_price_micros_per_million bigint NULL CHECK (output_price_micros_per_million >= 0),
    deleted       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Exactly one live default at most.
CREATE UNIQUE INDEX chat_model_configs_single_default_idx ON chat_model_configs (is_default)
    WHERE is_default AND NOT deleted;

CREATE TABLE chats (
    id                   uuid PRIMARY KEY,
    owner_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id         uuid NULL REFERENCES workspaces (id) ON DELETE SET NULL,
    parent_chat_id       uuid NULL REFERENCES chats (id) ON DELETE CASCADE,
    root_chat_id         uuid NULL REFERENCES chats (id) ON DELETE CASCADE,
    last_model_config_id uuid NOT NULL REFERENCES chat_model_configs (id),
    title                text NOT NULL DEFAULT 'New Chat',
    status               text NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'pending', 'running', 'requires_action', 'error')),
    -- Bumped by every state transition; workers fence their writes on it.
    version              bigint NOT NULL DEFAULT 0,
    worker_id            uuid NULL,
    started_at           timestamptz NULL,
    heartbeat_at         timestamptz NULL,
    archived             boolean NOT NULL DEFAULT false,
    pin_order            integer NOT NULL DEFAULT 0 CHECK (pin_order >= 0),
    labels               jsonb NOT NULL DEFAULT '{}',
    last_error           text NULL,
    dynamic_tools        jsonb NULL,
    last_read_message_id bigint NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chats_owner_idx ON chats (owner_id, updated_at DESC, id DESC);
CREATE INDEX chats_workspace_idx ON chats (workspace_id);
CREATE INDEX chats_parent_idx ON chats (parent_chat_id) WHERE parent_chat_id IS NOT NULL;
CREATE INDEX chats_root_idx ON chats (root_chat_id) WHERE root_chat_id IS NOT NULL;
CREATE INDEX chats_pending_idx ON chats (updated_at) WHERE status = 'pending';
CREATE INDEX chats_labels_idx ON chats USING gin (labels);

CREATE TABLE chat_messages (
    id                    bigserial PRIMARY KEY,
    chat_id               uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    created_by            uuid NULL,
    model_config_id       uuid NULL,
    role                  text NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    visibility            text NOT NULL DEFAULT 'both' CHECK (visibility IN ('user', 'model', 'both')),
    content               jsonb NOT NULL,
    input_tokens          bigint NULL,
    output_tokens         bigint NULL,
    reasoning_tokens      bigint NULL,
    cache_creation_tokens bigint NULL,
    cache_read_tokens     bigint NULL,
    context_limit         bigint NULL,
    total_cost_micros     bigint NULL,
    runtime_ms            bigint NULL,
    deleted               boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_chat_idx ON chat_messages (chat_id, id);

CREATE TABLE chat_queued_messages (
    id              bigserial PRIMARY KEY,
    chat_id         uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    content         jsonb NOT NULL,
    created_by      uuid NULL,
    model_config_id uuid NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_queued_messages_chat_idx ON chat_queued_messages (chat_id, id);
