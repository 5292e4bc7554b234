-- Chat budgets per organization and per member, and usage recorded per model step.
--
-- chat_usage_steps is the record (one row per model step, written in the step's transaction).
-- Two rollups are maintained in the same transaction by upserts, so reads never scan steps:
--   chat_usage_daily  (organization, UTC day, user, model): usage reports, a month by day for
--                     one organization reads at most days × users × models rows;
--   chat_spend_daily  (scope, UTC day): budget checks and reports by day, one row per scope
--                     and day, so a check reads at most 31 rows per limit and a month by day
--                     for one organization reads 31 rows. Scopes use the nil uuid for "any":
--                     (org, nil) = the organization, (org, user) = a member in it,
--                     (nil, user) = the user across the deployment.

CREATE TABLE chat_budgets (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- The nil uuid: the organization as a whole.
    user_id         uuid NOT NULL,
    limit_micros    bigint NOT NULL CHECK (limit_micros >= 0),
    period          text NOT NULL CHECK (period IN ('day', 'week', 'month')),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);

CREATE TABLE chat_usage_steps (
    id                    bigserial PRIMARY KEY,
    organization_id       uuid NOT NULL,
    user_id               uuid NOT NULL,
    chat_id               uuid NULL,
    model_config_id       uuid NULL,
    input_tokens          bigint NOT NULL DEFAULT 0,
    output_tokens         bigint NOT NULL DEFAULT 0,
    cache_read_tokens     bigint NOT NULL DEFAULT 0,
    cache_creation_tokens bigint NOT NULL DEFAULT 0,
    cost_micros           bigint NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_usage_steps_org_time_idx ON chat_usage_steps (organization_id, created_at);
CREATE INDEX chat_usage_steps_chat_idx ON chat_usage_steps (chat_id) WHERE chat_id IS NOT NULL;

CREATE TABLE chat_usage_daily (
    organization_id uuid NOT NULL,
    day             date NOT NULL,
    user_id         uuid NOT NULL,
    -- The nil uuid when the step had no model config.
    model_config_id uuid NOT NULL,
    micros          bigint NOT NULL DEFAULT 0,
    input_tokens    bigint NOT NULL DEFAULT 0,
    output_tokens   bigint NOT NULL DEFAULT 0,
    steps           bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, day, user_id, model_config_id)
);
CREATE INDEX chat_usage_daily_user_idx ON chat_usage_daily (user_id, day);
CREATE INDEX chat_usage_daily_day_idx ON chat_usage_daily (day);

CREATE TABLE chat_spend_daily (
    organization_id uuid NOT NULL,
    user_id         uuid NOT NULL,
    day             date NOT NULL,
    micros          bigint NOT NULL DEFAULT 0,
    input_tokens    bigint NOT NULL DEFAULT 0,
    output_tokens   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, user_id, day)
);

-- Backfill from the steps recorded so far (assistant messages with usage).
INSERT INTO chat_usage_steps (organization_id, user_id, chat_id, model_config_id, input_tokens, output_tokens,
                              cache_read_tokens, cache_creation_tokens, cost_micros, created_at)
SELECT c.organization_id, c.owner_id, c.id, m.model_config_id, COALESCE(m.input_tokens, 0), COALESCE(m.output_tokens, 0),
       COALESCE(m.cache_read_tokens, 0), COALESCE(m.cache_creation_tokens, 0), COALESCE(m.total_cost_micros, 0), m.created_at
FROM chat_messages m JOIN chats c ON c.id = m.chat_id
WHERE m.role = 'assistant' AND (m.input_tokens IS NOT NULL OR m.total_cost_micros IS NOT NULL);

INSERT INTO chat_usage_daily (organization_id, day, user_id, model_config_id, micros, input_tokens, output_tokens, steps)
SELECT organization_id, (created_at AT TIME ZONE 'UTC')::date, user_id,
       COALESCE(model_config_id, '00000000-0000-0000-0000-000000000000'),
       sum(cost_micros), sum(input_tokens), sum(output_tokens), count(*)
FROM chat_usage_steps GROUP BY 1, 2, 3, 4;

INSERT INTO chat_spend_daily (organization_id, user_id, day, micros, input_tokens, output_tokens)
SELECT organization_id, '00000000-0000-0000-0000-000000000000', day, sum(micros), sum(input_tokens), sum(output_tokens)
  FROM chat_usage_daily GROUP BY 1, 3
UNION ALL
SELECT organization_id, user_id, day, sum(micros), sum(input_tokens), sum(output_tokens) FROM chat_usage_daily GROUP BY 1, 2, 3
UNION ALL
SELECT '00000000-0000-0000-0000-000000000000', user_id, day, sum(micros), sum(input_tokens), sum(output_tokens)
  FROM chat_usage_daily GROUP BY 2, 3;
