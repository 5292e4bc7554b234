//! List filters: `prepare(subject, action, type)` and its rendering to a SQL `WHERE` fragment.
//!
//! The filter is the same decision as [`crate::authorize`] solved for "which (organization,
//! owner) pairs are allowed", so list queries can filter in SQL and pagination stays correct.
//! Rendering never puts a value into SQL text: values become numbered bind parameters, and the
//! only text spliced in is the column names the caller configured (static strings).

use uuid::Uuid;

use crate::authorize::precheck;
use crate::perms::Vote;
use crate::resource::{Action, ResourceType};
use crate::subject::Subject;

/// Which rows of one type a subject may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Every row (a site-level grant).
    All,
    /// No row.
    Nothing,
    /// Rows matching any of the conditions.
    Some(Conditions),
}

/// The OR of up to three conditions; at least one is non-empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conditions {
    /// The subject's id, for the owner comparisons.
    pub me: Uuid,
    /// Any row in these organizations (org-level grants), sorted.
    pub orgs: Vec<Uuid>,
    /// Rows the subject owns in these organizations (member-level grants in orgs whose org
    /// level does not negate), sorted.
    pub owned_in_orgs: Vec<Uuid>,
    /// Rows the subject owns that have no organization (user-level grants).
    pub owned_without_org: bool,
}

/// Prepares the filter for listing objects of type `t` the subject may perform `action` on.
pub fn prepare(subject: &Subject, action: Action, t: ResourceType) -> Filter {
    if precheck(subject, t, action).is_err() {
        return Filter::Nothing;
    }
    // Actions that need membership never match a row outside the subject's organizations,
    // even under a site-level grant (see `authorize`).
    let members_only = t.needs_membership(action);
    match subject.site.vote(t, action) {
        Vote::Allow if members_only => {
            let orgs: Vec<Uuid> = subject.memberships.iter().map(|m| m.org_id).collect();
            if orgs.is_empty() {
                return Filter::Nothing;
            }
            return Filter::Some(Conditions { me: subject.user_id, orgs, owned_in_orgs: Vec::new(), owned_without_org: false });
        }
        Vote::Allow => return Filter::All,
        Vote::Deny => return Filter::Nothing,
        Vote::Abstain => {}
    }
    let mut orgs = Vec::new();
    let mut owned_in_orgs = Vec::new();
    // Memberships are sorted by org id, so both lists come out sorted.
    for m in &subject.memberships {
        match m.org.vote(t, action) {
            Vote::Allow => orgs.push(m.org_id),
            Vote::Deny => {}
            Vote::Abstain => {
                if m.member.vote(t, action) == Vote::Allow {
                    owned_in_orgs.push(m.org_id);
                }
            }
        }
    }
    let owned_without_org = !members_only && subject.user.vote(t, action) == Vote::Allow;
    if orgs.is_empty() && owned_in_orgs.is_empty() && !owned_without_org {
        return Filter::Nothing;
    }
    Filter::Some(Conditions { me: subject.user_id, orgs, owned_in_orgs, owned_without_org })
}

impl Subject {
    /// Shorthand for [`prepare`].
    pub fn prepare(&self, action: Action, t: ResourceType) -> Filter {
        prepare(self, action, t)
    }
}

/// The columns a table stores an object's organization and owner in. `None` means the table's
/// objects never have one (users have no organization; templates have no owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    pub org: Option<&'static str>,
    pub owner: Option<&'static str>,
}

/// A bind parameter of a rendered filter, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlParam {
    Uuid(Uuid),
    UuidArray(Vec<Uuid>),
}

/// A rendered `WHERE` fragment. `sql` references `$first .. $first + params.len() - 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlFragment {
    pub sql: String,
    pub params: Vec<SqlParam>,
}

impl Filter {
    /// Whether a row with this organization and owner passes. Agrees with `authorize` for
    /// the subject, action and type the filter was prepared for.
    pub fn matches(&self, org: Option<Uuid>, owner: Option<Uuid>) -> bool {
        match self {
            Filter::All => true,
            Filter::Nothing => false,
            Filter::Some(c) => {
                let owned = owner == Some(c.me);
                match org {
                    Some(o) => {
                        c.orgs.binary_search(&o).is_ok()
                            || (owned && c.owned_in_orgs.binary_search(&o).is_ok())
                    }
                    None => owned && c.owned_without_org,
                }
            }
        }
    }

