//! An organization's workspace templates.

use agentry_sdk as sdk;
use reqwest::Method;
use uuid::Uuid;

use crate::{Client, Result};

impl Client {
    /// Templates of an organization (id or name), the first 1000 by name.
    pub async fn templates(&self, org: &str) -> Result<Vec<sdk::Template>> {
        self.templates_page(org, 1000, 0).await
    }

    pub async fn templates_page(&self, org: &str, limit: i64, offset: i64) -> Result<Vec<sdk::Template>> {
        self.get(&format!("/api/v2/organizations/{org}/templates?limit={limit}&offset={offset}")).await
    }

    /// Every template the caller may read, in any organization (`GET /api/v2/templates`).
    pub async fn all_templates(&self, limit: i64, offset: i64) -> Result<Vec<sdk::Template>> {
        self.search_templates("", limit, offset).await
    }

    /// The templates the caller may read that match Coder's search string `q`
    /// (`organization:`, `deprecated:`, `exact_name:`, words in the name).
    pub async fn search_templates(&self, q: &str, limit: i64, offset: i64) -> Result<Vec<sdk::Template>> {
        let rb = self.request(Method::GET, "/api/v2/templates").query(&[
            ("q", q.to_string()),
            ("limit", limit.to_string()),
            ("offset", offset.to_string()),
        ]);
        self.send(rb).await
    }

    pub async fn create_template(&self, org: &str, req: &sdk::CreateTemplateRequest) -> Result<sdk::Template> {
        self.json(Method::POST, &format!("/api/v2/organizations/{org}/templates"), req).await
    }

    pub async fn template(&self, id: Uuid) -> Result<sdk::Template> {
        self.get(&format!("/api/v2/templates/{id}")).await
    }

    pub async fn update_template(&self, id: Uuid, req: &sdk::UpdateTemplateRequest) -> Result<sdk::Template> {
        self.json(Method::PATCH, &format!("/api/v2/templates/{id}"), req).await
    }

    /// The template's versions, newest first (the first 100).
    pub async fn template_versions(&self, id: Uuid) -> Result<Vec<sdk::TemplateVersion>> {
        self.get(&format!("/api/v2/templates/{id}/versions")).await
    }

    pub async fn delete_template(&self, id: Uuid) -> Result<()> {
        self.send_empty(self.request(Method::DELETE, &format!("/api/v2/templates/{id}"))).await
    }
}
