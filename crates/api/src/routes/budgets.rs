//! Chat budgets (`/api/v2/organizations/{org}/chat-budget`, `…/members/{user}/chat-budget`) and
//! usage reports (`/api/experimental/chats/usage`). The store authorizes both (`chat_usage`).

use agentry_sdk as sdk;
use agentry_store::chats::budgets::{BudgetStatus, UsageGroup, UsageQuery};
use agentry_store::users::UserRef;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, ClientError};
use crate::json::{ApiJson, ApiQuery};

fn budget(b: BudgetStatus) -> sdk::ChatBudget {
    sdk::ChatBudget {
        organization_id: b.organization_id,
        user_id: b.user_id,
        limit_micros: b.limit_micros,
        period: b.period,
        spent_micros: b.spent_micros,
        period_start: b.period_start,
        period_end: b.period_end,
    }
}

#[utoipa::path(get, path = "/api/v2/organizations/{org}/chat-budget", tag = "chat budgets", params(("org" = String, Path)),
    responses((status = 200, body = sdk::ChatBudget), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn get_org(State(s): State<AppState>, auth: Auth, Path(org): Path<String>) -> ApiResult<Json<sdk::ChatBudget>> {
    Ok(Json(budget(s.store.actor(&auth.subject).chat_budget(&org, None).await?)))
}

#[utoipa::path(put, path = "/api/v2/organizations/{org}/chat-budget", tag = "chat budgets", params(("org" = String, Path)),
    request_body = sdk::ChatBudgetRequest,
    responses((status = 200, body = sdk::ChatBudget), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn put_org(
    State(s): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    ApiJson(req): ApiJson<sdk::ChatBudgetRequest>,
) -> ApiResult<Json<sdk::ChatBudget>> {
    let b = s.store.actor(&auth.subject).set_chat_budget(&org, None, req.limit_micros, &req.period).await?;
    Ok(Json(budget(b)))
}

#[utoipa::path(get, path = "/api/v2/organizations/{org}/members/{user}/chat-budget", tag = "chat budgets",
    params(("org" = String, Path), ("user" = String, Path)),
    responses((status = 200, body = sdk::ChatBudget), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn get_member(
    State(s): State<AppState>,
    auth: Auth,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<Json<sdk::ChatBudget>> {
    Ok(Json(budget(s.store.actor(&auth.subject).chat_budget(&org, Some(&UserRef::parse(&user))).await?)))
}

#[utoipa::path(put, path = "/api/v2/organizations/{org}/members/{user}/chat-budget", tag = "chat budgets",
    params(("org" = String, Path), ("user" = String, Path)), request_body = sdk::ChatBudgetRequest,
    responses((status = 200, body = sdk::ChatBudget), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn put_member(
    State(s): State<AppState>,
    auth: Auth,
    Path((org, user)): Path<(String, String)>,
    ApiJson(req): ApiJson<sdk::ChatBudgetRequest>,
) -> ApiResult<Json<sdk::ChatBudget>> {
    let user = UserRef::parse(&user);
    let b = s.store.actor(&auth.subject).set_chat_budget(&org, Some(&user), req.limit_micros, &req.period).await?;
    Ok(Json(budget(b)))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    pub organization_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    /// First day (`YYYY-MM-DD`, or an RFC 3339 time: its UTC day), inclusive. Default: the
    /// first of this month.
    pub from: Option<String>,
    /// Last day, exclusive (same forms). Default: tomorrow. At most 366 days after `from`.
    pub to: Option<String>,
    /// `day` (default), `model`, `user` or `organization`.
    pub group_by: Option<String>,
    /// `json` (default) or `csv` (also chosen by `Accept: text/csv`).
    pub format: Option<String>,
}

/// A day of years 1–9999 (what PostgreSQL's `date` and the calendar agree on).
fn day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc).date_naive()))
        .filter(|d| (1..=9999).contains(&d.year()))
}

#[utoipa::path(get, path = "/api/experimental/chats/usage", tag = "chat budgets", params(UsageParams),
    responses((status = 200, description = "Spend per group, as JSON or CSV (`key,micros,input_tokens,output_tokens`)",
        content((sdk::ChatUsageReport = "application/json"), (String = "text/csv"))),
        (status = 400, body = sdk::Response), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn usage(State(s): State<AppState>, auth: Auth, headers: HeaderMap, ApiQuery(p): ApiQuery<UsageParams>) -> ApiResult<Response> {
    let group_by = match p.group_by.as_deref() {
        None | Some("") => UsageGroup::Day,
        Some(g) => UsageGroup::parse(g).ok_or(ClientError::InvalidUsageGroup)?,
    };
    let csv = match p.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        None | Some("") => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().starts_with("text/csv"))),
        Some(_) => return Err(ClientError::InvalidUsageFormat.into()),
    };
    let today = Utc::now().date_naive();
    let from = match p.from.as_deref() {
        None | Some("") => today.with_day(1).unwrap_or(today),
        Some(f) => day(f).ok_or(ClientError::InvalidUsageRange)?,
    };
    let to = match p.to.as_deref() {
        None | Some("") => today + Duration::days(1),
        Some(t) => day(t).ok_or(ClientError::InvalidUsageRange)?,
    };
    if to <= from || to - from > Duration::days(366) {
        return Err(ClientError::InvalidUsageRange.into());
    }
    let q = UsageQuery { organization_id: p.organization_id, user_id: p.user_id, from, to, group_by };
    let (total, rows) = s.store.actor(&auth.subject).chat_usage(&q).await?;
    let series: Vec<sdk::ChatUsageEntry> = rows
        .into_iter()
        .map(|r| sdk::ChatUsageEntry { key: r.key, micros: r.micros, input_tokens: r.input_tokens, output_tokens: r.output_tokens })
        .collect();
    if csv {
        let mut out = String::from("key,micros,input_tokens,output_tokens\n");
        for r in &series {
            // Keys are days and uuids: nothing to quote.
            out.push_str(&format!("{},{},{},{}\n", r.key, r.micros, r.input_tokens, r.output_tokens));
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response());
    }
    Ok(Json(sdk::ChatUsageReport { total_micros: total, series }).into_response())
}
