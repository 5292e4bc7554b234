//! Whole-file operations: reading with line numbers, writing, and the replace-by-rename write
//! that every change to an existing file goes through.
//!
//! These functions block (they are plain `std::fs`); the agent runs them on the blocking pool.
//! They take paths as the model wrote them and resolve them through [`Confinement`], so no file
//! operation can reach outside the workspace.
//!
//! Writes go to a temporary file next to the target and are renamed over it, so a reader (or a
//! build running in the workspace) never sees half a file. The temporary file takes over the
//! target's permission bits. Data is not fsynced: the guarantee is against torn reads, not
//! against power loss.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::paths::Confinement;
use crate::{
    AgentError, DEFAULT_READ_LIMIT, FILE_READ_CAP, ReadFileRequest, ReadFileResponse,
    WriteFileResponse,
};

/// Longest line `read_file` shows in full, in characters. Minified files otherwise turn one
/// "line" into megabytes of model context.
pub(crate) const MAX_LINE_CHARS: usize = 2000;

/// Bytes inspected for NUL when deciding whether a file is binary.
const BINARY_SNIFF_BYTES: usize = 8192;

pub(crate) fn read_file(
    c: &Confinement,
    req: &ReadFileRequest,
) -> Result<ReadFileResponse, AgentError> {
    let path = &req.path;
    let resolved = c.resolve(path)?;
    let (bytes, size) = read_existing_file(&resolved, path, FILE_READ_CAP)?;
    let cut_at_cap = size > bytes.len() as u64;
    if bytes[..bytes.len().min(BINARY_SNIFF_BYTES)].contains(&0) {
        return Err(AgentError::BinaryFile { path: path.clone() });
    }
    let text = String::from_utf8_lossy(&bytes);
    // A cap can cut the last line in half; drop that partial line rather than show it as whole.
    let text = match (cut_at_cap, text.rfind('\n')) {
        (true, Some(end)) => std::borrow::Cow::Owned(text[..=end].to_string()),
        _ => text,
    };

    let limit = req.limit.unwrap_or(DEFAULT_READ_LIMIT);
    if limit == 0 {
        return Err(AgentError::invalid("limit must be at least 1 line"));
    }
    let first = req.offset.unwrap_or(1).max(1);

    let mut content = String::new();
    let mut total_lines = 0u64;
    let mut truncated = false;
    for (index, line) in text.lines().enumerate() {
        let number = index as u64 + 1;
        total_lines = number;
        if number < first {
            continue;
        }
        if number >= first.saturating_add(limit) {
            truncated = true;
            continue;
        }
        let shown = match line.char_indices().nth(MAX_LINE_CHARS) {
            Some((cut, _)) => {
                truncated = true;
                format!("{}… [line truncated]", &line[..cut])
            }
            None => line.to_string(),
        };
        content.push_str(&format!("{number:>6}\t{shown}\n"));
    }
    if first > 1 && first > total_lines {
        let what = if cut_at_cap { "whose first MiB has" } else { "which has" };
        return Err(AgentError::invalid(format!(
            "offset {first} is past the end of {path:?}, {what} {total_lines} lines"
        )));
    }
    if cut_at_cap {
        truncated = true;
        content.push_str(&format!(
            "[file truncated: {path:?} has {size} bytes; only the first {FILE_READ_CAP} bytes \
             ({total_lines} lines) were read. Use a command such as sed -n or tail to see the rest.]\n"
        ));
    }
    Ok(ReadFileResponse {
        content,
        total_lines,
        truncated,
    })
}

pub(crate) fn write_file(
    c: &Confinement,
    path: &str,
    content: &str,
) -> Result<WriteFileResponse, AgentError> {
    let resolved = c.resolve(path)?;
    let created = match fs::metadata(&resolved) {
        Ok(meta) if meta.is_dir() => {
            return Err(AgentError::IsADirectory {
                path: path.to_string(),
            });
        }
        Ok(_) => false,
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) => return Err(AgentError::io(format!("inspecting {path:?}"), e)),
    };
    if let Some(parent) = resolved.parent() {
        create_parents(c, parent).map_err(|e| {
            AgentError::io(format!("creating the parent directories of {path:?}"), e)
        })?;
    }
    Staged::new(&resolved, content.as_bytes())
        .and_then(|staged| {
            c.give_to_owner(&staged.temp)?;
            staged.commit()
        })
        .map_err(|e| AgentError::io(format!("writing {path:?}"), e))?;
    Ok(WriteFileResponse {
        bytes_written: content.len() as u64,
        created,
    })
}

/// Creates `dir` and its missing ancestors, giving each one it creates to the workspace's user.
fn create_parents(c: &Confinement, dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut at = dir;
    while fs::symlink_metadata(at).is_err() {
        missing.push(at.to_path_buf());
        match at.parent() {
            Some(parent) => at = parent,
            None => break,
        }
    }
    fs::create_dir_all(dir)?;
    for created in missing.iter().rev() {
        c.give_to_owner(created)?;
    }
    Ok(())
}

