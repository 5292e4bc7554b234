//! Authentication as an extractor: a handler that takes [`Auth`] cannot run unauthenticated.
//!
//! A token is read from `Authorization: Bearer`, then the `Coder-Session-Token` header, then
//! the session cookie the web UI gets at login. It must belong to a live key of an active
//! user; anything else is a 401 that does not say which check failed.

use agentry_rbac::Subject;
use agentry_store::users::User;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::header;

use crate::AppState;
use crate::error::ApiError;

pub const SESSION_COOKIE: &str = "agentry_session_token";
pub const SESSION_HEADER: &str = "Coder-Session-Token";

/// The authenticated caller.
pub struct Auth {
    pub user: User,
    pub subject: Subject,
    /// The id part of the token used, so logout can end exactly this session.
    pub key_id: String,
    /// The token itself, so long-lived connections can re-check it.
    token: String,
}

impl Auth {
    /// Re-authenticates with the same token (for WebSockets that outlive a request). Fails if
    /// the session ended or the user was suspended; otherwise picks up role changes.
    pub async fn refresh(&mut self, state: &AppState) -> Result<(), ApiError> {
        let a = state.store.system().authenticate(&self.token).await?.ok_or_else(ApiError::unauthorized)?;
        self.user = a.user;
        self.subject = a.subject;
        Ok(())
    }
}

pub(crate) fn token_from(parts: &Parts) -> Option<String> {
    let h = &parts.headers;
    if let Some(v) = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(t.trim().to_string());
        }
    if let Some(v) = h.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string());
    }
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = token_from(parts).ok_or_else(ApiError::unauthorized)?;
        let found = state.store.system().authenticate(&token).await.map_err(ApiError::from)?;
        let a = found.ok_or_else(ApiError::unauthorized)?;
        Ok(Auth { user: a.user, subject: a.subject, key_id: a.key_id, token })
    }
}

/// Hashes a password with Argon2id on the blocking pool: it is deliberately slow CPU work.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let bytes: [u8; 16] = rand::random();
        let salt = SaltString::encode_b64(&bytes).map_err(ApiError::internal)?;
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Checks a password against a stored hash, on the blocking pool.
pub async fn verify_password(password: String, hash: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let Ok(parsed) = PasswordHash::new(&hash) else { return false };
        argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
    })
    .await
    .map_err(ApiError::internal)
}
