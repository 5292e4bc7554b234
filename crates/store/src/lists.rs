//! The connections the chat list's page statement runs on, and why they differ from the rest.
//!
//! A chat list page is a `UNION ALL` of ordered index ranges (see `Actor::root_query`).
//! Planning that statement for its values on every request cost more than running it (about
//! 0.4 ms against 0.2 ms at 5,000 chats), but a prepared statement's *generic* plan, costed
//! for an average owner, was what once read and sorted all 100,000 chats of one user: with few
//! chats per owner on average, a bitmap scan of the owner's whole range followed by a sort
//! looks cheaper than an ordered index scan that stops after a page (see the `explain`
//! module).
//!
//! These connections take that choice away from the planner. They never use a bitmap or a
//! sequential scan (`enable_bitmapscan`, `enable_seqscan` off) and always use the generic plan
//! (`plan_cache_mode = force_generic_plan`). Without bitmap scans, the ways into an owner's,
//! an organization's or the site's chats are index scans, and for `ORDER BY … LIMIT n` an
//! index scan in the list's order that stops after `n` rows costs less than any other index
//! scan followed by a sort, whatever the estimate of the range's size. So the page statement
//! is planned once per connection and every later page runs the same ordered plan, for an
//! owner of 200 chats as for one of 100,000. The plan tests (`tests/list_plans.rs`) check
//! that generic plan, as [`explain_generic`] shows it, over a site where the average owner
//! has fewer chats than a page.
//!
//! What refuses to run here: statements that need a bitmap scan to be cheap. A title search
//! (trigram index) or a label filter (GIN) is only usable through bitmap scans, so lists with
//! those filters stay on the main pool, planned for their values on every run.

use std::fmt::Write as _;

use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Executor, PgPool};

use crate::args::Args;

/// A list connection idle for longer than this is checked (a round trip) before it is handed
/// out.
const PING_IDLE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// How the list pool hands out connections. sqlx by default checks every connection it hands
/// out with a round trip (a `Sync`), one more round trip per page; here only a connection idle
/// for over a second is checked. One that broke while busy (the server restarted) then fails
/// its query: [`fetch_all`] runs it again on another connection, which a read may.
pub(crate) fn pool_options(options: sqlx::postgres::PgPoolOptions) -> sqlx::postgres::PgPoolOptions {
    if crate::bench_before("acquire-ping") {
        return options;
    }
    options.test_before_acquire(false).before_acquire(|conn, meta| {
        Box::pin(async move {
            if meta.idle_for > PING_IDLE_AFTER {
                sqlx::Connection::ping(conn).await?;
            }
            Ok(true)
        })
    })
}

/// Whether `e` says the connection is gone rather than anything about the statement: an I/O
/// error, or the server's connection-exception (`08…`) and operator-intervention (`57P…`,
/// e.g. the shutdown of a restart) classes.
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// Runs a read-only list statement on the list pool. A statement that fails because its
/// connection was lost is run again, on each of the pool's connections at most once more (a
/// broken connection is closed when it goes back to the pool, so each retry gets another).
pub(crate) async fn fetch_all<T>(pool: &PgPool, sql: &str, args: sqlx::postgres::PgArguments) -> crate::Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut tries = pool.options().get_max_connections() + 1;
    loop {
        let r = sqlx::query_as_with(sqlx::AssertSqlSafe(sql.to_string()), args.clone()).fetch_all(pool).await;
        match r {
            Err(e) if tries > 1 && connection_lost(&e) => tries -= 1,
            r => return Ok(r?),
        }
    }
}

/// `options` with the settings of the list connections.
pub(crate) fn connect_options(options: PgConnectOptions) -> PgConnectOptions {
    options.options([("plan_cache_mode", "force_generic_plan"), ("enable_bitmapscan", "off"), ("enable_seqscan", "off")])
}

/// `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` of `sql` with `args` as it runs on a list
/// connection: prepared, with its generic plan. (PostgreSQL 15 cannot `EXPLAIN` a generic
/// plan of a statement with protocol parameters, so the statement is prepared in SQL with the
/// parameters' types and executed with their values as literals, both asked of the server.)
pub(crate) async fn explain_generic(pool: &PgPool, sql: &str, args: Args) -> crate::Result<Value> {
    let n = args.len();
    let mut conn = pool.acquire().await?;
    let (types, values): (Vec<String>, Vec<Option<String>>) = if n == 0 {
        (Vec::new(), Vec::new())
    } else {
        let list = |f: &dyn Fn(usize) -> String| (1..=n).map(f).collect::<Vec<_>>().join(", ");
        let probe = format!(
            "SELECT ARRAY[{}]::text[], ARRAY[{}]::text[]",
            list(&|i| format!("pg_typeof(${i})::text")),
            list(&|i| format!("${i}::text"))
        );
        sqlx::query_as_with(sqlx::AssertSqlSafe(probe), args.into_inner()).persistent(false).fetch_one(&mut *conn).await?
    };
    let mut execute = String::from("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE agentry_explain");
    if n > 0 {
        execute.push('(');
        for (i, (t, v)) in types.iter().zip(&values).enumerate() {
            if i > 0 {
                execute.push_str(", ");
            }
            match v {
                Some(v) => write!(execute, "'{}'::{t}", v.replace('\'', "''")).expect("write to a string"),
                None => write!(execute, "NULL::{t}").expect("write to a string"),
            }
        }
        execute.push(')');
    }
    let prepare = if n > 0 { format!("PREPARE agentry_explain ({}) AS {sql}", types.join(", ")) } else { format!("PREPARE agentry_explain AS {sql}") };
    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(prepare))).await?;
    let result = sqlx::query_scalar::<_, Value>(sqlx::AssertSqlSafe(execute)).persistent(false).fetch_one(&mut *conn).await;
    conn.execute(sqlx::raw_sql("DEALLOCATE agentry_explain")).await?;
    Ok(result?[0]["Plan"].clone())
}
