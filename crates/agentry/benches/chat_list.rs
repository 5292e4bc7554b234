//! The chat list at scale: 1,000,000 chats across 1,000 organizations and 10,000 users (100
//! each), plus three users who own 200, 5,000 and 100,000 chats in an organization of their own.
//!
//! Measures the first page (50) of `GET /api/experimental/chats?q=owner:all` for an org admin
//! and of the default `owner:me` for a member, end to end over HTTP against a real server; for
//! the three heavy users the first page, the first page of `archived:false` and a deep cursor
//! page (`after_id` in the middle of their history), over HTTP, and the list's root query as
//! it was before issue 18 (one `ORDER BY` over every chat of the owner), run directly, as the
//! "before" of the same run. Also the first page through the store alone (no HTTP), and the
//! member list of one organization over HTTP against its SQL alone. Prints the PostgreSQL
//! plans. Results: `docs/benchmarks/chat-list.md`.
//!
//! Before/after of a change guarded by `agentry_store::bench_before`: run it once with
//! `AGENTRY_BENCH_BEFORE=chat-list-plan,acquire-ping` (the list planned per request, children in
//! a second query, every pooled connection pinged) and once without.
//!
//!     cargo bench -p agentry --bench chat_list
//!
//! The data set is seeded once into the database `agentry_bench_chats` on the local server
//! (`BENCH_DATABASE_URL` to change) and reused by later runs.

use std::str::FromStr;
use std::time::{Duration, Instant};

use agentry_client::Client;
use agentry_store::{Store, explain};
use agentry_store::chats::{ChatQuery, OwnerFilter};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

const ORGS: i64 = 1_000;
const USERS: i64 = 10_000;
const CHATS: i64 = 1_000_000;
const ROUNDS: usize = 300;
/// Chat counts of the heavy users (user ids `USERS + k`, all in organization `ORGS`).
const SCALES: [i64; 3] = [200, 5_000, 100_000];

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

/// The heavy users, in their own organization: 1 chat in 500 pinned, 1 in 10 archived, one
/// chat a minute back in time.
async fn seed_scales(url: &str) {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let have: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM chats WHERE organization_id = {}",
        org_id_sql(&ORGS.to_string())
    )))
    .fetch_one(&mut c)
    .await
    .unwrap();
    if have == SCALES.iter().sum::<i64>() {
        return;
    }
    println!("seeding the heavy users ...");
    let mut statements = vec![
        format!("DELETE FROM chats WHERE organization_id = {}", org_id_sql(&ORGS.to_string())),
        format!(
            "INSERT INTO organizations (id, name, display_name) VALUES ({}, 'scale', 'Scale') ON CONFLICT DO NOTHING",
            org_id_sql(&ORGS.to_string())
        ),
    ];
    for (k, n) in SCALES.iter().enumerate() {
        let u = USERS + k as i64;
        statements.push(format!(
            "INSERT INTO users (id, email, username, hashed_password) VALUES ({}, 'heavy{n}@example.com', 'heavy{n}', '!')
             ON CONFLICT DO NOTHING",
            user_id_sql(&u.to_string())
        ));
        statements.push(format!(
            "INSERT INTO organization_members (organization_id, user_id, roles) VALUES ({}, {}, ARRAY['agents-access'])
             ON CONFLICT DO NOTHING",
            org_id_sql(&ORGS.to_string()),
            user_id_sql(&u.to_string())
        ));
        statements.push(format!(
            "INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, title, status,
                 pin_order, archived, created_at, updated_at)
             SELECT gen_random_uuid(), {}, {}, '00000000-0000-0000-0003-000000000000', 'chat ' || i, 'waiting',
                 CASE WHEN i % 500 = 7 THEN 1 ELSE 0 END, i % 10 = 3,
                 now() - make_interval(mins => i), now() - make_interval(mins => i)
             FROM generate_series(0, {}) i",
            user_id_sql(&u.to_string()),
            org_id_sql(&ORGS.to_string()),
            n - 1
        ));
    }
    statements.push("ANALYZE".into());
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await.unwrap();
    }
}

/// The list's root query before issue 18, for `owner:me` of a member of one organization, as
/// the old `root_query` rendered it: the "before" of the before/after in one run.
const OLD_ROOT_QUERY: &str = "SELECT c.*,
    EXISTS (SELECT 1 FROM chat_messages m WHERE m.chat_id = c.id AND m.role = 'assistant'
            AND NOT m.deleted AND m.id > COALESCE(c.last_read_message_id, 0)) AS has_unread FROM (
         SELECT c.* FROM chats c WHERE c.parent_chat_id IS NULL
             AND ((c.owner_id = $1::uuid AND c.organization_id = ANY($2::uuid[]))) AND c.owner_id = $3
         ORDER BY (c.pin_order = 0), c.pin_order, c.updated_at DESC, c.id DESC LIMIT $4 OFFSET $5
     ) c ORDER BY (c.pin_order = 0), c.pin_order, c.updated_at DESC, c.id DESC";

