//! The chat list at scale: 1,000,000 chats across 1,000 organizations and 10,000 users.
//!
//! Measures the first page (50) of `GET /api/experimental/chats?q=owner:all` for an org admin
//! and of the default `owner:me` for a member, end to end over HTTP against a real server, and
//! prints the PostgreSQL plans of both queries. Results: `docs/benchmarks/chat-list.md`.
//!
//!     cargo bench -p agentry --bench chat_list
//!
//! The data set is seeded once into the database `agentry_bench_chats` on the local server
//! (`BENCH_DATABASE_URL` to change) and reused by later runs.

use std::str::FromStr;
use std::time::{Duration, Instant};

use agentry_client::Client;
use agentry_store::Store;
use agentry_store::chats::{ChatQuery, OwnerFilter};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

const ORGS: i64 = 1_000;
const USERS: i64 = 10_000;
const CHATS: i64 = 1_000_000;
const ROUNDS: usize = 300;

/// Deterministic ids, so the seed is plain SQL.
fn org_id_sql(expr: &str) -> String {
    format!("('00000000-0000-0000-0001-' || lpad(to_hex({expr}), 12, '0'))::uuid")
}
fn user_id_sql(expr: &str) -> String {
    format!("('00000000-0000-0000-0002-' || lpad(to_hex({expr}), 12, '0'))::uuid")
}

async fn seed(url: &str) {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM chats").fetch_one(&mut c).await.unwrap();
    if have >= CHATS {
        println!("reusing the seeded data set ({have} chats)");
        return;
    }
    println!("seeding {CHATS} chats, {USERS} users, {ORGS} organizations ...");
    let t = Instant::now();
    let statements = [
        "TRUNCATE chats, chat_model_configs, organization_members, api_keys, users CASCADE".to_string(),
        "DELETE FROM organizations WHERE NOT is_default".to_string(),
        format!(
            "INSERT INTO organizations (id, name, display_name)
             SELECT {}, 'org-' || k, 'Org ' || k FROM generate_series(0, {}) k",
            org_id_sql("k"),
            ORGS - 1
        ),
        format!(
            "INSERT INTO users (id, email, username, hashed_password)
             SELECT {}, 'u' || u || '@example.com', 'u' || u, '!' FROM generate_series(0, {}) u",
            user_id_sql("u"),
            USERS - 1
        ),
        format!(
            "INSERT INTO organization_members (organization_id, user_id, roles)
             SELECT {}, {}, CASE WHEN u < {ORGS} THEN ARRAY['organization-admin', 'agents-access'] ELSE ARRAY['agents-access'] END
             FROM generate_series(0, {}) u",
            org_id_sql(&format!("u % {ORGS}")),
            user_id_sql("u"),
            USERS - 1
        ),
        "INSERT INTO chat_model_configs (id, provider, model, is_default)
         VALUES ('00000000-0000-0000-0003-000000000000', 'openai', 'bench', true)"
            .to_string(),
        format!(
            "INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, title, status,
                 pin_order, created_at, updated_at)
             SELECT gen_random_uuid(), {}, {}, '00000000-0000-0000-0003-000000000000', 'chat ' || i, 'waiting',
                 CASE WHEN i % 500 = 0 THEN 1 ELSE 0 END,
                 now() - make_interval(secs => i), now() - make_interval(secs => i)
             FROM generate_series(0, {}) i",
            user_id_sql(&format!("i % {USERS}")),
            org_id_sql(&format!("(i % {USERS}) % {ORGS}")),
            CHATS - 1
        ),
        "ANALYZE".to_string(),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await.unwrap();
    }
    println!("seeded in {:.1} s", t.elapsed().as_secs_f64());
}

/// A token for `user`, written straight into api_keys (the bench needs no passwords).
async fn token_for(url: &str, key_id: &str, user: i64) -> String {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let secret = "benchmarksecret0000000";
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO api_keys (id, user_id, hashed_secret, login_type, expires_at)
         VALUES ($1, {}, sha256($2::bytea), 'token', now() + interval '1 day')
         ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at",
        user_id_sql(&user.to_string())
    )))
    .bind(key_id)
    .bind(secret.as_bytes())
    .execute(&mut c)
    .await
    .unwrap();
    format!("{key_id}-{secret}")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn measure(label: &str, client: &Client, q: &str) {
    // Warm the connection pools and caches.
    for _ in 0..20 {
        client.chats(q).await.unwrap();
    }
    let mut times = Vec::with_capacity(ROUNDS);
    let mut rows = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        rows = client.chats(q).await.unwrap().len();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{label:<34} rows={rows:<3} p50={:>6.2} ms  p90={:>6.2} ms  p99={:>6.2} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.9).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
    );
}

async fn explain(label: &str, store: &Store, token: &str, owner: OwnerFilter) {
    let auth = store.auth().authenticate(token).await.unwrap().unwrap();
    let q = ChatQuery {
        owner,
        archived: None,
        organization_id: None,
        labels: Default::default(),
        limit: 50,
        offset: 0,
        after_id: None,
    };
    let plan = store.actor(&auth.subject).explain_chats(&q).await.unwrap();
    println!("\nplan for {label}:");
    for line in &plan {
        println!("  {line}");
    }
    let seq = plan.iter().any(|l| l.contains("Seq Scan on chats"));
    println!("  -> sequential scan over chats: {}", if seq { "YES" } else { "no" });
    assert!(!seq, "the {label} query must use an index");
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let admin_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let url = std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| {
        let o = PgConnectOptions::from_str(&admin_url).unwrap();
        format!("postgres://{}@{}:{}/agentry_bench_chats", o.get_username(), o.get_host(), o.get_port())
    });
    let mut admin = PgConnectOptions::from_str(&admin_url).unwrap().connect().await.unwrap();
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'agentry_bench_chats')")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    if !exists {
        sqlx::query("CREATE DATABASE agentry_bench_chats").execute(&mut admin).await.unwrap();
    }
    let store = Store::connect(PgConnectOptions::from_str(&url).unwrap(), 16).await.unwrap();
    store.migrate().await.unwrap();
    seed(&url).await;

    let admin_token = token_for(&url, "benchadmin", 0).await; // admin of org 0
    let member_token = token_for(&url, "benchmembr", 1_234).await; // member of org 234

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let data = tempfile::tempdir().unwrap();
    let server_store = store.clone();
    let data_dir = data.path().to_path_buf();
    tokio::spawn(async move {
        agentry::serve(server_store, listener, agentry_api::Config::new("http://bench"), data_dir, std::future::pending())
            .await
            .unwrap();
    });
    let anon = Client::new(&base).unwrap();
    anon.healthz().await.unwrap();

    println!("\nfirst page (50) over HTTP, {ROUNDS} sequential requests each:");
    measure("org admin, q=owner:all", &anon.with_token(&admin_token), "owner:all").await;
    measure("member, owner:me (default)", &anon.with_token(&member_token), "").await;
    explain("org admin, owner:all", &store, &admin_token, OwnerFilter::All).await;
    explain("member, owner:me", &store, &member_token, OwnerFilter::Me).await;
}
