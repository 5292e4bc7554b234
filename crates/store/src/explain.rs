//! `EXPLAIN` for list queries: the plan of a query exactly as a list method would run it, and a
//! few measures over the plan's JSON, so tests and benchmarks can check that a list page reads
//! and sorts a page's worth of rows rather than everything the caller may see.
//!
//! The paged list queries run as unprepared statements (`persistent(false)`): a prepared
//! statement is planned for its parameter values five times, then PostgreSQL may switch to a
//! *generic* plan costed for an average owner or organization (about a hundred rows). For a
//! list split into ordered index ranges, that generic plan reads a whole range with a bitmap
//! scan and sorts it, which is what the split exists to avoid: the first page of a user with
//! 100,000 chats took 100 ms that way against 1.5 ms planned for the actual owner. An
//! unprepared statement is planned for its values on every run, as `EXPLAIN` plans it, so the
//! plan tests check the plan that runs; the price is a planning pass per page. The chat list,
//! the hottest of them, runs prepared instead, on connections where the generic plan cannot
//! take that shape (see the `lists` module, whose `explain_generic` shows that plan).

use serde_json::Value;

use sqlx::PgPool;
use sqlx::postgres::PgArguments;

/// Runs `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` of `sql` and returns the top plan node.
pub(crate) async fn run(pool: &PgPool, sql: &str, args: PgArguments) -> crate::Result<Value> {
    let sql = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}");
    let v: Value = sqlx::query_scalar_with(sqlx::AssertSqlSafe(sql), args).fetch_one(pool).await?;
    Ok(v[0]["Plan"].clone())
}

fn walk<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(node);
    if let Some(children) = node["Plans"].as_array() {
        for c in children {
            walk(c, out);
        }
    }
}

/// Every node of a plan, the top one first.
pub fn nodes(plan: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    if !plan.is_null() {
        walk(plan, &mut out);
    }
    out
}

fn f(node: &Value, key: &str) -> f64 {
    node[key].as_f64().unwrap_or(0.0)
}

/// Rows the scans of `relation` produced or threw away (filters, index rechecks), over all
/// their loops: how much of the table the query touched.
pub fn rows_read(plan: &Value, relation: &str) -> f64 {
    nodes(plan)
        .into_iter()
        .filter(|n| n["Relation Name"].as_str() == Some(relation))
        .map(|n| {
            let per_loop = f(n, "Actual Rows") + f(n, "Rows Removed by Filter") + f(n, "Rows Removed by Index Recheck");
            per_loop * f(n, "Actual Loops").max(1.0)
        })
        .sum()
}

/// The most rows any `Sort` node of the plan was given to sort (over all its loops).
pub fn largest_sort_input(plan: &Value) -> f64 {
    nodes(plan)
        .into_iter()
        .filter(|n| n["Node Type"].as_str() == Some("Sort"))
        .map(|n| {
            let input: f64 = n["Plans"]
                .as_array()
                .map(|c| c.iter().map(|c| f(c, "Actual Rows") * f(c, "Actual Loops").max(1.0)).sum())
                .unwrap_or(0.0);
            input
        })
        .fold(0.0, f64::max)
}

/// Whether the plan reads `relation` sequentially.
pub fn seq_scans(plan: &Value, relation: &str) -> bool {
    nodes(plan)
        .into_iter()
        .any(|n| n["Node Type"].as_str() == Some("Seq Scan") && n["Relation Name"].as_str() == Some(relation))
}
