//! Who may hand out which role. This sits on top of the `assign_role` / `assign_org_role`
//! permissions: the permission says "may change role assignments here", these rules say which
//! roles. Both must pass.

use uuid::Uuid;

use crate::role::{OrgRole, SiteRole};
use crate::subject::Subject;

/// The site owner may assign every site role; a user admin only `member` (which every user
/// holds anyway). Nobody else assigns site roles.
pub fn may_assign_site_role(actor: &Subject, role: SiteRole) -> bool {
    actor.has_site_role(SiteRole::Owner)
        || (actor.has_site_role(SiteRole::UserAdmin) && role == SiteRole::Member)
}

/// Org roles are assigned within one organization:
/// - the site owner: every org role;
/// - a site user admin: only membership itself (`organization-member`);
/// - an org admin of that org: every org role, `agents-access` included;
/// - an org user admin of that org: every org role except `organization-admin`, so the role
///   cannot be used to promote oneself above it.
pub fn may_assign_org_role(actor: &Subject, org: Uuid, role: OrgRole) -> bool {
    if actor.has_site_role(SiteRole::Owner) {
        return true;
    }
    if role == OrgRole::OrganizationMember && actor.has_site_role(SiteRole::UserAdmin) {
        return true;
    }
    let Some(held) = actor.org_roles(org) else {
        return false;
    };
    if held.contains(&OrgRole::OrganizationAdmin) {
        return true;
    }
    held.contains(&OrgRole::OrganizationUserAdmin) && role != OrgRole::OrganizationAdmin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_rules() {
        let (me, o, p) = (Uuid::from_u128(1), Uuid::from_u128(10), Uuid::from_u128(20));
        let owner = Subject::new(me).with_site_role(SiteRole::Owner);
        let user_admin = Subject::new(me).with_site_role(SiteRole::UserAdmin);
        let org_admin = Subject::new(me).with_org(o, &[OrgRole::OrganizationAdmin]);
        let org_user_admin = Subject::new(me).with_org(o, &[OrgRole::OrganizationUserAdmin]);
        let member = Subject::new(me).with_org(o, &[OrgRole::AgentsAccess]);

        assert!(may_assign_site_role(&owner, SiteRole::Auditor));
        assert!(may_assign_site_role(&user_admin, SiteRole::Member));
        assert!(!may_assign_site_role(&user_admin, SiteRole::Owner));
        assert!(!may_assign_site_role(&org_admin, SiteRole::Member));

        assert!(may_assign_org_role(&owner, p, OrgRole::OrganizationAdmin));
        assert!(may_assign_org_role(&user_admin, o, OrgRole::OrganizationMember));
        assert!(!may_assign_org_role(&user_admin, o, OrgRole::AgentsAccess));
        assert!(may_assign_org_role(&org_admin, o, OrgRole::AgentsAccess));
        assert!(may_assign_org_role(&org_admin, o, OrgRole::OrganizationAdmin));
        assert!(!may_assign_org_role(&org_admin, p, OrgRole::AgentsAccess));
        assert!(may_assign_org_role(&org_user_admin, o, OrgRole::AgentsAccess));
        assert!(!may_assign_org_role(&org_user_admin, o, OrgRole::OrganizationAdmin));
        assert!(!may_assign_org_role(&member, o, OrgRole::AgentsAccess));
    }
}
