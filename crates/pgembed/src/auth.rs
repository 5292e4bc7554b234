//! The secret that guards the database, and the `pg_hba.conf` that demands it.
//!
//! A unix socket in a 0700 directory only keeps out other accounts. Anything that runs as the
//! same account as agentry or the database (a workspace command, say) could otherwise connect
//! without credentials and, as the bootstrap superuser, rewrite any row. So every connection,
//! local or host, must prove the password in [`PASSWORD_FILE`] with `scram-sha-256`.
//!
//! The password is random, generated at first start (also the first start of a cluster made by
//! an older agentry with `trust`), and lives only in that 0600 file, owned by the account that
//! runs agentry, and in agentry's memory. It is never put in an environment variable or on a
//! command line: agentry uses it in-process ([`sqlx::postgres::PgConnectOptions::password`]),
//! `initdb` reads it from a short-lived copy named with `--pwfile`, and the role's password is
//! set from a SCRAM verifier computed here, so not even the server sees the plaintext in a
//! statement it could log.
//!
//! What this module refuses to do: keep a `trust` line. `pg_hba.conf` is agentry's: at every
//! start it must equal [`PG_HBA`], or it is rewritten (after the role's password is set, so a
//! crash between the steps cannot lock agentry out).

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use crate::PgEmbedError;
use crate::account::{Account, NOFOLLOW};

/// The password file's name in `<data dir>/postgres`.
pub(crate) const PASSWORD_FILE: &str = "password";

/// The only `pg_hba.conf` agentry runs with. The server listens on its socket only
/// (`listen_addresses=''`); the `host` lines are there so that turning TCP on by mistake would
/// still not open a door.
pub(crate) const PG_HBA: &str = "\
# pg_hba.conf of agentry's embedded PostgreSQL. agentry rewrites this file at every start when
# it differs: every connection must give the password kept in ../password (scram-sha-256).
# TYPE  DATABASE      USER  ADDRESS  METHOD
local   all           all            scram-sha-256
local   replication   all            scram-sha-256
host    all           all   all      scram-sha-256
host    replication   all   all      scram-sha-256
";

/// Bytes of randomness in a generated password (written as 64 hex digits).
const PASSWORD_BYTES: usize = 32;
/// PostgreSQL's defaults for a verifier it computes itself (`scram_iterations`, salt length).
const SCRAM_ITERATIONS: u32 = 4096;
const SCRAM_SALT_BYTES: usize = 16;

/// The database password. Its `Debug` does not print it, so a handle or an error that holds
/// one can be logged.
#[derive(Clone)]
pub(crate) struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The SCRAM-SHA-256 verifier PostgreSQL stores for this password (RFC 5802, in the
    /// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` form that `ALTER ROLE …
    /// PASSWORD` accepts as is). The password is printable ASCII (see [`read_or_create`]), for
    /// which SASLprep changes nothing.
    pub(crate) fn scram_verifier(&self) -> Result<String, std::io::Error> {
        let mut salt = [0u8; SCRAM_SALT_BYTES];
        fill_random(&mut salt)?;
        Ok(scram_verifier(self.0.as_bytes(), &salt, SCRAM_ITERATIONS))
    }
}

/// Reads the password file, creating it with a fresh random password when it is missing.
///
/// Creation is atomic (a 0600 temporary file, synced, then renamed), so a crash leaves either
/// no file or a complete one. A file whose mode lets anyone else read it is tightened to 0600
/// with a warning rather than refused: refusing would lock the operator out of their data.
pub(crate) fn read_or_create(path: &Path) -> Result<Password, PgEmbedError> {
    if !path.exists() {
        let mut bytes = [0u8; PASSWORD_BYTES];
        fill_random(&mut bytes).map_err(PgEmbedError::io("generate a password for", path))?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        write_private(path, &format!("{hex}\n"), None)?;
        tracing::info!(file = %path.display(), "generated the embedded PostgreSQL password");
    }
    let mut file = File::options()
        .read(true)
        .custom_flags(NOFOLLOW)
        .open(path)
        .map_err(PgEmbedError::io("open", path))?;
    let meta = file.metadata().map_err(PgEmbedError::io("inspect", path))?;
    if meta.mode() & 0o077 != 0 {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{:o}", meta.mode() & 0o777),
            "the database password file was readable by others; setting its mode to 0600"
        );
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(PgEmbedError::io("set permissions on", path))?;
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(PgEmbedError::io("read", path))?;
    let password = text.strip_suffix('\n').unwrap_or(&text);
    // initdb reads only the first line of its --pwfile, and SASLprep leaves printable ASCII
    // as it is; anything else would make the server and agentry disagree about the password.
    if password.is_empty() || !password.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(PgEmbedError::PasswordFile {
            path: path.to_path_buf(),
        });
    }
    Ok(Password(password.to_owned()))
}

/// Writes `contents` to `path` through a synced 0600 temporary file and a rename, then syncs
/// the directory, so readers and crashes see the old file or the new one, never a mix. With
/// `owner`, the file is given to that account first.
pub(crate) fn write_private(
    path: &Path,
    contents: &str,
    owner: Option<&Account>,
) -> Result<(), PgEmbedError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".agentry-tmp");
    let tmp = dir.join(tmp_name);
    remove_if_present(&tmp)?;
    // `create_new` (O_EXCL) refuses an existing name, a symlink included.
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(PgEmbedError::io("create", &tmp))?;
    if let Some(account) = owner {
        account.own(&file, &tmp)?;
    }
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(PgEmbedError::io("write", &tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(PgEmbedError::io("move into place", path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(PgEmbedError::io("sync", dir))
}

pub(crate) fn remove_if_present(path: &Path) -> Result<(), PgEmbedError> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(PgEmbedError::io("remove", path)(err))
        }
        _ => Ok(()),
    }
}

/// Fills `buf` from the kernel's CSPRNG (`getrandom(2)`), which blocks only until the pool is
/// first initialised at boot.
fn fill_random(buf: &mut [u8]) -> std::io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is valid for writes of `rest.len()` bytes for the duration of the call.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        filled += n as usize;
    }
    Ok(())
}

fn scram_verifier(password: &[u8], salt: &[u8], iterations: u32) -> String {
    // SaltedPassword = Hi(password, salt, i): PBKDF2-HMAC-SHA-256 with one output block.
    let mut block = salt.to_vec();
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac_sha256(password, &block);
    let mut salted = u;
    for _ in 1..iterations {
        u = hmac_sha256(password, &u);
        for (s, x) in salted.iter_mut().zip(u) {
            *s ^= x;
        }
    }
    let client_key = hmac_sha256(&salted, b"Client Key");
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let server_key = hmac_sha256(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        BASE64.encode(salt),
        BASE64.encode(stored_key),
        BASE64.encode(server_key)
    )
}

/// HMAC-SHA-256 (RFC 2104), from the `hmac` crate sqlx's own SCRAM client uses.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 (a short key) and test case 6 (a key longer than the block).
    #[test]
    fn hmac_matches_rfc_4231() {
        let hex = |b: [u8; 32]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    /// RFC 7677's SCRAM-SHA-256 example: password "pencil", its salt, 4096 iterations. This
    /// ServerKey reproduces the RFC's ServerSignature; PostgreSQL accepting a verifier made
    /// here is tested end to end in `tests/password.rs`.
    #[test]
    fn verifier_matches_rfc_7677() {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        assert_eq!(
            scram_verifier(b"pencil", &salt, 4096),
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
    }
}
