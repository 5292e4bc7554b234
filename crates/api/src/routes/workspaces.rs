//! Workspaces, their builds, build logs (optionally followed live) and command execution.
//!
//! `GET /api/v2/workspacebuilds/{id}/logs?follow=true` streams **NDJSON**: one
//! `WorkspaceBuildLog` JSON object per line, first the lines already stored (after `after`),
//! then new ones as the runner stores them; the response ends once the build has finished and
//! every line was sent (or when the server shuts down). Without `follow` the answer is a JSON
//! array. A follower is woken by the runner's in-process hints and re-reads the database at
//! least every second, so lines written through another server arrive too.

use std::time::Duration;

use agentry_agent::ExecuteRequest;
use agentry_rbac::Action;
use agentry_sdk as sdk;
use agentry_store::templates::{ParameterValue, resolve_parameters};
use agentry_store::users::UserRef;
use agentry_store::workspaces::{JobStatus, NewBuild, NewWorkspace, OwnerQuery, WorkspaceQuery, WorkspaceStatus};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ClientError};
use crate::json::{ApiJson, ApiQuery, Pagination};
use crate::routes::templates::path_id;
use agentry_types::Problem;
use crate::{AppState, convert, validate};

const DEFAULT_EXECUTE_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_EXECUTE_TIMEOUT: Duration = Duration::from_secs(600);
/// Log lines per database read (and per non-following answer).
const LOG_PAGE: i64 = 1000;

fn q_error(problem: Problem) -> ApiError {
    ApiError::validation(vec![validate::entry("q", problem)])
}

/// Parses `owner:me|<name> organization:<name> template:<name> status:<status> name:<text>`;
/// a bare word is a name search. Unknown keys are a 400, not silently ignored.
pub(crate) fn parse_query(q: &str) -> ApiResult<WorkspaceQuery> {
    let mut out = WorkspaceQuery::default();
    for term in q.split_whitespace() {
        let (key, value) = term.split_once(':').unwrap_or(("name", term));
        if value.is_empty() {
            return Err(q_error(Problem::SearchTermNeedsValue { key: key.to_string() }));
        }
        match key {
            "owner" => {
                out.owner = Some(if value == "me" { OwnerQuery::Me } else { OwnerQuery::User(value.to_string()) })
            }
            "organization" => out.organization = Some(value.to_string()),
            "template" => out.template = Some(value.to_string()),
            "name" => out.name = Some(value.to_string()),
            "status" => {
                out.status = Some(WorkspaceStatus::parse(value).ok_or_else(|| {
                    let all: Vec<&str> = WorkspaceStatus::ALL.iter().map(|s| s.as_str()).collect();
                    q_error(Problem::UnknownWorkspaceStatus { value: value.to_string(), all: all.join(", ") })
                })?)
            }
            other => {
                return Err(q_error(Problem::UnknownWorkspaceSearchKey { key: other.to_string() }));
            }
        }
    }
    Ok(out)
}

fn parameter_values(values: Vec<sdk::WorkspaceBuildParameter>) -> Vec<ParameterValue> {
    values.into_iter().map(|p| ParameterValue { name: p.name, value: p.value }).collect()
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Search terms, e.g. `owner:me status:running`.
    pub q: Option<String>,
}

#[utoipa::path(get, path = "/api/v2/workspaces", tag = "workspaces", params(ListQuery, Pagination),
    responses((status = 200, body = sdk::WorkspacesResponse), (status = 400, body = sdk::Response)))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(lq): ApiQuery<ListQuery>,
    ApiQuery(page): ApiQuery<Pagination>,
) -> ApiResult<Json<sdk::WorkspacesResponse>> {
    let q = parse_query(lq.q.as_deref().unwrap_or(""))?;
    let (rows, count) = s
        .store
        .actor(&auth.subject)
        .workspaces(&q, page.limit(100)?, page.offset()?, page.after_id)
        .await?;
    let actor = s.store.actor(&auth.subject);
    let states = actor.agent_states(&rows.iter().collect::<Vec<_>>()).await?;
    let workspaces = rows
        .into_iter()
        .map(|w| {
            let state = states.iter().find(|a| a.workspace_id == w.id);
            convert::workspace_with_agent(w, state)
        })
        .collect();
    Ok(Json(sdk::WorkspacesResponse { workspaces, count }))
}

