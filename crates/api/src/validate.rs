//! Input rules shared by several routes. Each returns the validation entries it found, so a
//! request with several bad fields learns about all of them at once.

use agentry_sdk::ValidationError;

fn err(field: &str, detail: &str) -> ValidationError {
    ValidationError { field: field.to_string(), detail: detail.to_string() }
}

pub fn email(field: &str, v: &str, out: &mut Vec<ValidationError>) {
    let ok = v.len() <= 254
        && !v.chars().any(char::is_whitespace)
        && match v.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty() && !domain.contains('@') && domain.contains('.')
                    && !domain.starts_with('.') && !domain.ends_with('.')
            }
            None => false,
        };
    if !ok {
        out.push(err(field, "Must be a valid email address."));
    }
}

/// Usernames and organization names: 1–32 letters, digits, `-` or `_`, not `me`.
pub fn name(field: &str, v: &str, out: &mut Vec<ValidationError>) {
    if v.is_empty() {
        out.push(err(field, "Must not be empty."));
    } else if v.len() > 32 {
        out.push(err(field, "Must be at most 32 characters."));
    } else if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        out.push(err(field, "Only letters, digits, '-' and '_' are allowed."));
    } else if v == "me" {
        out.push(err(field, "'me' is reserved."));
    }
}

pub fn password(field: &str, v: &str, out: &mut Vec<ValidationError>) {
    if v.chars().count() < 8 {
        out.push(err(field, "Must be at least 8 characters."));
    } else if v.len() > 256 {
        out.push(err(field, "Must be at most 256 characters."));
    }
}
