//! Permission sets and the tri-state vote a level casts.

use crate::resource::{Action, ActionSet, ResourceType};

/// What one level says about one (type, action).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vote {
    /// A matching negated permission exists. Within a level it beats any grant.
    Deny,
    /// Nothing matches.
    Abstain,
    /// Only positive permissions match.
    Allow,
}

/// Positive and negated permissions of one level, as one bit set of actions per type.
///
/// A permission is `(negate, type, action)`. "All actions of a type" is written by granting the
/// type's declared [`ResourceType::actions`]; there is deliberately no "every type" wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PermSet {
    allow: [ActionSet; ResourceType::COUNT],
    deny: [ActionSet; ResourceType::COUNT],
}

impl PermSet {
    pub const EMPTY: PermSet = PermSet {
        allow: [ActionSet::EMPTY; ResourceType::COUNT],
        deny: [ActionSet::EMPTY; ResourceType::COUNT],
    };

    /// Adds positive permissions. Actions the type does not declare are dropped, so a set can
    /// never hold a permission the engine would not be asked about.
    pub const fn allow(mut self, t: ResourceType, actions: &[Action]) -> PermSet {
        let i = t.index();
        self.allow[i] = self.allow[i].union(ActionSet::of(actions).intersection(t.actions()));
        self
    }

    /// Adds positive permissions for every action the type declares.
    pub const fn allow_all(mut self, t: ResourceType) -> PermSet {
        let i = t.index();
        self.allow[i] = t.actions();
        self
    }

    /// Adds negated permissions.
    pub const fn deny(mut self, t: ResourceType, actions: &[Action]) -> PermSet {
        let i = t.index();
        self.deny[i] = self.deny[i].union(ActionSet::of(actions).intersection(t.actions()));
        self
    }

    /// Union of two sets (how several roles at one level combine).
    pub const fn merge(mut self, other: &PermSet) -> PermSet {
        let mut i = 0;
        while i < ResourceType::COUNT {
            self.allow[i] = self.allow[i].union(other.allow[i]);
            self.deny[i] = self.deny[i].union(other.deny[i]);
            i += 1;
        }
        self
    }

    #[inline]
    pub fn vote(&self, t: ResourceType, a: Action) -> Vote {
        let i = t.index();
        if self.deny[i].contains(a) {
            Vote::Deny
        } else if self.allow[i].contains(a) {
            Vote::Allow
        } else {
            Vote::Abstain
        }
    }

    /// Positive actions for a type (negations not applied).
    pub fn allowed(&self, t: ResourceType) -> ActionSet {
        self.allow[t.index()]
    }

    /// Negated actions for a type.
    pub fn denied(&self, t: ResourceType) -> ActionSet {
        self.deny[t.index()]
    }

    pub fn is_empty(&self) -> bool {
        self.allow.iter().chain(self.deny.iter()).all(|s| s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negation_beats_grant_within_a_level() {
        let set = PermSet::EMPTY
            .allow_all(ResourceType::Workspace)
            .deny(ResourceType::Workspace, &[Action::Create]);
        assert_eq!(set.vote(ResourceType::Workspace, Action::Create), Vote::Deny);
        assert_eq!(set.vote(ResourceType::Workspace, Action::Read), Vote::Allow);
        assert_eq!(set.vote(ResourceType::Chat, Action::Read), Vote::Abstain);
    }

    #[test]
    fn undeclared_actions_are_never_stored() {
        let set = PermSet::EMPTY.allow(ResourceType::AuditLog, &[Action::Read, Action::Delete]);
        assert_eq!(set.allowed(ResourceType::AuditLog), ActionSet::of(&[Action::Read]));
    }
}
