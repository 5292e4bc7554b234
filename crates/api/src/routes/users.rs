//! `/api/v2/users/...`: first-user set-up, login/logout, users, site roles, API keys.

use agentry_rbac::SiteRole;
use agentry_sdk as sdk;
use agentry_store::users::{NewUser, UserQuery, UserRef};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{Auth, SESSION_COOKIE, dummy_hash, hash_password, verify_password};
use crate::error::{ApiError, ApiResult, ClientError};
use crate::json::{ApiJson, ApiQuery, Pagination};
use agentry_types::Problem;
use crate::{AppState, convert, validate};

/// 200 when the first user exists, 404 while the deployment still needs set-up.
#[utoipa::path(get, path = "/api/v2/users/first", tag = "users",
    responses((status = 200, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn first_exists(State(s): State<AppState>) -> ApiResult<Json<sdk::Response>> {
    if s.store.auth().has_users().await? {
        Ok(Json(sdk::Response::notice(sdk::notices::FIRST_USER_CREATED)))
    } else {
        Err(ClientError::FirstUserMissing.into())
    }
}

fn check_new_user(email: &str, username: &str, password: &str) -> ApiResult<()> {
    let mut v = Vec::new();
    validate::email("email", email, &mut v);
    validate::name("username", username, &mut v);
    validate::password("password", password, &mut v);
    if v.is_empty() { Ok(()) } else { Err(ApiError::validation(v)) }
}

#[utoipa::path(post, path = "/api/v2/users/first", tag = "users", request_body = sdk::CreateFirstUserRequest,
    responses((status = 201, body = sdk::CreateFirstUserResponse), (status = 400, body = sdk::Response), (status = 409, body = sdk::Response)))]
pub async fn create_first(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<sdk::CreateFirstUserRequest>,
) -> ApiResult<(StatusCode, Json<sdk::CreateFirstUserResponse>)> {
    check_new_user(&req.email, &req.username, &req.password)?;
    // Refuse early so a late second call does not spend a password hash.
    if s.store.auth().has_users().await? {
        return Err(ClientError::FirstUserExists.into());
    }
    let hashed_password = hash_password(req.password).await?;
    let new = NewUser {
        email: &req.email,
        username: &req.username,
        name: req.name.as_deref().unwrap_or(""),
        hashed_password,
    };
    let (user, org) = s.store.auth().create_first_user(&new).await?;
    Ok((StatusCode::CREATED, Json(sdk::CreateFirstUserResponse { user_id: user.id, organization_id: org })))
}

/// Whether the request declares a JSON body (`application/json`, or any `+json` type).
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")))
}

fn session_cookie(token: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("cookie is ASCII")
}

#[utoipa::path(post, path = "/api/v2/users/login", tag = "users", request_body = sdk::LoginRequest,
    responses((status = 201, body = sdk::LoginResponse), (status = 401, body = sdk::Response),
        (status = 429, description = "Too many failed logins; `Retry-After` says when to try again.", body = sdk::Response)))]
pub async fn login(
    State(s): State<AppState>,
    PeerIp(ip): PeerIp,
    ApiJson(req): ApiJson<sdk::LoginRequest>,
) -> ApiResult<Response> {
    let attempt = match s.logins.begin(&req.email, ip) {
        Ok(a) => a,
        Err(wait) => {
            let mut r = ApiError::from(ClientError::TooManyLoginAttempts).into_response();
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
            return Ok(r);
        }
    };
    let candidate = s.store.auth().login_candidate(&req.email).await?;
    // An unknown email costs one hash too (see `dummy_hash`), and fails the same way.
    let (user, hash) = match candidate {
        Some((user, hash)) => (Some(user), hash),
        None => (None, dummy_hash().await?),
    };
    let verified = verify_password(req.password, hash).await?;
    let Some(user) = user.filter(|_| verified) else {
        // The attempt stays counted as a failure.
        let ip = ip.map(|i| i.to_string());
        if let Err(e) = s.store.auth().audit_failed_login(&req.email, ip.as_deref()).await {
            tracing::warn!(error = %e, "recording a failed login failed");
        }
        return Err(ClientError::InvalidCredentials.into());
    };
    s.logins.succeeded(attempt);
    if !user.is_active() {
        return Err(ClientError::AccountSuspended.into());
    }
    let lifetime = s.config.session_lifetime;
    let token = s.store.auth().create_session(user.id, lifetime).await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, session_cookie(&token, lifetime.num_seconds(), s.config.secure_cookies));
    Ok((StatusCode::CREATED, headers, Json(sdk::LoginResponse { session_token: token })).into_response())
}

