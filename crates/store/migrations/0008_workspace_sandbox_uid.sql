-- Each workspace's processes run on the host as a uid of their own (the sandbox drops to it
-- when the server is root), so one workspace can never touch another's files, nor the server's.
-- The uids lie above 2,000,000, beyond the ranges distributions hand to people and to
-- subordinate-uid maps of rootless containers, and are never reused: a deleted workspace keeps
-- its number. Each database starts its sequence at a random point below 10^9, so two
-- deployments on one host (or two test servers) practically never hand out the same uid; the
-- largest value stays below 2^31.
CREATE SEQUENCE workspace_sandbox_uid_seq;
SELECT setval('workspace_sandbox_uid_seq', 1 + floor(random() * 1000000000)::bigint, false);

ALTER TABLE workspaces ADD COLUMN sandbox_uid integer;
UPDATE workspaces SET sandbox_uid = 2000000 + nextval('workspace_sandbox_uid_seq')::integer;
ALTER TABLE workspaces
    ALTER COLUMN sandbox_uid SET DEFAULT 2000000 + nextval('workspace_sandbox_uid_seq')::integer,
    ALTER COLUMN sandbox_uid SET NOT NULL;
ALTER SEQUENCE workspace_sandbox_uid_seq OWNED BY workspaces.sandbox_uid;
CREATE UNIQUE INDEX workspaces_sandbox_uid_idx ON workspaces (sandbox_uid);
