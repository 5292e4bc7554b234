//! agentry's authorization engine.
//!
//! One model decides everything: a [`Subject`] (a user with site roles and per-organization
//! roles) may perform an [`Action`] on an [`Object`] (a resource type plus optional id, owner and
//! organization) when its roles' permissions allow it at the site, org, member or user level.
//! [`authorize`] answers for one object; [`prepare`] answers for a whole table as a [`Filter`]
//! that renders to a parameterised SQL `WHERE` fragment. The two agree on every row (a property
//! test checks this against PostgreSQL).
//!
//! **Invariant:** this crate does no I/O. It knows nothing about HTTP, SQL connections, the
//! disk or the clock; the SQL it renders is text plus typed parameters for the caller to bind.
//!
//! **Invariant:** there is no "every type" wildcard. Roles list what they grant per type, and
//! adding a [`ResourceType`] variant does not compile until the owner role and the per-type
//! tables say what to do with it.

mod assign;
mod authorize;
mod filter;
mod perms;
mod resource;
mod role;
mod subject;

pub use assign::{may_assign_org_role, may_assign_site_role};
pub use authorize::{Denial, authorize};
pub use filter::{Columns, Conditions, Filter, SqlFragment, SqlParam, prepare};
pub use perms::{PermSet, Vote};
pub use resource::{Action, ActionSet, ResourceType};
pub use role::{OrgRole, Role, SiteRole};
pub use subject::{Object, Subject};
