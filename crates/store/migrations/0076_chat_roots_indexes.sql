-- The default chat list (archived and unarchived together) reads the unpinned root chats of a
-- source in one ordered range instead of one range per archived state (issue 18): one branch
-- fewer to plan and run on every first page. The per-state indexes of 0040 still serve
-- `archived:true|false`.
CREATE INDEX chats_owner_roots_idx ON chats (owner_id, updated_at DESC, id DESC)
    WHERE parent_chat_id IS NULL AND pin_order = 0;
CREATE INDEX chats_org_roots_idx ON chats (organization_id, updated_at DESC, id DESC)
    WHERE parent_chat_id IS NULL AND pin_order = 0;
CREATE INDEX chats_site_roots_idx ON chats (updated_at DESC, id DESC)
    WHERE parent_chat_id IS NULL AND pin_order = 0;
