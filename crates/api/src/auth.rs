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
        let a = state.store.auth().authenticate(&self.token).await?.ok_or_else(ApiError::unauthorized)?;
        state.store.auth().record_activity(a.user.id).await;
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
        let found = state.store.auth().authenticate(&token).await.map_err(ApiError::from)?;
        let a = found.ok_or_else(ApiError::unauthorized)?;
        state.store.auth().record_activity(a.user.id).await;
        Ok(Auth { user: a.user, subject: a.subject, key_id: a.key_id, token })
    }
}

/// Argon2 runs at most this many at once (twice the cores), each in one of as many reused
/// 19 MiB work areas: a flood of logins waits for a permit instead of exhausting memory. The
/// work areas are kept rather than freed, because freeing and reallocating 19 MiB from many
/// blocking threads leaves each thread's allocator arena holding its own copy.
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    tokio::sync::Semaphore::new(cores * 2)
});
static WORK_AREAS: std::sync::Mutex<Vec<Vec<argon2::Block>>> = std::sync::Mutex::new(Vec::new());

/// Runs `f` with a work area of `blocks` blocks, on the blocking pool, under a permit.
async fn with_work_area<T: Send + 'static>(
    blocks: usize,
    f: impl FnOnce(&mut [argon2::Block]) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _permit = HASHING.acquire().await.map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(move || {
        let mut area = WORK_AREAS.lock().expect("work areas lock").pop().unwrap_or_default();
        area.resize(blocks, argon2::Block::new());
        let out = f(&mut area);
        WORK_AREAS.lock().expect("work areas lock").push(area);
        out
    })
    .await
    .map_err(ApiError::internal)
}

/// Hashes a password with Argon2id (default parameters) on the blocking pool: it is
/// deliberately slow CPU work.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
    let params = argon2::Params::default();
    let bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&bytes).map_err(ApiError::internal)?;
    with_work_area(params.block_count(), move |area| {
        let argon = argon2::Argon2::from(params.clone());
        let mut salt_bytes = [0u8; 64];
        let raw_salt = salt.as_salt().decode_b64(&mut salt_bytes).map_err(ApiError::internal)?;
        let len = params.output_len().unwrap_or(argon2::Params::DEFAULT_OUTPUT_LEN);
        let output = Output::init_with(len, |out| {
            argon.hash_password_into_with_memory(password.as_bytes(), raw_salt, out, &mut *area).map_err(Into::into)
        })
        .map_err(ApiError::internal)?;
        let hash = PasswordHash {
            algorithm: argon2::Algorithm::default().ident(),
            version: Some(argon2::Version::default().into()),
            params: ParamsString::try_from(&params).map_err(ApiError::internal)?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(hash.to_string())
    })
    .await?
}

/// A hash of a random password, made with the same parameters as every stored hash: a login
/// for an unknown email is checked against it, so it costs what a wrong password for a real
/// account costs and timing does not tell which emails exist.
pub async fn dummy_hash() -> Result<String, ApiError> {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| async {
            let bytes: [u8; 24] = rand::random();
            hash_password(bytes.iter().map(|b| format!("{b:02x}")).collect()).await
        })
        .await
        .cloned()
}

/// Checks a password against a stored PHC hash (any Argon2 variant and parameters), on the
/// blocking pool. A malformed hash never matches.
pub async fn verify_password(password: String, hash: String) -> Result<bool, ApiError> {
    use argon2::password_hash::PasswordHash;
    let blocks = match PasswordHash::new(&hash).ok().and_then(|p| argon2::Params::try_from(&p).ok()) {
        Some(params) => params.block_count(),
        None => return Ok(false),
    };
    with_work_area(blocks, move |area| {
        let Ok(parsed) = PasswordHash::new(&hash) else { return false };
        let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) =
            (argon2::Algorithm::try_from(parsed.algorithm), argon2::Params::try_from(&parsed), parsed.salt, parsed.hash)
        else {
            return false;
        };
        let version = match parsed.version.map(argon2::Version::try_from).transpose() {
            Ok(v) => v.unwrap_or_default(),
            Err(_) => return false,
        };
        let mut salt_bytes = [0u8; 64];
        let Ok(raw_salt) = salt.decode_b64(&mut salt_bytes) else { return false };
        let mut out = vec![0u8; expected.len()];
        let argon = argon2::Argon2::new(algorithm, version, params);
        if argon.hash_password_into_with_memory(password.as_bytes(), raw_salt, &mut out, &mut *area).is_err() {
            return false;
        }
        // Constant time: how much matched must not show in the timing.
        out.len() == expected.len() && out.iter().zip(expected.as_bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_interoperate_with_the_argon2_crate() {
        let h = hash_password("s3cret".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret".into(), h.clone()).await.unwrap());
        assert!(!verify_password("wrong".into(), h.clone()).await.unwrap());
        // Hashes made by the crate's own hasher (what older releases stored) still verify.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let theirs = argon2::Argon2::default().hash_password(b"pw", &salt).unwrap().to_string();
        assert!(verify_password("pw".into(), theirs).await.unwrap());
        let parsed = argon2::password_hash::PasswordHash::new(&h).unwrap();
        assert!(argon2::Argon2::default().verify_password(b"s3cret", &parsed).is_ok());
        assert!(!verify_password("x".into(), "not a hash".into()).await.unwrap());
    }
}
