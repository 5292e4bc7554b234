//! The JSON shapes of agentry's HTTP API (snake_case, Coder-compatible where SPEC §3 pins them).
//!
//! Only wire types live here: the server converts its domain rows into these, and the typed
//! client and the CLI decode them. Nothing here talks to a network or a database.

mod chats;
mod workspaces;

pub use agentry_types::{ClientError, Problem, errors::CheckProblem, errors::ValueProblem, notices};
pub use chats::*;
pub use workspaces::*;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Every error response: a human message, an optional detail and per-field validations, plus
/// the stable `code` of the error (see `agentry_types::ClientError`; absent in answers that
/// are not errors and in payloads from servers that predate codes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub struct Response {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validations: Vec<ValidationError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl Response {
    /// A successful answer that carries only a message.
    pub fn notice(message: &str) -> Response {
        Response { message: message.to_string(), ..Default::default() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ValidationError {
    pub field: String,
    pub detail: String,
}

/// `GET /api/v2/buildinfo`: Coder's `BuildInfoResponse`, plus agentry's `workspace_isolation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BuildInfo {
    pub version: String,
    pub external_url: String,
    /// Where the web UI is served: the access URL (agentry has no separate dashboard).
    #[serde(default)]
    pub dashboard_url: String,
    /// Always false: agentry sends no telemetry.
    #[serde(default)]
    pub telemetry: bool,
    /// Always false: this is a server, never a Coder workspace proxy.
    #[serde(default)]
    pub workspace_proxy: bool,
    /// Empty: agentry does not speak Coder's workspace-agent API.
    #[serde(default)]
    pub agent_api_version: String,
    /// Empty: agentry does not speak Coder's provisioner-daemon API.
    #[serde(default)]
    pub provisioner_api_version: String,
    /// Empty: agentry has no upgrade advice to show.
    #[serde(default)]
    pub upgrade_message: String,
    /// Identifies this deployment; generated once, when the database is created.
    #[serde(default)]
    pub deployment_id: String,
    /// How workspace processes are isolated: `sandbox` (bubblewrap, the default),
    /// `unsandboxed` (the operator passed `--unsafe-unsandboxed-workspaces`: workspaces run as
    /// the server's own user) or `unavailable` (no sandbox on this host: workspaces cannot start).
    #[serde(default)]
    pub workspace_isolation: String,
}

/// Coder writes "no organization" (a site role) as an empty string rather than null. agentry
/// writes it the same way and reads either.
mod empty_as_none {
    use serde::{Deserialize, Deserializer, Serializer};
    use uuid::Uuid;

    pub fn serialize<S: Serializer>(v: &Option<Uuid>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(id) => s.collect_str(id),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => Uuid::parse_str(&s).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

// ---- users and sessions ----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateFirstUserRequest {
    #[schema(format = Email, max_length = 254, example = "dev@example.com")]
    pub email: String,
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$", example = "dev")]
    pub username: String,
    #[schema(min_length = 8, max_length = 256, example = "correct horse battery")]
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateFirstUserResponse {
    pub user_id: Uuid,
    pub organization_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(example = "dev@example.com")]
    pub email: String,
    #[schema(example = "correct horse battery")]
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    pub session_token: String,
}

/// `PUT /api/v2/users/{user}/password`. Your own password needs `old_password`; a site owner
/// setting someone else's does not.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateUserPasswordRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub old_password: Option<String>,
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    #[schema(format = Email, max_length = 254, example = "dev@example.com")]
    pub email: String,
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$", example = "dev")]
    pub username: String,
    #[schema(min_length = 8, max_length = 256, example = "correct horse battery")]
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Organizations to join; the default organization when absent.
    #[serde(default)]
    pub organization_ids: Option<Vec<Uuid>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Suspended,
}

/// How a user signs in. agentry has passwords only (Coder also has `github`, `oidc`, `none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginType {
    Password,
}

/// A role held by a user: a site role (`organization_id` is `""`, as in Coder) or an org role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub struct SlimRole {
    pub name: String,
    /// The name people read (`Organization Admin`); empty for a role agentry does not know.
    #[serde(default)]
    pub display_name: String,
    /// The organization an org role is held in; `""` for a site role.
    #[serde(with = "empty_as_none", default)]
    #[schema(value_type = String)]
    pub organization_id: Option<Uuid>,
}

/// A user: Coder's `User` (`ReducedUser` plus `organization_ids` and `roles`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub name: String,
    /// Always empty: agentry has no avatars.
    #[serde(default)]
    pub avatar_url: String,
    pub status: UserStatus,
    /// Always `password`.
    pub login_type: LoginType,
    /// Site roles, the implicit `member` included.
    pub roles: Vec<SlimRole>,
    pub organization_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The last authenticated request, to the minute; `0001-01-01T00:00:00Z` (Coder's zero
    /// time) for a user who has never made one.
    pub last_seen_at: DateTime<Utc>,
}

/// `GET /api/v2/users`: one page of users and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GetUsersResponse {
    pub users: Vec<User>,
    /// Users matching the query, across all pages.
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UpdateRolesRequest {
    pub roles: Vec<String>,
}

