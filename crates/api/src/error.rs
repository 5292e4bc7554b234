//! The one error type at the HTTP edge. Every failure is a [`ClientError`] from the catalogue
//! (`agentry_types::errors`) and becomes `{code, message, detail?, validations?}` with the
//! catalogue's status; internal errors are logged and answered with a generic message.

use agentry_sdk::{Response as ErrorBody, ValidationError};
use agentry_store::StoreError;
pub use agentry_types::ClientError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    /// What went wrong, from the catalogue: code, status, message and any fixed detail (boxed:
    /// the biggest variants would make every `Result` of a handler large).
    pub error: Box<ClientError>,
    /// A detail known only at run time (a parser's account of bad JSON), replacing the
    /// catalogue's.
    pub detail: Option<String>,
    /// Per-field problems, beside the one the catalogue entry names (if any).
    pub validations: Vec<ValidationError>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_found() -> ApiError {
        ClientError::NotFound.into()
    }

    pub fn forbidden() -> ApiError {
        ClientError::Forbidden.into()
    }

    pub fn unauthorized() -> ApiError {
        ClientError::Unauthorized.into()
    }

    pub fn internal(err: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "internal error");
        ClientError::Internal.into()
    }

    /// The catalogue error `error`, listing `validations` (each problem of a request at once).
    pub fn with_validations(error: ClientError, validations: Vec<ValidationError>) -> ApiError {
        ApiError { validations, ..error.into() }
    }

    /// `Validation failed.` listing every invalid field.
    pub fn validation(validations: Vec<ValidationError>) -> ApiError {
        ApiError::with_validations(ClientError::ValidationFailed, validations)
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The response body, as clients see it.
    pub fn body(&self) -> ErrorBody {
        let message = self.error.message();
        let mut validations: Vec<ValidationError> =
            self.error.validations().into_iter().map(|(field, detail)| ValidationError { field, detail }).collect();
        validations.extend(self.validations.iter().cloned());
        ErrorBody {
            message,
            detail: self.detail.clone().or_else(|| self.error.detail()),
            validations,
            code: Some(self.error.code().to_string()),
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(error: ClientError) -> ApiError {
        ApiError { error: Box::new(error), detail: None, validations: Vec::new() }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Forbidden(denial) => {
                tracing::debug!(%denial, "forbidden");
                ApiError::forbidden()
            }
            StoreError::Client(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut value = serde_json::to_value(self.body()).expect("error body serializes");
        if let Some(obj) = value.as_object_mut() {
            obj.extend(self.error.extra());
        }
        (self.status(), Json(value)).into_response()
    }
}
