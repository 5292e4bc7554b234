//! Single decisions: `authorize(subject, action, object)`.

use crate::perms::Vote;
use crate::resource::{Action, ResourceType};
use crate::subject::{Object, Subject};

/// Why a request was refused. Callers map every variant to the same client answer (404 when
/// the caller may not read the object, 403 otherwise); the variant is for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The type does not declare this action.
    UndeclaredAction { rtype: ResourceType, action: Action },
    /// The subject's scope does not include this (type, action).
    OutOfScope,
    /// A site-level negation; nothing below can override it.
    SiteNegated,
    /// An org-level negation in the object's organization.
    OrgNegated,
    /// The object belongs to an organization the subject is not a member of.
    NotMember,
    /// No level grants the action.
    NoGrant,
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denial::UndeclaredAction { rtype, action } => {
                write!(f, "{rtype} does not declare action {action}")
            }
            Denial::OutOfScope => f.write_str("outside the subject's scope"),
            Denial::SiteNegated => f.write_str("denied at site level"),
            Denial::OrgNegated => f.write_str("denied at organization level"),
            Denial::NotMember => f.write_str("not a member of the object's organization"),
            Denial::NoGrant => f.write_str("no role grants this action"),
        }
    }
}

impl std::error::Error for Denial {}

/// Decides one request. Allow iff `site = +1`, or `site != -1` and (`org = +1`, or `user = +1`
/// for an org-less object the subject owns, or `org != -1` and `member = +1` for an object the
/// subject owns in that org). The org and member levels vote 0 in orgs the subject is not in.
/// Actions that [need membership](ResourceType::needs_membership) are denied outside the
/// subject's organizations before any level votes.
pub fn authorize(subject: &Subject, action: Action, object: &Object) -> Result<(), Denial> {
    let t = object.rtype;
    precheck(subject, t, action)?;
    if t.needs_membership(action) && !object.org.is_some_and(|o| subject.is_member_of(o)) {
        return Err(Denial::NotMember);
    }
    match subject.site.vote(t, action) {
        Vote::Allow => return Ok(()),
        Vote::Deny => return Err(Denial::SiteNegated),
        Vote::Abstain => {}
    }
    let owned = object.owner == Some(subject.user_id);
    let Some(org_id) = object.org else {
        // The user level applies only to objects without an organization.
        return if owned && subject.user.vote(t, action) == Vote::Allow {
            Ok(())
        } else {
            Err(Denial::NoGrant)
        };
    };
    let Some(m) = subject.membership(org_id) else {
        return Err(Denial::NotMember);
    };
    match m.org.vote(t, action) {
        Vote::Allow => Ok(()),
        Vote::Deny => Err(Denial::OrgNegated),
        Vote::Abstain if owned && m.member.vote(t, action) == Vote::Allow => Ok(()),
        Vote::Abstain => Err(Denial::NoGrant),
    }
}

/// Checks that hold whatever the object: the action is declared and within scope.
pub(crate) fn precheck(subject: &Subject, t: ResourceType, action: Action) -> Result<(), Denial> {
    if !t.actions().contains(action) {
        return Err(Denial::UndeclaredAction { rtype: t, action });
    }
    if let Some(scope) = &subject.scope
        && scope.vote(t, action) != Vote::Allow {
            return Err(Denial::OutOfScope);
        }
    Ok(())
}

impl Subject {
    /// Shorthand for [`authorize`].
    #[inline]
    pub fn authorize(&self, action: Action, object: &Object) -> Result<(), Denial> {
        authorize(self, action, object)
    }

    /// True when [`authorize`] allows.
    #[inline]
    pub fn can(&self, action: Action, object: &Object) -> bool {
        authorize(self, action, object).is_ok()
    }

    /// Of `candidates`, the organizations where the subject may perform `action` on an object
    /// of type `t` that it owns itself. This is "may start AI work in O" for
    /// `(Action::Create, ResourceType::Chat)`, which includes being a member of O. One binary
    /// search per candidate.
    pub fn permitted_orgs(
        &self,
        action: Action,
        t: ResourceType,
        candidates: impl IntoIterator<Item = uuid::Uuid>,
    ) -> Vec<uuid::Uuid> {
        candidates
            .into_iter()
            .filter(|&org| self.can(action, &Object::new(t).owned_by(self.user_id).in_org(org)))
            .collect()
    }
}
