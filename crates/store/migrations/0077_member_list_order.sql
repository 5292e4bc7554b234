-- An organization's member list is ordered by username, which lives on `users`: no index on
-- `organization_members` could give that order, so a page sorted every member of the
-- organization (issue 18). Each membership now carries its user's `lower(username)`, kept by
-- triggers (also for an operator's SQL), and the list reads one ordered range of
-- `(organization_id, username_key, user_id)`.
ALTER TABLE organization_members ADD COLUMN username_key text;
UPDATE organization_members m SET username_key = lower(u.username) FROM users u WHERE u.id = m.user_id;
ALTER TABLE organization_members ALTER COLUMN username_key SET NOT NULL;
CREATE INDEX organization_members_list_idx ON organization_members (organization_id, username_key, user_id);

CREATE FUNCTION agentry_member_username_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- '' for a user that does not exist, so the foreign key reports it.
    NEW.username_key := COALESCE((SELECT lower(username) FROM users WHERE id = NEW.user_id), '');
    RETURN NEW;
END;
$$;

CREATE TRIGGER organization_members_username_key
    BEFORE INSERT OR UPDATE OF user_id ON organization_members
    FOR EACH ROW EXECUTE FUNCTION agentry_member_username_key();

CREATE FUNCTION agentry_user_username_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE organization_members SET username_key = lower(NEW.username) WHERE user_id = NEW.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_username_changed
    AFTER UPDATE OF username ON users
    FOR EACH ROW WHEN (lower(OLD.username) IS DISTINCT FROM lower(NEW.username))
    EXECUTE FUNCTION agentry_user_username_changed();
