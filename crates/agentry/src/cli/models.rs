//! `agentry models list [--org ORG]`: the chat models usable in an organization.

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use clap::Subcommand;
use serde::Serialize;

use super::output::print_list;
use super::{Out, Result, fmt, org_or_default};

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// The models chats in an organization may use (the default first).
    List {
        /// Organization id or name; the default organization when absent.
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        out: Out,
    },
}

/// One line of the list: a model with its provider's display name.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    model: &'a sdk::ChatModel,
    provider_available: bool,
}

const HEADERS: &[&str] = &["ID", "MODEL", "DISPLAY NAME", "PROVIDER", "DEFAULT", "AVAILABLE"];

pub async fn run(c: &Client, cmd: ModelsCommand) -> Result<()> {
    match cmd {
        ModelsCommand::List { org, out } => {
            let org = org_or_default(c, org).await?;
            let org = c.organization(&org).await?.id;
            let resp = c.chat_models_in(Some(org)).await?;
            let lines: Vec<Line> = resp
                .providers
                .iter()
                .flat_map(|p| p.models.iter().map(move |m| Line { model: m, provider_available: p.available }))
                .collect();
            let rows = resp
                .providers
                .iter()
                .flat_map(|p| {
                    let provider = p.display_name.clone().unwrap_or_else(|| p.provider.clone());
                    p.models.iter().map(move |m| {
                        vec![
                            m.id.to_string(),
                            m.model.clone(),
                            m.display_name.clone(),
                            provider.clone(),
                            if m.is_default { "yes" } else { "" }.to_string(),
                            if p.available { "yes" } else { "no" }.to_string(),
                        ]
                    })
                })
                .collect();
            print_list(fmt(&out), &lines, HEADERS, rows)
        }
    }
}
