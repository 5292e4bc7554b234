//! `agentry workspaces create|list|start|stop|delete|update|logs`.
//!
//! `start` builds the workspace's pinned template version; `update` moves it to the template's
//! active version (stopping it first when it runs) and starts it.
//!
//! Commands that queue a build follow its log (on standard error) until it finishes, then
//! print the workspace; `--no-wait` returns as soon as the build is queued. A failed build
//! makes the command fail.

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use clap::Subcommand;
use futures::StreamExt;
use uuid::Uuid;

use super::output::{print_list, print_one};
use super::{Out, Result, fmt};

#[derive(Subcommand)]
pub enum WorkspacesCommand {
    /// Create a workspace from a template and start it.
    Create {
        name: String,
        /// Template id, or name in --org.
        #[arg(long)]
        template: String,
        /// Organization id or name; the default organization when absent.
        #[arg(long)]
        org: Option<String>,
        /// Whose workspace it is (id, username or me).
        #[arg(long, default_value = "me")]
        owner: String,
        /// A parameter value as NAME=VALUE; repeatable.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        out: Out,
    },
    /// List workspaces (yours unless --search or --all says otherwise).
    List {
        /// Search terms: owner:me|<user> organization:<org> template:<name> status:<status> name:<text>.
        #[arg(long, short = 'q', default_value = "owner:me")]
        search: String,
        /// Every workspace you may see.
        #[arg(long, conflicts_with = "search")]
        all: bool,
        #[command(flatten)]
        out: Out,
    },
    /// Start a stopped workspace.
    Start(BuildArgs),
    /// Stop a workspace: every process it started ends.
    Stop(BuildArgs),
    /// Delete a workspace and its files.
    Delete(BuildArgs),
    /// Move a workspace to its template's active version and start it (stopping it first if it
    /// runs). Only its owner (or a site owner) may.
    Update(BuildArgs),
    /// Show the exact command that runs an external workspace's agent (each call mints a new
    /// agent token for the workspace's current build).
    AgentCommand {
        /// Workspace id, name (yours) or owner/name.
        workspace: String,
    },
    /// Show the log of the workspace's latest build.
    Logs {
        /// Workspace id, name (yours) or owner/name.
        workspace: String,
        /// Keep following until the build finishes.
        #[arg(long, short)]
        follow: bool,
    },
}

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Workspace id, name (yours) or owner/name.
    workspace: String,
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    out: Out,
}

/// A workspace by id, by `owner/name`, or by name among the caller's own.
async fn resolve(c: &Client, workspace: &str) -> Result<sdk::Workspace> {
    if let Ok(id) = Uuid::parse_str(workspace) {
        return Ok(c.workspace(id).await?);
    }
    let (owner, name) = workspace.split_once('/').unwrap_or(("me", workspace));
    let found = c.workspaces(&format!("owner:{owner} name:{name}")).await?;
    found
        .workspaces
        .into_iter()
        .find(|w| w.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| format!("no workspace {workspace:?}").into())
}

fn row(w: &sdk::Workspace) -> Vec<String> {
    let b = &w.latest_build;
    vec![
        w.id.to_string(),
        w.name.clone(),
        w.owner_name.clone(),
        w.template_name.clone(),
        format!("{:?}", w.status).to_lowercase(),
        format!("#{} {:?} {:?}", b.build_number, b.transition, b.job.status).to_lowercase(),
        w.outdated.to_string(),
        agent_cell(w),
    ]
}
const HEADERS: &[&str] = &["ID", "NAME", "OWNER", "TEMPLATE", "STATUS", "LATEST BUILD", "OUTDATED", "AGENT"];