/// The client's address as the connection shows it (`None` when the server was started without
/// connection info, e.g. a router driven directly).
pub struct PeerIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let info = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(PeerIp(info.map(|c| c.0.ip())))
    }
}

#[utoipa::path(post, path = "/api/v2/users/logout", tag = "users", responses((status = 200, body = sdk::Response)))]
pub async fn logout(State(s): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    s.store.auth().delete_api_key(&auth.key_id).await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, session_cookie("", 0, s.config.secure_cookies));
    Ok((headers, Json(sdk::Response::notice(sdk::notices::LOGGED_OUT))))
}

#[utoipa::path(get, path = "/api/v2/users/me", tag = "users", responses((status = 200, body = sdk::User), (status = 401, body = sdk::Response)))]
pub async fn me(auth: Auth) -> Json<sdk::User> {
    Json(convert::user(auth.user))
}

#[utoipa::path(get, path = "/api/v2/users/{user}", tag = "users", params(("user" = String, Path, description = "id, username or me")),
    responses((status = 200, body = sdk::User), (status = 404, body = sdk::Response)))]
pub async fn get(State(s): State<AppState>, auth: Auth, Path(user): Path<String>) -> ApiResult<Json<sdk::User>> {
    let u = s.store.actor(&auth.subject).user(&UserRef::parse(&user)).await?;
    Ok(Json(convert::user(u)))
}

/// The query of `GET /api/v2/users`: paging plus Coder's search string.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersParams {
    /// 1 to 1000; absent or 0 means the route's default.
    #[param(minimum = 0, maximum = 1000)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    pub after_id: Option<uuid::Uuid>,
    /// Space-separated terms: `status:active|suspended`, `role:<site role>`, and words that
    /// must each appear in the username or email.
    pub q: Option<String>,
}

/// Parses Coder's user search string. Unknown `key:value` terms are refused rather than read as
/// words, so a filter agentry does not support never silently matches everyone.
fn parse_user_query(q: &str) -> ApiResult<UserQuery> {
    let mut query = UserQuery::default();
    let mut problems = Vec::new();
    for term in q.split_whitespace() {
        match term.split_once(':') {
            None => query.words.push(term.to_string()),
            Some(("status", v)) => match v.to_ascii_lowercase().as_str() {
                s @ ("active" | "suspended") => query.status = Some(s.to_string()),
                _ => problems.push(Problem::NotAUserStatus { value: v.to_string() }),
            },
            Some(("role", v)) => match SiteRole::parse(&v.to_ascii_lowercase()) {
                Some(r) => query.role = Some(r),
                None => problems.push(Problem::NotASiteRole { value: v.to_string() }),
            },
            Some((k, _)) => problems.push(Problem::UnsupportedUserFilter { key: k.to_string() }),
        }
    }
    if problems.is_empty() {
        return Ok(query);
    }
    let validations = problems.into_iter().map(|p| validate::entry("q", p)).collect();
    Err(ApiError::with_validations(ClientError::InvalidUserQuery, validations))
}

#[utoipa::path(get, path = "/api/v2/users", tag = "users", params(UsersParams),
    responses((status = 200, body = sdk::GetUsersResponse), (status = 400, body = sdk::Response)))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<UsersParams>,
) -> ApiResult<Json<sdk::GetUsersResponse>> {
    let query = parse_user_query(p.q.as_deref().unwrap_or(""))?;
    let page = Pagination { limit: p.limit, offset: p.offset, after_id: p.after_id };
    let (users, count) =
        s.store.actor(&auth.subject).users(&query, page.limit(100)?, page.offset()?, page.after_id).await?;
    Ok(Json(sdk::GetUsersResponse { users: users.into_iter().map(convert::user).collect(), count }))
}

