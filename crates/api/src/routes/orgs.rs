//! `/api/v2/organizations/...`: organizations, their members and org role assignment.

use agentry_rbac::OrgRole;
use agentry_sdk as sdk;
use agentry_store::orgs::OrgPatch;
use agentry_store::users::UserRef;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::json::{ApiJson, ApiQuery, Pagination};
use agentry_types::Problem;
use crate::{AppState, convert, validate};

#[utoipa::path(get, path = "/api/v2/organizations", tag = "organizations", responses((status = 200, body = Vec<sdk::Organization>)))]
pub async fn list(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<sdk::Organization>>> {
    let orgs = s.store.actor(&auth.subject).organizations().await?;
    Ok(Json(orgs.into_iter().map(convert::organization).collect()))
}

#[utoipa::path(post, path = "/api/v2/organizations", tag = "organizations", request_body = sdk::CreateOrganizationRequest,
    responses((status = 201, body = sdk::Organization), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response), (status = 409, body = sdk::Response)))]
pub async fn create(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<sdk::CreateOrganizationRequest>,
) -> ApiResult<(StatusCode, Json<sdk::Organization>)> {
    s.store.actor(&auth.subject).may_create_organization()?;
    let mut v = Vec::new();
    validate::name("name", &req.name, &mut v);
    if !v.is_empty() {
        return Err(ApiError::validation(v));
    }
    let display = req.display_name.clone().filter(|d| !d.trim().is_empty()).unwrap_or_else(|| req.name.clone());
    let org = s
        .store
        .actor(&auth.subject)
        .create_organization(&req.name, &display, req.description.as_deref().unwrap_or(""))
        .await?;
    Ok((StatusCode::CREATED, Json(convert::organization(org))))
}

#[utoipa::path(get, path = "/api/v2/organizations/{org}", tag = "organizations", params(("org" = String, Path, description = "id or name")),
    responses((status = 200, body = sdk::Organization), (status = 404, body = sdk::Response)))]
pub async fn get(State(s): State<AppState>, auth: Auth, Path(org): Path<String>) -> ApiResult<Json<sdk::Organization>> {
    Ok(Json(convert::organization(s.store.actor(&auth.subject).organization(&org).await?)))
}

#[utoipa::path(patch, path = "/api/v2/organizations/{org}", tag = "organizations", params(("org" = String, Path)),
    request_body = sdk::UpdateOrganizationRequest,
    responses((status = 200, body = sdk::Organization), (status = 409, description = "The name is taken.", body = sdk::Response)))]
pub async fn update(
    State(s): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    ApiJson(req): ApiJson<sdk::UpdateOrganizationRequest>,
) -> ApiResult<Json<sdk::Organization>> {
    let mut v = Vec::new();
    if let Some(name) = &req.name {
        validate::name("name", name, &mut v);
    }
    if !v.is_empty() {
        return Err(ApiError::validation(v));
    }
    let patch = OrgPatch {
        name: req.name.as_deref(),
        display_name: req.display_name.as_deref(),
        description: req.description.as_deref(),
    };
    let updated = s.store.actor(&auth.subject).update_organization(&org, &patch).await?;
    Ok(Json(convert::organization(updated)))
}

#[utoipa::path(delete, path = "/api/v2/organizations/{org}", tag = "organizations", params(("org" = String, Path)),
    responses((status = 204), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response)))]
pub async fn delete(State(s): State<AppState>, auth: Auth, Path(org): Path<String>) -> ApiResult<StatusCode> {
    s.store.actor(&auth.subject).delete_organization(&org).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v2/organizations/{org}/members", tag = "members", params(("org" = String, Path), Pagination),
    responses((status = 200, body = Vec<sdk::OrganizationMember>), (status = 400, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn members(
    State(s): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    ApiQuery(p): ApiQuery<Pagination>,
) -> ApiResult<Json<Vec<sdk::OrganizationMember>>> {
    let members = s.store.actor(&auth.subject).members(&org, p.limit(100)?, p.offset()?, p.after_id).await?;
    Ok(Json(members.into_iter().map(convert::member).collect()))
}

#[utoipa::path(post, path = "/api/v2/organizations/{org}/members/{user}", tag = "members",
    params(("org" = String, Path), ("user" = String, Path)),
    responses((status = 200, body = sdk::OrganizationMember), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response), (status = 409, body = sdk::Response)))]
pub async fn add_member(
    State(s): State<AppState>,
    auth: Auth,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<Json<sdk::OrganizationMember>> {
    let m = s.store.actor(&auth.subject).add_member(&org, &UserRef::parse(&user)).await?;
    Ok(Json(convert::member(m)))
}

#[utoipa::path(delete, path = "/api/v2/organizations/{org}/members/{user}", tag = "members",
    params(("org" = String, Path), ("user" = String, Path)), responses((status = 204), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn remove_member(
    State(s): State<AppState>,
    auth: Auth,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.store.actor(&auth.subject).remove_member(&org, &UserRef::parse(&user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/v2/organizations/{org}/members/{user}/roles", tag = "members",
    params(("org" = String, Path), ("user" = String, Path)), request_body = sdk::UpdateRolesRequest,
    responses((status = 200, body = sdk::OrganizationMember), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response)))]
pub async fn update_member_roles(
    State(s): State<AppState>,
    auth: Auth,
    Path((org, user)): Path<(String, String)>,
    ApiJson(req): ApiJson<sdk::UpdateRolesRequest>,
) -> ApiResult<Json<sdk::OrganizationMember>> {
    let roles = req
        .roles
        .iter()
        .map(|n| {
            OrgRole::parse(n).ok_or_else(|| {
                ApiError::validation(vec![validate::entry("roles", Problem::NotAnOrganizationRole { value: n.clone() })])
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let m = s.store.actor(&auth.subject).set_member_roles(&org, &UserRef::parse(&user), &roles).await?;
    Ok(Json(convert::member(m)))
}

#[utoipa::path(get, path = "/api/v2/organizations/{org}/members/roles", tag = "members", params(("org" = String, Path)),
    responses((status = 200, body = Vec<sdk::AssignableRole>)))]
pub async fn roles(
    State(s): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
) -> ApiResult<Json<Vec<sdk::AssignableRole>>> {
    let actor = s.store.actor(&auth.subject);
    let org = actor.organization(&org).await?;
    Ok(Json(
        OrgRole::ASSIGNABLE
            .into_iter()
            .map(|r| {
                let assignable = actor.may_assign_org_role(org.id, r);
                convert::role(r.role(), r.display_name(), Some(org.id), assignable)
            })
            .collect(),
    ))
}
