//! Health, build information, the audit log, the deployment's replicas and the OpenAPI
//! document.

use agentry_sdk as sdk;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::auth::Auth;
use crate::error::ApiResult;
use crate::json::{ApiQuery, Pagination};
use crate::{AppState, convert};

/// `GET /healthz`: 200 "OK" while the database answers.
pub async fn healthz(State(s): State<AppState>) -> (StatusCode, &'static str) {
    if s.store.system().ping().await {
        (StatusCode::OK, "OK")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}

#[utoipa::path(get, path = "/api/v2/buildinfo", tag = "general", responses((status = 200, body = sdk::BuildInfo)))]
pub async fn buildinfo(State(s): State<AppState>) -> ApiResult<Json<sdk::BuildInfo>> {
    Ok(Json(sdk::BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        external_url: s.config.access_url.clone(),
        dashboard_url: s.config.access_url.clone(),
        telemetry: false,
        workspace_proxy: false,
        agent_api_version: String::new(),
        provisioner_api_version: String::new(),
        upgrade_message: String::new(),
        deployment_id: s.store.system().deployment_id().await?,
        workspace_isolation: s.provisioning.isolation().label().to_string(),
    }))
}

#[utoipa::path(get, path = "/api/v2/audit", tag = "audit", params(Pagination), responses((status = 200, body = sdk::AuditLogResponse)))]
pub async fn audit(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<Pagination>,
) -> ApiResult<Json<sdk::AuditLogResponse>> {
    let (rows, count) = s.store.actor(&auth.subject).audit_logs(p.limit(50)?, p.offset()?).await?;
    Ok(Json(sdk::AuditLogResponse { audit_logs: rows.into_iter().map(convert::audit).collect(), count }))
}

/// `GET /api/v2/replicas`: the server processes of this deployment, newest first. Site owners
/// and site auditors only (403 for anyone else).
#[utoipa::path(get, path = "/api/v2/replicas", tag = "general", responses((status = 200, body = Vec<sdk::Replica>), (status = 403, description = "Not the site owner or an auditor.", body = sdk::Response)))]
pub async fn replicas(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<sdk::Replica>>> {
    let rows = s.store.actor(&auth.subject).replicas().await?;
    Ok(Json(rows.into_iter().map(convert::replica).collect()))
}

pub async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}
