//! Domain rows → wire types. Only this crate knows both.

use agentry_sdk as sdk;
use agentry_store::{audit::AuditRow, members::Member, orgs::Organization, users::User};

pub fn user(u: User) -> sdk::User {
    sdk::User {
        id: u.id,
        status: if u.is_active() { sdk::UserStatus::Active } else { sdk::UserStatus::Suspended },
        // `member` is implicit for every user; list it so clients see the whole set.
        roles: std::iter::once("member".to_string())
            .chain(u.site_roles)
            .map(|name| sdk::SlimRole { name, organization_id: None })
            .collect(),
        username: u.username,
        email: u.email,
        name: u.name,
        organization_ids: u.organization_ids,
        created_at: u.created_at,
    }
}

pub fn organization(o: Organization) -> sdk::Organization {
    sdk::Organization {
        id: o.id,
        name: o.name,
        display_name: o.display_name,
        description: o.description,
        is_default: o.is_default,
        created_at: o.created_at,
        updated_at: o.updated_at,
    }
}

pub fn member(m: Member) -> sdk::OrganizationMember {
    let org = m.organization_id;
    sdk::OrganizationMember {
        organization_id: org,
        user_id: m.user_id,
        username: m.username,
        roles: m.roles.into_iter().map(|name| sdk::SlimRole { name, organization_id: Some(org) }).collect(),
        created_at: m.created_at,
    }
}

pub fn audit(a: AuditRow) -> sdk::AuditLog {
    sdk::AuditLog {
        id: a.id,
        time: a.time,
        user_id: a.user_id,
        organization_id: a.organization_id,
        action: a.action,
        resource_type: a.resource_type,
        resource_id: a.resource_id,
        resource_target: a.resource_target,
        diff: a.diff,
        description: a.description,
    }
}
