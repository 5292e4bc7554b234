//! The system account the database processes run as.
//!
//! PostgreSQL refuses to run as root (`initdb` exits, `postgres` too), and agentry is often
//! started as root in containers. So as root the database runs as an unprivileged system user
//! (by default `postgres`, which the distribution package creates), its directories are chowned
//! to that user, and the children drop privileges with `setuid`/`setgid` before `exec`. There is
//! no `sudo`/`runuser` on the machines this targets, and a privilege switch done by the kernel
//! needs no helper binary anyway. When not root, everything runs as the current user.
//!
//! Root working inside a directory another account owns must not be steered by it: files and
//! directories there are opened with `O_NOFOLLOW` and given away through their descriptors
//! (`fchown`, `fchmod`), so a symlink that account plants is an error, not a way to take over
//! whatever it points at.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::PgEmbedError;

/// Open flags for every file agentry opens inside `<data dir>/postgres`, a directory the
/// database account owns: a symlink that account put there is an error, never followed.
pub(crate) const NOFOLLOW: i32 = libc::O_NOFOLLOW;

#[derive(Clone, Debug)]
pub(crate) struct Account {
    pub(crate) name: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// True when we are root and must switch to `uid`/`gid` in the children.
    pub(crate) switch: bool,
}

impl Account {
    /// The account to run as: `run_as` when we are root, the current user otherwise (a non-root
    /// process cannot switch users, and the data it creates is its own).
    pub(crate) fn resolve(run_as: &str) -> Result<Account, PgEmbedError> {
        // SAFETY: geteuid/getegid cannot fail and have no preconditions.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        if euid != 0 {
            return Ok(Account {
                name: format!("uid {euid}"),
                uid: euid,
                gid: egid,
                switch: false,
            });
        }
        match lookup_user(run_as) {
            Ok(Some((uid, gid))) => Ok(Account {
                name: run_as.to_owned(),
                uid,
                gid,
                switch: true,
            }),
            Ok(None) => Err(PgEmbedError::UserNotFound {
                user: run_as.to_owned(),
            }),
            Err(source) => Err(PgEmbedError::Io {
                action: "look up the system user",
                path: run_as.into(),
                source,
            }),
        }
    }

    /// Gives `dir` to this account with mode 0700. The 0700 is what keeps other accounts away
    /// from the socket, which lives under such a directory.
    ///
    /// Done through a descriptor opened without following a symlink: the directories this is
    /// used on sit inside one the database account owns, and as root a `chown` by path would
    /// follow a link that account planted (to `/etc`, say) and hand it the target.
    pub(crate) fn own_private_dir(&self, dir: &Path) -> Result<(), PgEmbedError> {
        let handle = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY)
            .open(dir)
            .map_err(PgEmbedError::io("open", dir))?;
        self.own(&handle, dir)?;
        handle
            .set_permissions(std::fs::Permissions::from_mode(0o700))
            .map_err(PgEmbedError::io("set permissions on", dir))
    }

    /// Gives an open file to this account (keeping its mode), so an operator working as that
    /// user can read and rotate it, or the database can read it. By descriptor, for the reason
    /// given at [`Account::own_private_dir`]; open such files with [`NOFOLLOW`].
    pub(crate) fn own(&self, file: &File, path: &Path) -> Result<(), PgEmbedError> {
        if self.switch {
            std::os::unix::fs::fchown(file, Some(self.uid), Some(self.gid))
                .map_err(PgEmbedError::io("change the owner of", path))?;
        }
        Ok(())
    }

    /// Checks that this account can traverse every ancestor of `dir`. Without this check a
    /// root-owned 0700 data directory (the default for `tempfile` and for many `mkdir -m`
    /// recipes) surfaces as a bare "Permission denied" from `initdb`. When switching, std clears
    /// the supplementary groups, so owner, primary group and other are the only bits that count.
    pub(crate) fn check_traversable(&self, dir: &Path) -> Result<(), PgEmbedError> {
        if !self.switch {
            return Ok(());
        }
        for ancestor in dir.ancestors() {
            let meta =
                std::fs::metadata(ancestor).map_err(PgEmbedError::io("inspect", ancestor))?;
            let mode = meta.mode();
            let bit = if meta.uid() == self.uid {
                0o100
            } else if meta.gid() == self.gid {
                0o010
            } else {
                0o001
            };
            if mode & bit == 0 {
                return Err(PgEmbedError::NotTraversable {
                    path: ancestor.to_path_buf(),
                    user: self.name.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Looks a user up in the system database: `Some((uid, gid))`, or `None` if there is no such
/// user. Uses the reentrant `getpwnam_r`, since the server may have other threads calling into
/// libc's passwd functions.
fn lookup_user(name: &str) -> io::Result<Option<(u32, u32)>> {
    let Ok(c_name) = CString::new(name) else {
        return Ok(None);
    };
    let mut buf: Vec<libc::c_char> = vec![0; 4096];
    loop {
        // SAFETY: all-zero is a valid `passwd` (null pointers, zero ids); getpwnam_r fills it.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the duration of the call and `buf.len()` is the
        // real size of `buf`; the strings in `pwd` point into `buf`, which we do not read.
        let rc = unsafe {
            libc::getpwnam_r(
                c_name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        match rc {
            0 if result.is_null() => return Ok(None),
            0 => return Ok(Some((pwd.pw_uid, pwd.pw_gid))),
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            // glibc documents these as "not found" from some NSS backends.
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
}
