//! Chat attachments: upload for an organization, download.
//!
//! Uploads are raw bodies. The declared `Content-Type` must be on the allow-list *and* match
//! what the bytes are (sniffed), so a file cannot be smuggled in under an innocent type. SVG is
//! refused on purpose: it can carry script.

use agentry_sdk as sdk;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ClientError};
use crate::json::ApiQuery;
use crate::AppState;

/// Largest attachment accepted.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;

const ALLOWED: [&str; 5] = ["image/png", "image/jpeg", "image/gif", "image/webp", "text/plain"];

/// The type the bytes actually are, among the allowed ones.
fn sniff(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if data.len() >= 12 && &data[0..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else if !data.contains(&0) && std::str::from_utf8(data).is_ok() {
        Some("text/plain")
    } else {
        None
    }
}

/// `filename="..."` from a Content-Disposition header, at most 255 bytes (cut on a char boundary).
fn file_name(headers: &HeaderMap) -> String {
    let raw = headers.get(header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let name = raw
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("filename="))
        .next()
        .map(|n| n.trim_matches('"').to_string())
        .unwrap_or_default();
    let mut end = name.len().min(255);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The organization the file is for (id or name); it can only be attached to chats there.
    /// Required: its absence is a 400.
    #[param(required = true)]
    pub organization: Option<String>,
}

#[utoipa::path(post, path = "/api/experimental/chats/files", tag = "chats", params(UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = sdk::UploadChatFileResponse), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response), (status = 413, body = sdk::Response)))]
pub async fn upload(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<sdk::UploadChatFileResponse>)> {
    let org = match p.organization.as_deref() {
        None | Some("") => return Err(ClientError::MissingOrganizationParameter.into()),
        Some(o) => Uuid::parse_str(o).map_err(|_| ApiError::from(ClientError::InvalidOrganizationId))?,
    };
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !ALLOWED.contains(&declared.as_str()) {
        return Err(ClientError::UnsupportedFileType { declared: declared.to_string() }.into());
    }
    let data = axum::body::to_bytes(body, MAX_FILE_BYTES)
        .await
        .map_err(|_| ApiError::from(ClientError::FileTooLarge))?;
    if sniff(&data) != Some(declared.as_str()) {
        return Err(ClientError::FileTypeMismatch.into());
    }
    let meta = s.store.actor(&auth.subject).upload_chat_file(org, &file_name(&headers), &declared, &data).await?;
    Ok((StatusCode::CREATED, Json(sdk::UploadChatFileResponse { id: meta.id })))
}

#[utoipa::path(get, path = "/api/experimental/chats/files/{file}", tag = "chats", params(("file" = Uuid, Path)),
    responses((status = 200, description = "The file, with the type it was uploaded as (one of the allowed types).",
        content((Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/gif"), (Vec<u8> = "image/webp"), (Vec<u8> = "text/plain"))),
        (status = 404, body = sdk::Response)))]
pub async fn download(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::from(ClientError::InvalidFileId))?;
    let file = s.store.actor(&auth.subject).chat_file(id).await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(&file.meta.mimetype).map_err(ApiError::internal)?);
    let disposition = format!("inline; filename=\"{}\"", file.meta.name.replace(['"', '\\', '\r', '\n'], "_"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    Ok((headers, file.data).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff(b"hello\n"), Some("text/plain"));
        assert_eq!(sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), Some("text/plain"));
        assert_eq!(sniff(&[0, 1, 2, 0xff]), None);
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
    }
}
