-- What Coder's clients expect to read (issue 19): when each user was last active, and an id for
-- the deployment itself.

-- The last authenticated request, recorded at most once a minute per user; NULL until the
-- first one. Not an auth change: the `users_auth_changed` trigger (0010) watches only status
-- and site roles, so recording activity empties no session cache.
ALTER TABLE users ADD COLUMN last_seen_at timestamptz NULL;

-- Deployment-wide settings, one row per key.
CREATE TABLE site_config (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO site_config (key, value) VALUES ('deployment_id', gen_random_uuid()::text);
