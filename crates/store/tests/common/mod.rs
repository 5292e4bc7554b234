//! What the store's integration tests share.

use std::str::FromStr;

use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;

/// A new, empty database on the test server (`DATABASE_URL`, by default the local PostgreSQL),
/// and its URL. Named `agentry_test_<unix seconds>_<random>`, so that leftovers can be told apart
/// by age.
pub async fn fresh_database() -> String {
    let admin = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let name = format!("agentry_test_{now}_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnectOptions::from_str(&admin).unwrap().connect().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await.unwrap();
    let o = PgConnectOptions::from_str(&admin).unwrap();
    format!("postgres://{}@{}:{}/{name}", o.get_username(), o.get_host(), o.get_port())
}
