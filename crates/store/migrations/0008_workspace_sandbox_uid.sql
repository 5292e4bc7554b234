-- Each workspace's processes run on the host as a uid of their own (the sandbox drops to it
-- when the server is root), so one workspace can never touch another's files, nor the server's.
-- The uids start high, above the ranges distributions hand to people and to subordinate-uid
-- maps of rootless containers, and are never reused: a deleted workspace keeps its number.
CREATE SEQUENCE workspace_sandbox_uid_seq;

ALTER TABLE workspaces ADD COLUMN sandbox_uid integer;
UPDATE workspaces SET sandbox_uid = 2000000 + nextval('workspace_sandbox_uid_seq')::integer;
ALTER TABLE workspaces
    ALTER COLUMN sandbox_uid SET DEFAULT 2000000 + nextval('workspace_sandbox_uid_seq')::integer,
    ALTER COLUMN sandbox_uid SET NOT NULL;
ALTER SEQUENCE workspace_sandbox_uid_seq OWNED BY workspaces.sandbox_uid;
CREATE UNIQUE INDEX workspaces_sandbox_uid_idx ON workspaces (sandbox_uid);