#[utoipa::path(get, path = "/api/v2/users/{user}/organizations", tag = "users",
    params(("user" = String, Path, description = "id, username or me")),
    responses((status = 200, body = Vec<sdk::Organization>), (status = 404, body = sdk::Response)))]
pub async fn organizations(
    State(s): State<AppState>,
    auth: Auth,
    Path(user): Path<String>,
) -> ApiResult<Json<Vec<sdk::Organization>>> {
    let orgs = s.store.actor(&auth.subject).user_organizations(&UserRef::parse(&user)).await?;
    Ok(Json(orgs.into_iter().map(convert::organization).collect()))
}

#[utoipa::path(get, path = "/api/v2/users/{user}/organizations/{org}", tag = "users",
    params(("user" = String, Path, description = "id, username or me"), ("org" = String, Path, description = "id or name")),
    responses((status = 200, body = sdk::Organization), (status = 404, body = sdk::Response)))]
pub async fn organization(
    State(s): State<AppState>,
    auth: Auth,
    Path((user, org)): Path<(String, String)>,
) -> ApiResult<Json<sdk::Organization>> {
    let o = s.store.actor(&auth.subject).user_organization(&UserRef::parse(&user), &org).await?;
    Ok(Json(convert::organization(o)))
}

#[utoipa::path(post, path = "/api/v2/users", tag = "users", request_body = sdk::CreateUserRequest,
    responses((status = 201, body = sdk::User), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response), (status = 409, body = sdk::Response)))]
pub async fn create(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<sdk::CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<sdk::User>)> {
    // Refuse before validating or hashing so a caller without the permission learns nothing.
    s.store.actor(&auth.subject).may_create_user()?;
    check_new_user(&req.email, &req.username, &req.password)?;
    let hashed_password = hash_password(req.password).await?;
    let new = NewUser {
        email: &req.email,
        username: &req.username,
        name: req.name.as_deref().unwrap_or(""),
        hashed_password,
    };
    let orgs = req.organization_ids.unwrap_or_default();
    let u = s.store.actor(&auth.subject).create_user(&new, &orgs).await?;
    Ok((StatusCode::CREATED, Json(convert::user(u))))
}

fn parse_site_roles(names: &[String]) -> ApiResult<Vec<SiteRole>> {
    names
        .iter()
        .map(|n| {
            SiteRole::parse(n).ok_or_else(|| {
                ApiError::validation(vec![validate::entry("roles", Problem::NotASiteRole { value: n.clone() })])
            })
        })
        .collect()
}

#[utoipa::path(put, path = "/api/v2/users/{user}/roles", tag = "users", request_body = sdk::UpdateRolesRequest,
    params(("user" = String, Path)), responses((status = 200, body = sdk::User), (status = 403, body = sdk::Response)))]
pub async fn update_roles(
    State(s): State<AppState>,
    auth: Auth,
    Path(user): Path<String>,
    ApiJson(req): ApiJson<sdk::UpdateRolesRequest>,
) -> ApiResult<Json<sdk::User>> {
    let roles = parse_site_roles(&req.roles)?;
    let u = s.store.actor(&auth.subject).set_site_roles(&UserRef::parse(&user), &roles).await?;
    Ok(Json(convert::user(u)))
}

#[utoipa::path(put, path = "/api/v2/users/{user}/password", tag = "users", params(("user" = String, Path)),
    request_body = sdk::UpdateUserPasswordRequest,
    responses((status = 204, description = "Changed; the user's other sign-in sessions ended."),
        (status = 400, description = "A missing or wrong current password, or a too short new one.", body = sdk::Response)))]
