-- The auth-change notifications of 0006 now name the user whose rights may have changed, so
-- every process can act on that user at once: stop the chat runs they own if they lost the
-- right to start AI work, and re-check their open WebSockets (a revoked key, a removal, a
-- suspension close them within moments instead of at the next periodic check). Caches still
-- drop everything on any notification. Row-level triggers: a statement touching many users
-- sends one notification per distinct user (identical payloads in a transaction fold).

CREATE FUNCTION agentry_auth_changed_user() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := to_jsonb(OLD);
    ELSE
        r := to_jsonb(NEW);
    END IF;
    PERFORM pg_notify('agentry_auth', r ->> TG_ARGV[0]);
    IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) ->> TG_ARGV[0]) IS DISTINCT FROM (r ->> TG_ARGV[0]) THEN
        PERFORM pg_notify('agentry_auth', to_jsonb(OLD) ->> TG_ARGV[0]);
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER users_auth_changed ON users;
DROP TRIGGER organization_members_auth_changed ON organization_members;
DROP TRIGGER api_keys_auth_changed ON api_keys;
DROP FUNCTION agentry_auth_changed();

CREATE TRIGGER users_auth_changed
    AFTER UPDATE OF status, site_roles OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION agentry_auth_changed_user('id');

CREATE TRIGGER organization_members_auth_changed
    AFTER INSERT OR UPDATE OR DELETE ON organization_members
    FOR EACH ROW EXECUTE FUNCTION agentry_auth_changed_user('user_id');

CREATE TRIGGER api_keys_auth_changed
    AFTER UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION agentry_auth_changed_user('user_id');
