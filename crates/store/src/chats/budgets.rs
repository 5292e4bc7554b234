//! Chat budgets and recorded usage.
//!
//! Three limits can apply to a model call of a chat in organization O owned by user U: O's
//! budget (all its chats), U's budget in O (a member budget), and the deployment's default
//! limit per user (`limits.rs`, U's spend everywhere). Each has a period (day, ISO week, month
//! on the UTC calendar) and is spent once the period's spend reaches it.
//!
//! Usage is recorded per model step in `chat_usage_steps`, in the step's own transaction, and
//! two rollups are kept in that same transaction by upserts: `chat_usage_daily` (organization,
//! day, user, model) answers reports by model, user or organization, and `chat_spend_daily`
//! (scope, day) answers the budget check — one query reading at most 31 rows per limit — and
//! reports by day (one row per day). Scopes use the nil uuid for
//! "any": `(O, nil)` is the organization, `(O, U)` a member, `(nil, U)` the user everywhere.
//!
//! **Bound:** the check runs before each model call and does not reserve anything, so calls
//! that start while a budget is nearly spent all pass and are recorded after they finish:
//! spend can exceed a limit by at most one model step per chat running at that moment (N
//! chats racing → at most N steps over). Locking a scope row across a model call would make the
//! bound zero but serialize an organization's chats behind its slowest call.

use agentry_rbac::{Action, Object, ResourceType};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::Chat;
use super::limits::period_bounds;
use super::messages::NewMessage;
use crate::audit::{self, Entry};
use crate::users::UserRef;
use crate::{Actor, ClientError, Result, StoreError, WorkerTasks};

const NIL: Uuid = Uuid::nil();

/// The periods a budget may have.
pub const PERIODS: [&str; 3] = ["day", "week", "month"];