async fn measure_old(label: &str, pool: &sqlx::PgPool, user: uuid::Uuid, org: uuid::Uuid) -> f64 {
    let run = || {
        sqlx::query(OLD_ROOT_QUERY).bind(user).bind(vec![org]).bind(user).bind(50_i64).bind(0_i64).fetch_all(pool)
    };
    for _ in 0..20 {
        run().await.unwrap();
    }
    let mut times = Vec::with_capacity(ROUNDS);
    let mut rows = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        rows = run().await.unwrap().len();
        times.push(t.elapsed());
    }
    times.sort();
    report(label, rows, &times)
}

fn report(label: &str, rows: usize, times: &[Duration]) -> f64 {
    let p50 = percentile(times, 0.5).as_secs_f64() * 1e3;
    println!(
        "{label:<44} rows={rows:<3} p50={p50:>6.2} ms  p90={:>6.2} ms  p99={:>6.2} ms",
        percentile(times, 0.9).as_secs_f64() * 1e3,
        percentile(times, 0.99).as_secs_f64() * 1e3,
    );
    p50
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

async fn measure(label: &str, client: &Client, params: &[(&str, &str)]) -> f64 {
    // Warm the connection pools and caches.
    for _ in 0..20 {
        client.chats_with(params).await.unwrap();
    }
    let mut times = Vec::with_capacity(ROUNDS);
    let mut rows = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        rows = client.chats_with(params).await.unwrap().len();
        times.push(t.elapsed());
    }
    times.sort();
    report(label, rows, &times)
}

/// The first page of each token's user, the users' requests taken in turn (`ROUNDS` each):
/// measured one user after the other, a burst of other work on this shared machine lands on one
/// user's figures only and shows up as spread between the users; interleaved, it is shared.
async fn measure_interleaved(anon: &Client, tokens: &[String]) -> Vec<f64> {
    let clients: Vec<Client> = tokens.iter().map(|t| anon.with_token(t)).collect();
    for c in &clients {
        for _ in 0..20 {
            c.chats_with(&[]).await.unwrap();
        }
    }
    let mut times = vec![Vec::with_capacity(ROUNDS); clients.len()];
    let mut rows = vec![0; clients.len()];
    for _ in 0..ROUNDS {
        for ((c, times), rows) in clients.iter().zip(&mut times).zip(&mut rows) {
            let t = Instant::now();
            *rows = c.chats_with(&[]).await.unwrap().len();
            times.push(t.elapsed());
        }
    }
    times
        .iter_mut()
        .zip(rows)
        .zip(SCALES)
        .map(|((times, rows), n)| {
            times.sort();
            report(&format!("  interleaved: first page over HTTP, {n}"), rows, times)
        })
        .collect()
}

/// The first page through the store alone (no HTTP, authentication or JSON), as the handler
/// calls it: what the database round trips cost, planning included.
async fn measure_store(label: &str, store: &Store, token: &str) -> f64 {
    let auth = store.auth().authenticate(token).await.unwrap().unwrap();
    let actor = store.actor(&auth.subject);
    let q = first_page(OwnerFilter::Me);
    for _ in 0..20 {
        actor.chats(&q).await.unwrap();
    }
    let mut times = Vec::with_capacity(ROUNDS);
    let mut rows = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        rows = actor.chats(&q).await.unwrap().len();
        times.push(t.elapsed());
    }
    times.sort();
    report(label, rows, &times)
}

/// The first page (50 chats, both archived states) of `owner`'s list.
fn first_page(owner: OwnerFilter) -> ChatQuery {
    ChatQuery {
        owner,
        archived: None,
        organization_id: None,
        labels: Default::default(),
        title_words: Vec::new(),
        limit: 50,
        offset: 0,
        after_id: None,
    }
}

