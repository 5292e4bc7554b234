//! The agent loop reaches the store only as the chat owner (`Store::actor`) or through the
//! worker's own tasks (`Store::worker`): never authentication (`Store::auth`), the build runner
//! (`Store::builds`) or site tasks (`Store::system`). This reads the crate's source.

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

#[test]
fn the_agent_loop_uses_only_the_worker_view_of_the_store() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for view in [".auth()", ".builds()", ".system()"] {
                if line.contains(view) && !line.trim_start().starts_with("//") {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "chatd reaches a store view other than worker():\n{}", found.join("\n"));
}
