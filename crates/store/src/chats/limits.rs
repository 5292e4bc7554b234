//! The deployment-wide default limit per user and period. It is checked with the budgets of
//! `budgets.rs` (one check for all three limits, before every model call and inside the
//! transactions that start model work); spend is read from the rollup kept there.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use sqlx::FromRow;

use crate::{Actor, ClientError, Result};

#[derive(Debug, Clone, FromRow)]
pub struct LimitConfig {
    pub enabled: bool,
    pub default_limit_micros: i64,
    /// `day`, `week` (ISO, Monday) or `month`, in UTC.
    pub period: String,
    pub updated_at: DateTime<Utc>,
}

/// The current period's bounds for `now`.
pub fn period_bounds(period: &str, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let day = Utc.with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0).unwrap();
    match period {
        "day" => (day, day + Duration::days(1)),
        "week" => {
            let start = day - Duration::days(now.weekday().num_days_from_monday() as i64);
            (start, start + Duration::days(7))
        }
        _ => {
            let start = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).unwrap();
            let (y, m) = if now.month() == 12 { (now.year() + 1, 1) } else { (now.year(), now.month() + 1) };
            (start, Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).unwrap())
        }
    }
}

async fn config(conn: impl sqlx::PgExecutor<'_>) -> Result<LimitConfig> {
    Ok(sqlx::query_as("SELECT enabled, default_limit_micros, period, updated_at FROM chat_usage_limit_config")
        .fetch_one(conn)
        .await?)
}

/// One user's standing against the limit.
#[derive(Debug, Clone)]
pub struct LimitStatus {
    pub enabled: bool,
    pub period: String,
    pub spent_micros: i64,
    pub limit_micros: Option<i64>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

impl Actor<'_> {
    /// The deployment's limit settings (administrators: `chat_provider read`).
    pub async fn usage_limit_config(&self) -> Result<LimitConfig> {
        super::models::authorize_admin(self.subject, agentry_rbac::Action::Read)?;
        config(self.pool).await
    }

    pub async fn set_usage_limit_config(&self, enabled: bool, limit_micros: i64, period: &str) -> Result<LimitConfig> {
        super::models::authorize_admin(self.subject, agentry_rbac::Action::Update)?;
        if !matches!(period, "day" | "week" | "month") {
            return Err(ClientError::InvalidLimitPeriod.into());
        }
        if limit_micros < 0 {
            return Err(ClientError::NegativeUsageLimit.into());
        }
        let mut tx = self.pool.begin().await?;
        let old = config(&mut *tx).await?;
        let new: LimitConfig = sqlx::query_as(
            "UPDATE chat_usage_limit_config SET enabled = $1, default_limit_micros = $2, period = $3, updated_at = now()
             RETURNING enabled, default_limit_micros, period, updated_at",
        )
        .bind(enabled)
        .bind(limit_micros)
        .bind(period)
        .fetch_one(&mut *tx)
        .await?;
        crate::audit::record(
            &mut tx,
            crate::audit::Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: None,
                action: "write",
                resource_type: "chat_usage_limit",
                resource_id: uuid::Uuid::nil(),
                resource_target: "deployment",
                diff: serde_json::json!({
                    "enabled": {"old": old.enabled, "new": enabled},
                    "limit_micros": {"old": old.default_limit_micros, "new": limit_micros},
                    "period": {"old": old.period, "new": period},
                }),
                description: "changed the deployment's chat usage limit per user".to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(new)
    }

    /// The caller's own spend in the current period.
    pub async fn my_usage(&self) -> Result<LimitStatus> {
        let cfg = config(self.pool).await?;
        let (start, end) = period_bounds(&cfg.period, Utc::now());
        let spent = super::budgets::user_spent_since(self.pool, self.subject.user_id(), start).await?;
        Ok(LimitStatus {
            enabled: cfg.enabled,
            period: cfg.period,
            spent_micros: spent,
            limit_micros: cfg.enabled.then_some(cfg.default_limit_micros),
            period_start: start,
            period_end: end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        let now = Utc.with_ymd_and_hms(2026, 12, 31, 15, 0, 0).unwrap(); // a Thursday
        assert_eq!(period_bounds("day", now).0, Utc.with_ymd_and_hms(2026, 12, 31, 0, 0, 0).unwrap());
        assert_eq!(period_bounds("week", now).0, Utc.with_ymd_and_hms(2026, 12, 28, 0, 0, 0).unwrap());
        assert_eq!(period_bounds("month", now).1, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
    }
}
