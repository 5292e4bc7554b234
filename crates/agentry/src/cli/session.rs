//! The saved session: `<config dir>/agentry/session.json` with the URL and token, readable only
//! by the user. `AGENTRY_URL` and `AGENTRY_SESSION_TOKEN` override it (for scripts).

use std::path::PathBuf;

use agentry_client::Client;
use serde::{Deserialize, Serialize};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Serialize, Deserialize)]
pub struct Session {
    pub url: String,
    pub token: String,
}

fn path() -> Result<PathBuf> {
    let base = match std::env::var_os("AGENTRY_CONFIG_DIR") {
        Some(d) => return Ok(PathBuf::from(d).join("session.json")),
        None => match std::env::var_os("XDG_CONFIG_HOME") {
            Some(d) => PathBuf::from(d),
            None => PathBuf::from(std::env::var_os("HOME").ok_or("HOME is not set")?).join(".config"),
        },
    };
    Ok(base.join("agentry").join("session.json"))
}

pub fn save(s: &Session) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let p = path()?;
    std::fs::create_dir_all(p.parent().expect("has a parent"))?;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&p)?;
    f.write_all(serde_json::to_string_pretty(s)?.as_bytes())?;
    Ok(p)
}

pub fn forget() -> Result<()> {
    match std::fs::remove_file(path()?) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// A client for the saved (or overridden) session.
pub fn client() -> Result<Client> {
    let (url, token) = match (std::env::var("AGENTRY_URL"), std::env::var("AGENTRY_SESSION_TOKEN")) {
        (Ok(u), Ok(t)) => (u, t),
        _ => {
            let text = std::fs::read_to_string(path()?)
                .map_err(|_| "not logged in; run `agentry login <url>` first")?;
            let s: Session = serde_json::from_str(&text)?;
            (s.url, s.token)
        }
    };
    Ok(Client::new(&url)?.with_token(token))
}