/// Reads at most `cap` bytes of an existing regular file, mapping "missing", "directory" and
/// "not a regular file" to model-readable errors. Returns the bytes and the file's size.
///
/// The file is opened without blocking and without following a final symbolic link, and its
/// type is checked on the open descriptor, so a FIFO, a device or a socket is refused at once
/// instead of hanging the tool, and a huge (or sparse) file costs at most `cap` bytes.
pub(crate) fn read_existing_file(
    resolved: &Path,
    path: &str,
    cap: u64,
) -> Result<(Vec<u8>, u64), AgentError> {
    use std::io::Read;
    let (file, meta) = open_regular(resolved, path)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(cap)).unwrap_or(0));
    file.take(cap)
        .read_to_end(&mut bytes)
        .map_err(|e| AgentError::io(format!("reading {path:?}"), e))?;
    Ok((bytes, meta.len()))
}

/// Most bytes one `read_bytes` call returns.
pub(crate) const READ_BYTES_CAP: u64 = 4 * 1024 * 1024;

/// Up to `length` bytes (at most [`READ_BYTES_CAP`]) of a regular file from byte `offset`:
/// the bytes, the file's size, and whether they reach its end. For whole-file transfers,
/// which `read_file` (text, 1 MiB) is not.
pub(crate) fn read_bytes(c: &Confinement, path: &str, offset: u64, length: u64) -> Result<(Vec<u8>, u64, bool), AgentError> {
    use std::io::{Read, Seek, SeekFrom};
    let resolved = c.resolve(path)?;
    let (mut file, meta) = open_regular(&resolved, path)?;
    let want = length.min(READ_BYTES_CAP);
    file.seek(SeekFrom::Start(offset)).map_err(|e| AgentError::io(format!("reading {path:?}"), e))?;
    let mut bytes = Vec::with_capacity(usize::try_from(want.min(meta.len().saturating_sub(offset))).unwrap_or(0));
    file.take(want).read_to_end(&mut bytes).map_err(|e| AgentError::io(format!("reading {path:?}"), e))?;
    let eof = offset + bytes.len() as u64 >= meta.len();
    Ok((bytes, meta.len(), eof))
}

/// Opens an existing regular file without blocking and without following a final link.
fn open_regular(resolved: &Path, path: &str) -> Result<(fs::File, fs::Metadata), AgentError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(resolved);
    let file = match file {
        Ok(file) => file,
        Err(e) if is_not_found(&e) => {
            return Err(AgentError::NotFound {
                path: path.to_string(),
            });
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(AgentError::NotARegularFile {
                path: path.to_string(),
            });
        }
        Err(e) => return Err(AgentError::io(format!("opening {path:?}"), e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| AgentError::io(format!("inspecting {path:?}"), e))?;
    if meta.is_dir() {
        return Err(AgentError::IsADirectory {
            path: path.to_string(),
        });
    }
    if !meta.is_file() {
        return Err(AgentError::NotARegularFile {
            path: path.to_string(),
        });
    }
    Ok((file, meta))
}

fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// New content written to a temporary file beside its target, waiting to be renamed over it.
/// Dropping a `Staged` without committing removes the temporary file.
pub(crate) struct Staged {
    pub(crate) temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl Staged {
    pub(crate) fn new(target: &Path, content: &[u8]) -> io::Result<Staged> {
        let dir = target.parent().unwrap_or(Path::new("/"));
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let temp = dir.join(format!(
            ".{name}.agentry-{}.tmp",
            uuid::Uuid::new_v4().simple()
        ));
        let staged = Staged {
            temp,
            target: target.to_path_buf(),
            committed: false,
        };
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staged.temp)?;
        file.write_all(content)?;
        if let Ok(meta) = fs::metadata(target) {
            let mode = meta.permissions().mode();
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        Ok(staged)
    }

    pub(crate) fn commit(mut self) -> io::Result<()> {
        fs::rename(&self.temp, &self.target)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.temp);
        }
    }
}


/// Most entries `list_dir` returns; a directory with more says so in its last entry's place.
pub(crate) const LIST_DIR_CAP: usize = 5000;

