//! The one error type at the HTTP edge. Every failure becomes `{message, detail?, validations?}`
//! with a fixed status; internal errors are logged and answered with a generic message.

use agentry_sdk::{Response as ErrorBody, ValidationError};
use agentry_store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Client-facing messages the spec pins, kept in one place so tests can assert them.
pub mod messages {
    /// The agent route refused a token (unknown, revoked, or of a deleted workspace).
    pub const AGENT_TOKEN_INVALID: &str = "The workspace agent token is invalid or has been revoked.";
    /// A workspace operation whose workspace is not running.
    pub const WORKSPACE_NOT_RUNNING: &str = "The workspace is not running; start it first.";
    /// `external-agent` on a workspace whose agent the server runs itself.
    pub const NOT_EXTERNAL_WORKSPACE: &str =
        "This workspace's agent is run by the server (its template's kind is local); only external workspaces have an agent command.";
    pub const NOT_FOUND: &str = "Resource not found or you do not have access to this resource";
    pub const FORBIDDEN: &str = "Forbidden.";
    pub const UNAUTHORIZED: &str = "You must be logged in to do that.";
    pub const INVALID_CREDENTIALS: &str = "Incorrect email or password.";
    pub const INVALID_JSON: &str = "Request body must be valid JSON.";
    pub const BODY_TOO_LARGE: &str = "Request body is too large.";
    pub const VALIDATION_FAILED: &str = "Validation failed.";
    pub const INTERNAL: &str = "An internal error occurred.";
    pub const ORGANIZATION_REQUIRED: &str = "organization_id is required.";
    pub const NOT_A_MEMBER: &str = "You are not a member of the specified organization.";
    pub const CONTENT_REQUIRED: &str = "Content is required.";
    pub const INVALID_INPUT_PART: &str = "Invalid input part.";
    pub const WORKSPACE_NOT_FOUND: &str = "Workspace not found or you do not have access to this resource";
    pub const WORKSPACE_OTHER_ORG: &str = "Workspace does not belong to the specified organization.";
    pub const WORKSPACE_OTHER_CHAT_ORG: &str = "Workspace does not belong to this chat's organization.";
    pub const INVALID_MODEL_CONFIG: &str = "Invalid model config ID.";
    pub const NO_DEFAULT_MODEL: &str = "No default chat model config is configured.";
    pub const FILE_OTHER_ORG: &str = "File does not belong to the specified organization.";
    pub const USAGE_LIMIT: &str = "Chat usage limit exceeded.";
    pub const QUEUE_FULL: &str = "Message queue is full.";
    pub const CHAT_MESSAGE_NOT_FOUND: &str = "Chat message not found.";
    pub const QUEUED_MESSAGE_NOT_FOUND: &str = "Queued message not found.";
    pub const INVALID_CHAT_ID: &str = "Invalid chat ID.";
    pub const INVALID_USER_QUERY: &str = "Invalid user search query.";
    pub const INVALID_TEMPLATE_QUERY: &str = "Invalid template search query.";
    pub const TEMPLATE_VERSION_MISMATCH: &str = "The template version is not a version of this workspace's template.";
    /// A chat's `last_error` when its owner lost the right to start AI work in its organization
    /// (written by the store and the chat daemon, which own the text).
    pub const NO_AI_ACCESS: &str = agentry_store::chats::NO_AI_ACCESS;
    pub const TOO_MANY_LOGINS: &str = "Too many failed login attempts. Try again later.";
    pub const CROSS_ORIGIN: &str = "Cross-origin requests authenticated by the session cookie are not allowed.";
    pub const JSON_CONTENT_TYPE: &str = "Expected request with `Content-Type: application/json`.";
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub detail: Option<String>,
    pub validations: Vec<ValidationError>,
    /// Extra top-level fields for the few errors that carry data (the usage limit's numbers).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), detail: None, validations: Vec::new(), extra: Default::default() }
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
            StoreError::QueueFull => ApiError::new(StatusCode::TOO_MANY_REQUESTS, messages::QUEUE_FULL)
                .with_detail(format!("Maximum {} messages can be queued.", agentry_store::chats::MAX_QUEUED)),
            StoreError::MessageNotFound => ApiError::new(StatusCode::NOT_FOUND, messages::CHAT_MESSAGE_NOT_FOUND),
            StoreError::QueuedNotFound => ApiError::new(StatusCode::NOT_FOUND, messages::QUEUED_MESSAGE_NOT_FOUND),
            StoreError::TemplateVersionMismatch => ApiError {
                validations: vec![ValidationError {
                    field: "template_version_id".into(),
                    detail: messages::TEMPLATE_VERSION_MISMATCH.into(),
                }],
                ..ApiError::bad_request(messages::TEMPLATE_VERSION_MISMATCH)
            },
            StoreError::UsageLimit { spent_micros, limit_micros, resets_at } => {
                let mut e = ApiError::new(StatusCode::CONFLICT, messages::USAGE_LIMIT).with_detail(format!(
                    "Spent ${:.2} of ${:.2} this period; the limit resets at {}.",
                    spent_micros as f64 / 1e6,
                    limit_micros as f64 / 1e6,
                    resets_at.to_rfc3339()
                ));
                e.extra.insert("spent_micros".into(), spent_micros.into());
                e.extra.insert("limit_micros".into(), limit_micros.into());
                e.extra.insert("resets_at".into(), resets_at.to_rfc3339().into());
                e
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { message: self.message, detail: self.detail, validations: self.validations };
        let mut value = serde_json::to_value(body).expect("error body serializes");
        if let Some(obj) = value.as_object_mut() {
            obj.extend(self.extra);
        }
        (self.status, Json(value)).into_response()
    }
}