#[utoipa::path(post, path = "/api/v2/organizations/{org}/members/{user}/workspaces", tag = "workspaces",
    params(("org" = String, Path, description = "id or name"), ("user" = String, Path, description = "id, username or me")),
    request_body = sdk::CreateWorkspaceRequest,
    responses((status = 201, body = sdk::Workspace), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response),
        (status = 404, body = sdk::Response), (status = 409, body = sdk::Response), (status = 503, body = sdk::Response)))]
pub async fn create(
    State(s): State<AppState>,
    auth: Auth,
    Path((org, user)): Path<(String, String)>,
    ApiJson(req): ApiJson<sdk::CreateWorkspaceRequest>,
) -> ApiResult<(StatusCode, Json<sdk::Workspace>)> {
    let actor = s.store.actor(&auth.subject);
    let o = actor.organization(&org).await?;
    let owner = actor.user(&UserRef::parse(&user)).await?;
    actor.may_create_workspace(owner.id, o.id)?;
    let values = parameter_values(req.rich_parameter_values);
    // Report every bad field at once. The store repeats each check (and the ones about the
    // template's access and organization) authoritatively; this pass only gathers details.
    let mut v = Vec::new();
    validate::name("name", &req.name, &mut v);
    let template = actor.template(req.template_id).await.ok();
    if let Some(t) = &template
        && t.organization_id == o.id
        && let Err(errors) = resolve_parameters(&t.parameters.0, &values)
    {
        v.extend(errors.into_iter().map(|(field, problem)| sdk::ValidationError { field, detail: problem.to_string() }));
    }
    if !v.is_empty() {
        return Err(ApiError::validation(v));
    }
    // An external workspace runs nothing on this host.
    if template.is_none_or(|t| t.kind == agentry_store::templates::TemplateKind::Local) {
        sandbox_ready(&s)?;
    }
    let new = NewWorkspace { template_id: req.template_id, name: &req.name, parameters: &values };
    let w = actor.create_workspace(&o.id.to_string(), &UserRef::Id(owner.id), &new).await?;
    s.provisioning.build_queued();
    Ok((StatusCode::CREATED, Json(convert::workspace(w))))
}

/// Fails closed: when workspaces cannot be sandboxed on this host (and the operator did not
/// opt out), creating or starting one is refused before anything is stored or run.
fn sandbox_ready(s: &AppState) -> ApiResult<()> {
    s.provisioning.isolation().ready().map_err(|reason| ClientError::WorkspaceIsolationUnavailable { reason: reason.to_string() }.into())
}

#[utoipa::path(get, path = "/api/v2/workspaces/{id}", tag = "workspaces", params(("id" = Uuid, Path)),
    responses((status = 200, body = sdk::Workspace), (status = 404, body = sdk::Response)))]
pub async fn get(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<sdk::Workspace>> {
    let actor = s.store.actor(&auth.subject);
    let w = actor.workspace(path_id(&id)?).await?;
    let states = actor.agent_states(&[&w]).await?;
    Ok(Json(convert::workspace_with_agent(w, states.first())))
}

#[utoipa::path(post, path = "/api/v2/workspaces/{id}/builds", tag = "workspaces", params(("id" = Uuid, Path)),
    request_body = sdk::CreateWorkspaceBuildRequest,
    responses((status = 201, body = sdk::WorkspaceBuild), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response),
        (status = 404, body = sdk::Response), (status = 409, body = sdk::Response), (status = 503, body = sdk::Response)))]
