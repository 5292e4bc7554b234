//! `agentry templates create|list|edit|versions`.

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use clap::Subcommand;
use uuid::Uuid;

use super::output::{print_list, print_one};
use super::{Out, Result, fmt, org_or_default};

#[derive(Subcommand)]
pub enum TemplatesCommand {
    /// Create a template in an organization.
    Create {
        name: String,
        /// Organization id or name; the default organization when absent.
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        script: ScriptArgs,
        #[command(flatten)]
        params: ParamArgs,
        /// What workspaces may reach on the network: full (default) or none.
        #[arg(long, value_parser = parse_network)]
        network: Option<sdk::NetworkMode>,
        /// Who runs the workspaces' agents: local (this server, in a sandbox; default) or
        /// external (you run `agentry agent` wherever the workspace should live).
        #[arg(long, value_parser = parse_kind)]
        kind: Option<sdk::TemplateKind>,
        #[command(flatten)]
        out: Out,
    },
    List {
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        out: Out,
    },
    /// Change a template; only what is given changes.
    Edit {
        /// Template id, or name in --org.
        template: String,
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        script: ScriptArgs,
        /// Replaces every parameter definition when given.
        #[command(flatten)]
        params: ParamArgs,
        /// full or none. A new script, parameters or network make a new active version;
        /// existing workspaces keep theirs until updated (`agentry workspaces update`).
        #[arg(long, value_parser = parse_network)]
        network: Option<sdk::NetworkMode>,
        /// Deprecated templates cannot be used for new workspaces.
        #[arg(long)]
        deprecated: Option<bool>,
        #[command(flatten)]
        out: Out,
    },
    /// List a template's versions, newest first.
    Versions {
        /// Template id, or name in --org.
        template: String,
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        out: Out,
    },
}

fn parse_network(s: &str) -> std::result::Result<sdk::NetworkMode, String> {
    match s {
        "full" => Ok(sdk::NetworkMode::Full),
        "none" => Ok(sdk::NetworkMode::None),
        other => Err(format!("{other:?} is not a network mode (full or none)")),
    }
}

fn parse_kind(s: &str) -> std::result::Result<sdk::TemplateKind, String> {
    match s {
        "local" => Ok(sdk::TemplateKind::Local),
        "external" => Ok(sdk::TemplateKind::External),
        other => Err(format!("{other:?} is not a template kind (local or external)")),
    }
}

fn network_name(n: sdk::NetworkMode) -> &'static str {
    match n {
        sdk::NetworkMode::Full => "full",
        sdk::NetworkMode::None => "none",
    }
}

#[derive(clap::Args)]
pub struct ScriptArgs {
    /// The startup script, run in the workspace directory on every start.
    #[arg(long, conflicts_with = "startup_script_file")]
    startup_script: Option<String>,
    /// Read the startup script from a file.
    #[arg(long)]
    startup_script_file: Option<std::path::PathBuf>,
}

impl ScriptArgs {
    fn get(&self) -> Result<Option<String>> {
        match (&self.startup_script, &self.startup_script_file) {
            (Some(s), _) => Ok(Some(s.clone())),
            (None, Some(path)) => Ok(Some(std::fs::read_to_string(path)?)),
            (None, None) => Ok(None),
        }
    }
}

#[derive(clap::Args)]
pub struct ParamArgs {
    /// A parameter as NAME:TYPE[=DEFAULT] (TYPE: string, number or bool); repeatable.
    #[arg(long = "param", value_name = "NAME:TYPE[=DEFAULT]")]
    params: Vec<String>,
    /// Names of --param parameters the workspace must be given.
    #[arg(long = "required", value_name = "NAME")]
    required: Vec<String>,
    /// Parameter definitions as a JSON array of {name, type, default?, required?, options?,
    /// description?}.
    #[arg(long, conflicts_with = "params")]
    parameters_file: Option<std::path::PathBuf>,
}

impl ParamArgs {
    fn get(&self) -> Result<Option<Vec<sdk::TemplateParameter>>> {
        if let Some(path) = &self.parameters_file {
            return Ok(Some(serde_json::from_str(&std::fs::read_to_string(path)?)?));
        }
        if self.params.is_empty() {
            if !self.required.is_empty() {
                return Err("--required names a parameter declared with --param".into());
            }
            return Ok(None);
        }
        let mut out = Vec::new();
        for p in &self.params {
            out.push(parse_param(p, &self.required)?);
        }
        for r in &self.required {
            if !out.iter().any(|p| &p.name == r) {
                return Err(format!("--required {r}: no --param declares it").into());
            }
        }
        Ok(Some(out))
    }
}

