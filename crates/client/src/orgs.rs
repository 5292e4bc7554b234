//! Organizations and their members.

use agentry_sdk as sdk;
use reqwest::Method;

use crate::{Client, Result};

impl Client {
    pub async fn organizations(&self) -> Result<Vec<sdk::Organization>> {
        self.get("/api/v2/organizations").await
    }

    /// An organization by id or name.
    pub async fn organization(&self, org: &str) -> Result<sdk::Organization> {
        self.get(&format!("/api/v2/organizations/{org}")).await
    }

    pub async fn create_organization(&self, req: &sdk::CreateOrganizationRequest) -> Result<sdk::Organization> {
        self.json(Method::POST, "/api/v2/organizations", req).await
    }

    pub async fn update_organization(&self, org: &str, req: &sdk::UpdateOrganizationRequest) -> Result<sdk::Organization> {
        self.json(Method::PATCH, &format!("/api/v2/organizations/{org}"), req).await
    }

    pub async fn delete_organization(&self, org: &str) -> Result<()> {
        self.send_empty(self.request(Method::DELETE, &format!("/api/v2/organizations/{org}"))).await
    }

    /// Every member, by username: the server answers a page at a time (`limit`, `after_id`),
    /// so this follows the pages to the end.
    pub async fn members(&self, org: &str) -> Result<Vec<sdk::OrganizationMember>> {
        const PAGE: usize = 100;
        let mut all: Vec<sdk::OrganizationMember> = Vec::new();
        loop {
            let after = all.last().map(|m| format!("&after_id={}", m.user_id)).unwrap_or_default();
            let page: Vec<sdk::OrganizationMember> = self.get(&format!("/api/v2/organizations/{org}/members?limit={PAGE}{after}")).await?;
            let done = page.len() < PAGE;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    pub async fn add_member(&self, org: &str, user: &str) -> Result<sdk::OrganizationMember> {
        self.send(self.request(Method::POST, &format!("/api/v2/organizations/{org}/members/{user}"))).await
    }

    pub async fn remove_member(&self, org: &str, user: &str) -> Result<()> {
        self.send_empty(self.request(Method::DELETE, &format!("/api/v2/organizations/{org}/members/{user}"))).await
    }

    /// Replaces the member's org roles.
    pub async fn update_member_roles(&self, org: &str, user: &str, roles: &[&str]) -> Result<sdk::OrganizationMember> {
        let req = sdk::UpdateRolesRequest { roles: roles.iter().map(|r| r.to_string()).collect() };
        self.json(Method::PUT, &format!("/api/v2/organizations/{org}/members/{user}/roles"), &req).await
    }

    pub async fn org_roles(&self, org: &str) -> Result<Vec<sdk::AssignableRole>> {
        self.get(&format!("/api/v2/organizations/{org}/members/roles")).await
    }
}