pub async fn create_build(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<sdk::CreateWorkspaceBuildRequest>,
) -> ApiResult<(StatusCode, Json<sdk::WorkspaceBuild>)> {
    let values = parameter_values(req.rich_parameter_values);
    let new = NewBuild {
        transition: convert::transition_in(req.transition),
        template_version_id: req.template_version_id,
        parameters: &values,
    };
    if new.transition == agentry_store::workspaces::Transition::Start {
        // Reading the workspace first keeps the 404 for those who may not see it.
        let w = s.store.actor(&auth.subject).workspace(path_id(&id)?).await?;
        if w.template_kind == agentry_store::templates::TemplateKind::Local {
            sandbox_ready(&s)?;
        }
    }
    let b = s.store.actor(&auth.subject).create_build(path_id(&id)?, new).await?;
    s.provisioning.build_queued();
    Ok((StatusCode::CREATED, Json(convert::build(b))))
}

#[utoipa::path(get, path = "/api/v2/workspacebuilds/{id}", tag = "workspaces", params(("id" = Uuid, Path)),
    responses((status = 200, body = sdk::WorkspaceBuild), (status = 404, body = sdk::Response)))]
pub async fn get_build(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<sdk::WorkspaceBuild>> {
    Ok(Json(convert::build(s.store.actor(&auth.subject).workspace_build(path_id(&id)?).await?)))
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Only lines with a greater id.
    pub after: Option<i64>,
    /// Stream NDJSON until the build finishes.
    pub follow: Option<bool>,
}

#[utoipa::path(get, path = "/api/v2/workspacebuilds/{id}/logs", tag = "workspaces", params(("id" = Uuid, Path), LogsQuery),
    responses((status = 200, description = "a JSON array, or with follow=true an NDJSON stream of WorkspaceBuildLog",
        content((Vec<sdk::WorkspaceBuildLog> = "application/json"), (sdk::WorkspaceBuildLog = "application/x-ndjson"))),
        (status = 404, body = sdk::Response)))]
pub async fn logs(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> ApiResult<Response> {
    let id = path_id(&id)?;
    let after = q.after.unwrap_or(0);
    let actor = s.store.actor(&auth.subject);
    if !q.follow.unwrap_or(false) {
        let lines = actor.build_logs(id, after, LOG_PAGE).await?;
        return Ok(Json(lines.into_iter().map(convert::build_log).collect::<Vec<_>>()).into_response());
    }
    // Authorize before the stream starts, so a refusal is an ordinary error response.
    actor.workspace_build(id).await?;
    let follow = Follow {
        state: s.clone(),
        auth_changes: s.store.auth_changes(),
        reauth_at: tokio::time::Instant::now() + crate::routes::chats::stream::REAUTH_EVERY,
        auth,
        build: id,
        after,
        finished: false,
        changed: s.provisioning.subscribe(),
        closing: s.provisioning.closing(),
    };
    let stream = futures::stream::unfold(follow, |mut f| async move {
        let chunk = f.next_chunk().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), f))
    });
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(stream)).into_response())
}

/// The state of one followed log. Like the chat streams, it re-checks the caller's token every
/// `REAUTH_EVERY` and at once when an auth change concerning the caller commits, and reads
/// through the facade with the refreshed subject, so a suspended user, a revoked key or a
/// removed member stops receiving lines.
struct Follow {
    state: AppState,
    auth: crate::auth::Auth,
    auth_changes: tokio::sync::broadcast::Receiver<agentry_store::auth_cache::AuthChange>,
    reauth_at: tokio::time::Instant,
    build: Uuid,
    after: i64,
    /// The build was seen finished; send what is left, then end.
    finished: bool,
    changed: tokio::sync::broadcast::Receiver<Uuid>,
    closing: tokio::sync::watch::Receiver<bool>,
}