/// One budget and its standing in the current period.
#[derive(Debug, Clone)]
pub struct BudgetStatus {
    pub organization_id: Uuid,
    /// `None` for the organization's own budget.
    pub user_id: Option<Uuid>,
    /// `None` when no budget is set (spend is still reported, for a month).
    pub limit_micros: Option<i64>,
    pub period: String,
    pub spent_micros: i64,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

#[derive(FromRow)]
struct Standing {
    kind: i32,
    limit_micros: i64,
    period: String,
    spent: i64,
}

/// Every limit in force for (organization, user) with the spend of its current period, in one
/// round trip.
const STANDING: &str = "
WITH lim AS (
    SELECT 0 AS kind, $1::uuid AS o, '00000000-0000-0000-0000-000000000000'::uuid AS u, limit_micros, period
      FROM chat_budgets WHERE organization_id = $1 AND user_id = '00000000-0000-0000-0000-000000000000'
    UNION ALL
    SELECT 1, $1, $2, limit_micros, period FROM chat_budgets WHERE organization_id = $1 AND user_id = $2
    UNION ALL
    SELECT 2, '00000000-0000-0000-0000-000000000000', $2, default_limit_micros, period
      FROM chat_usage_limit_config WHERE enabled
)
SELECT lim.kind, lim.limit_micros, lim.period,
       (SELECT COALESCE(sum(s.micros), 0)::bigint FROM chat_spend_daily s
         WHERE s.organization_id = lim.o AND s.user_id = lim.u
           AND s.day >= date_trunc(lim.period, $3::timestamptz AT TIME ZONE 'UTC')::date) AS spent
FROM lim ORDER BY lim.kind";

/// Refuses when any limit that applies to a model call of `user` in `org` is spent at `now`:
/// the organization's budget first, then the member's, then the deployment's limit.
pub(crate) async fn check_at(conn: &mut PgConnection, org: Uuid, user: Uuid, now: DateTime<Utc>) -> Result<()> {
    let rows: Vec<Standing> =
        sqlx::query_as(STANDING).bind(org).bind(user).bind(now).fetch_all(&mut *conn).await?;
    for r in rows {
        if r.spent < r.limit_micros {
            continue;
        }
        let (spent_micros, limit_micros, resets_at) = (r.spent, r.limit_micros, period_bounds(&r.period, now).1);
        // `kind` as STANDING numbers the limits: 0 organization, 1 member, 2 deployment.
        return Err(match r.kind {
            0 => ClientError::OrganizationBudgetExceeded { spent_micros, limit_micros, resets_at },
            1 => ClientError::MemberBudgetExceeded { spent_micros, limit_micros, resets_at },
            _ => ClientError::UsageLimitExceeded { spent_micros, limit_micros, resets_at },
        }
        .into());
    }
    Ok(())
}

pub(crate) async fn check(conn: &mut PgConnection, org: Uuid, user: Uuid) -> Result<()> {
    check_at(conn, org, user, Utc::now()).await
}

/// Records one model call's usage and updates both rollups (one statement; call it inside the
/// transaction that saves the step). Rows are locked in one order — daily rollup, then the
/// organization, member and user spend rows — so concurrent steps never deadlock.
pub(crate) async fn record(
    conn: &mut PgConnection,
    org: Uuid,
    user: Uuid,
    chat: Option<Uuid>,
    model: Option<Uuid>,
    u: &super::messages::Usage,
) -> Result<()> {
    sqlx::query(
        "WITH s AS (
             INSERT INTO chat_usage_steps (organization_id, user_id, chat_id, model_config_id, input_tokens, output_tokens,
                                           cache_read_tokens, cache_creation_tokens, cost_micros)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             RETURNING organization_id, user_id, model_config_id, input_tokens, output_tokens, cost_micros,
                       (created_at AT TIME ZONE 'UTC')::date AS day
         ), d AS (
             INSERT INTO chat_usage_daily AS t (organization_id, day, user_id, model_config_id, micros, input_tokens, output_tokens, steps)
             SELECT organization_id, day, user_id, COALESCE(model_config_id, '00000000-0000-0000-0000-000000000000'),
                    cost_micros, input_tokens, output_tokens, 1 FROM s
             ON CONFLICT (organization_id, day, user_id, model_config_id) DO UPDATE
                SET micros = t.micros + EXCLUDED.micros, input_tokens = t.input_tokens + EXCLUDED.input_tokens,
                    output_tokens = t.output_tokens + EXCLUDED.output_tokens, steps = t.steps + 1
             RETURNING 1
         )
         INSERT INTO chat_spend_daily AS t (organization_id, user_id, day, micros, input_tokens, output_tokens)
         SELECT v.o, v.u, s.day, s.cost_micros, s.input_tokens, s.output_tokens FROM s, d,
             LATERAL (VALUES (1, s.organization_id, '00000000-0000-0000-0000-000000000000'::uuid),
                             (2, s.organization_id, s.user_id),
                             (3, '00000000-0000-0000-0000-000000000000'::uuid, s.user_id)) AS v(n, o, u)
         ORDER BY v.n
         ON CONFLICT (organization_id, user_id, day) DO UPDATE
            SET micros = t.micros + EXCLUDED.micros, input_tokens = t.input_tokens + EXCLUDED.input_tokens,
                output_tokens = t.output_tokens + EXCLUDED.output_tokens",
    )
    .bind(org)
    .bind(user)
    .bind(chat)
    .bind(model)
    .bind(u.input_tokens.unwrap_or(0))
    .bind(u.output_tokens.unwrap_or(0))
    .bind(u.cache_read_tokens.unwrap_or(0))
    .bind(u.cache_creation_tokens.unwrap_or(0))
    .bind(u.total_cost_micros.unwrap_or(0))
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the step an assistant message stands for, when the model reported usage.
pub(crate) async fn record_message(conn: &mut PgConnection, chat: &Chat, m: &NewMessage) -> Result<()> {
    let u = &m.usage;
    if u.input_tokens.is_none() && u.output_tokens.is_none() && u.total_cost_micros.is_none() {
        return Ok(());
    }
    record(conn, chat.organization_id, chat.owner_id, Some(chat.id), m.model_config_id, u).await
}

/// The spend of one scope since `start`.
async fn spent_since(conn: impl sqlx::PgExecutor<'_>, org: Uuid, user: Uuid, start: DateTime<Utc>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(sum(micros), 0)::bigint FROM chat_spend_daily
         WHERE organization_id = $1 AND user_id = $2 AND day >= ($3::timestamptz AT TIME ZONE 'UTC')::date",
    )
    .bind(org)
    .bind(user)
    .bind(start)
    .fetch_one(conn)
    .await?)
}

/// A user's spend across the deployment since `start` (the deployment limit's scope).
pub(crate) async fn user_spent_since(conn: impl sqlx::PgExecutor<'_>, user: Uuid, start: DateTime<Utc>) -> Result<i64> {
    spent_since(conn, NIL, user, start).await
}

impl WorkerTasks<'_> {
    /// The budget check before a model call of `chat` (main turn, subagent, title).
    pub async fn check_budgets(&self, chat: &Chat) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        check(&mut conn, chat.organization_id, chat.owner_id).await
    }

    /// The same check at a given time (benchmarks and tests of period boundaries).
    pub async fn check_budgets_at(&self, org: Uuid, user: Uuid, now: DateTime<Utc>) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        check_at(&mut conn, org, user, now).await
    }

    /// Records a model call that saves no message (title generation).
    pub async fn record_usage(&self, chat: &Chat, model: Uuid, usage: &super::messages::Usage) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        record(&mut tx, chat.organization_id, chat.owner_id, Some(chat.id), Some(model), usage).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[derive(FromRow)]
