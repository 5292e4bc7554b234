//! The CLI client: every command talks to a server through `agentry_client`.

mod chats;
mod models;
mod output;
mod session;
mod templates;
mod tokens;
mod usage;
mod workspaces;

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use clap::{Subcommand, ValueEnum};

use output::{Format, print_list, print_one};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Log in to a deployment and remember the session (creating the first user when the
    /// deployment has none and --username is given).
    Login {
        url: String,
        #[arg(long, env = "AGENTRY_EMAIL")]
        email: String,
        #[arg(long, env = "AGENTRY_PASSWORD")]
        password: String,
        /// Only for a new deployment: the first user's username.
        #[arg(long)]
        username: Option<String>,
    },
    /// Forget the saved session and end it on the server.
    Logout,
    /// Users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Organizations.
    #[command(subcommand)]
    Orgs(OrgsCommand),
    /// Organization members and their roles.
    #[command(subcommand)]
    Members(MembersCommand),
    /// Workspace templates of an organization.
    #[command(subcommand)]
    Templates(templates::TemplatesCommand),
    /// Agent chats: create, send, watch, interrupt, list, show, archive.
    #[command(subcommand)]
    Chats(chats::ChatsCommand),
    /// Workspaces and their builds.
    #[command(subcommand)]
    Workspaces(workspaces::WorkspacesCommand),
    /// API tokens: list, create, revoke.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Chat models: which ones an organization may use.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// AI spend: per day, model, user or organization (`--org`, `--user`, `--since`).
    Usage(usage::UsageArgs),
}

#[derive(Clone, Copy, ValueEnum, Default)]
pub enum OutputArg {
    #[default]
    Table,
    Json,
}

#[derive(clap::Args)]
pub struct Out {
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = OutputArg::Table, global = true)]
    output: OutputArg,
}

#[derive(Subcommand)]
pub enum UsersCommand {
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        #[arg(long, env = "AGENTRY_NEW_USER_PASSWORD")]
        password: String,
        /// Organizations to join (id or name); the default organization when absent.
        #[arg(long = "org")]
        orgs: Vec<String>,
        #[command(flatten)]
        out: Out,
    },
    List {
        /// Coder's user search: `status:active|suspended`, `role:<site role>`, and words that
        /// must appear in the username or email.
        #[arg(long)]
        search: Option<String>,
        #[command(flatten)]
        out: Out,
    },
}

#[derive(Subcommand)]
pub enum OrgsCommand {
    Create {
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        out: Out,
    },
    List {
        #[command(flatten)]
        out: Out,
    },
}

#[derive(Subcommand)]
pub enum MembersCommand {
    Add {
        user: String,
        /// Organization id or name; the default organization when absent.
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        out: Out,
    },
    Remove {
        user: String,
        #[arg(long)]
        org: Option<String>,
    },
    List {
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        out: Out,
    },
    /// Replace a member's org roles (e.g. `agents-access`); no roles clears them.
    Roles {
        user: String,
        roles: Vec<String>,
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        out: Out,
    },
}

fn fmt(o: &Out) -> Format {
    match o.output {
        OutputArg::Table => Format::Table,
        OutputArg::Json => Format::Json,
    }
}

/// The organization named, or the default one.
pub(super) async fn org_or_default(c: &Client, org: Option<String>) -> Result<String> {
    if let Some(o) = org {
        return Ok(o);
    }
    let orgs = c.organizations().await?;
    let default = orgs.iter().find(|o| o.is_default).or(orgs.first()).ok_or("you belong to no organization")?;
    Ok(default.id.to_string())
}

fn user_row(u: &sdk::User) -> Vec<String> {
    let roles: Vec<&str> = u.roles.iter().map(|r| r.name.as_str()).collect();
    vec![u.id.to_string(), u.username.clone(), u.email.clone(), format!("{:?}", u.status).to_lowercase(), roles.join(",")]
}
const USER_HEADERS: &[&str] = &["ID", "USERNAME", "EMAIL", "STATUS", "ROLES"];

fn org_row(o: &sdk::Organization) -> Vec<String> {
    vec![o.id.to_string(), o.name.clone(), o.display_name.clone(), o.is_default.to_string()]
}
const ORG_HEADERS: &[&str] = &["ID", "NAME", "DISPLAY NAME", "DEFAULT"];

fn member_row(m: &sdk::OrganizationMember) -> Vec<String> {
    let roles: Vec<&str> = m.roles.iter().map(|r| r.name.as_str()).collect();
    vec![m.user_id.to_string(), m.username.clone(), roles.join(",")]
}
const MEMBER_HEADERS: &[&str] = &["USER ID", "USERNAME", "ROLES"];

