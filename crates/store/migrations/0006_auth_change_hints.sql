-- Every change that can alter what a session token may do (a user's status or site roles, a
-- membership or its roles, a key being deleted) tells all server processes to drop their cached
-- sessions. As triggers, they also cover changes made outside agentry (an operator's SQL).
-- NOTIFY is delivered on commit, and identical notifications in one transaction fold into one.

CREATE FUNCTION agentry_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agentry_auth', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_auth_changed
    AFTER UPDATE OF status, site_roles OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION agentry_auth_changed();

CREATE TRIGGER organization_members_auth_changed
    AFTER INSERT OR UPDATE OR DELETE ON organization_members
    FOR EACH STATEMENT EXECUTE FUNCTION agentry_auth_changed();

CREATE TRIGGER api_keys_auth_changed
    AFTER UPDATE OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION agentry_auth_changed();