struct BudgetRow {
    limit_micros: i64,
    period: String,
}

fn usage_object(org: Uuid, user: Option<Uuid>) -> Object {
    let o = Object::new(ResourceType::ChatUsage).in_org(org);
    match user {
        Some(u) => o.owned_by(u),
        None => o,
    }
}

/// Grouping of a usage report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    Day,
    Model,
    User,
    Organization,
}

impl UsageGroup {
    pub fn parse(s: &str) -> Option<UsageGroup> {
        match s {
            "day" => Some(UsageGroup::Day),
            "model" => Some(UsageGroup::Model),
            "user" => Some(UsageGroup::User),
            "organization" => Some(UsageGroup::Organization),
            _ => None,
        }
    }

    fn key(self) -> &'static str {
        match self {
            UsageGroup::Day => "to_char(day, 'YYYY-MM-DD')",
            UsageGroup::Model => "model_config_id::text",
            UsageGroup::User => "user_id::text",
            UsageGroup::Organization => "organization_id::text",
        }
    }
}

/// What a usage report covers: days `from` (inclusive) to `to` (exclusive), UTC.
#[derive(Debug, Clone)]
pub struct UsageQuery {
    pub organization_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group_by: UsageGroup,
}

#[derive(Debug, Clone, FromRow)]
pub struct UsageRow {
    pub key: String,
    pub micros: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

impl Actor<'_> {
    /// The organization and, for a member budget, the member, after authorizing `action` on
    /// their spend. An organization the caller may not read, or a user who is not a member, is
    /// `NotFound`; a readable one the caller may not act on is `Forbidden`.
    async fn budget_scope(&self, org: &str, user: Option<&UserRef<'_>>, action: Action) -> Result<(crate::orgs::Organization, Option<Uuid>)> {
        let org = self.organization(org).await?;
        let user = match user {
            Some(u) => {
                let target = self.user(u).await?;
                self.membership(org.id, target.id).await?.ok_or(StoreError::NotFound)?;
                Some(target.id)
            }
            None => None,
        };
        // The organization and the membership are readable here, so refusing reveals nothing.
        self.subject.authorize(action, &usage_object(org.id, user)).map_err(StoreError::Forbidden)?;
        Ok((org, user))
    }

    async fn budget_status(&self, org: Uuid, user: Option<Uuid>) -> Result<BudgetStatus> {
        let row: Option<BudgetRow> =
            sqlx::query_as("SELECT limit_micros, period FROM chat_budgets WHERE organization_id = $1 AND user_id = $2")
                .bind(org)
                .bind(user.unwrap_or(NIL))
                .fetch_optional(self.pool)
                .await?;
        let period = row.as_ref().map_or("month".to_string(), |r| r.period.clone());
        let (start, end) = period_bounds(&period, Utc::now());
        let spent = spent_since(self.pool, org, user.unwrap_or(NIL), start).await?;
        Ok(BudgetStatus {
            organization_id: org,
            user_id: user,
            limit_micros: row.map(|r| r.limit_micros),
            period,
            spent_micros: spent,
            period_start: start,
            period_end: end,
        })
    }

    /// An organization's budget (`user` = `None`) or a member's, with the current period's spend.
    /// Readers: the organization's admins and auditors, the site owner and auditor, and a member
    /// for their own budget.
    pub async fn chat_budget(&self, org: &str, user: Option<&UserRef<'_>>) -> Result<BudgetStatus> {
        let (org, user) = self.budget_scope(org, user, Action::Read).await?;
        self.budget_status(org.id, user).await
    }