impl Follow {
    /// The next batch of NDJSON lines, or `None` when the stream should end.
    async fn next_chunk(&mut self) -> Option<Vec<u8>> {
        loop {
            if tokio::time::Instant::now() >= self.reauth_at {
                self.auth.refresh(&self.state).await.ok()?;
                self.reauth_at = tokio::time::Instant::now() + crate::routes::chats::stream::REAUTH_EVERY;
            }
            let actor = self.state.store.actor(&self.auth.subject);
            let lines = actor.build_logs(self.build, self.after, LOG_PAGE).await.ok()?;
            if let Some(last) = lines.last() {
                self.after = last.id;
                let mut out = Vec::new();
                for l in lines {
                    serde_json::to_writer(&mut out, &convert::build_log(l)).ok()?;
                    out.push(b'\n');
                }
                return Some(out);
            }
            if self.finished || *self.closing.borrow() {
                return None;
            }
            // Lines are stored before the build finishes, so one more read after seeing it
            // finished gets them all.
            let build = actor.workspace_build(self.build).await.ok()?;
            if !build.status.is_active() {
                self.finished = true;
                continue;
            }
            let user = self.auth.user.id;
            tokio::select! {
                _ = self.changed.recv() => {}
                _ = self.closing.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                change = self.auth_changes.recv() => {
                    let concerns = match change {
                        Ok(c) => c.concerns(user),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => false,
                    };
                    if concerns {
                        self.auth.refresh(&self.state).await.ok()?;
                    }
                }
            }
        }
    }
}

#[utoipa::path(post, path = "/api/v2/workspaces/{id}/execute", tag = "workspaces", params(("id" = Uuid, Path)),
    request_body = sdk::WorkspaceExecuteRequest,
    responses((status = 200, body = sdk::WorkspaceExecuteResponse), (status = 400, body = sdk::Response),
        (status = 403, body = sdk::Response), (status = 404, body = sdk::Response), (status = 409, body = sdk::Response)))]
pub async fn execute(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<sdk::WorkspaceExecuteRequest>,
) -> ApiResult<Json<sdk::WorkspaceExecuteResponse>> {
    let w = s.store.actor(&auth.subject).workspace_for(path_id(&id)?, Action::Ssh).await?;
    let timeout = req.timeout_ms.map(Duration::from_millis).unwrap_or(DEFAULT_EXECUTE_TIMEOUT);
    if timeout.is_zero() || timeout > MAX_EXECUTE_TIMEOUT {
        return Err(ApiError::validation(vec![validate::entry("timeout_ms", Problem::ExecuteTimeout)]));
    }
    if req.command.trim().is_empty() {
        return Err(ApiError::validation(vec![validate::entry("command", Problem::Empty)]));
    }
    if w.status() != WorkspaceStatus::Running {
        return Err(ClientError::WorkspaceNotRunning { status: w.status().as_str().into() }.into());
    }
    let agent = s.provisioning.agent(w.id).await.map_err(agent_error)?;
    let r = agent
        .execute(ExecuteRequest {
            command: req.command,
            workdir: req.workdir,
            timeout,
            run_in_background: req.run_in_background,
            env: Vec::new(),
        })
        .await
        .map_err(agent_error)?;
    Ok(Json(sdk::WorkspaceExecuteResponse {
        exit_code: r.exit_code,
        output: r.output,
        truncated: r.truncated,
        duration_ms: r.duration_ms,
        timed_out: r.timed_out,
        background_process_id: r.background_process_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms() {
        let q = parse_query("owner:me status:running template:base  dev").unwrap();
        assert_eq!(q.owner, Some(OwnerQuery::Me));
        assert_eq!(q.status, Some(WorkspaceStatus::Running));
        assert_eq!(q.template.as_deref(), Some("base"));
        assert_eq!(q.name.as_deref(), Some("dev"));
        assert_eq!(parse_query("owner:alice organization:acme").unwrap().organization.as_deref(), Some("acme"));
        for bad in ["color:red", "status:sleeping", "owner:"] {
            let e = parse_query(bad).unwrap_err();
            assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(e.validations[0].field, "q");
        }
    }
}

#[utoipa::path(get, path = "/api/v2/workspaces/{id}/external-agent", tag = "workspaces", params(("id" = Uuid, Path)),
    responses((status = 200, body = sdk::ExternalAgentCredentials), (status = 403, body = sdk::Response),
        (status = 404, body = sdk::Response), (status = 409, body = sdk::Response)))]
/// The exact command that runs an external workspace's agent anywhere. Needs `ssh` on the
/// workspace (the agent executes its commands); each call mints a new agent token for the
/// workspace's current build, revoked like the others when the workspace stops.
pub async fn external_agent(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<sdk::ExternalAgentCredentials>> {
    let w = s.store.actor(&auth.subject).workspace_for(path_id(&id)?, Action::Ssh).await?;
    if w.template_kind != agentry_store::templates::TemplateKind::External {
        return Err(ClientError::NotExternalWorkspace.into());
    }
    let b = &w.latest_build.0;
    if w.deleted || b.transition != agentry_store::workspaces::Transition::Start || b.status == JobStatus::Failed || b.status == JobStatus::Canceled {
        return Err(ClientError::WorkspaceNotRunning { status: w.status().as_str().into() }.into());
    }
    let token = s.store.system().mint_agent_token(w.id, Some(b.id)).await?;
    let url = s.config.access_url.trim_end_matches('/').to_string();
    Ok(Json(sdk::ExternalAgentCredentials {
        command: format!("AGENTRY_AGENT_TOKEN={token} agentry agent --url {url}"),
        url,
        token,
    }))
}

/// Bytes per agent call while streaming a file.
const FILE_CHUNK: u64 = 1024 * 1024;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FileQuery {
    /// Path relative to the workspace root (or absolute inside it).
    pub path: String,
}

#[utoipa::path(get, path = "/api/v2/workspaces/{id}/files/content", tag = "workspaces", params(("id" = Uuid, Path), FileQuery),
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 400, body = sdk::Response), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response),
        (status = 409, body = sdk::Response), (status = 503, body = sdk::Response)))]
