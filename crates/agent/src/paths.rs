//! Path confinement: turning a path a model wrote into a real path inside the workspace.
//!
//! Every file operation and every command `workdir` goes through [`Confinement::resolve`]. It
//! resolves the path the way the kernel would — one component at a time, following symbolic
//! links by reading them — and refuses the path as soon as any step leaves the workspace root. So
//! `../x`, `/etc/passwd`, a symlink to `/` (even when the file under it does not exist yet) and
//! a symlink that leaves the workspace and comes back in are all refused; the returned path
//! contains no symbolic links in its existing part, so the caller operates on exactly what was
//! checked.
//!
//! Doing the walk by hand (instead of `canonicalize`) matters for paths that do not exist yet:
//! `canonicalize` fails on them, and checking only the longest existing prefix would miss a
//! dangling symlink whose target is outside (writing through it would create the target).
//!
//! What this module does not do: it does not defend against a process inside the workspace
//! swapping a directory for a symlink between the check and the use. In a sandbox run by root
//! the file tools therefore act with the workspace user's file-system identity
//! (`LocalAgent::file_op`), so such a swap reaches nothing that user could not reach anyway.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::AgentError;

/// Symbolic links followed while resolving one path before giving up (Linux's own limit).
const MAX_SYMLINK_HOPS: usize = 40;

/// The workspace root and the rules for staying inside it.
#[derive(Debug, Clone)]
pub(crate) struct Confinement {
    /// The root as configured (made absolute, not canonicalized). Absolute paths a model writes
    /// with this spelling are accepted even when it differs from the canonical one.
    root: PathBuf,
    /// Another absolute spelling of the root: where a sandboxed command sees the workspace, so
    /// a path the model copied from a command's output works in the file tools too.
    alias: Option<PathBuf>,
    /// Who owns what the file tools create (the workspace's user in a sandbox run by root).
    owner: Option<(u32, u32)>,
    /// The root as an open directory (`/proc/self/fd/N`), used instead of the root's path while
    /// a file operation runs with the workspace user's file-system identity: that user may not
    /// be allowed to walk the directories above the workspace (`/root`, the data directory).
    pinned: Option<PathBuf>,
}

/// One step still to resolve.
enum Step {
    Parent,
    Name(OsString),
}

impl Confinement {
    pub(crate) fn new(root: PathBuf) -> Self {
        // `absolute` only fails for an empty path; keeping it as given then makes every later
        // canonicalization fail with a clear error instead of panicking here.
        let root = std::path::absolute(&root).unwrap_or(root);
        Confinement { root, alias: None, owner: None, pinned: None }
    }

    pub(crate) fn with_alias(mut self, alias: PathBuf) -> Self {
        self.alias = Some(alias);
        self
    }

    pub(crate) fn with_owner(mut self, owner: Option<(u32, u32)>) -> Self {
        self.owner = owner;
        self
    }

    pub(crate) fn owner(&self) -> Option<(u32, u32)> {
        self.owner
    }

    /// This confinement with the root reached through `dir` (an open descriptor's
    /// `/proc/self/fd/N` path) instead of its path.
    pub(crate) fn pinned_at(&self, dir: PathBuf) -> Confinement {
        Confinement { pinned: Some(dir), ..self.clone() }
    }