/// One permission of a role: `(negate, resource_type, action)`, as in Coder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Permission {
    pub negate: bool,
    pub resource_type: String,
    pub action: String,
}

/// A role as listed by the role endpoints (Coder's `AssignableRoles`): its permissions at each
/// level, and whether the caller may assign it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AssignableRole {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    /// The organization an org role is listed for; `""` for a site role.
    #[serde(with = "empty_as_none", default)]
    #[schema(value_type = String)]
    pub organization_id: Option<Uuid>,
    /// Grants on every object.
    #[serde(default)]
    pub site_permissions: Vec<Permission>,
    /// Grants on the objects of the organization the role is held in.
    #[serde(default)]
    pub organization_permissions: Vec<Permission>,
    /// Grants on the holder's own objects in that organization.
    #[serde(default)]
    pub organization_member_permissions: Vec<Permission>,
    /// Grants on the holder's own objects that belong to no organization.
    #[serde(default)]
    pub user_permissions: Vec<Permission>,
    pub assignable: bool,
    /// Always true: agentry has no custom roles.
    #[serde(default)]
    pub built_in: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub struct CreateTokenRequest {
    /// Lifetime in seconds (60 seconds to 365 days); 30 days when absent.
    #[serde(default)]
    #[schema(minimum = 60, maximum = 31536000, example = 86400)]
    pub lifetime_seconds: Option<i64>,
    #[serde(default)]
    pub token_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GenerateApiKeyResponse {
    pub key: String,
}

/// An API key or login session, as listed by `GET /users/{user}/keys`. The secret is never
/// shown again after creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    /// The id part of the token (`<id>-<secret>`); revoke with `DELETE …/keys/{id}`.
    pub id: String,
    pub user_id: Uuid,
    /// The token's name; empty for a login session.
    pub name: String,
    /// `token` (created with `POST …/keys`) or `password` (a login session).
    pub login_type: String,
    /// What the key may do: always `all` (every key acts with its user's full rights).
    pub scope: String,
    pub created_at: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

// ---- organizations and members ----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateOrganizationRequest {
    /// 1–32 letters, digits, `-` or `_`; not `me`.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$", example = "platform-team")]
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub struct UpdateOrganizationRequest {
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$")]
    pub name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub display_name: String,
    pub description: String,
    /// Always empty: agentry has no organization icons.
    #[serde(default)]
    pub icon: String,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A membership with its user's details (Coder's `OrganizationMemberWithUserData`); every
/// member route answers with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationMember {
    pub organization_id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    pub name: String,
    pub email: String,
    /// Always empty: agentry has no avatars.
    #[serde(default)]
    pub avatar_url: String,
    /// Assigned org roles (the implicit `organization-member` is not listed).
    pub roles: Vec<SlimRole>,
    /// The user's site roles, the implicit `member` included.
    pub global_roles: Vec<SlimRole>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

// ---- authorization checks ----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthorizationRequest {
    pub checks: BTreeMap<String, AuthorizationCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthorizationCheck {
    pub object: AuthorizationObject,
    pub action: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthorizationObject {
    pub resource_type: String,
    /// A user id, or `me`.
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub organization_id: Option<Uuid>,
    #[serde(default)]
    pub resource_id: Option<Uuid>,
}

pub type AuthorizationResponse = BTreeMap<String, bool>;

// ---- audit log ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditLog {
    pub id: Uuid,
    pub time: DateTime<Utc>,
    pub user_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    /// `create`, `write`, `delete`, ...
    pub action: String,
    pub resource_type: String,
    pub resource_id: Uuid,
    pub resource_target: String,
    #[schema(value_type = Object)]
    pub diff: serde_json::Value,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditLogResponse {
    pub audit_logs: Vec<AuditLog>,
    pub count: i64,
}

// ---- replicas (the deployment's server processes) ----

/// One server process sharing the deployment's database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Replica {
    pub id: Uuid,
    pub hostname: String,
    /// The base URL other replicas relay workspace operations to.
    pub relay_address: String,
    /// The server's release version.
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub last_heartbeat_at: DateTime<Utc>,
    /// The heartbeat is recent; a process that died without a clean shutdown stays listed,
    /// not alive, for a day.
    pub alive: bool,
    /// Chats this process is running now.
    pub chats_running: i64,
    /// WebSockets this process held at its last heartbeat.
    pub sockets: ReplicaSockets,
}

/// A process's open WebSockets by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReplicaSockets {
    /// Chat event streams.
    pub stream: i32,
    /// Watch sockets (change hints for the chat list).
    pub watch: i32,
    /// Workspace agents' connections.
    pub agent: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_without_a_code_still_parse() {
        let old: Response = serde_json::from_str(r#"{"message":"Forbidden."}"#).unwrap();
        assert_eq!(old.code, None);
        let new: Response = serde_json::from_str(r#"{"message":"Forbidden.","code":"forbidden"}"#).unwrap();
        assert_eq!(new.code.as_deref(), Some(ClientError::Forbidden.code()));
        // A notice carries no code, so its JSON is what it always was.
        assert_eq!(serde_json::to_string(&Response::notice(notices::LOGGED_OUT)).unwrap(), r#"{"message":"Logged out."}"#);
    }
}
