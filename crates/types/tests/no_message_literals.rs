//! The catalogue is the only home of client-facing texts: this test reads the source of the
//! crates that answer clients (`api`, `store`, `provisioner` — whose build failures a job's
//! `error` shows; its build-log lines are log lines — and `chatd` apart from the text it writes
//! for the model: its tools' results and its prompts) and fails on any string literal that reads like
//! a message — a sentence, or a rule such as "… must …" — outside `#[cfg(test)]` code,
//! comments, log lines and audit descriptions. Add the text to `agentry_types::errors`
//! (a `ClientError` or a `Problem`) instead.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The string literals of one line (no raw strings; escapes kept as written).
fn literals(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut lit = String::new();
        let mut escaped = false;
        for c in chars.by_ref() {
            if escaped {
                lit.push(c);
                escaped = false;
            } else if c == '\\' {
                lit.push(c);
                escaped = true;
            } else if c == '"' {
                break;
            } else {
                lit.push(c);
            }
        }
        out.push(lit);
    }
    out
}

fn reads_like_a_message(lit: &str) -> bool {
    let sentence = lit.contains(' ')
        && lit.chars().next().is_some_and(|c| c.is_ascii_uppercase() || c == '{' || c == '\'')
        && lit.ends_with(['.', '!', '?']);
    let rule = [" must ", " cannot ", " is not ", " needs "].iter().any(|w| lit.contains(w));
    sentence || rule
}

#[test]
fn no_client_facing_message_literals_outside_the_catalogue() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for krate in ["api", "store", "provisioner", "chatd"] {
        rust_files(&crates.join(krate).join("src"), &mut files);
    }
    // Addressed to the model, not to a client.
    let model_facing = [crates.join("chatd/src/tools"), crates.join("chatd/src/prompt.rs")];
    files.retain(|f| !model_facing.iter().any(|m| f.starts_with(m)));
    let skip = ["tracing::", "expect(", "description", "panic!", "assert!", "println!", "eprintln!", "#[utoipa", "info("];
    let mut found = Vec::new();
    for file in files {
        // The OpenAPI document's response descriptions document statuses; they are not
        // messages a client receives.
        if file.ends_with("api/src/openapi.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let mut previous = "";
        for (n, line) in code.lines().enumerate() {
            let t = line.trim_start();
            // The first line of a call spread over several (`logs.info(format!(` …) counts too.
            let after_skipped_call = skip.iter().any(|s| previous.contains(s)) && previous.trim_end().ends_with('(');
            previous = line;
            if after_skipped_call {
                continue;
            }
            // `#[error(..)]`: internal error types' own texts, embedded at most as a `reason`
            // in a catalogue message.
            if t.starts_with("//") || t.starts_with("#[error(") || skip.iter().any(|s| line.contains(s)) {
                continue;
            }
            for lit in literals(line) {
                if reads_like_a_message(&lit) {
                    found.push(format!("{}:{}: {lit:?}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "message literals outside the catalogue:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_a_message() {
    assert!(reads_like_a_message("Chat is already archived."));
    assert!(reads_like_a_message("pin_order must not be negative"));
    assert!(!reads_like_a_message("SELECT id FROM chats WHERE id = $1"));
    assert_eq!(literals(r#"f("a", "b \"c\"")"#), vec!["a".to_string(), r#"b \"c\""#.to_string()]);
}