    /// Gives `path` (just created by a file tool) to the workspace's user, if it has one. The
    /// link itself is changed, never what a symbolic link points to.
    pub(crate) fn give_to_owner(&self, path: &Path) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        match self.owner {
            Some((uid, gid)) => {
                // Already the user's when the operation ran with the user's identity.
                let meta = std::fs::symlink_metadata(path)?;
                if (meta.uid(), meta.gid()) == (uid, gid) {
                    return Ok(());
                }
                std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            }
            None => Ok(()),
        }
    }

    /// The root as configured.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The root with every symbolic link resolved. It is recomputed on each call so that a
    /// workspace directory created (or recreated) after the agent is not cached stale.
    pub(crate) fn canonical_root(&self) -> Result<PathBuf, AgentError> {
        if let Some(pinned) = &self.pinned {
            return Ok(pinned.clone());
        }
        std::fs::canonicalize(&self.root)
            .map_err(|e| AgentError::io("the workspace directory is not accessible", e))
    }

    /// Resolves `path` (relative to the root, or absolute inside it) to a real path inside the
    /// workspace. The path need not exist.
    pub(crate) fn resolve(&self, path: &str) -> Result<PathBuf, AgentError> {
        if path.is_empty() {
            return Err(AgentError::invalid(
                "the path is empty; give a path relative to the workspace root",
            ));
        }
        if path.contains('\0') {
            return Err(AgentError::invalid(format!(
                "the path {path:?} contains a NUL byte"
            )));
        }
        let outside = || AgentError::PathOutsideWorkspace {
            path: path.to_string(),
        };
        let root = self.canonical_root()?;

        let given = Path::new(path);
        let relative = if given.is_absolute() {
            self.strip_root(given, &root).ok_or_else(outside)?
        } else {
            given.to_path_buf()
        };

        let mut pending = Vec::new();
        push_steps(&mut pending, &relative);
        let mut out = root.clone();
        let mut hops = 0;
        while let Some(step) = pending.pop() {
            match step {
                Step::Parent => {
                    if out == root {
                        return Err(outside());
                    }
                    out.pop();
                }
                Step::Name(name) => {
                    out.push(&name);
                    match std::fs::symlink_metadata(&out) {
                        Ok(meta) if meta.file_type().is_symlink() => {
                            hops += 1;
                            if hops > MAX_SYMLINK_HOPS {
                                return Err(AgentError::invalid(format!(
                                    "the path {path:?} has too many levels of symbolic links"
                                )));
                            }
                            let target = std::fs::read_link(&out).map_err(|e| {
                                AgentError::io(format!("reading the symbolic link in {path:?}"), e)
                            })?;
                            out.pop();
                            let target = if target.is_absolute() {
                                out = root.clone();
                                self.strip_root(&target, &root).ok_or_else(outside)?
                            } else {
                                target
                            };
                            push_steps(&mut pending, &target);
                        }
                        Ok(_) => {}
                        // The rest of the path does not exist (or crosses a regular file): it
                        // cannot contain symbolic links, so it resolves lexically. The operation
                        // itself will report the missing file.
                        Err(e) if is_missing(&e) => {}
                        Err(e) => {
                            return Err(AgentError::io(format!("resolving {path:?}"), e));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// `path` without the workspace root in front of it, accepting the canonical and the
    /// configured spelling of the root. `None` when the path is not under the root at all.
    fn strip_root(&self, path: &Path, canonical_root: &Path) -> Option<PathBuf> {
        path.strip_prefix(canonical_root)
            .or_else(|_| path.strip_prefix(&self.root))
            .ok()
            .or_else(|| self.alias.as_ref().and_then(|a| path.strip_prefix(a).ok()))
            .map(Path::to_path_buf)
    }
}

/// Pushes the components of a relative path onto a stack so that the first one pops first.
fn push_steps(stack: &mut Vec<Step>, path: &Path) {
    let steps: Vec<Step> = path
        .components()
        .filter_map(|c| match c {
            Component::ParentDir => Some(Step::Parent),
            Component::Normal(name) => Some(Step::Name(name.to_os_string())),
            // Absolute prefixes were stripped by the caller; `.` changes nothing.
            Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
        })
        .collect();
    stack.extend(steps.into_iter().rev());
}

fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, Confinement, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.txt"), "a").unwrap();
        (dir, Confinement::new(root.clone()), root)
    }

    fn refused(c: &Confinement, path: &str) -> bool {
        matches!(
            c.resolve(path),
            Err(AgentError::PathOutsideWorkspace { .. })
        )
    }

    #[test]
    fn relative_and_absolute_paths_inside_resolve() {
        let (_d, c, root) = setup();
        assert_eq!(c.resolve("sub/a.txt").unwrap(), root.join("sub/a.txt"));
        assert_eq!(
            c.resolve("./sub/../sub/a.txt").unwrap(),
            root.join("sub/a.txt")
        );
        assert_eq!(
            c.resolve("new/dir/file").unwrap(),
            root.join("new/dir/file")
        );
        assert_eq!(c.resolve(".").unwrap(), root);
        let abs = root.join("sub/a.txt");
        assert_eq!(c.resolve(abs.to_str().unwrap()).unwrap(), abs);
    }

    #[test]
    fn escapes_are_refused() {
        let (_d, c, root) = setup();
        assert!(refused(&c, "../x"));
        assert!(refused(&c, "sub/../../x"));
        assert!(refused(&c, "/etc/passwd"));
        assert!(refused(&c, ".."));
        // The root's sibling that shares its name as a prefix is not inside it.
        let sibling = format!("{}-other/x", root.display());
        assert!(refused(&c, &sibling));
    }

    #[test]
    fn symlinks_leaving_the_workspace_are_refused() {
        let (_d, c, root) = setup();
        symlink("/", root.join("slash")).unwrap();
        assert!(refused(&c, "slash"));
        assert!(refused(&c, "slash/etc/passwd"));
        assert!(refused(&c, "slash/does/not/exist"));
        // Leaving and coming back in is refused too: the check is on every step.
        let back_in = format!("slash{}/sub/a.txt", root.display());
        assert!(refused(&c, &back_in));
        // A dangling link whose target is outside: writing through it would create the target.
        symlink("/tmp/agentry-dangling-target", root.join("dangling")).unwrap();
        assert!(refused(&c, "dangling"));
        symlink("../..", root.join("sub/up")).unwrap();
        assert!(refused(&c, "sub/up/x"));
    }

    #[test]
    fn symlinks_inside_the_workspace_are_followed() {
        let (_d, c, root) = setup();
        symlink("sub", root.join("rel")).unwrap();
        symlink(root.join("sub"), root.join("abs")).unwrap();
        symlink("a.txt", root.join("sub/alias")).unwrap();
        symlink("missing.txt", root.join("sub/dangling-inside")).unwrap();
        assert_eq!(c.resolve("rel/a.txt").unwrap(), root.join("sub/a.txt"));
        assert_eq!(c.resolve("abs/a.txt").unwrap(), root.join("sub/a.txt"));
        assert_eq!(c.resolve("sub/alias").unwrap(), root.join("sub/a.txt"));
        assert_eq!(
            c.resolve("sub/dangling-inside").unwrap(),
            root.join("sub/missing.txt")
        );
    }

    #[test]
    fn symlink_loops_are_reported() {
        let (_d, c, root) = setup();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        assert!(matches!(
            c.resolve("loop1"),
            Err(AgentError::InvalidRequest { .. })
        ));
    }

    #[test]
    fn configured_root_spelling_is_accepted() {
        let (_d, _c, root) = setup();
        let holder = tempfile::tempdir().unwrap();
        let link_root = holder.path().join("ws");
        symlink(&root, &link_root).unwrap();
        let c = Confinement::new(link_root.clone());
        let via_link = link_root.join("sub/a.txt");
        assert_eq!(
            c.resolve(via_link.to_str().unwrap()).unwrap(),
            root.join("sub/a.txt")
        );
    }

    #[test]
    fn empty_paths_are_invalid() {
        let (_d, c, _root) = setup();
        assert!(matches!(
            c.resolve(""),
            Err(AgentError::InvalidRequest { .. })
        ));
    }
}