    /// Sets (or, with `limit_micros` = `None`, removes) a budget; audited. Only the
    /// organization's admins and the site owner (`chat_usage update`).
    pub async fn set_chat_budget(&self, org: &str, user: Option<&UserRef<'_>>, limit_micros: Option<i64>, period: &str) -> Result<BudgetStatus> {
        let (org, user) = self.budget_scope(org, user, Action::Update).await?;
        if !PERIODS.contains(&period) {
            return Err(ClientError::InvalidLimitPeriod.into());
        }
        if limit_micros.is_some_and(|l| l < 0) {
            return Err(ClientError::NegativeUsageLimit.into());
        }
        let mut tx = self.pool.begin().await?;
        let old: Option<BudgetRow> = sqlx::query_as(
            "SELECT limit_micros, period FROM chat_budgets WHERE organization_id = $1 AND user_id = $2 FOR UPDATE",
        )
        .bind(org.id)
        .bind(user.unwrap_or(NIL))
        .fetch_optional(&mut *tx)
        .await?;
        match limit_micros {
            Some(limit) => {
                sqlx::query(
                    "INSERT INTO chat_budgets (organization_id, user_id, limit_micros, period) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (organization_id, user_id) DO UPDATE
                        SET limit_micros = EXCLUDED.limit_micros, period = EXCLUDED.period, updated_at = now()",
                )
                .bind(org.id)
                .bind(user.unwrap_or(NIL))
                .bind(limit)
                .bind(period)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM chat_budgets WHERE organization_id = $1 AND user_id = $2")
                    .bind(org.id)
                    .bind(user.unwrap_or(NIL))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let whose = match user {
            Some(u) => format!("member {u} of organization {}", org.name),
            None => format!("organization {}", org.name),
        };
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: Some(org.id),
                action: if limit_micros.is_some() { "write" } else { "delete" },
                resource_type: "chat_budget",
                resource_id: user.unwrap_or(org.id),
                resource_target: &whose,
                diff: serde_json::json!({
                    "limit_micros": {"old": old.as_ref().map(|o| o.limit_micros), "new": limit_micros},
                    "period": {"old": old.as_ref().map(|o| o.period.clone()), "new": limit_micros.map(|_| period)},
                }),
                description: format!("set the chat budget of {whose}"),
            },
        )
        .await?;
        tx.commit().await?;
        self.budget_status(org.id, user).await
    }

    /// A usage report. Who reads what follows `chat_usage read`: a user their own (in an
    /// organization, or across the deployment), organization admins and auditors their
    /// organization, the site owner and auditor everything. Without filters, a caller who may
    /// not read everything gets their own usage. An organization the caller may not read is
    /// `NotFound`.
    pub async fn chat_usage(&self, q: &UsageQuery) -> Result<(i64, Vec<UsageRow>)> {
        let mut q = q.clone();
        match q.organization_id {
            Some(org) => {
                self.organization(&org.to_string()).await?;
                self.subject.authorize(Action::Read, &usage_object(org, q.user_id)).map_err(StoreError::Forbidden)?;
            }
            None => {
                let mut object = Object::new(ResourceType::ChatUsage);
                if let Some(u) = q.user_id {
                    object = object.owned_by(u);
                } else if !self.subject.can(Action::Read, &object) {
                    q.user_id = Some(self.subject.user_id());
                    object = object.owned_by(self.subject.user_id());
                }
                self.subject.authorize(Action::Read, &object).map_err(StoreError::Forbidden)?;
            }
        }
        // Static fragments only; every value is a bound parameter. By day, the scope rows of
        // `chat_spend_daily` answer (one row per day); by anything else, `chat_usage_daily`.
        let by_day = q.group_by == UsageGroup::Day;
        let mut sql = format!(
            "SELECT {key} AS key, sum(micros)::bigint AS micros, sum(input_tokens)::bigint AS input_tokens,
                    sum(output_tokens)::bigint AS output_tokens
             FROM {table} WHERE day >= $1 AND day < $2",
            key = q.group_by.key(),
            table = if by_day { "chat_spend_daily" } else { "chat_usage_daily" },
        );
        let mut n = 2;
        if q.organization_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND organization_id = ${n}"));
        } else if by_day {
            sql.push_str(if q.user_id.is_some() {
                " AND organization_id = '00000000-0000-0000-0000-000000000000'"
            } else {
                " AND organization_id <> '00000000-0000-0000-0000-000000000000'"
            });
        }
        if q.user_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND user_id = ${n}"));
        } else if by_day {
            sql.push_str(" AND user_id = '00000000-0000-0000-0000-000000000000'");
        }
        sql.push_str(" GROUP BY 1 ORDER BY 1");
        let mut query = sqlx::query_as::<_, UsageRow>(sqlx::AssertSqlSafe(sql)).bind(q.from).bind(q.to);
        if let Some(o) = q.organization_id {
            query = query.bind(o);
        }
        if let Some(u) = q.user_id {
            query = query.bind(u);
        }
        let rows = query.fetch_all(self.pool).await?;
        let total = rows.iter().map(|r| r.micros).sum();
        Ok((total, rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_parse() {
        assert_eq!(UsageGroup::parse("day"), Some(UsageGroup::Day));
        assert_eq!(UsageGroup::parse("organization"), Some(UsageGroup::Organization));
        assert_eq!(UsageGroup::parse("week"), None);
    }
}
