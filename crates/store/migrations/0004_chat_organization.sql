-- Every chat belongs to an organization. Existing chats are backfilled, in order of preference,
-- from (1) the organization of the workspace the chat is bound to, (2) the owner's oldest
-- membership, (3) the default organization. A chat whose workspace was deleted has lost its
-- binding (ON DELETE SET NULL) and so falls to (2) or (3). Children then take their root's
-- organization, since a chat family never spans organizations. The whole file runs in one
-- transaction; if a row could still not be resolved, SET NOT NULL fails and nothing changes.

ALTER TABLE chats ADD COLUMN organization_id uuid NULL REFERENCES organizations (id) ON DELETE CASCADE;

UPDATE chats c SET organization_id = COALESCE(
    (SELECT w.organization_id FROM workspaces w WHERE w.id = c.workspace_id),
    (SELECT m.organization_id FROM organization_members m
      WHERE m.user_id = c.owner_id
      ORDER BY m.created_at ASC, m.organization_id ASC
      LIMIT 1),
    (SELECT o.id FROM organizations o WHERE o.is_default LIMIT 1)
);

UPDATE chats child SET organization_id = root.organization_id
FROM chats root
WHERE child.root_chat_id = root.id AND child.organization_id IS DISTINCT FROM root.organization_id;

ALTER TABLE chats ALTER COLUMN organization_id SET NOT NULL;

CREATE INDEX chats_organization_idx ON chats (organization_id, updated_at DESC, id DESC);
