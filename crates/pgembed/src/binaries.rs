//! Finding `initdb` and `postgres` on this machine. Nothing is ever downloaded: a server that
//! fetched database binaries at start would fail on offline machines and run code nobody vetted.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::PgEmbedError;

/// Where distribution packages put each major version (Debian, Ubuntu: `postgresql-15`, …).
const DISTRO_VERSIONS_DIR: &str = "/usr/lib/postgresql";

/// Picks the directory holding `initdb` and `postgres`.
///
/// An explicit directory is final: if the operator named one, silently using another would hide
/// their mistake. Otherwise, when the cluster already exists, the packaged binaries of the
/// cluster's own major version come first, because after a distribution upgrade installs a newer
/// major next to the old one, the newer `postgres` refuses the old data files. Then `pg_config`
/// on `PATH`, then the highest packaged version.
pub(crate) async fn find(
    explicit: Option<&Path>,
    cluster_major: Option<&str>,
) -> Result<PathBuf, PgEmbedError> {
    if let Some(dir) = explicit {
        return if has_server_binaries(dir) {
            Ok(dir.to_path_buf())
        } else {
            Err(PgEmbedError::BinariesNotFound {
                searched: vec![dir.to_path_buf()],
            })
        };
    }

    let mut searched = Vec::new();
    let mut candidates = Vec::new();
    if let Some(major) = cluster_major {
        candidates.push(Path::new(DISTRO_VERSIONS_DIR).join(major).join("bin"));
    }
    if let Some(dir) = pg_config_bindir().await {
        candidates.push(dir);
    }
    candidates.extend(packaged_versions_newest_first());

    for dir in candidates {
        if has_server_binaries(&dir) {
            return Ok(dir);
        }
        if !searched.contains(&dir) {
            searched.push(dir);
        }
    }
    if searched.is_empty() {
        searched.push(Path::new(DISTRO_VERSIONS_DIR).join("*").join("bin"));
    }
    Err(PgEmbedError::BinariesNotFound { searched })
}

fn has_server_binaries(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// `pg_config --bindir`, or `None` when `pg_config` is absent or fails: it is only one hint
/// among several, so its failure is not an error.
async fn pg_config_bindir() -> Option<PathBuf> {
    let output = tokio::process::Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = dir.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// `/usr/lib/postgresql/<version>/bin`, highest version first. Versions compare numerically
/// (`9.6` < `10` < `15`), which a string sort gets wrong.
fn packaged_versions_newest_first() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(DISTRO_VERSIONS_DIR) else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u64>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let key = name
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<Vec<u64>>>()?;
            Some((key, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}