/// The agent's state for the table: `connected (v0.1.0, replica 0190ab12)`, `disconnected
/// (last seen …)`, `never connected`.
fn agent_cell(w: &sdk::Workspace) -> String {
    let Some(a) = &w.agent else { return String::new() };
    let replica = a.replica_id.map(|r| r.simple().to_string()[..8].to_string()).unwrap_or_default();
    match a.status.as_str() {
        "connected" => format!("connected ({}, replica {replica})", a.version),
        "disconnected" => match a.last_seen_at {
            Some(t) => format!("disconnected (last seen {})", t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            None => "disconnected".to_string(),
        },
        _ => "never connected".to_string(),
    }
}

fn print_log(l: &sdk::WorkspaceBuildLog) {
    eprintln!("{}", l.output);
}

/// Follows a queued build to its end unless `no_wait`, then prints the workspace.
async fn finish(c: &Client, workspace: Uuid, build: Uuid, no_wait: bool, out: &Out) -> Result<()> {
    if !no_wait {
        let b = c.wait_for_build(build, print_log).await?;
        if b.job.status != sdk::ProvisionerJobStatus::Succeeded {
            let w = c.workspace(workspace).await?;
            print_one(fmt(out), &w, HEADERS, row(&w))?;
            return Err(format!(
                "build #{} {:?}: {}",
                b.build_number,
                b.job.status,
                b.job.error.as_deref().unwrap_or("no error message")
            )
            .to_lowercase()
            .into());
        }
    }
    let w = c.workspace(workspace).await?;
    print_one(fmt(out), &w, HEADERS, row(&w))
}

pub async fn run(c: &Client, cmd: WorkspacesCommand) -> Result<()> {
    match cmd {
        WorkspacesCommand::Create { name, template, org, owner, params, no_wait, out } => {
            let t = super::templates::resolve(c, &template, org.clone()).await?;
            let org = match org {
                Some(o) => o,
                None => t.organization_id.to_string(),
            };
            let mut values = Vec::new();
            for p in params {
                let (n, v) = p.split_once('=').ok_or_else(|| format!("--param {p:?}: expected NAME=VALUE"))?;
                values.push(sdk::WorkspaceBuildParameter { name: n.to_string(), value: v.to_string() });
            }
            let req = sdk::CreateWorkspaceRequest { template_id: t.id, name, rich_parameter_values: values };
            let w = c.create_workspace(&org, &owner, &req).await?;
            if w.kind == sdk::TemplateKind::External {
                let creds = c.external_agent(w.id).await?;
                eprintln!("Run the workspace agent where the workspace should live:\n\n    {}\n", creds.command);
            }
            finish(c, w.id, w.latest_build.id, no_wait, &out).await
        }
        WorkspacesCommand::List { search, all, out } => {
            let q = if all { String::new() } else { search };
            let ws = c.workspaces(&q).await?.workspaces;
            print_list(fmt(&out), &ws, HEADERS, ws.iter().map(row).collect())
        }
        WorkspacesCommand::Start(a) => build(c, a, sdk::WorkspaceTransition::Start).await,
        WorkspacesCommand::Stop(a) => build(c, a, sdk::WorkspaceTransition::Stop).await,
        WorkspacesCommand::Delete(a) => build(c, a, sdk::WorkspaceTransition::Delete).await,
        WorkspacesCommand::Update(a) => update(c, a).await,
        WorkspacesCommand::AgentCommand { workspace } => {
            let w = resolve(c, &workspace).await?;
            println!("{}", c.external_agent(w.id).await?.command);
            Ok(())
        }
        WorkspacesCommand::Logs { workspace, follow } => {
            let w = resolve(c, &workspace).await?;
            let build = w.latest_build.id;
            if follow {
                let lines = c.follow_build_logs(build, 0).await?;
                let mut lines = std::pin::pin!(lines);
                while let Some(l) = lines.next().await {
                    println!("{}", l?.output);
                }
            } else {
                for l in c.build_logs(build, 0).await? {
                    println!("{}", l.output);
                }
            }
            Ok(())
        }
    }
}

async fn update(c: &Client, a: BuildArgs) -> Result<()> {
    let w = resolve(c, &a.workspace).await?;
    if !w.outdated {
        eprintln!("Workspace {}/{} already uses the template's active version.", w.owner_name, w.name);
        return print_one(fmt(&a.out), &w, HEADERS, row(&w));
    }
    if w.status == sdk::WorkspaceStatus::Running {
        let stop = c.create_build(w.id, sdk::WorkspaceTransition::Stop).await?;
        let b = c.wait_for_build(stop.id, print_log).await?;
        if b.job.status != sdk::ProvisionerJobStatus::Succeeded {
            return Err(format!("stopping the workspace failed: {}", b.job.error.as_deref().unwrap_or("no error message")).into());
        }
    }
    let req = sdk::CreateWorkspaceBuildRequest {
        transition: sdk::WorkspaceTransition::Start,
        template_version_id: Some(w.template_active_version_id),
        rich_parameter_values: Vec::new(),
    };
    let b = c.create_build_with(w.id, &req).await?;
    finish(c, w.id, b.id, a.no_wait, &a.out).await
}

async fn build(c: &Client, a: BuildArgs, transition: sdk::WorkspaceTransition) -> Result<()> {
    let w = resolve(c, &a.workspace).await?;
    let b = c.create_build(w.id, transition).await?;
    finish(c, w.id, b.id, a.no_wait, &a.out).await
}
