//! The chat vocabulary's enums (`agentry_types::chat`) list exactly the values the database's
//! CHECK constraints allow: a value one side accepts and the other refuses cannot appear.

mod common;

use std::collections::BTreeSet;
use std::str::FromStr;

use agentry_store::Store;
use agentry_types::{ChatStatus, MessageRole, Visibility};
use sqlx::postgres::PgConnectOptions;
use sqlx::Connection;


/// The quoted values of the CHECK constraint on `table.column`.
async fn allowed(conn: &mut sqlx::PgConnection, table: &str, column: &str) -> BTreeSet<String> {
    let defs: Vec<String> = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c'",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let def = defs.into_iter().find(|d| d.contains(&format!("({column} ="))).unwrap_or_else(|| panic!("no CHECK on {table}.{column}"));
    def.split('\'').skip(1).step_by(2).map(str::to_string).collect()
}

#[tokio::test]
async fn the_enums_match_the_check_constraints() {
    let url = common::fresh_database().await;
    let store = Store::connect(PgConnectOptions::from_str(&url).unwrap(), 2).await.unwrap();
    store.migrate().await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let texts = |all: &[&'static str]| all.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let statuses: Vec<&str> = ChatStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(allowed(&mut conn, "chats", "status").await, texts(&statuses));
    let roles: Vec<&str> = MessageRole::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(allowed(&mut conn, "chat_messages", "role").await, texts(&roles));
    let visibility: Vec<&str> = Visibility::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(allowed(&mut conn, "chat_messages", "visibility").await, texts(&visibility));
}
