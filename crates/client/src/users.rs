//! Users, sessions, site roles and API keys.

use agentry_sdk as sdk;
use reqwest::Method;

use crate::{Client, Result};

impl Client {
    pub async fn create_first_user(&self, req: &sdk::CreateFirstUserRequest) -> Result<sdk::CreateFirstUserResponse> {
        self.json(Method::POST, "/api/v2/users/first", req).await
    }

    /// Whether the first user exists (the set-up screen shows while it does not).
    pub async fn has_first_user(&self) -> Result<bool> {
        match self.send_empty(self.request(Method::GET, "/api/v2/users/first")).await {
            Ok(()) => Ok(true),
            Err(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<sdk::LoginResponse> {
        let req = sdk::LoginRequest { email: email.into(), password: password.into() };
        self.json(Method::POST, "/api/v2/users/login", &req).await
    }

    /// Logs in and returns a client carrying the new session token.
    pub async fn logged_in(&self, email: &str, password: &str) -> Result<Client> {
        Ok(self.with_token(self.login(email, password).await?.session_token))
    }

    pub async fn logout(&self) -> Result<()> {
        self.send_empty(self.request(Method::POST, "/api/v2/users/logout")).await
    }

    pub async fn me(&self) -> Result<sdk::User> {
        self.get("/api/v2/users/me").await
    }

    /// A user by id, username or `me`.
    pub async fn user(&self, user: &str) -> Result<sdk::User> {
        self.get(&format!("/api/v2/users/{user}")).await
    }

    /// One page of users, by username, with how many there are in all.
    pub async fn users(&self, limit: i64, offset: i64) -> Result<sdk::GetUsersResponse> {
        self.search_users("", limit, offset).await
    }

    /// One page of the users matching Coder's search string `q` (`status:active`,
    /// `role:owner`, words in the username or email), with how many match in all.
    pub async fn search_users(&self, q: &str, limit: i64, offset: i64) -> Result<sdk::GetUsersResponse> {
        let rb = self.request(Method::GET, "/api/v2/users").query(&[
            ("q", q.to_string()),
            ("limit", limit.to_string()),
            ("offset", offset.to_string()),
        ]);
        self.send(rb).await
    }

    /// The organizations a user (id, username or `me`) belongs to that the caller may read.
    pub async fn user_organizations(&self, user: &str) -> Result<Vec<sdk::Organization>> {
        self.get(&format!("/api/v2/users/{user}/organizations")).await
    }

    /// One of [`Client::user_organizations`], by id or name.
    pub async fn user_organization(&self, user: &str, org: &str) -> Result<sdk::Organization> {
        self.get(&format!("/api/v2/users/{user}/organizations/{org}")).await
    }

    pub async fn create_user(&self, req: &sdk::CreateUserRequest) -> Result<sdk::User> {
        self.json(Method::POST, "/api/v2/users", req).await
    }

    pub async fn update_site_roles(&self, user: &str, roles: &[&str]) -> Result<sdk::User> {
        let req = sdk::UpdateRolesRequest { roles: roles.iter().map(|r| r.to_string()).collect() };
        self.json(Method::PUT, &format!("/api/v2/users/{user}/roles"), &req).await
    }

    /// Changes a password: your own (with `old_password`), or anyone's as the site owner.
    pub async fn update_password(&self, user: &str, req: &sdk::UpdateUserPasswordRequest) -> Result<()> {
        let rb = self.request(Method::PUT, &format!("/api/v2/users/{user}/password")).json(req);
        self.send_empty(rb).await
    }

    pub async fn suspend_user(&self, user: &str) -> Result<sdk::User> {
        self.send(self.request(Method::PUT, &format!("/api/v2/users/{user}/status/suspend"))).await
    }

    pub async fn activate_user(&self, user: &str) -> Result<sdk::User> {
        self.send(self.request(Method::PUT, &format!("/api/v2/users/{user}/status/activate"))).await
    }

    pub async fn create_api_key(&self, user: &str, req: &sdk::CreateTokenRequest) -> Result<sdk::GenerateApiKeyResponse> {
        self.json(Method::POST, &format!("/api/v2/users/{user}/keys"), req).await
    }

    /// A user's keys and sessions (never their secrets).
    pub async fn api_keys(&self, user: &str) -> Result<Vec<sdk::ApiKey>> {
        self.get(&format!("/api/v2/users/{user}/keys")).await
    }

    /// Revokes a key (by the id part of its token).
    pub async fn delete_api_key(&self, user: &str, id: &str) -> Result<()> {
        self.send_empty(self.request(Method::DELETE, &format!("/api/v2/users/{user}/keys/{id}"))).await
    }

    pub async fn site_roles(&self) -> Result<Vec<sdk::AssignableRole>> {
        self.get("/api/v2/users/roles").await
    }
}