/// The entries of a directory inside the workspace, sorted by name (links are not followed).
pub(crate) fn list_dir(c: &Confinement, path: &str) -> Result<Vec<crate::protocol::DirEntry>, AgentError> {
    let path = if path.is_empty() { "." } else { path };
    let resolved = c.resolve(path)?;
    let meta = fs::metadata(&resolved).map_err(|_| AgentError::NotFound { path: path.to_string() })?;
    if !meta.is_dir() {
        return Err(AgentError::NotADirectory { path: path.to_string() });
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(&resolved).map_err(|e| AgentError::io(format!("listing {path:?}"), e))? {
        let entry = entry.map_err(|e| AgentError::io(format!("listing {path:?}"), e))?;
        let Ok(meta) = entry.path().symlink_metadata() else { continue };
        let kind = if meta.file_type().is_symlink() {
            "symlink"
        } else if meta.is_dir() {
            "dir"
        } else if meta.is_file() {
            "file"
        } else {
            "other"
        };
        out.push(crate::protocol::DirEntry {
            name: entry.file_name().to_string_lossy().into_owned(),
            kind: kind.to_string(),
            size: if meta.is_file() { meta.len() } else { 0 },
        });
        if out.len() >= LIST_DIR_CAP {
            break;
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Confinement) {
        let dir = tempfile::tempdir().unwrap();
        let c = Confinement::new(dir.path().to_path_buf());
        (dir, c)
    }

    fn read(
        c: &Confinement,
        path: &str,
        offset: Option<u64>,
        limit: Option<u64>,
    ) -> ReadFileResponse {
        read_file(
            c,
            &ReadFileRequest {
                path: path.into(),
                offset,
                limit,
            },
        )
        .unwrap()
    }

    #[test]
    fn numbers_lines_and_pages() {
        let (dir, c) = setup();
        let text: String = (1..=10).map(|i| format!("line {i}\n")).collect();
        fs::write(dir.path().join("f.txt"), text).unwrap();

        let all = read(&c, "f.txt", None, None);
        assert_eq!(all.total_lines, 10);
        assert!(!all.truncated);
        assert!(all.content.starts_with("     1\tline 1\n     2\tline 2\n"));
        assert!(all.content.ends_with("    10\tline 10\n"));

        let page = read(&c, "f.txt", Some(4), Some(3));
        assert_eq!(
            page.content,
            "     4\tline 4\n     5\tline 5\n     6\tline 6\n"
        );
        assert_eq!(page.total_lines, 10);
        assert!(page.truncated);

        let tail = read(&c, "f.txt", Some(9), Some(5));
        assert_eq!(tail.content, "     9\tline 9\n    10\tline 10\n");
        assert!(!tail.truncated);

        let err = read_file(
            &c,
            &ReadFileRequest {
                path: "f.txt".into(),
                offset: Some(11),
                limit: None,
            },
        );
        assert!(err.unwrap_err().to_string().contains("past the end"));
    }

    #[test]
    fn default_limit_is_2000_lines() {
        let (dir, c) = setup();
        let text: String = (1..=2500).map(|i| format!("{i}\n")).collect();
        fs::write(dir.path().join("big.txt"), text).unwrap();
        let r = read(&c, "big.txt", None, None);
        assert_eq!(r.total_lines, 2500);
        assert_eq!(r.content.lines().count(), 2000);
        assert!(r.truncated);
    }

    #[test]
    fn last_line_without_newline_and_crlf() {
        let (dir, c) = setup();
        fs::write(dir.path().join("f.txt"), "a\r\nb").unwrap();
        let r = read(&c, "f.txt", None, None);
        assert_eq!(r.content, "     1\ta\n     2\tb\n");
        assert_eq!(r.total_lines, 2);
        fs::write(dir.path().join("empty.txt"), "").unwrap();
        let r = read(&c, "empty.txt", None, None);
        assert_eq!((r.content.as_str(), r.total_lines), ("", 0));
    }

    #[test]
    fn long_lines_are_cut() {
        let (dir, c) = setup();
        fs::write(dir.path().join("min.js"), "x".repeat(MAX_LINE_CHARS + 10)).unwrap();
        let r = read(&c, "min.js", None, None);
        assert!(r.truncated);
        assert!(r.content.contains("[line truncated]"));
        assert!(r.content.len() < MAX_LINE_CHARS + 100);
    }

    #[test]
    fn missing_directory_and_binary_files_are_reported() {
        let (dir, c) = setup();
        fs::create_dir(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("bin"), b"\x7fELF\0\0\x01").unwrap();
        let r = |p: &str| read_file(&c, &ReadFileRequest::new(p)).unwrap_err();
        assert!(matches!(r("nope.txt"), AgentError::NotFound { .. }));
        assert!(matches!(r("d"), AgentError::IsADirectory { .. }));
        assert!(matches!(r("bin"), AgentError::BinaryFile { .. }));
    }

    #[test]
    fn write_creates_parents_and_reports_creation() {
        let (dir, c) = setup();
        let first = write_file(&c, "a/b/c.txt", "hello").unwrap();
        assert_eq!(
            first,
            WriteFileResponse {
                bytes_written: 5,
                created: true
            }
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("a/b/c.txt")).unwrap(),
            "hello"
        );
        let second = write_file(&c, "a/b/c.txt", "bye").unwrap();
        assert!(!second.created);
        assert_eq!(
            fs::read_to_string(dir.path().join("a/b/c.txt")).unwrap(),
            "bye"
        );
        assert!(matches!(
            write_file(&c, "a", "x"),
            Err(AgentError::IsADirectory { .. })
        ));
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path().join("a/b")).unwrap().count(), 1);
    }

    #[test]
    fn write_keeps_permissions() {
        let (dir, c) = setup();
        let p = dir.path().join("run.sh");
        fs::write(&p, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        write_file(&c, "run.sh", "#!/bin/sh\necho hi\n").unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }
}
