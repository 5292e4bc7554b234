-- Indexes in the order of each list, so a page reads a page's worth of rows however many the
-- caller may see (issue 18). A chat list is assembled from ordered branches (see
-- `Actor::root_query`): the unpinned root chats of an owner, an organization or the whole site
-- per archived state, newest first, and the (few) pinned root chats in pin order.
CREATE INDEX chats_owner_list_idx ON chats (owner_id, archived, updated_at DESC, id DESC)
    WHERE parent_chat_id IS NULL AND pin_order = 0;
CREATE INDEX chats_org_list_idx ON chats (organization_id, archived, updated_at DESC, id DESC)
    WHERE parent_chat_id IS NULL AND pin_order = 0;
CREATE INDEX chats_site_list_idx ON chats (archived, updated_at DESC, id DESC)
    WHERE parent_chat_id IS NULL AND pin_order = 0;
CREATE INDEX chats_owner_pinned_idx ON chats (owner_id, pin_order, updated_at DESC, id DESC)
    WHERE parent_chat_id IS NULL AND pin_order > 0;
CREATE INDEX chats_org_pinned_idx ON chats (organization_id, pin_order, updated_at DESC, id DESC)
    WHERE parent_chat_id IS NULL AND pin_order > 0;
CREATE INDEX chats_site_pinned_idx ON chats (pin_order, updated_at DESC, id DESC)
    WHERE parent_chat_id IS NULL AND pin_order > 0;

-- Workspaces, newest first: per owner, per organization, and site-wide (`Actor::workspace_page`).
CREATE INDEX workspaces_owner_list_idx ON workspaces (owner_id, created_at DESC, id DESC);
CREATE INDEX workspaces_org_list_idx ON workspaces (organization_id, created_at DESC, id DESC);
CREATE INDEX workspaces_list_idx ON workspaces (created_at DESC, id DESC);

-- Audit entries of one organization, newest first, with the id as the tie-break the list
-- orders by (the old index lacked it, so a page still sorted the organization's whole log).
DROP INDEX audit_logs_org_idx;
CREATE INDEX audit_logs_org_idx ON audit_logs (organization_id, time DESC, id DESC);