    /// Renders the filter over `cols`, numbering parameters from `$first`.
    pub fn to_sql(&self, cols: Columns, first: usize) -> SqlFragment {
        let c = match self {
            Filter::All => return SqlFragment { sql: "TRUE".into(), params: vec![] },
            Filter::Nothing => return SqlFragment { sql: "FALSE".into(), params: vec![] },
            Filter::Some(c) => c,
        };
        let mut terms: Vec<String> = Vec::new();
        let mut params: Vec<SqlParam> = Vec::new();
        let mut me_param: Option<usize> = None;
        let mut me = |params: &mut Vec<SqlParam>| -> usize {
            *me_param.get_or_insert_with(|| {
                params.push(SqlParam::Uuid(c.me));
                first + params.len() - 1
            })
        };
        if let Some(org) = cols.org {
            if !c.orgs.is_empty() {
                params.push(SqlParam::UuidArray(c.orgs.clone()));
                terms.push(format!("{org} = ANY(${}::uuid[])", first + params.len() - 1));
            }
            if let Some(owner) = cols.owner {
                if !c.owned_in_orgs.is_empty() {
                    let me = me(&mut params);
                    params.push(SqlParam::UuidArray(c.owned_in_orgs.clone()));
                    terms.push(format!(
                        "({owner} = ${me}::uuid AND {org} = ANY(${}::uuid[]))",
                        first + params.len() - 1
                    ));
                }
                if c.owned_without_org {
                    let me = me(&mut params);
                    terms.push(format!("({owner} = ${me}::uuid AND {org} IS NULL)"));
                }
            }
        } else if let Some(owner) = cols.owner {
            // Rows of this table never have an organization: only the user level can match.
            if c.owned_without_org {
                let me = me(&mut params);
                terms.push(format!("{owner} = ${me}::uuid"));
            }
        }
        if terms.is_empty() {
            return SqlFragment { sql: "FALSE".into(), params: vec![] };
        }
        SqlFragment { sql: format!("({})", terms.join(" OR ")), params }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::OrgRole;

    const COLS: Columns = Columns { org: Some("c.organization_id"), owner: Some("c.owner_id") };

    fn ids() -> (Uuid, Uuid, Uuid) {
        let mut v = [Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)];
        v.sort();
        (v[0], v[1], v[2])
    }

    #[test]
    fn owner_is_true_and_strangers_are_false() {
        let (me, ..) = ids();
        let owner = Subject::new(me).with_site_role(crate::SiteRole::Owner);
        assert_eq!(owner.prepare(Action::Read, ResourceType::Chat).to_sql(COLS, 1).sql, "TRUE");
        let nobody = Subject::new(me);
        let f = nobody.prepare(Action::Read, ResourceType::Chat);
        assert_eq!(f, Filter::Nothing);
        assert_eq!(f.to_sql(COLS, 1).sql, "FALSE");
    }

    #[test]
    fn renders_numbered_parameters_and_no_values() {
        let (me, a, b) = ids();
        let s = Subject::new(me).with_org(a, &[OrgRole::OrganizationAdmin]).with_org(b, &[]);
        let frag = s.prepare(Action::Read, ResourceType::Chat).to_sql(COLS, 3);
        assert_eq!(
            frag.sql,
            "(c.organization_id = ANY($3::uuid[]) OR (c.owner_id = $4::uuid AND c.organization_id = ANY($5::uuid[])))"
        );
        assert_eq!(
            frag.params,
            vec![SqlParam::UuidArray(vec![a]), SqlParam::Uuid(me), SqlParam::UuidArray(vec![b])]
        );
        for id in [me, a, b] {
            assert!(!frag.sql.contains(&id.to_string()));
        }
    }

    #[test]
    fn tables_without_org_column_use_the_user_level_only() {
        let (me, a, _) = ids();
        let s = Subject::new(me).with_org(a, &[OrgRole::OrganizationAdmin]);
        let cols = Columns { org: None, owner: Some("u.id") };
        let frag = s.prepare(Action::ReadPersonal, ResourceType::User).to_sql(cols, 1);
        assert_eq!(frag.sql, "(u.id = $1::uuid)");
        // Org admins read users through a site-level grant.
        let frag = s.prepare(Action::Read, ResourceType::User).to_sql(cols, 1);
        assert_eq!(frag.sql, "TRUE");
    }

    #[test]
    fn ban_removes_an_org_from_the_owned_list() {
        let (me, a, b) = ids();
        let s = Subject::new(me)
            .with_org(a, &[OrgRole::OrganizationWorkspaceCreationBan])
            .with_org(b, &[]);
        let Filter::Some(c) = s.prepare(Action::Create, ResourceType::Workspace) else {
            panic!("expected conditions")
        };
        assert_eq!(c.owned_in_orgs, vec![b]);
        assert!(c.orgs.is_empty());
    }
}
