//! `POST /api/v2/authcheck`: the engine's answer for a batch of hypothetical objects, so a UI
//! can hide what the caller may not do (e.g. the organization picker asks `chat create` with
//! `owner_id: me` once per organization).

use agentry_rbac::{Action, Object, ResourceType};
use agentry_sdk as sdk;
use axum::Json;
use axum::extract::State;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ClientError};
use agentry_types::errors::CheckProblem;
use crate::json::ApiJson;
use crate::AppState;

#[utoipa::path(post, path = "/api/v2/authcheck", tag = "authorization", request_body = sdk::AuthorizationRequest,
    responses((status = 200, body = std::collections::BTreeMap<String, bool>), (status = 400, body = sdk::Response)))]
pub async fn check(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<sdk::AuthorizationRequest>,
) -> ApiResult<Json<sdk::AuthorizationResponse>> {
    let actor = s.store.actor(&auth.subject);
    if req.checks.len() > 1000 {
        return Err(ClientError::TooManyAuthorizationChecks.into());
    }
    let mut out = sdk::AuthorizationResponse::new();
    for (key, c) in req.checks {
        let invalid = |problem| ApiError::from(ClientError::InvalidAuthorizationCheck { key: key.clone(), problem });
        let rtype = ResourceType::parse(&c.object.resource_type).ok_or_else(|| invalid(CheckProblem::UnknownResourceType))?;
        let action = Action::parse(&c.action).ok_or_else(|| invalid(CheckProblem::UnknownAction))?;
        if !rtype.actions().contains(action) {
            return Err(invalid(CheckProblem::UndeclaredAction));
        }
        let mut obj = Object::new(rtype);
        match c.object.owner_id.as_deref() {
            None | Some("") => {}
            Some("me") => obj = obj.owned_by(auth.subject.user_id()),
            Some(id) => obj = obj.owned_by(Uuid::parse_str(id).map_err(|_| invalid(CheckProblem::InvalidOwner))?),
        }
        if let Some(org) = c.object.organization_id {
            obj = obj.in_org(org);
        }
        if let Some(id) = c.object.resource_id {
            obj = obj.with_id(id);
        }
        out.insert(key, actor.may(action, &obj));
    }
    Ok(Json(out))
}
