//! Parsing and checking what users send to chats: content parts, labels, dynamic tools, and
//! the title derived from the first message.

use std::collections::BTreeMap;

use agentry_sdk as sdk;
use agentry_store::Actor;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ClientError};
use agentry_types::{Part, Problem};

/// Content ready to store, and the files it references.
pub struct ParsedContent {
    pub parts: Vec<Part>,
    pub file_ids: Vec<Uuid>,
    pub first_text: Option<String>,
}

fn invalid_part(problem: Problem) -> ApiError {
    ClientError::InvalidInputPart { problem }.into()
}

/// Checks the shape of `content` (no database access): at least one part, each a known type
/// with its required fields. Type names are matched case-insensitively after trimming.
pub fn parse_content(content: Option<&Value>) -> ApiResult<(Vec<sdk::ChatInputPart>, ParsedContent)> {
    let items = match content {
        None | Some(Value::Null) => return Err(ClientError::ContentRequired.into()),
        Some(Value::Array(a)) if a.is_empty() => return Err(ClientError::ContentRequired.into()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(ClientError::ContentNotAnArray.into()),
    };
    let mut parsed = Vec::new();
    let mut parts = Vec::new();
    let mut file_ids = Vec::new();
    let mut first_text = None;
    for (i, item) in items.iter().enumerate() {
        let part: sdk::ChatInputPart = serde_json::from_value(item.clone())
            .map_err(|e| invalid_part(Problem::PartNotValid { index: i, reason: e.to_string() }))?;
        match part.kind.trim().to_ascii_lowercase().as_str() {
            "text" => {
                let text = part.text.as_deref().unwrap_or("").trim().to_string();
                if text.is_empty() {
                    return Err(invalid_part(Problem::PartTextEmpty { index: i }));
                }
                first_text.get_or_insert_with(|| text.clone());
                parts.push(Part::text(text));
            }
            "file" => {
                let id = part.file_id.ok_or_else(|| invalid_part(Problem::PartFileIdRequired { index: i }))?;
                file_ids.push(id);
                parts.push(Part::File { file_id: id, media_type: None, name: None });
            }
            "file-reference" => {
                let name = part.file_name.as_deref().unwrap_or("").trim();
                if name.is_empty() {
                    return Err(invalid_part(Problem::PartFileNameEmpty { index: i }));
                }
                let (start, end) = (part.start_line.unwrap_or(1), part.end_line.unwrap_or(1));
                if start < 1 || end < start {
                    return Err(invalid_part(Problem::PartLineRange { index: i }));
                }
                parts.push(Part::FileReference {
                    file_name: name.to_string(),
                    start_line: start,
                    end_line: end,
                    content: part.content.clone().unwrap_or_default(),
                });
            }
            other => return Err(invalid_part(Problem::PartType { index: i, kind: other.to_string() })),
        }
        parsed.push(part);
    }
    Ok((parsed, ParsedContent { parts, file_ids, first_text }))
}

/// Every file part must name a file the caller can read, uploaded for `org`. Fills in the
/// media type of each file part.
pub async fn check_files(actor: &Actor<'_>, org: Uuid, content: &mut ParsedContent) -> ApiResult<()> {
    actor.check_files(org, &mut content.parts).await?;
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

pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), ClientError> {
    let mut problems = Vec::new();
    if labels.len() > 50 {
        problems.push(("labels".to_string(), Problem::TooManyLabels));
    }
    for (k, val) in labels {
        if k.trim().is_empty() || k.len() > 64 || val.trim().is_empty() || val.len() > 256 {
            problems.push((format!("labels.{k}"), Problem::LabelSize));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(ClientError::InvalidLabels { problems }) }
}

pub fn check_dynamic_tools(tools: &[sdk::DynamicTool]) -> Result<(), ClientError> {
    if tools.len() > 250 {
        return Err(ClientError::TooManyDynamicTools);
    }
    let mut seen = std::collections::BTreeSet::new();
    for t in tools {
        if t.name.trim().is_empty() {
            return Err(ClientError::DynamicToolNameEmpty);
        }
        if !seen.insert(t.name.as_str()) {
            return Err(ClientError::DuplicateDynamicTool { name: t.name.clone() });
        }
        if !t.input_schema.is_object() {
            return Err(ClientError::InvalidDynamicTool { name: t.name.clone() });
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
                return Err(ClientError::InvalidLabelFilter { value: v.into_owned() }.into());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert_eq!(*e.error, ClientError::InvalidInputPart { problem: Problem::PartTextEmpty { index: 1 } });
        assert_eq!(parse_content(Some(&json!([]))).err().unwrap().error, Box::new(ClientError::ContentRequired));
        let (_, ok) = parse_content(Some(&json!([{"type": " TEXT ", "text": " hi "}]))).unwrap();
        assert_eq!(Part::content(&ok.parts), json!([{"type": "text", "text": "hi"}]));
    }
}
