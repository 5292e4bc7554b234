//! Parsing and checking what users send to chats: content parts, labels, dynamic tools, and
//! the title derived from the first message.

use std::collections::BTreeMap;

use agentry_sdk as sdk;
use agentry_store::Actor;
use axum::http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, messages};

/// Content ready to store, and the files it references.
pub struct ParsedContent {
    pub parts: Value,
    pub file_ids: Vec<Uuid>,
    pub first_text: Option<String>,
}

fn invalid_part(detail: String) -> ApiError {
    ApiError::bad_request(messages::INVALID_INPUT_PART).with_detail(detail)
}

/// Checks the shape of `content` (no database access): at least one part, each a known type
/// with its required fields. Type names are matched case-insensitively after trimming.
pub fn parse_content(content: Option<&Value>) -> ApiResult<(Vec<sdk::ChatInputPart>, ParsedContent)> {
    let items = match content {
        None | Some(Value::Null) => return Err(ApiError::bad_request(messages::CONTENT_REQUIRED)),
        Some(Value::Array(a)) if a.is_empty() => return Err(ApiError::bad_request(messages::CONTENT_REQUIRED)),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(ApiError::bad_request(messages::CONTENT_REQUIRED).with_detail("content must be an array of parts.")),
    };
    let mut parsed = Vec::new();
    let mut parts = Vec::new();
    let mut file_ids = Vec::new();
    let mut first_text = None;
    for (i, item) in items.iter().enumerate() {
        let part: sdk::ChatInputPart = serde_json::from_value(item.clone())
            .map_err(|e| invalid_part(format!("content[{i}] is not a valid part: {e}")))?;
        match part.kind.trim().to_ascii_lowercase().as_str() {
            "text" => {
                let text = part.text.as_deref().unwrap_or("").trim().to_string();
                if text.is_empty() {
                    return Err(invalid_part(format!("content[{i}].text cannot be empty.")));
                }
                first_text.get_or_insert_with(|| text.clone());
                parts.push(json!({"type": "text", "text": text}));
            }
            "file" => {
                let id = part.file_id.ok_or_else(|| invalid_part(format!("content[{i}].file_id is required.")))?;
                file_ids.push(id);
                parts.push(json!({"type": "file", "file_id": id}));
            }
            "file-reference" => {
                let name = part.file_name.as_deref().unwrap_or("").trim();
                if name.is_empty() {
                    return Err(invalid_part(format!("content[{i}].file_name cannot be empty.")));
                }
                let (start, end) = (part.start_line.unwrap_or(1), part.end_line.unwrap_or(1));
                if start < 1 || end < start {
                    return Err(invalid_part(format!("content[{i}] has an invalid line range.")));
                }
                parts.push(json!({
                    "type": "file-reference", "file_name": name, "start_line": start, "end_line": end,
                    "content": part.content.clone().unwrap_or_default(),
                }));
            }
            other => return Err(invalid_part(format!("content[{i}].type {other:?} is not one of text, file, file-reference."))),
        }
        parsed.push(part);
    }
    Ok((parsed, ParsedContent { parts: Value::Array(parts), file_ids, first_text }))
}

/// Every file part must name a file the caller can read, uploaded for `org`. Fills in the
/// media type of each file part.
pub async fn check_files(actor: &Actor<'_>, org: Uuid, content: &mut ParsedContent) -> ApiResult<()> {
    let Some(parts) = content.parts.as_array_mut() else { return Ok(()) };
    let mut file_index = 0;
    for (i, part) in parts.iter_mut().enumerate() {
        if part["type"] != "file" {
            continue;
        }
        let id = content.file_ids[file_index];
        file_index += 1;
        let meta = match actor.chat_file_meta(id).await {
            Ok(m) => m,
            Err(agentry_store::StoreError::NotFound) => {
                return Err(invalid_part(format!("content[{i}].file_id references a file that does not exist.")));
            }
            Err(e) => return Err(e.into()),
        };
        if meta.organization_id != org {
            return Err(ApiError::bad_request(messages::FILE_OTHER_ORG)
                .with_detail(format!("content[{i}].file_id belongs to a different organization.")));
        }
        part["media_type"] = json!(meta.mimetype);
        part["name"] = json!(meta.name);
    }
    Ok(())
}

