//! `/api/v2/organizations/{org}/templates`, `/api/v2/templates/{id}` and
//! `/api/v2/templates/{id}/versions`: an organization's workspace templates and their immutable
//! versions.

use agentry_sdk as sdk;
use agentry_store::templates::{NewTemplate, TemplateParameter, TemplatePatch, TemplateQuery, check_parameter_defs};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ClientError};
use crate::json::{ApiJson, ApiQuery, Pagination};
use agentry_types::Problem;
use crate::{AppState, convert, validate};

/// Most bytes a startup script may have.
const MAX_SCRIPT: usize = 64 * 1024;

/// A path id that is not a UUID names nothing.
pub(crate) fn path_id(s: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| ApiError::not_found())
}

/// Checks and canonicalises parameter definitions, adding every problem to `v`.
fn parameters(defs: Vec<sdk::TemplateParameter>, v: &mut Vec<sdk::ValidationError>) -> Vec<TemplateParameter> {
    let mut defs: Vec<TemplateParameter> = defs.into_iter().map(convert::template_parameter_in).collect();
    for (field, problem) in check_parameter_defs(&mut defs) {
        v.push(sdk::ValidationError { field, detail: problem.to_string() });
    }
    defs
}

fn script(s: &str, v: &mut Vec<sdk::ValidationError>) {
    if s.len() > MAX_SCRIPT {
        v.push(validate::entry("startup_script", Problem::ScriptTooLarge));
    }
}

#[utoipa::path(get, path = "/api/v2/organizations/{org}/templates", tag = "templates", params(("org" = String, Path, description = "id or name"), Pagination),
    responses((status = 200, body = Vec<sdk::Template>), (status = 404, body = sdk::Response)))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    ApiQuery(p): ApiQuery<Pagination>,
) -> ApiResult<Json<Vec<sdk::Template>>> {
    let ts = s.store.actor(&auth.subject).templates(&org, p.limit(100)?, p.offset()?, p.after_id).await?;
    Ok(Json(ts.into_iter().map(convert::template).collect()))
}

/// The query of `GET /api/v2/templates`: paging plus Coder's search string.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplatesParams {
    /// 1 to 1000; absent or 0 means the route's default.
    #[param(minimum = 0, maximum = 1000)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    pub after_id: Option<Uuid>,
    /// Space-separated terms: `organization:<id or name>`, `deprecated:true|false`,
    /// `exact_name:<name>`, and words that must each appear in the name or display name.
    pub q: Option<String>,
}

/// Parses Coder's template search string; unknown filters are refused, never ignored.
fn parse_template_query(q: &str) -> ApiResult<TemplateQuery> {
    let mut query = TemplateQuery::default();
    let mut problems = Vec::new();
    for term in q.split_whitespace() {
        match term.split_once(':') {
            None => query.words.push(term.to_string()),
            Some(("name", v)) => query.words.push(v.to_string()),
            Some(("exact_name", v)) => query.exact_name = Some(v.to_string()),
            Some(("organization", v)) => query.organization = Some(v.to_string()),
            Some(("deprecated", v)) => match v.to_ascii_lowercase().as_str() {
                "true" => query.deprecated = Some(true),
                "false" => query.deprecated = Some(false),
                _ => problems.push(Problem::NotABool { value: v.to_string() }),
            },
            Some((k, _)) => problems.push(Problem::UnsupportedTemplateFilter { key: k.to_string() }),
        }
    }
    if problems.is_empty() {
        return Ok(query);
    }
    let validations = problems.into_iter().map(|p| validate::entry("q", p)).collect();
    Err(ApiError::with_validations(ClientError::InvalidTemplateQuery, validations))
}

#[utoipa::path(get, path = "/api/v2/templates", tag = "templates", params(TemplatesParams),
    responses((status = 200, description = "by organization name, then template name", body = Vec<sdk::Template>),
        (status = 400, body = sdk::Response)))]
pub async fn list_all(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<TemplatesParams>,
) -> ApiResult<Json<Vec<sdk::Template>>> {
    let query = parse_template_query(p.q.as_deref().unwrap_or(""))?;
    let page = Pagination { limit: p.limit, offset: p.offset, after_id: p.after_id };
    let ts = s
        .store
        .actor(&auth.subject)
        .all_templates(&query, page.limit(100)?, page.offset()?, page.after_id)
        .await?;
    Ok(Json(ts.into_iter().map(convert::template).collect()))
}

