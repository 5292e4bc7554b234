-- Chat attachments, stamped with the organization they were uploaded for, and spend limits.

CREATE TABLE chat_files (
    id              uuid PRIMARY KEY,
    owner_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL DEFAULT '',
    mimetype        text NOT NULL,
    data            bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_files_owner_idx ON chat_files (owner_id);
CREATE INDEX chat_files_organization_idx ON chat_files (organization_id);

CREATE TABLE chat_file_links (
    chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    file_id uuid NOT NULL REFERENCES chat_files (id) ON DELETE CASCADE,
    PRIMARY KEY (chat_id, file_id)
);
CREATE INDEX chat_file_links_file_idx ON chat_file_links (file_id);

-- A single row: deployment-wide spend limit per user and period.
CREATE TABLE chat_usage_limit_config (
    singleton            boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    enabled              boolean NOT NULL DEFAULT false,
    default_limit_micros bigint NOT NULL DEFAULT 0 CHECK (default_limit_micros >= 0),
    period               text NOT NULL DEFAULT 'month' CHECK (period IN ('day', 'week', 'month')),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
INSERT INTO chat_usage_limit_config DEFAULT VALUES;

-- Spend per owner is summed over messages in the period.
CREATE INDEX chat_messages_spend_idx ON chat_messages (created_at) WHERE total_cost_micros IS NOT NULL;
