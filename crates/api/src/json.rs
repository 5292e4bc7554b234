//! A JSON body extractor whose every rejection is an [`ApiError`]: malformed or mistyped JSON
//! is a 400 (axum alone would answer 415/422 with plain text), an oversized body a 413.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ClientError};

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let headers = parts.headers.clone();
        let bytes = match axum::body::Bytes::from_request(Request::from_parts(parts, body), state).await {
            Ok(b) => b,
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(ClientError::BodyTooLarge.into()),
            Err(r) => return Err(ClientError::InvalidJson { reason: r.body_text() }.into()),
        };
        // The same checks (content type, syntax, shape) and rejections as `axum::Json`.
        let mut again = Request::new(axum::body::Body::from(bytes.clone()));
        *again.headers_mut() = headers;
        let value = match axum::Json::<T>::from_request(again, state).await {
            Ok(axum::Json(v)) => v,
            Err(rejection) => return Err(reject(rejection)),
        };
        if has_nul(&bytes) {
            return Err(ClientError::NulInBody.into());
        }
        Ok(ApiJson(value))
    }
}

/// Whether a JSON document has a string (or key) with a NUL character. PostgreSQL's `text`
/// and `jsonb` cannot hold one, so such a body is refused up front (it would otherwise fail
/// in the database as an internal error). JSON can only spell NUL as the escape `\u0000`.
fn has_nul(body: &[u8]) -> bool {
    fn walk(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(a) => a.iter().any(walk),
            serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || walk(v)),
            _ => false,
        }
    }
    body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
        && serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| walk(&v))
}

fn reject(r: JsonRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ClientError::BodyTooLarge.into();
    }
    ClientError::InvalidJson { reason: r.body_text() }.into()
}

/// Query-string extractor with the same error shape as [`ApiJson`].
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        // `%00` is the only way to put a NUL into a query; no value with one is valid (and
        // PostgreSQL's text cannot hold it).
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(ClientError::NulInQuery.into());
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|r| ClientError::InvalidQueryParameters { reason: r.body_text() }.into())
    }
}

/// Middleware: a path with a NUL character (`%00`) names nothing, so it is a 404 before any
/// handler reads it (PostgreSQL's text cannot hold a NUL: a lookup would fail as an internal error).
pub(crate) async fn refuse_nul_in_path(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    if req.uri().path().contains("%00") {
        return ApiError::not_found().into_response();
    }
    next.run(req).await
}

/// `limit`, `offset` and `after_id`, as every list endpoint takes them.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// 1 to 1000; absent or 0 means the route's default.
    #[param(minimum = 0, maximum = 1000)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    pub after_id: Option<uuid::Uuid>,
}

impl Pagination {
    /// The limit to use, checked: 1..=1000, `default` when absent or 0.
    pub fn limit(&self, default: i64) -> Result<i64, ApiError> {
        match self.limit {
            None | Some(0) => Ok(default),
            Some(l) if (1..=1000).contains(&l) => Ok(l),
            Some(_) => Err(ClientError::InvalidLimit.into()),
        }
    }

    pub fn offset(&self) -> Result<i64, ApiError> {
        match self.offset {
            None => Ok(0),
            Some(o) if o >= 0 => Ok(o),
            Some(_) => Err(ClientError::InvalidOffset.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nul_is_found_only_in_text() {
        assert!(super::has_nul(br#"{"name": "a\u0000b"}"#));
        assert!(super::has_nul(br#"{"a\u0000": 1}"#));
        assert!(super::has_nul(br#"[["\u0000"]]"#));
        // An escaped backslash followed by "u0000" is six ordinary characters.
        assert!(!super::has_nul(br#"{"name": "a\\u0000b"}"#));
        assert!(!super::has_nul(br#"{"name": "plain"}"#));
    }
}
