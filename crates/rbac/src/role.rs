//! Roles: named permission sets at four levels, and the built-in roles of SPEC §2.2.
//!
//! Levels:
//! - `site`: every object;
//! - `org`: objects in the organization the role is held in (any owner);
//! - `member`: objects in that organization owned by the subject;
//! - `user`: objects owned by the subject that have no organization.
//!
//! A site role's `org`/`member` levels are meaningless (it is held in no organization) and are
//! empty for every built-in site role. An org role may carry `site`/`user` permissions (the org
//! admin reads users site-wide to find people to add).

use crate::perms::PermSet;
use crate::resource::{Action::*, ResourceType, ResourceType::*};

/// A named set of permissions at the four levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: &'static str,
    pub site: PermSet,
    pub org: PermSet,
    pub member: PermSet,
    pub user: PermSet,
}

impl Role {
    pub const fn new(name: &'static str) -> Role {
        Role {
            name,
            site: PermSet::EMPTY,
            org: PermSet::EMPTY,
            member: PermSet::EMPTY,
            user: PermSet::EMPTY,
        }
    }

    pub const fn site(mut self, set: PermSet) -> Role {
        self.site = set;
        self
    }

    pub const fn org(mut self, set: PermSet) -> Role {
        self.org = set;
        self
    }

    pub const fn member(mut self, set: PermSet) -> Role {
        self.member = set;
        self
    }

    pub const fn user(mut self, set: PermSet) -> Role {
        self.user = set;
        self
    }
}

/// Built-in site roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SiteRole {
    Owner,
    Member,
    Auditor,
    TemplateAdmin,
    UserAdmin,
}

/// Built-in organization roles. `OrganizationMember` is implied by membership and is never
/// stored; the others are assigned per (user, organization).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrgRole {
    OrganizationAdmin,
    OrganizationMember,
    OrganizationAuditor,
    OrganizationUserAdmin,
    OrganizationTemplateAdmin,
    OrganizationWorkspaceCreationBan,
    AgentsAccess,
}

impl SiteRole {
    pub const ALL: [SiteRole; 5] = [
        SiteRole::Owner,
        SiteRole::Member,
        SiteRole::Auditor,
        SiteRole::TemplateAdmin,
        SiteRole::UserAdmin,
    ];

    pub const fn name(self) -> &'static str {
        self.role().name
    }

    pub fn parse(name: &str) -> Option<SiteRole> {
        SiteRole::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The name people read (Coder's `display_name`).
    pub const fn display_name(self) -> &'static str {
        match self {
            SiteRole::Owner => "Owner",
            SiteRole::Member => "Member",
            SiteRole::Auditor => "Auditor",
            SiteRole::TemplateAdmin => "Template Admin",
            SiteRole::UserAdmin => "User Admin",
        }
    }

    pub const fn role(self) -> &'static Role {
        match self {
            SiteRole::Owner => &OWNER,
            SiteRole::Member => &MEMBER,
            SiteRole::Auditor => &AUDITOR,
            SiteRole::TemplateAdmin => &TEMPLATE_ADMIN,
            SiteRole::UserAdmin => &USER_ADMIN,
        }
    }
}

impl OrgRole {
    pub const ALL: [OrgRole; 7] = [
        OrgRole::OrganizationAdmin,
        OrgRole::OrganizationMember,
        OrgRole::OrganizationAuditor,
        OrgRole::OrganizationUserAdmin,
        OrgRole::OrganizationTemplateAdmin,
        OrgRole::OrganizationWorkspaceCreationBan,
        OrgRole::AgentsAccess,
    ];

    /// The org roles that can be assigned (everything but the implicit member role).
    pub const ASSIGNABLE: [OrgRole; 6] = [
        OrgRole::OrganizationAdmin,
        OrgRole::OrganizationAuditor,
        OrgRole::OrganizationUserAdmin,
        OrgRole::OrganizationTemplateAdmin,
        OrgRole::OrganizationWorkspaceCreationBan,
        OrgRole::AgentsAccess,
    ];

    pub const fn name(self) -> &'static str {
        self.role().name
    }

    pub fn parse(name: &str) -> Option<OrgRole> {
        OrgRole::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The name people read (Coder's `display_name`).
    pub const fn display_name(self) -> &'static str {
        match self {
            OrgRole::OrganizationAdmin => "Organization Admin",
            OrgRole::OrganizationMember => "Organization Member",
            OrgRole::OrganizationAuditor => "Organization Auditor",
            OrgRole::OrganizationUserAdmin => "Organization User Admin",
            OrgRole::OrganizationTemplateAdmin => "Organization Template Admin",
            OrgRole::OrganizationWorkspaceCreationBan => "Organization Workspace Creation Ban",
            OrgRole::AgentsAccess => "Agents Access",
        }
    }

    pub const fn role(self) -> &'static Role {
        match self {
            OrgRole::OrganizationAdmin => &ORG_ADMIN,
            OrgRole::OrganizationMember => &ORG_MEMBER,
            OrgRole::OrganizationAuditor => &ORG_AUDITOR,
            OrgRole::OrganizationUserAdmin => &ORG_USER_ADMIN,
            OrgRole::OrganizationTemplateAdmin => &ORG_TEMPLATE_ADMIN,
            OrgRole::OrganizationWorkspaceCreationBan => &ORG_WORKSPACE_CREATION_BAN,
            OrgRole::AgentsAccess => &AGENTS_ACCESS,
        }
    }
}

