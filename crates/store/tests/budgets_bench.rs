//! Benchmarks of the budget check and the usage report (docs/benchmarks/budgets.md). Ignored:
//! run with
//! `cargo test -p agentry-store --test budgets_bench -- --ignored --nocapture`.
//!
//! Seeds 10 million recorded steps with `generate_series` into its own database
//! (`agentry_bench_budgets`, dropped at the end unless `AGENTRY_BENCH_KEEP=1`; an existing one is
//! reused), builds the rollups the way the step writes keep them, puts 10 limits in force, then
//! times (1) the budget check a model call makes and (2) one organization's month by day.

use std::str::FromStr;
use std::time::Instant;

use agentry_rbac::{SiteRole, Subject};
use agentry_store::Store;
use agentry_store::chats::budgets::{UsageGroup, UsageQuery};
use chrono::{NaiveDate, TimeZone, Utc};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use uuid::Uuid;

const DB: &str = "agentry_bench_budgets";
const STEPS: i64 = 10_000_000;
const ORGS: i64 = 50;
const USERS_PER_ORG: i64 = 40;
const MODELS: i64 = 5;

fn org(i: i64) -> Uuid {
    Uuid::from_u128(0x1000_0000 + i as u128)
}

fn user(i: i64) -> Uuid {
    Uuid::from_u128(0x2000_0000 + i as u128)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn seed(conn: &mut sqlx::PgConnection) {
    let started = Instant::now();
    // Steps spread evenly over 2026: org = i mod 50, user = one of its 40, model = one of 5.
    let sql = format!(
        "INSERT INTO chat_usage_steps (organization_id, user_id, chat_id, model_config_id, input_tokens, output_tokens, cost_micros, created_at)
         SELECT ('00000000-0000-0000-0000-0000' || lpad(to_hex(268435456 + (i % {ORGS})), 8, '0'))::uuid,
                ('00000000-0000-0000-0000-0000' || lpad(to_hex(536870912 + (i % {ORGS}) * {USERS_PER_ORG} + (i / {ORGS}) % {USERS_PER_ORG}), 8, '0'))::uuid,
                NULL,
                ('00000000-0000-0000-0000-0000' || lpad(to_hex(805306368 + (i / 7) % {MODELS}), 8, '0'))::uuid,
                1000 + i % 500, 200 + i % 100, 1500 + i % 1000,
                timestamptz '2026-01-01 00:00:00+00' + (i::float8 * 31536000 / {STEPS}) * interval '1 second'
         FROM generate_series(0, {STEPS} - 1) AS i"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await.unwrap();
    println!("seeded {STEPS} steps in {:.1?}", started.elapsed());
    let started = Instant::now();
    // The rollups, as the per-step upserts leave them.
    sqlx::query(
        "INSERT INTO chat_usage_daily (organization_id, day, user_id, model_config_id, micros, input_tokens, output_tokens, steps)
         SELECT organization_id, (created_at AT TIME ZONE 'UTC')::date, user_id, model_config_id,
                sum(cost_micros), sum(input_tokens), sum(output_tokens), count(*)
         FROM chat_usage_steps GROUP BY 1, 2, 3, 4",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO chat_spend_daily (organization_id, user_id, day, micros, input_tokens, output_tokens)
         SELECT organization_id, '00000000-0000-0000-0000-000000000000', day, sum(micros), sum(input_tokens), sum(output_tokens)
           FROM chat_usage_daily GROUP BY 1, 3
         UNION ALL SELECT organization_id, user_id, day, sum(micros), sum(input_tokens), sum(output_tokens) FROM chat_usage_daily GROUP BY 1, 2, 3
         UNION ALL SELECT '00000000-0000-0000-0000-000000000000', user_id, day, sum(micros), sum(input_tokens), sum(output_tokens)
           FROM chat_usage_daily GROUP BY 2, 3",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query("VACUUM ANALYZE chat_usage_steps").execute(&mut *conn).await.unwrap();
    sqlx::query("VACUUM ANALYZE chat_usage_daily").execute(&mut *conn).await.unwrap();
    sqlx::query("VACUUM ANALYZE chat_spend_daily").execute(&mut *conn).await.unwrap();
    println!("built the rollups in {:.1?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: seeds 10 million rows"]
async fn budget_check_and_usage_report() {
    let admin = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = PgConnectOptions::from_str(&admin).unwrap().connect().await.unwrap();
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(DB)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    if !exists {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{DB}\""))).execute(&mut conn).await.unwrap();
    }
    let o = PgConnectOptions::from_str(&admin).unwrap();
    let url = format!("postgres://{}@{}:{}/{DB}", o.get_username(), o.get_host(), o.get_port());
    let store = Store::connect(PgConnectOptions::from_str(&url).unwrap(), 4).await.unwrap();
    store.migrate().await.unwrap();
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM chat_usage_daily").fetch_one(&mut db).await.unwrap();
    if have == 0 {
        seed(&mut db).await;
    }

    // 10 limits in force: 3 organizations' budgets, 6 member budgets (4 in the checked
    // organization), and the deployment's default per user. A call by user 0 in org 0 is under
    // three of them. The limits are high, so the check reads everything and passes.
    for i in 0..3 {
        sqlx::query("INSERT INTO organizations (id, name, display_name) VALUES ($1, $2, $2) ON CONFLICT DO NOTHING")
            .bind(org(i))
            .bind(format!("bench-{i}"))
            .execute(&mut db)
            .await
            .unwrap();
        sqlx::query("INSERT INTO chat_budgets (organization_id, user_id, limit_micros, period) VALUES ($1, '00000000-0000-0000-0000-000000000000', $2, 'month') ON CONFLICT DO NOTHING")
            .bind(org(i))
            .bind(i64::MAX / 2)
            .execute(&mut db)
            .await
            .unwrap();
    }
    for (o, u) in [(0, 0), (0, 50), (0, 100), (0, 150), (1, 1), (2, 2)] {
        sqlx::query("INSERT INTO chat_budgets (organization_id, user_id, limit_micros, period) VALUES ($1, $2, $3, 'week') ON CONFLICT DO NOTHING")
            .bind(org(o))
            .bind(user(u))
            .bind(i64::MAX / 2)
            .execute(&mut db)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE chat_usage_limit_config SET enabled = true, default_limit_micros = $1, period = 'day'")
        .bind(i64::MAX / 2)
        .execute(&mut db)
        .await
        .unwrap();
    let in_force: i64 = sqlx::query_scalar("SELECT count(*) + (SELECT count(*) FROM chat_usage_limit_config WHERE enabled) FROM chat_budgets")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(in_force, 10);

    // (1) The budget check, as a model call makes it (pool connection, one query), at a time
    // late in the seeded year so every period has spend to sum.
    let now = Utc.with_ymd_and_hms(2026, 12, 17, 12, 0, 0).unwrap();
    for _ in 0..200 {
        store.worker().check_budgets_at(org(0), user(0), now).await.unwrap();
    }
    let mut check = Vec::new();
    for _ in 0..5000 {
        let t = Instant::now();
        store.worker().check_budgets_at(org(0), user(0), now).await.unwrap();
        check.push(t.elapsed().as_secs_f64() * 1e3);
    }
    check.sort_by(f64::total_cmp);
    println!(
        "budget check, 10 limits in force: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} runs)",
        percentile(&check, 0.5),
        percentile(&check, 0.99),
        check.last().unwrap(),
        check.len()
    );

    // The database's share of the check: the same query under EXPLAIN ANALYZE.
    let check_plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN (ANALYZE, BUFFERS) SELECT (SELECT COALESCE(sum(s.micros), 0) FROM chat_spend_daily s
           WHERE s.organization_id = $1 AND s.user_id = '00000000-0000-0000-0000-000000000000' AND s.day >= '2026-12-01')",
    )
    .bind(org(0))
    .fetch_all(&mut db)
    .await
    .unwrap();
    println!("{}", check_plan.join("\n"));

    // (2) One organization's month, by day, through the authorizing facade (site owner).
    let owner = Subject::new(Uuid::from_u128(1)).with_site_role(SiteRole::Owner);
    let q = UsageQuery {
        organization_id: Some(org(7)),
        user_id: None,
        from: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
        group_by: UsageGroup::Day,
    };
    // The facade checks the organization exists.
    sqlx::query("INSERT INTO organizations (id, name, display_name) VALUES ($1, 'bench-7', 'bench-7') ON CONFLICT DO NOTHING")
        .bind(org(7))
        .execute(&mut db)
        .await
        .unwrap();
    let (total, series) = store.actor(&owner).chat_usage(&q).await.unwrap();
    assert_eq!(series.len(), 30);
    let expected: i64 = sqlx::query_scalar(
        "SELECT sum(cost_micros)::bigint FROM chat_usage_steps WHERE organization_id = $1 AND created_at >= '2026-06-01' AND created_at < '2026-07-01'",
    )
    .bind(org(7))
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(total, expected, "the rollup equals the steps");
    let mut report = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        store.actor(&owner).chat_usage(&q).await.unwrap();
        report.push(t.elapsed().as_secs_f64() * 1e3);
    }
    report.sort_by(f64::total_cmp);
    println!(
        "usage, one org, a month by day ({} steps in it): p50 {:.2} ms, p99 {:.2} ms",
        STEPS / ORGS / 12,
        percentile(&report, 0.5),
        percentile(&report, 0.99)
    );
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN (ANALYZE, BUFFERS) SELECT to_char(day, 'YYYY-MM-DD'), sum(micros) FROM chat_spend_daily
         WHERE day >= '2026-06-01' AND day < '2026-07-01' AND organization_id = $1
           AND user_id = '00000000-0000-0000-0000-000000000000' GROUP BY 1 ORDER BY 1",
    )
    .bind(org(7))
    .fetch_all(&mut db)
    .await
    .unwrap();
    println!("{}", plan.join("\n"));

    drop(db);
    store.close().await;
    if std::env::var("AGENTRY_BENCH_KEEP").as_deref() != Ok("1") {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE \"{DB}\" WITH (FORCE)"))).execute(&mut conn).await.unwrap();
    }
}