async fn explain(label: &str, store: &Store, token: &str, owner: OwnerFilter) {
    let auth = store.auth().authenticate(token).await.unwrap().unwrap();
    let q = first_page(owner);
    let plan = store.actor(&auth.subject).explain_chats(&q).await.unwrap();
    let seq = explain::seq_scans(&plan, "chats");
    println!(
        "\nplan for {label}: {:.2} ms in PostgreSQL, {} chat rows read, largest sort {} rows, sequential scan: {}",
        plan["Actual Total Time"].as_f64().unwrap_or(0.0),
        explain::rows_read(&plan, "chats"),
        explain::largest_sort_input(&plan),
        if seq { "YES" } else { "no" }
    );
    if std::env::var_os("BENCH_PLANS").is_some() {
        println!("{plan:#}");
    }
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
    seed_scales(&url).await;

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
    measure("org admin, q=owner:all", &anon.with_token(&admin_token), &[("q", "owner:all")]).await;
    measure("member, owner:me (default)", &anon.with_token(&member_token), &[]).await;

    let raw = sqlx::PgPool::connect(&url).await.unwrap();
    let scale_org = uuid::Uuid::parse_str(&format!("00000000-0000-0000-0001-{ORGS:012x}")).unwrap();
    let mut before = Vec::new();
    let mut after = Vec::new();
    let mut heavy_tokens = Vec::new();
    for (k, n) in SCALES.iter().enumerate() {
        let u = USERS + k as i64;
        let user = uuid::Uuid::parse_str(&format!("00000000-0000-0000-0002-{u:012x}")).unwrap();
        let token = token_for(&url, &format!("benchhv{k:03}"), u).await;
        heavy_tokens.push(token.clone());
        let client = anon.with_token(&token);
        println!("\nuser with {n} chats:");
        before.push(measure_old(&format!("  before: old root query alone (SQL), {n}"), &raw, user, scale_org).await);
        after.push(measure(&format!("  after: first page over HTTP, {n}"), &client, &[]).await);
        measure_store(&format!("  after: first page, store call alone, {n}"), &store, &token).await;
        measure(&format!("  after: archived:false over HTTP, {n}"), &client, &[("q", "archived:false")]).await;
        let middle: uuid::Uuid = sqlx::query_scalar(
            "SELECT id FROM chats WHERE owner_id = $1 AND parent_chat_id IS NULL AND pin_order = 0
             ORDER BY updated_at DESC, id DESC OFFSET $2 LIMIT 1",
        )
        .bind(user)
        .bind(n / 2)
        .fetch_one(&raw)
        .await
        .unwrap();
        let middle = middle.to_string();
        measure(&format!("  after: deep page (after_id) over HTTP, {n}"), &client, &[("after_id", middle.as_str())]).await;
        explain(&format!("heavy user, {n} chats, owner:me"), &store, &token, OwnerFilter::Me).await;
    }
    let spread = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max) / v.iter().cloned().fold(f64::MAX, f64::min);
    println!(
        "\nfirst page p50 at {SCALES:?} chats: before {before:.2?} ms (max/min {:.2}), after {after:.2?} ms (max/min {:.2})",
        spread(&before),
        spread(&after)
    );
    let interleaved = measure_interleaved(&anon, &heavy_tokens).await;
    println!(
        "first page p50 at {SCALES:?} chats, the three users' requests interleaved: {interleaved:.2?} ms (max/min {:.2})",
        spread(&interleaved)
    );

    explain("org admin, owner:all", &store, &admin_token, OwnerFilter::All).await;
    explain("member, owner:me", &store, &member_token, OwnerFilter::Me).await;

    members(&anon.with_token(&admin_token), &url).await;
}

/// The member list of `org-0` (10 members, one page) as its admin, over HTTP, and the page's
/// SQL alone on one connection (prepared, as sqlx runs it), both sequential.
async fn members(client: &Client, url: &str) {
    println!("\nmember list of org-0 (10 members), {ROUNDS} sequential requests each:");
    let org = uuid::Uuid::parse_str("00000000-0000-0000-0001-000000000000").unwrap();
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let sql = "SELECT m.organization_id, m.user_id, u.username, u.name, u.email, m.roles, u.site_roles, m.created_at, m.updated_at
        FROM organization_members m JOIN users u ON u.id = m.user_id
        WHERE m.organization_id = $1 AND (m.organization_id = ANY($2::uuid[]))
        ORDER BY m.username_key, m.user_id LIMIT $3 OFFSET $4";
    let mut sql_times = Vec::with_capacity(ROUNDS);
    let mut http_times = Vec::with_capacity(ROUNDS);
    let mut rows = (0, 0);
    for round in 0..ROUNDS + 20 {
        let t = Instant::now();
        rows.0 = sqlx::query(sql).bind(org).bind(vec![org]).bind(100_i64).bind(0_i64).fetch_all(&mut conn).await.unwrap().len();
        let sql_time = t.elapsed();
        let t = Instant::now();
        rows.1 = client.members("org-0").await.unwrap().len();
        if round >= 20 {
            sql_times.push(sql_time);
            http_times.push(t.elapsed());
        }
    }
    sql_times.sort();
    http_times.sort();
    let sql_p50 = report("  its SQL alone (one connection, prepared)", rows.0, &sql_times);
    let http_p50 = report("  over HTTP", rows.1, &http_times);
    println!("  HTTP / SQL at p50: {:.2}", http_p50 / sql_p50);
}
