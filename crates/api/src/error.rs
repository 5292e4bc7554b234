//! The one error type at the HTTP edge. Every failure becomes `{message, detail?, validations?}`
//! with a fixed status; internal errors are logged and answered with a generic message.

use agentry_sdk::{Response as ErrorBody, ValidationError};
use agentry_store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Client-facing messages the spec pins, kept in one place so tests can assert them.
pub mod messages {
    pub const NOT_FOUND: &str = "Resource not found or you do not have access to this resource";
    pub const FORBIDDEN: &str = "Forbidden.";
    pub const UNAUTHORIZED: &str = "You must be logged in to do that.";
    pub const INVALID_CREDENTIALS: &str = "Incorrect email or password.";
    pub const INVALID_JSON: &str = "Request body must be valid JSON.";
    pub const BODY_TOO_LARGE: &str = "Request body is too large.";
    pub const VALIDATION_FAILED: &str = "Validation failed.";
    pub const INTERNAL: &str = "An internal error occurred.";
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub detail: Option<String>,
    pub validations: Vec<ValidationError>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), detail: None, validations: Vec::new() }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, messages::NOT_FOUND)
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, messages::FORBIDDEN)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, messages::UNAUTHORIZED)
    }

    pub fn internal(err: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, messages::INTERNAL)
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    /// A 400 listing every invalid field.
    pub fn validation(validations: Vec<ValidationError>) -> ApiError {
        ApiError { validations, ..ApiError::bad_request(messages::VALIDATION_FAILED) }
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
            StoreError::Conflict(msg) => ApiError::new(StatusCode::CONFLICT, msg),
            StoreError::Invalid { message, field: Some(field) } => ApiError {
                validations: vec![ValidationError { field, detail: message.clone() }],
                ..ApiError::bad_request(message)
            },
            StoreError::Invalid { message, field: None } => ApiError::bad_request(message),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { message: self.message, detail: self.detail, validations: self.validations };
        (self.status, Json(body)).into_response()
    }
}