pub async fn update_password(
    State(s): State<AppState>,
    auth: Auth,
    Path(user): Path<String>,
    ApiJson(req): ApiJson<sdk::UpdateUserPasswordRequest>,
) -> ApiResult<StatusCode> {
    let actor = s.store.actor(&auth.subject);
    let target = actor.user(&UserRef::parse(&user)).await?;
    let own = target.id == auth.user.id;
    let mut v = Vec::new();
    validate::password("password", &req.password, &mut v);
    if !v.is_empty() {
        return Err(ApiError::validation(v));
    }
    if own {
        let Some(old) = req.old_password else { return Err(ClientError::OldPasswordRequired.into()) };
        if !verify_password(old, actor.own_password_hash().await?).await? {
            return Err(ClientError::OldPasswordIncorrect.into());
        }
    }
    let hashed = hash_password(req.password).await?;
    // Your own change keeps the session you made it from; a reset by the owner ends them all.
    let keep = own.then_some(auth.key_id.as_str());
    actor.set_password(&UserRef::Id(target.id), &hashed, keep).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/v2/users/{user}/status/suspend", tag = "users", params(("user" = String, Path)),
    responses((status = 200, body = sdk::User), (status = 400, description = "You cannot suspend yourself.", body = sdk::Response)))]
pub async fn suspend(State(s): State<AppState>, auth: Auth, Path(user): Path<String>) -> ApiResult<Json<sdk::User>> {
    let u = s.store.actor(&auth.subject).set_user_status(&UserRef::parse(&user), false).await?;
    Ok(Json(convert::user(u)))
}

#[utoipa::path(put, path = "/api/v2/users/{user}/status/activate", tag = "users", params(("user" = String, Path)),
    responses((status = 200, body = sdk::User)))]
pub async fn activate(State(s): State<AppState>, auth: Auth, Path(user): Path<String>) -> ApiResult<Json<sdk::User>> {
    let u = s.store.actor(&auth.subject).set_user_status(&UserRef::parse(&user), true).await?;
    Ok(Json(convert::user(u)))
}

#[utoipa::path(post, path = "/api/v2/users/{user}/keys", tag = "users", params(("user" = String, Path)),
    request_body = sdk::CreateTokenRequest, responses((status = 201, body = sdk::GenerateApiKeyResponse)))]
pub async fn create_key(
    State(s): State<AppState>,
    auth: Auth,
    Path(user): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<sdk::GenerateApiKeyResponse>)> {
    // The body is optional: an empty one means every default; a body must be declared JSON.
    let req: sdk::CreateTokenRequest = if body.is_empty() {
        sdk::CreateTokenRequest::default()
    } else if !is_json(&headers) {
        return Err(ClientError::JsonContentTypeRequired.into());
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::from(ClientError::InvalidJson { reason: e.to_string() }))?
    };
    let seconds = req.lifetime_seconds.unwrap_or(30 * 24 * 3600);
    if !(60..=365 * 24 * 3600).contains(&seconds) {
        return Err(ApiError::validation(vec![validate::entry("lifetime_seconds", Problem::TokenLifetime)]));
    }
    let key = s
        .store
        .actor(&auth.subject)
        .create_api_key(
            &UserRef::parse(&user),
            chrono::Duration::seconds(seconds),
            req.token_name.as_deref().unwrap_or(""),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(sdk::GenerateApiKeyResponse { key })))
}

#[utoipa::path(get, path = "/api/v2/users/{user}/keys", tag = "users", params(("user" = String, Path)),
    responses((status = 200, body = Vec<sdk::ApiKey>), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn list_keys(State(s): State<AppState>, auth: Auth, Path(user): Path<String>) -> ApiResult<Json<Vec<sdk::ApiKey>>> {
    let keys = s.store.actor(&auth.subject).api_keys(&UserRef::parse(&user)).await?;
    Ok(Json(keys.into_iter().map(convert::api_key).collect()))
}

#[utoipa::path(delete, path = "/api/v2/users/{user}/keys/{id}", tag = "users", params(("user" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn delete_key(
    State(s): State<AppState>,
    auth: Auth,
    Path((user, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.store.actor(&auth.subject).delete_user_api_key(&UserRef::parse(&user), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v2/users/roles", tag = "users", responses((status = 200, body = Vec<sdk::AssignableRole>)))]
pub async fn site_roles(State(s): State<AppState>, auth: Auth) -> Json<Vec<sdk::AssignableRole>> {
    let actor = s.store.actor(&auth.subject);
    Json(
        SiteRole::ALL
            .into_iter()
            .map(|r| {
                let assignable = actor.may_assign_site_role(r);
                convert::role(r.role(), r.display_name(), None, assignable)
            })
            .collect(),
    )
}
