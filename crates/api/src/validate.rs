//! Input rules shared by several routes. Each returns the validation entries it found, so a
//! request with several bad fields learns about all of them at once.

use agentry_sdk::ValidationError;
use agentry_types::Problem;

/// A validation entry: `field` broke the catalogue rule `problem`.
pub fn entry(field: &str, problem: Problem) -> ValidationError {
    ValidationError { field: field.to_string(), detail: problem.to_string() }
}

fn err(field: &str, problem: Problem) -> ValidationError {
    entry(field, problem)
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
        out.push(err(field, Problem::InvalidEmail));
    }
}

/// Usernames and organization names: 1–32 letters, digits, `-` or `_`, not `me`.
pub fn name(field: &str, v: &str, out: &mut Vec<ValidationError>) {
    if v.is_empty() {
        out.push(err(field, Problem::Empty));
    } else if v.len() > 32 {
        out.push(err(field, Problem::TooLong { max: 32 }));
    } else if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        out.push(err(field, Problem::NameCharacters));
    } else if v == "me" {
        out.push(err(field, Problem::ReservedName));
    }
}

pub fn password(field: &str, v: &str, out: &mut Vec<ValidationError>) {
    if v.chars().count() < 8 {
        out.push(err(field, Problem::TooShort { min: 8 }));
    } else if v.len() > 256 {
        out.push(err(field, Problem::TooLong { max: 256 }));
    }
}
