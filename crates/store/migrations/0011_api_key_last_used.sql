-- Keys can be listed and revoked (issue 11): each key records when it was last used. Recording
-- use is not an auth change, so the auth-change trigger now fires only for changes to what a key
-- is (its owner, secret or expiry) and for deletions (revocation, logout).

ALTER TABLE api_keys ADD COLUMN last_used timestamptz NULL;

DROP TRIGGER api_keys_auth_changed ON api_keys;
CREATE TRIGGER api_keys_auth_changed
    AFTER UPDATE OF user_id, hashed_secret, expires_at OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION agentry_auth_changed_user('user_id');