/// A file of the workspace, read through its agent in chunks wherever the agent is connected.
/// Needs `ssh` on the workspace, like `execute`; the agent confines the path to the workspace.
pub async fn file_content(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<FileQuery>,
) -> ApiResult<Response> {
    let w = s.store.actor(&auth.subject).workspace_for(path_id(&id)?, Action::Ssh).await?;
    if w.status() != WorkspaceStatus::Running {
        return Err(ClientError::WorkspaceNotRunning { status: w.status().as_str().into() }.into());
    }
    let agent = s.provisioning.agent(w.id).await.map_err(agent_error)?;
    // The first chunk decides the status; later failures end the body early.
    let first = agent.read_bytes(&q.path, 0, FILE_CHUNK).await.map_err(agent_error)?;
    let size = first.size;
    let path = q.path;
    let stream = futures::stream::unfold(Some((first, 0u64)), move |state| {
        let agent = agent.clone();
        let path = path.clone();
        async move {
            let (chunk, offset) = state?;
            use base64::Engine;
            let bytes = match base64::engine::general_purpose::STANDARD.decode(&chunk.data) {
                Ok(b) => b,
                Err(e) => return Some((Err(std::io::Error::other(e)), None)),
            };
            let next_offset = offset + bytes.len() as u64;
            let next = if chunk.eof || bytes.is_empty() {
                None
            } else {
                match agent.read_bytes(&path, next_offset, FILE_CHUNK).await {
                    Ok(c) => Some((c, next_offset)),
                    Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
                }
            };
            Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(bytes)), next))
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, size)
        .body(Body::from_stream(stream))
        .map_err(ApiError::internal)
}

/// An operation on the agent failed: retryable (503) when the agent was unreachable, else the
/// agent's own message (400, or 404 for a missing file).
fn agent_error(e: agentry_agent::AgentError) -> ApiError {
    let reason = e.to_string();
    if e.is_retryable() {
        ClientError::WorkspaceAgentUnreachable { reason }.into()
    } else {
        ClientError::WorkspaceAgentRefused { reason }.into()
    }
}
