-- Every change to the organizations table tells all server processes to drop the organizations
-- they cached (agentry_store::auth_cache). As a trigger it also covers an operator's SQL.
-- NOTIFY is delivered on commit; identical notifications in one transaction fold into one.

CREATE FUNCTION agentry_orgs_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agentry_orgs', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER organizations_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organizations
    FOR EACH STATEMENT EXECUTE FUNCTION agentry_orgs_changed();
