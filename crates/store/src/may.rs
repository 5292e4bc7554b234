//! The questions handlers ask before they do work of their own (validating, hashing a
//! password): "may this actor create a user here?". Handlers never call the authorization
//! engine themselves; the store's methods decide again, authoritatively, when they run.

use agentry_rbac::{Action, Object, OrgRole, ResourceType, SiteRole};
use uuid::Uuid;

use crate::{Actor, Result, StoreError};

impl Actor<'_> {
    fn may_do(&self, action: Action, obj: &Object) -> Result<()> {
        self.subject.authorize(action, obj).map_err(StoreError::Forbidden)
    }

    /// Any authorization question, answered yes or no (`POST /authcheck`).
    pub fn may(&self, action: Action, obj: &Object) -> bool {
        self.subject.can(action, obj)
    }

    pub fn may_create_user(&self) -> Result<()> {
        self.may_do(Action::Create, &Object::new(ResourceType::User))
    }

    pub fn may_create_organization(&self) -> Result<()> {
        self.may_do(Action::Create, &Object::new(ResourceType::Organization))
    }

    pub fn may_create_template(&self, org: Uuid) -> Result<()> {
        self.may_do(Action::Create, &Object::new(ResourceType::Template).in_org(org))
    }

    pub fn may_update_template(&self, template: &crate::templates::Template) -> Result<()> {
        self.may_do(Action::Update, &crate::templates::template_object(template.id, template.organization_id))
    }

    pub fn may_create_workspace(&self, owner: Uuid, org: Uuid) -> Result<()> {
        self.may_do(Action::Create, &Object::new(ResourceType::Workspace).owned_by(owner).in_org(org))
    }

    /// Whether the actor may hand out the site role `role` (the role list marks it assignable).
    pub fn may_assign_site_role(&self, role: SiteRole) -> bool {
        self.subject.can(Action::Assign, &Object::new(ResourceType::AssignRole))
            && agentry_rbac::may_assign_site_role(self.subject, role)
    }

    /// Whether the actor may hand out the organization role `role` in `org`.
    pub fn may_assign_org_role(&self, org: Uuid, role: OrgRole) -> bool {
        self.subject.can(Action::Assign, &Object::new(ResourceType::AssignOrgRole).in_org(org))
            && agentry_rbac::may_assign_org_role(self.subject, org, role)
    }
}
