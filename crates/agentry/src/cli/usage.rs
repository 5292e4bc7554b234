//! `agentry usage`: AI spend per day, model, user or organization (what the caller may read:
//! their own, their organization's as an admin or auditor, everything as site owner/auditor).

use agentry_client::Client;
use clap::ValueEnum;

use super::output::{Format, table};
use super::{Out, Result, fmt};

#[derive(Clone, Copy, ValueEnum)]
pub enum GroupArg {
    Day,
    Model,
    User,
    Organization,
}

impl GroupArg {
    fn as_str(self) -> &'static str {
        match self {
            GroupArg::Day => "day",
            GroupArg::Model => "model",
            GroupArg::User => "user",
            GroupArg::Organization => "organization",
        }
    }
}

#[derive(clap::Args)]
pub struct UsageArgs {
    /// Only this organization (name or id).
    #[arg(long)]
    org: Option<String>,
    /// Only this user (name, id or `me`).
    #[arg(long)]
    user: Option<String>,
    /// First day, `YYYY-MM-DD` (the first of this month when absent).
    #[arg(long)]
    since: Option<String>,
    /// Last day, exclusive (tomorrow when absent).
    #[arg(long)]
    until: Option<String>,
    #[arg(long, value_enum, default_value_t = GroupArg::Day)]
    group_by: GroupArg,
    /// Print CSV (`key,micros,input_tokens,output_tokens`) instead.
    #[arg(long)]
    csv: bool,
    #[command(flatten)]
    out: Out,
}

fn dollars(micros: i64) -> String {
    format!("${:.2}", micros as f64 / 1e6)
}

pub async fn run(c: &Client, a: UsageArgs) -> Result<()> {
    let mut params: Vec<(&str, String)> = vec![("group_by", a.group_by.as_str().to_string())];
    if let Some(o) = &a.org {
        params.push(("organization_id", c.organization(o).await?.id.to_string()));
    }
    if let Some(u) = &a.user {
        params.push(("user_id", c.user(u).await?.id.to_string()));
    }
    if let Some(s) = a.since {
        params.push(("from", s));
    }
    if let Some(u) = a.until {
        params.push(("to", u));
    }
    if a.csv {
        print!("{}", c.chat_usage_csv(&params).await?);
        return Ok(());
    }
    let report = c.chat_usage(&params).await?;
    match fmt(&a.out) {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Table => {
            let mut rows: Vec<Vec<String>> = report
                .series
                .iter()
                .map(|r| vec![r.key.clone(), dollars(r.micros), r.input_tokens.to_string(), r.output_tokens.to_string()])
                .collect();
            rows.push(vec!["TOTAL".into(), dollars(report.total_micros), String::new(), String::new()]);
            print!("{}", table(&[a.group_by.as_str().to_uppercase().as_str(), "SPEND", "INPUT TOKENS", "OUTPUT TOKENS"], &rows));
        }
    }
    Ok(())
}