pub async fn run(cmd: ClientCommand) -> Result<()> {
    match cmd {
        ClientCommand::Login { url, email, password, username } => {
            let anon = Client::new(&url)?;
            if !anon.has_first_user().await? {
                let username = username.ok_or(
                    "this deployment has no users yet; pass --username to create the first (owner) user",
                )?;
                anon.create_first_user(&sdk::CreateFirstUserRequest {
                    email: email.clone(),
                    username,
                    password: password.clone(),
                    name: None,
                })
                .await?;
                eprintln!("Created the first user; it is the site owner.");
            }
            let token = anon.login(&email, &password).await?.session_token;
            let me = anon.with_token(&token).me().await?;
            let path = session::save(&session::Session { url, token })?;
            eprintln!("Logged in as {} (session saved to {}).", me.username, path.display());
            Ok(())
        }
        ClientCommand::Logout => {
            let c = session::client()?;
            // The local session is forgotten even if the server is gone.
            let r = c.logout().await;
            session::forget()?;
            r?;
            eprintln!("Logged out.");
            Ok(())
        }
        ClientCommand::Users(u) => {
            let c = session::client()?;
            match u {
                UsersCommand::Create { email, username, password, orgs, out } => {
                    let mut ids = Vec::new();
                    for o in orgs {
                        ids.push(c.organization(&o).await?.id);
                    }
                    let req = sdk::CreateUserRequest {
                        email,
                        username,
                        password,
                        name: None,
                        organization_ids: if ids.is_empty() { None } else { Some(ids) },
                    };
                    let user = c.create_user(&req).await?;
                    print_one(fmt(&out), &user, USER_HEADERS, user_row(&user))
                }
                UsersCommand::List { search, out } => {
                    // Page through everything that matches: `count` says when to stop.
                    let mut users = Vec::new();
                    loop {
                        let page = c.search_users(search.as_deref().unwrap_or(""), 1000, users.len() as i64).await?;
                        let last = page.users.is_empty() || users.len() + page.users.len() >= page.count as usize;
                        users.extend(page.users);
                        if last {
                            break;
                        }
                    }
                    print_list(fmt(&out), &users, USER_HEADERS, users.iter().map(user_row).collect())
                }
            }
        }
        ClientCommand::Orgs(o) => {
            let c = session::client()?;
            match o {
                OrgsCommand::Create { name, display_name, out } => {
                    let org = c
                        .create_organization(&sdk::CreateOrganizationRequest { name, display_name, description: None })
                        .await?;
                    print_one(fmt(&out), &org, ORG_HEADERS, org_row(&org))
                }
                OrgsCommand::List { out } => {
                    let orgs = c.organizations().await?;
                    print_list(fmt(&out), &orgs, ORG_HEADERS, orgs.iter().map(org_row).collect())
                }
            }
        }
        ClientCommand::Templates(t) => templates::run(&session::client()?, t).await,
        ClientCommand::Workspaces(w) => workspaces::run(&session::client()?, w).await,
        ClientCommand::Chats(ch) => chats::run(&session::client()?, ch).await,
        ClientCommand::Tokens(t) => tokens::run(&session::client()?, t).await,
        ClientCommand::Models(m) => models::run(&session::client()?, m).await,
        ClientCommand::Usage(u) => usage::run(&session::client()?, u).await,
        ClientCommand::Members(m) => {
            let c = session::client()?;
            match m {
                MembersCommand::Add { user, org, out } => {
                    let org = org_or_default(&c, org).await?;
                    let m = c.add_member(&org, &user).await?;
                    print_one(fmt(&out), &m, MEMBER_HEADERS, member_row(&m))
                }
                MembersCommand::Remove { user, org } => {
                    let org = org_or_default(&c, org).await?;
                    c.remove_member(&org, &user).await?;
                    eprintln!("Removed {user}.");
                    Ok(())
                }
                MembersCommand::List { org, out } => {
                    let org = org_or_default(&c, org).await?;
                    let ms = c.members(&org).await?;
                    print_list(fmt(&out), &ms, MEMBER_HEADERS, ms.iter().map(member_row).collect())
                }
                MembersCommand::Roles { user, roles, org, out } => {
                    let org = org_or_default(&c, org).await?;
                    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
                    let m = c.update_member_roles(&org, &user, &roles).await?;
                    print_one(fmt(&out), &m, MEMBER_HEADERS, member_row(&m))
                }
            }
        }
    }
}
