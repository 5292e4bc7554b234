-- A chat's owner mostly decides its organization (a user chats in the few organizations they
-- belong to), but the planner multiplies the selectivities of `owner_id = …` and
-- `organization_id = ANY(…)` as if they were independent (issue 18). A chat list planned for
-- its values then took the 200 pinned chats of one user for 16, fewer than a page, and read
-- and sorted all of them through a bitmap scan of `chats_owner_pinned_idx` instead of reading
-- a page of it in order. The dependency statistics tell the planner. (Most lists now run with
-- a generic plan that cannot use bitmap scans, see the store's `lists` module; a title search
-- or a label filter is still planned for its values.)
CREATE STATISTICS chats_owner_org_deps (dependencies) ON owner_id, organization_id FROM chats;
ANALYZE chats;