#[utoipa::path(post, path = "/api/v2/organizations/{org}/templates", tag = "templates", params(("org" = String, Path)),
    request_body = sdk::CreateTemplateRequest,
    responses((status = 201, body = sdk::Template), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response),
        (status = 404, body = sdk::Response), (status = 409, body = sdk::Response)))]
pub async fn create(
    State(s): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    ApiJson(req): ApiJson<sdk::CreateTemplateRequest>,
) -> ApiResult<(StatusCode, Json<sdk::Template>)> {
    let actor = s.store.actor(&auth.subject);
    let o = actor.organization(&org).await?;
    // Refuse before validating so a caller without the permission learns nothing more.
    actor.may_create_template(o.id)?;
    let mut v = Vec::new();
    validate::name("name", &req.name, &mut v);
    let startup_script = req.startup_script.unwrap_or_default();
    script(&startup_script, &mut v);
    let params = parameters(req.parameters.unwrap_or_default(), &mut v);
    if !v.is_empty() {
        return Err(ApiError::validation(v));
    }
    let display = req.display_name.filter(|d| !d.trim().is_empty()).unwrap_or_else(|| req.name.clone());
    let new = NewTemplate {
        name: &req.name,
        display_name: &display,
        description: req.description.as_deref().unwrap_or(""),
        startup_script: &startup_script,
        parameters: params,
        network: req.network.map(convert::network_in).unwrap_or_default(),
        kind: req.kind.map(convert::template_kind_in).unwrap_or_default(),
    };
    let t = actor.create_template(&o.id.to_string(), new).await?;
    Ok((StatusCode::CREATED, Json(convert::template(t))))
}

#[utoipa::path(get, path = "/api/v2/templates/{id}", tag = "templates", params(("id" = Uuid, Path)),
    responses((status = 200, body = sdk::Template), (status = 404, body = sdk::Response)))]
pub async fn get(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<sdk::Template>> {
    let t = s.store.actor(&auth.subject).template(path_id(&id)?).await?;
    Ok(Json(convert::template(t)))
}

#[utoipa::path(patch, path = "/api/v2/templates/{id}", tag = "templates", params(("id" = Uuid, Path)),
    request_body = sdk::UpdateTemplateRequest,
    responses((status = 200, body = sdk::Template), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response),
        (status = 404, body = sdk::Response), (status = 409, body = sdk::Response)))]
pub async fn update(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<sdk::UpdateTemplateRequest>,
) -> ApiResult<Json<sdk::Template>> {
    let actor = s.store.actor(&auth.subject);
    let t = actor.template(path_id(&id)?).await?;
    actor.may_update_template(&t)?;
    let mut v = Vec::new();
    if let Some(name) = &req.name {
        validate::name("name", name, &mut v);
    }
    if let Some(sc) = &req.startup_script {
        script(sc, &mut v);
    }
    let params = req.parameters.map(|p| parameters(p, &mut v));
    if !v.is_empty() {
        return Err(ApiError::validation(v));
    }
    let patch = TemplatePatch {
        name: req.name.as_deref(),
        display_name: req.display_name.as_deref().filter(|d| !d.trim().is_empty()),
        description: req.description.as_deref(),
        startup_script: req.startup_script.as_deref(),
        parameters: params,
        network: req.network.map(convert::network_in),
        deprecated: req.deprecated,
    };
    Ok(Json(convert::template(actor.update_template(t.id, patch).await?)))
}

#[utoipa::path(get, path = "/api/v2/templates/{id}/versions", tag = "templates", params(("id" = Uuid, Path), Pagination),
    responses((status = 200, description = "newest first", body = Vec<sdk::TemplateVersion>), (status = 404, body = sdk::Response)))]
pub async fn versions(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<Pagination>,
) -> ApiResult<Json<Vec<sdk::TemplateVersion>>> {
    let vs = s
        .store
        .actor(&auth.subject)
        .template_versions(path_id(&id)?, p.limit(100)?, p.offset()?, p.after_id)
        .await?;
    Ok(Json(vs.into_iter().map(convert::template_version).collect()))
}

#[utoipa::path(delete, path = "/api/v2/templates/{id}", tag = "templates", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response), (status = 409, body = sdk::Response)))]
pub async fn delete(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.store.actor(&auth.subject).delete_template(path_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
