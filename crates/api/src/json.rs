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
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(reject(rejection)),
        }
    }
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
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|r| ClientError::InvalidQueryParameters { reason: r.body_text() }.into())
    }
}

/// `limit`, `offset` and `after_id`, as every list endpoint takes them.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    pub limit: Option<i64>,
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
