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

/// The modules of this crate import each other without a cycle (`daemon` → `run`, both →
/// `state`; `run` never imports `daemon`).
#[test]
fn the_module_graph_has_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    // Top-level module of a file: `run.rs` → run, `tools/mod.rs` → tools.
    let module_of = |f: &Path| -> String {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
        first.trim_end_matches(".rs").to_string()
    };
    let mut edges: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for f in &files {
        let from = module_of(f);
        if from == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                group.split('}').next().unwrap().split(',').map(|n| n.trim().split("::").next().unwrap().to_string()).collect()
            } else {
                vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap().to_string()]
            };
            for to in names {
                let to = to.trim().to_string();
                if !to.is_empty() && to != from && to.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    assert!(edges.get("run").is_some_and(|e| e.contains("state")), "the scan found run's imports: {edges:?}");
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) {
        if let Some(pos) = path.iter().position(|p| p == n) {
            panic!("import cycle: {} -> {n}", path[pos..].join(" -> "));
        }
        if !done.insert(n.to_string()) {
            return;
        }
        path.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            visit(m, edges, path, done);
        }
        path.pop();
    }
    let mut done = std::collections::BTreeSet::new();
    for n in edges.keys() {
        visit(n, &edges, &mut Vec::new(), &mut done);
    }
}