/// The site owner may do everything. Written as an exhaustive match rather than a loop over
/// all types: a new resource type does not compile until someone decides what the owner gets.
const fn owner_site_perms() -> PermSet {
    let mut set = PermSet::EMPTY;
    let mut i = 0;
    while i < ResourceType::COUNT {
        let t = ResourceType::ALL[i];
        set = match t {
            Chat | Workspace | Template | Organization | OrganizationMember | User | AssignRole
            | AssignOrgRole | ChatProvider | AuditLog | Deployment | ChatUsage => set.allow_all(t),
        };
        i += 1;
    }
    set
}

static OWNER: Role = Role::new("owner").site(owner_site_perms());

static MEMBER: Role = Role::new("member")
    .site(PermSet::EMPTY.allow(AssignRole, &[Read]))
    .user(PermSet::EMPTY.allow(User, &[Read, ReadPersonal, UpdatePersonal]).allow(ChatUsage, &[Read]));

static AUDITOR: Role = Role::new("auditor").site(
    PermSet::EMPTY
        .allow(AuditLog, &[Read])
        .allow(Deployment, &[Read])
        .allow(ChatUsage, &[Read])
        .allow(Template, &[Read])
        .allow(User, &[Read])
        .allow(Organization, &[Read])
        .allow(OrganizationMember, &[Read]),
);

static TEMPLATE_ADMIN: Role = Role::new("template-admin").site(
    PermSet::EMPTY
        .allow_all(Template)
        .allow(Workspace, &[Read])
        .allow(User, &[Read])
        .allow(Organization, &[Read])
        .allow(OrganizationMember, &[Read]),
);

static USER_ADMIN: Role = Role::new("user-admin").site(
    PermSet::EMPTY
        .allow_all(User)
        .allow(Organization, &[Read])
        .allow_all(OrganizationMember)
        .allow_all(AssignRole)
        .allow_all(AssignOrgRole),
);

static ORG_ADMIN: Role = Role::new("organization-admin")
    .site(PermSet::EMPTY.allow(User, &[Read]))
    .org(
        PermSet::EMPTY
            .allow_all(Chat)
            .allow(Workspace, &[Create, Read, Update, Delete, Start, Stop])
            .allow_all(Template)
            .allow(Organization, &[Read, Update, Delete])
            .allow_all(OrganizationMember)
            .allow_all(AssignOrgRole)
            .allow(AuditLog, &[Read])
            // The organization's own providers and model configs (issue 14).
            .allow_all(ChatProvider)
            .allow_all(ChatUsage),
    );

static ORG_MEMBER: Role = Role::new("organization-member")
    .org(
        PermSet::EMPTY
            .allow(Organization, &[Read])
            .allow(Template, &[Read, Use])
            .allow(OrganizationMember, &[Read]),
    )
    .member(PermSet::EMPTY.allow_all(Workspace).allow(Chat, &[Read, Update]).allow(ChatUsage, &[Read]));

static ORG_AUDITOR: Role = Role::new("organization-auditor").org(
    PermSet::EMPTY
        .allow(AuditLog, &[Read])
        .allow(ChatUsage, &[Read])
        .allow(Template, &[Read])
        .allow(Organization, &[Read])
        .allow(OrganizationMember, &[Read]),
);

static ORG_USER_ADMIN: Role = Role::new("organization-user-admin")
    .site(PermSet::EMPTY.allow(User, &[Read]))
    .org(
        PermSet::EMPTY
            .allow_all(OrganizationMember)
            .allow_all(AssignOrgRole)
            .allow(Organization, &[Read]),
    );

static ORG_TEMPLATE_ADMIN: Role = Role::new("organization-template-admin").org(
    PermSet::EMPTY
        .allow_all(Template)
        .allow(Workspace, &[Read])
        .allow(Organization, &[Read]),
);

static ORG_WORKSPACE_CREATION_BAN: Role = Role::new("organization-workspace-creation-ban")
    .org(PermSet::EMPTY.deny(Workspace, &[Create, Delete]));

static AGENTS_ACCESS: Role =
    Role::new("agents-access").member(PermSet::EMPTY.allow(Chat, &[Create, Read, Update]));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in SiteRole::ALL {
            assert_eq!(SiteRole::parse(r.name()), Some(r));
        }
        for r in OrgRole::ALL {
            assert_eq!(OrgRole::parse(r.name()), Some(r));
        }
        assert_eq!(OrgRole::parse("owner"), None);
        assert_eq!(SiteRole::parse("agents-access"), None);
    }

    #[test]
    fn site_roles_hold_nothing_at_org_levels() {
        for r in SiteRole::ALL {
            assert!(r.role().org.is_empty() && r.role().member.is_empty(), "{}", r.name());
        }
    }

    #[test]
    fn org_roles_never_grant_at_user_level() {
        for r in OrgRole::ALL {
            assert!(r.role().user.is_empty(), "{}", r.name());
        }
    }
}
