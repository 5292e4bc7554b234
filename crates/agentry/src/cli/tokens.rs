//! `agentry tokens list|create|delete`: the caller's API tokens (the site owner may name
//! another user with `--user`).

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use clap::Subcommand;

use super::output::print_list;
use super::{Out, Result, fmt};

#[derive(Subcommand)]
pub enum TokensCommand {
    /// List tokens and login sessions (never their secrets).
    List {
        /// Whose keys; yourself when absent.
        #[arg(long, default_value = "me")]
        user: String,
        #[command(flatten)]
        out: Out,
    },
    /// Create a token and print it (it is shown only once).
    Create {
        /// The token's name.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime, e.g. `30d`, `12h`, `90m` (30 days when absent; at most 365 days).
        #[arg(long)]
        lifetime: Option<String>,
        #[arg(long, default_value = "me")]
        user: String,
    },
    /// Revoke a token or session by its id (the first column of `tokens list`); it stops working
    /// at once on every server.
    Delete {
        id: String,
        #[arg(long, default_value = "me")]
        user: String,
    },
}

fn key_row(k: &sdk::ApiKey) -> Vec<String> {
    let last = k.last_used.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "never".into());
    vec![
        k.id.clone(),
        k.name.clone(),
        k.login_type.clone(),
        k.created_at.format("%Y-%m-%d %H:%M").to_string(),
        last,
        k.expires_at.format("%Y-%m-%d %H:%M").to_string(),
    ]
}
const KEY_HEADERS: &[&str] = &["ID", "NAME", "TYPE", "CREATED", "LAST USED", "EXPIRES"];

/// `30d`, `12h`, `90m`, `45s` or plain seconds.
fn parse_lifetime(s: &str) -> Result<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().map_err(|_| format!("invalid lifetime {s:?}"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("invalid lifetime unit in {s:?} (use s, m, h or d)").into()),
    };
    Ok(n * mult)
}

pub async fn run(c: &Client, cmd: TokensCommand) -> Result<()> {
    match cmd {
        TokensCommand::List { user, out } => {
            let keys = c.api_keys(&user).await?;
            print_list(fmt(&out), &keys, KEY_HEADERS, keys.iter().map(key_row).collect())
        }
        TokensCommand::Create { name, lifetime, user } => {
            let lifetime_seconds = lifetime.as_deref().map(parse_lifetime).transpose()?;
            let key = c.create_api_key(&user, &sdk::CreateTokenRequest { lifetime_seconds, token_name: name }).await?;
            println!("{}", key.key);
            Ok(())
        }
        TokensCommand::Delete { id, user } => {
            c.delete_api_key(&user, &id).await?;
            eprintln!("Revoked {id}.");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lifetimes_parse() {
        assert_eq!(super::parse_lifetime("30d").unwrap(), 30 * 86_400);
        assert_eq!(super::parse_lifetime("90m").unwrap(), 5400);
        assert_eq!(super::parse_lifetime("120").unwrap(), 120);
        assert!(super::parse_lifetime("3w").is_err());
        assert!(super::parse_lifetime("d").is_err());
    }
}
