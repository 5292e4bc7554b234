//! Subjects (who is asking) and objects (what they ask about).
//!
//! A subject is compiled once from its roles into one permission set per level, with one
//! (org, member) pair per organization it belongs to, sorted by organization id. Decisions are
//! then a handful of bit tests plus one binary search, whatever the number of roles or
//! memberships.

use uuid::Uuid;

use crate::perms::PermSet;
use crate::resource::ResourceType;
use crate::role::{OrgRole, Role, SiteRole};

/// Permissions a subject holds in one organization it is a member of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Membership {
    pub(crate) org_id: Uuid,
    pub(crate) roles: Vec<OrgRole>,
    pub(crate) org: PermSet,
    pub(crate) member: PermSet,
}

/// The acting user, compiled for fast decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub(crate) user_id: Uuid,
    site_roles: Vec<SiteRole>,
    pub(crate) site: PermSet,
    pub(crate) user: PermSet,
    /// Sorted by `org_id`, one entry per organization.
    pub(crate) memberships: Vec<Membership>,
    /// When set, only these (type, action) pairs can ever be allowed (e.g. a scoped API key).
    /// It narrows what the roles grant and never widens it.
    pub(crate) scope: Option<PermSet>,
}

impl Subject {
    /// A user with the site `member` role, which every user holds, and no memberships.
    pub fn new(user_id: Uuid) -> Subject {
        Subject::bare(user_id).with_site_role(SiteRole::Member)
    }

    /// A subject with no roles at all. Used for tests of the level semantics.
    pub fn bare(user_id: Uuid) -> Subject {
        Subject {
            user_id,
            site_roles: Vec::new(),
            site: PermSet::EMPTY,
            user: PermSet::EMPTY,
            memberships: Vec::new(),
            scope: None,
        }
    }

    pub fn with_site_role(mut self, role: SiteRole) -> Subject {
        if !self.site_roles.contains(&role) {
            self.site_roles.push(role);
            self.add_global(role.role());
        }
        self
    }

    /// Makes the subject a member of `org` holding `roles` there. Membership itself confers
    /// `organization-member`. Calling it again for the same org adds roles.
    pub fn with_org(mut self, org_id: Uuid, roles: &[OrgRole]) -> Subject {
        let i = self.membership_index(org_id);
        for &r in std::iter::once(&OrgRole::OrganizationMember).chain(roles) {
            let m = &mut self.memberships[i];
            if !m.roles.contains(&r) {
                m.roles.push(r);
                m.org = m.org.merge(&r.role().org);
                m.member = m.member.merge(&r.role().member);
                self.add_global(r.role());
            }
        }
        self
    }

    /// Adds a role that is not built in, held site-wide. For tests and future custom roles.
    pub fn with_custom_site_role(mut self, role: &Role) -> Subject {
        self.add_global(role);
        self
    }

    /// Adds a role that is not built in, held in `org`. This makes the subject a member of `org`
    /// but, unlike [`Subject::with_org`], does not add `organization-member`, so tests can look
    /// at one role's effect alone.
    pub fn with_custom_org_role(mut self, org_id: Uuid, role: &Role) -> Subject {
        let i = self.membership_index(org_id);
        let m = &mut self.memberships[i];
        m.org = m.org.merge(&role.org);
        m.member = m.member.merge(&role.member);
        self.add_global(role);
        self
    }

    /// Restricts the subject to the (type, action) pairs allowed in `scope`.
    pub fn with_scope(mut self, scope: PermSet) -> Subject {
        self.scope = Some(scope);
        self
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    pub fn site_roles(&self) -> &[SiteRole] {
        &self.site_roles
    }

    pub fn has_site_role(&self, role: SiteRole) -> bool {
        self.site_roles.contains(&role)
    }

    /// Organizations the subject is a member of, in id order.
    pub fn org_ids(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.memberships.iter().map(|m| m.org_id)
    }

    pub fn is_member_of(&self, org_id: Uuid) -> bool {
        self.membership(org_id).is_some()
    }

    /// The subject's roles in `org`, including the implicit `organization-member`; `None` when
    /// it is not a member.
    pub fn org_roles(&self, org_id: Uuid) -> Option<&[OrgRole]> {
        self.membership(org_id).map(|m| m.roles.as_slice())
    }

    pub(crate) fn membership(&self, org_id: Uuid) -> Option<&Membership> {
        self.memberships
            .binary_search_by(|m| m.org_id.cmp(&org_id))
            .ok()
            .map(|i| &self.memberships[i])
    }

    fn membership_index(&mut self, org_id: Uuid) -> usize {
        match self.memberships.binary_search_by(|m| m.org_id.cmp(&org_id)) {
            Ok(i) => i,
            Err(i) => {
                self.memberships.insert(
                    i,
                    Membership {
                        org_id,
                        roles: Vec::new(),
                        org: PermSet::EMPTY,
                        member: PermSet::EMPTY,
                    },
                );
                i
            }
        }
    }

    fn add_global(&mut self, role: &Role) {
        self.site = self.site.merge(&role.site);
        self.user = self.user.merge(&role.user);
    }
}

/// The thing a decision is about. `owner` and `org` are optional: templates have no owner,
/// users and providers have no organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Object {
    pub rtype: ResourceType,
    pub id: Option<Uuid>,
    pub owner: Option<Uuid>,
    pub org: Option<Uuid>,
}

impl Object {
    pub const fn new(rtype: ResourceType) -> Object {
        Object { rtype, id: None, owner: None, org: None }
    }

    pub const fn with_id(mut self, id: Uuid) -> Object {
        self.id = Some(id);
        self
    }

    pub const fn owned_by(mut self, owner: Uuid) -> Object {
        self.owner = Some(owner);
        self
    }

    pub const fn in_org(mut self, org: Uuid) -> Object {
        self.org = Some(org);
        self
    }
}
