//! Resource types, actions and the sets of actions each type declares.
//!
//! Both are closed enums. A permission can only name an action its type declares; there is no
//! string form inside the engine (the API crate parses strings at the edge).

use std::fmt;

/// Every kind of object the engine decides about.
///
/// Adding a variant is a compile error in [`ResourceType::actions`], [`ResourceType::index`] and
/// in the owner role (see `role.rs`): nobody is granted a new type without a written decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Chat,
    Workspace,
    Template,
    Organization,
    OrganizationMember,
    User,
    AssignRole,
    AssignOrgRole,
    ChatProvider,
    AuditLog,
    /// The deployment itself: its server processes (replicas) and its metrics. Read only.
    Deployment,
    /// AI spend: usage reports (`read`) and chat budgets (`read`, `update`). An object is the
    /// spend of one organization (`in_org`), optionally of one user in it (`owned_by`), or of a
    /// user across the deployment (owner, no organization).
    ChatUsage,
}

/// Every action any type declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
    Start,
    Stop,
    Ssh,
    Use,
    ReadPersonal,
    UpdatePersonal,
    Assign,
    Unassign,
}

impl ResourceType {
    /// Number of resource types; the size of per-type tables.
    pub const COUNT: usize = 12;

    /// All types, in [`ResourceType::index`] order.
    pub const ALL: [ResourceType; Self::COUNT] = [
        ResourceType::Chat,
        ResourceType::Workspace,
        ResourceType::Template,
        ResourceType::Organization,
        ResourceType::OrganizationMember,
        ResourceType::User,
        ResourceType::AssignRole,
        ResourceType::AssignOrgRole,
        ResourceType::ChatProvider,
        ResourceType::AuditLog,
        ResourceType::Deployment,
        ResourceType::ChatUsage,
    ];

    /// Position in per-type tables.
    pub const fn index(self) -> usize {
        match self {
            ResourceType::Chat => 0,
            ResourceType::Workspace => 1,
            ResourceType::Template => 2,
            ResourceType::Organization => 3,
            ResourceType::OrganizationMember => 4,
            ResourceType::User => 5,
            ResourceType::AssignRole => 6,
            ResourceType::AssignOrgRole => 7,
            ResourceType::ChatProvider => 8,
            ResourceType::AuditLog => 9,
            ResourceType::Deployment => 10,
            ResourceType::ChatUsage => 11,
        }
    }

    /// The actions this type declares. Asking about any other action is always a denial.
    pub const fn actions(self) -> ActionSet {
        use Action::*;
        match self {
            ResourceType::Chat => ActionSet::of(&[Create, Read, Update, Delete]),
            ResourceType::Workspace => {
                ActionSet::of(&[Create, Read, Update, Delete, Start, Stop, Ssh])
            }
            ResourceType::Template => ActionSet::of(&[Create, Read, Update, Delete, Use]),
            ResourceType::Organization => ActionSet::of(&[Create, Read, Update, Delete]),
            ResourceType::OrganizationMember => ActionSet::of(&[Create, Read, Update, Delete]),
            ResourceType::User => ActionSet::of(&[
                Create,
                Read,
                Update,
                Delete,
                ReadPersonal,
                UpdatePersonal,
            ]),
            ResourceType::AssignRole => ActionSet::of(&[Assign, Unassign, Read]),
            ResourceType::AssignOrgRole => ActionSet::of(&[Assign, Unassign, Read]),
            ResourceType::ChatProvider => ActionSet::of(&[Create, Read, Update, Delete]),
            ResourceType::AuditLog => ActionSet::of(&[Read]),
            ResourceType::Deployment => ActionSet::of(&[Read]),
            ResourceType::ChatUsage => ActionSet::of(&[Read, Update]),
        }
    }

    /// Actions that only a member of the object's organization may ever perform, whatever
    /// site-level grants say. Creating a chat is starting AI work in its organization, and
    /// membership is part of that rule (SPEC §7): a site owner who is not a member of O may read
    /// and manage O's chats but not start one there, so `authcheck` (the UI's picker) and the
    /// create endpoint give one answer.
    pub const fn needs_membership(self, action: Action) -> bool {
        matches!((self, action), (ResourceType::Chat, Action::Create))
    }

    /// The wire name (snake_case), as used by `authcheck`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceType::Chat => "chat",
            ResourceType::Workspace => "workspace",
            ResourceType::Template => "template",
            ResourceType::Organization => "organization",
            ResourceType::OrganizationMember => "organization_member",
            ResourceType::User => "user",
            ResourceType::AssignRole => "assign_role",
            ResourceType::AssignOrgRole => "assign_org_role",
            ResourceType::ChatProvider => "chat_provider",
            ResourceType::AuditLog => "audit_log",
            ResourceType::Deployment => "deployment",
            ResourceType::ChatUsage => "chat_usage",
        }
    }

    pub fn parse(s: &str) -> Option<ResourceType> {
        ResourceType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl Action {
    pub const COUNT: usize = 12;

    pub const ALL: [Action; Self::COUNT] = [
        Action::Create,
        Action::Read,
        Action::Update,
        Action::Delete,
        Action::Start,
        Action::Stop,
        Action::Ssh,
        Action::Use,
        Action::ReadPersonal,
        Action::UpdatePersonal,
        Action::Assign,
        Action::Unassign,
    ];

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Read => "read",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Ssh => "ssh",
            Action::Use => "use",
            Action::ReadPersonal => "read_personal",
            Action::UpdatePersonal => "update_personal",
            Action::Assign => "assign",
            Action::Unassign => "unassign",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A small bit set of actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ActionSet(u16);

impl ActionSet {
    pub const EMPTY: ActionSet = ActionSet(0);

    pub const fn of(actions: &[Action]) -> ActionSet {
        let mut bits = 0u16;
        let mut i = 0;
        while i < actions.len() {
            bits |= actions[i].bit();
            i += 1;
        }
        ActionSet(bits)
    }

    pub const fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    pub const fn union(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 | other.0)
    }

    pub const fn intersection(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 & other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_in_index_order() {
        for (i, t) in ResourceType::ALL.iter().enumerate() {
            assert_eq!(t.index(), i, "{t} is out of order in ResourceType::ALL");
            assert_eq!(ResourceType::parse(t.as_str()), Some(*t));
            assert!(!t.actions().is_empty(), "{t} declares no action");
        }
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i);
            assert_eq!(Action::parse(a.as_str()), Some(*a));
        }
    }

    #[test]
    fn unknown_names_do_not_parse() {
        assert_eq!(ResourceType::parse("*"), None);
        assert_eq!(Action::parse("*"), None);
        assert_eq!(Action::parse("Read"), None);
    }
}