/// `NAME:TYPE[=DEFAULT]`.
fn parse_param(spec: &str, required: &[String]) -> Result<sdk::TemplateParameter> {
    let (name, rest) = spec.split_once(':').ok_or_else(|| format!("--param {spec:?}: expected NAME:TYPE[=DEFAULT]"))?;
    let (kind, default) = match rest.split_once('=') {
        Some((k, d)) => (k, Some(d.to_string())),
        None => (rest, None),
    };
    let param_type = match kind {
        "string" => sdk::TemplateParameterType::String,
        "number" => sdk::TemplateParameterType::Number,
        "bool" => sdk::TemplateParameterType::Bool,
        other => return Err(format!("--param {spec:?}: unknown type {other:?} (string, number or bool)").into()),
    };
    Ok(sdk::TemplateParameter {
        name: name.to_string(),
        param_type,
        default,
        required: required.iter().any(|r| r == name),
        options: Vec::new(),
        description: String::new(),
    })
}

/// A template by id, or by name in the organization.
pub(super) async fn resolve(c: &Client, template: &str, org: Option<String>) -> Result<sdk::Template> {
    if let Ok(id) = Uuid::parse_str(template) {
        return Ok(c.template(id).await?);
    }
    let org = org_or_default(c, org).await?;
    c.templates(&org)
        .await?
        .into_iter()
        .find(|t| t.name.eq_ignore_ascii_case(template))
        .ok_or_else(|| format!("no template named {template:?} in that organization").into())
}

fn row(t: &sdk::Template) -> Vec<String> {
    let params: Vec<String> = t
        .parameters
        .iter()
        .map(|p| format!("{}:{}", p.name, format!("{:?}", p.param_type).to_lowercase()))
        .collect();
    vec![
        t.id.to_string(),
        t.name.clone(),
        t.display_name.clone(),
        params.join(","),
        network_name(t.network).to_string(),
        t.active_version_id.to_string(),
        t.deprecated.to_string(),
    ]
}
const HEADERS: &[&str] = &["ID", "NAME", "DISPLAY NAME", "PARAMETERS", "NETWORK", "ACTIVE VERSION", "DEPRECATED"];

fn version_row(active: Uuid, v: &sdk::TemplateVersion) -> Vec<String> {
    vec![
        v.id.to_string(),
        v.name.clone(),
        network_name(v.network).to_string(),
        (v.id == active).to_string(),
        v.created_at.to_rfc3339(),
    ]
}
const VERSION_HEADERS: &[&str] = &["ID", "NAME", "NETWORK", "ACTIVE", "CREATED"];

pub async fn run(c: &Client, cmd: TemplatesCommand) -> Result<()> {
    match cmd {
        TemplatesCommand::Create { name, org, display_name, description, script, params, network, kind, out } => {
            let org = org_or_default(c, org).await?;
            let req = sdk::CreateTemplateRequest {
                name,
                display_name,
                description,
                startup_script: script.get()?,
                parameters: params.get()?,
                network,
                kind,
            };
            let t = c.create_template(&org, &req).await?;
            print_one(fmt(&out), &t, HEADERS, row(&t))
        }
        TemplatesCommand::List { org, out } => {
            let org = org_or_default(c, org).await?;
            let ts = c.templates(&org).await?;
            print_list(fmt(&out), &ts, HEADERS, ts.iter().map(row).collect())
        }
        TemplatesCommand::Edit { template, org, name, display_name, description, script, params, network, deprecated, out } => {
            let t = resolve(c, &template, org).await?;
            let req = sdk::UpdateTemplateRequest {
                name,
                display_name,
                description,
                startup_script: script.get()?,
                parameters: params.get()?,
                network,
                deprecated,
            };
            let t = c.update_template(t.id, &req).await?;
            print_one(fmt(&out), &t, HEADERS, row(&t))
        }
        TemplatesCommand::Versions { template, org, out } => {
            let t = resolve(c, &template, org).await?;
            let vs = c.template_versions(t.id).await?;
            print_list(fmt(&out), &vs, VERSION_HEADERS, vs.iter().map(|v| version_row(t.active_version_id, v)).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_specs() {
        let p = parse_param("cpus:number=2", &[]).unwrap();
        assert_eq!((p.name.as_str(), p.param_type, p.default.as_deref(), p.required), ("cpus", sdk::TemplateParameterType::Number, Some("2"), false));
        let p = parse_param("repo:string", &["repo".into()]).unwrap();
        assert!(p.required && p.default.is_none());
        assert!(parse_param("repo", &[]).is_err());
        assert!(parse_param("x:float", &[]).is_err());
    }
}
