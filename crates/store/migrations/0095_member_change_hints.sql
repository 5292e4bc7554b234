-- Each server process keeps small organizations' members in memory (agentry_store::auth_cache).
-- A membership or its roles, and a user's status or site roles, already NOTIFY `agentry_auth`
-- (migration 0006), which empties that cache too; the other user columns a member row shows
-- (username, name, email) NOTIFY `agentry_members`. As triggers they also cover an operator's
-- SQL. NOTIFY is delivered on commit; identical notifications in one transaction fold into one.

CREATE FUNCTION agentry_members_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agentry_members', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_member_fields_changed
    AFTER UPDATE OF username, name, email OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION agentry_members_changed();

CREATE TRIGGER organization_members_truncated
    AFTER TRUNCATE ON organization_members
    FOR EACH STATEMENT EXECUTE FUNCTION agentry_members_changed();