/// A title from the first words of the first text: six words, at most 80 characters.
pub fn title_from(text: Option<&str>) -> String {
    let words: Vec<&str> = text.unwrap_or("").split_whitespace().collect();
    if words.is_empty() {
        return "New Chat".into();
    }
    let mut title = words.iter().take(6).copied().collect::<Vec<_>>().join(" ");
    let mut truncated = words.len() > 6;
    if title.chars().count() > 80 {
        title = title.chars().take(79).collect();
        truncated = true;
    }
    if truncated {
        title.push('…');
    }
    title
}

pub fn check_labels(labels: &BTreeMap<String, String>) -> ApiResult<()> {
    let mut v = Vec::new();
    if labels.len() > 50 {
        v.push(sdk::ValidationError { field: "labels".into(), detail: "At most 50 labels.".into() });
    }
    for (k, val) in labels {
        if k.trim().is_empty() || k.len() > 64 || val.trim().is_empty() || val.len() > 256 {
            v.push(sdk::ValidationError {
                field: format!("labels.{k}"),
                detail: "Keys (1–64 characters) and values (1–256 characters) must not be empty.".into(),
            });
        }
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(ApiError { validations: v, ..ApiError::bad_request("Invalid labels.") })
    }
}

pub fn check_dynamic_tools(tools: &[sdk::DynamicTool]) -> ApiResult<()> {
    if tools.len() > 250 {
        return Err(ApiError::bad_request("Too many dynamic tools."));
    }
    let mut seen = std::collections::BTreeSet::new();
    for t in tools {
        if t.name.trim().is_empty() {
            return Err(ApiError::bad_request("Dynamic tool names must not be empty."));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(ApiError::bad_request("Duplicate dynamic tool name.").with_detail(t.name.clone()));
        }
        if !t.input_schema.is_object() {
            return Err(ApiError::bad_request("Invalid dynamic tool.")
                .with_detail(format!("{}: input_schema must be a JSON object.", t.name)));
        }
    }
    Ok(())
}

/// `label=key:value` pairs from a raw query string (repeatable, all must match).
pub fn label_filter(raw_query: Option<&str>) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.unwrap_or("").as_bytes()) {
        if k != "label" {
            continue;
        }
        match v.split_once(':') {
            Some((key, val)) if !key.is_empty() && !val.is_empty() => {
                out.insert(key.to_string(), val.to_string());
            }
            _ => {
                return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("Invalid label filter: {v:?}."))
                    .with_detail("Use label=key:value."));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles() {
        assert_eq!(title_from(Some("  fix the build  ")), "fix the build");
        assert_eq!(title_from(Some("one two three four five six seven")), "one two three four five six…");
        assert_eq!(title_from(None), "New Chat");
        assert_eq!(title_from(Some(&"x".repeat(100))).chars().count(), 80);
    }

    #[test]
    fn content_errors_name_the_part() {
        let e = parse_content(Some(&json!([{"type": "text", "text": "ok"}, {"type": "text", "text": "  "}]))).err().unwrap();
        assert_eq!(e.message, messages::INVALID_INPUT_PART);
        assert_eq!(e.detail.as_deref(), Some("content[1].text cannot be empty."));
        assert_eq!(parse_content(Some(&json!([]))).err().unwrap().message, messages::CONTENT_REQUIRED);
        let (_, ok) = parse_content(Some(&json!([{"type": " TEXT ", "text": " hi "}]))).unwrap();
        assert_eq!(ok.parts, json!([{"type": "text", "text": "hi"}]));
    }
}
