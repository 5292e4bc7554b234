//! List queries read and sort a page's worth of rows, not everything the caller may see
//! (issue 18). Each list runs under `EXPLAIN (ANALYZE, FORMAT JSON)` over a database where one
//! user owns 20,000 chats (plus archived ones, pinned ones and subagent children) and the
//! tables are analyzed, so the planner chooses as it would in production; the test fails if a
//! plan sorts or reads more than a few pages of rows. Each page is also checked against the
//! list order computed by a plain `ORDER BY` over the same rows.

mod common;

use std::str::FromStr;

use agentry_rbac::{OrgRole, SiteRole, Subject};
use agentry_store::Store;
use agentry_store::chats::{ChatQuery, OwnerFilter};
use agentry_store::explain;
use sqlx::Connection;
use sqlx::postgres::PgConnectOptions;
use uuid::Uuid;

async fn fresh_store() -> (Store, sqlx::PgConnection) {
    let url = common::fresh_database().await;
    let store = Store::connect(PgConnectOptions::from_str(&url).unwrap(), 4).await.unwrap();
    store.migrate().await.unwrap();
    (store, sqlx::PgConnection::connect(&url).await.unwrap())
}

/// How many chats the heavy user owns (unpinned, unarchived roots).
const HEAVY: i64 = 20_000;
/// A plan may read or sort at most this many rows of a table for a 50-row page: a few pages.
const BOUND: f64 = 600.0;

struct World {
    org_a: Uuid,
    org_b: Uuid,
    heavy: Uuid,
    light: Uuid,
    admin_a: Uuid,
    site_owner: Uuid,
}

async fn seed(db: &mut sqlx::PgConnection) -> World {
    let w = World {
        org_a: Uuid::new_v4(),
        org_b: Uuid::new_v4(),
        heavy: Uuid::new_v4(),
        light: Uuid::new_v4(),
        admin_a: Uuid::new_v4(),
        site_owner: Uuid::new_v4(),
    };
    let model = Uuid::new_v4();
    let statements: Vec<String> = vec![
        format!(
            "INSERT INTO organizations (id, name, display_name) VALUES ('{}', 'org-a', 'A'), ('{}', 'org-b', 'B')",
            w.org_a, w.org_b
        ),
        format!(
            "INSERT INTO users (id, email, username, hashed_password) VALUES
             ('{}', 'heavy@x.test', 'heavy', '!'), ('{}', 'light@x.test', 'light', '!'),
             ('{}', 'admin@x.test', 'admin', '!'), ('{}', 'owner@x.test', 'owner', '!')",
            w.heavy, w.light, w.admin_a, w.site_owner
        ),
        // Many more users, so the users and members lists have something to page through.
        "INSERT INTO users (id, email, username, hashed_password)
         SELECT gen_random_uuid(), 'u' || i || '@x.test', 'u' || i, '!' FROM generate_series(1, 5000) i"
            .into(),
        format!(
            "INSERT INTO organization_members (organization_id, user_id, roles)
             SELECT '{}', id, ARRAY['agents-access'] FROM users WHERE username <> 'owner'",
            w.org_a
        ),
        format!(
            "UPDATE organization_members SET roles = ARRAY['organization-admin', 'agents-access'] WHERE user_id = '{}'",
            w.admin_a
        ),
        format!("INSERT INTO organization_members (organization_id, user_id, roles) VALUES ('{}', '{}', '{{agents-access}}')", w.org_b, w.heavy),
        format!("INSERT INTO chat_model_configs (id, provider, model, is_default) VALUES ('{model}', 'openai', 'm', true)"),
        // The heavy user: HEAVY live roots in A, a tenth as many archived, 5 pinned (one
        // archived), 2,000 in B, and 3,000 subagent children of the newest roots.
        format!(
            "INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, title, archived, pin_order, updated_at)
             SELECT gen_random_uuid(), '{h}', '{a}', '{model}', 'c' || i, i % 11 = 0,
                    CASE WHEN i % 4001 = 0 THEN i / 4001 ELSE 0 END, now() - make_interval(secs => i)
             FROM generate_series(1, {n}) i",
            h = w.heavy,
            a = w.org_a,
            n = HEAVY * 11 / 10
        ),
        format!(
            "INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, title, updated_at)
             SELECT gen_random_uuid(), '{h}', '{b}', '{model}', 'b' || i, now() - make_interval(secs => i * 7)
             FROM generate_series(1, 2000) i",
            h = w.heavy,
            b = w.org_b
        ),
        format!(
            "INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, title, parent_chat_id, root_chat_id, updated_at)
             SELECT gen_random_uuid(), p.owner_id, p.organization_id, '{model}', 'child', p.id, p.id, p.updated_at
             FROM (SELECT * FROM chats WHERE owner_id = '{h}' AND organization_id = '{a}' ORDER BY updated_at DESC LIMIT 1000) p,
                  generate_series(1, 3)",
            h = w.heavy,
            a = w.org_a
        ),
        // The light user: 60 chats in A, interleaved in time with the heavy user's.
        format!(
            "INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, title, pin_order, updated_at)
             SELECT gen_random_uuid(), '{l}', '{a}', '{model}', 'l' || i, CASE WHEN i = 30 THEN 1 ELSE 0 END,
                    now() - make_interval(secs => i * 300)
             FROM generate_series(1, 60) i",
            l = w.light,
            a = w.org_a
        ),
        "ANALYZE".into(),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *db).await.unwrap();
    }
    w
}

fn page(owner: OwnerFilter, archived: Option<bool>, org: Option<Uuid>, after_id: Option<Uuid>) -> ChatQuery {
    ChatQuery { owner, archived, organization_id: org, labels: Default::default(), title_words: Vec::new(), limit: 50, offset: 0, after_id }
}

/// Every root chat matching `cond`, in list order.
async fn reference(db: &mut sqlx::PgConnection, cond: &str) -> Vec<Uuid> {
    let sql = format!(
        "SELECT id FROM chats c WHERE parent_chat_id IS NULL AND {cond}
         ORDER BY (pin_order = 0), pin_order, updated_at DESC, id DESC"
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(db).await.unwrap()
}

fn check_plan(what: &str, plan: &serde_json::Value) {
    assert!(!plan.is_null(), "{what}: no plan");
    let read = explain::rows_read(plan, "chats");
    let sorted = explain::largest_sort_input(plan);
    assert!(!explain::seq_scans(plan, "chats"), "{what}: sequential scan over chats\n{plan:#}");
    assert!(read <= BOUND, "{what}: read {read} chat rows for one page\n{plan:#}");
    assert!(sorted <= BOUND, "{what}: sorted {sorted} rows for one page\n{plan:#}");
}

#[tokio::test]
async fn chat_list_pages_read_a_page_not_the_history() {
    let (store, mut db) = fresh_store().await;
    let w = seed(&mut db).await;
    let heavy = Subject::new(w.heavy).with_org(w.org_a, &[OrgRole::AgentsAccess]).with_org(w.org_b, &[OrgRole::AgentsAccess]);
    let light = Subject::new(w.light).with_org(w.org_a, &[OrgRole::AgentsAccess]);
    let admin = Subject::new(w.admin_a).with_org(w.org_a, &[OrgRole::OrganizationAdmin, OrgRole::AgentsAccess]);
    let owner = Subject::new(w.site_owner).with_site_role(SiteRole::Owner);
    let (a, b, h, l) = (w.org_a, w.org_b, w.heavy, w.light);

    // (who, subject, owner:, archived:, organization:, the rows it must list)
    type Case<'a> = (&'a str, &'a Subject, OwnerFilter, Option<bool>, Option<Uuid>, String);
    let mut cases: Vec<Case> = Vec::new();
    for (arch, cond) in [(None, "TRUE"), (Some(false), "NOT archived"), (Some(true), "archived")] {
        cases.push(("heavy, owner:me", &heavy, OwnerFilter::Me, arch, None, format!("owner_id = '{h}' AND {cond}")));
        cases.push(("org admin, owner:all", &admin, OwnerFilter::All, arch, None, format!("organization_id = '{a}' AND {cond}")));
        cases.push(("site owner, owner:all", &owner, OwnerFilter::All, arch, None, cond.to_string()));
    }
    cases.push(("heavy, owner:me in B", &heavy, OwnerFilter::Me, None, Some(b), format!("owner_id = '{h}' AND organization_id = '{b}'")));
    cases.push(("heavy, owner:all", &heavy, OwnerFilter::All, Some(false), None, format!("owner_id = '{h}' AND NOT archived")));
    cases.push(("light, owner:me", &light, OwnerFilter::Me, None, None, format!("owner_id = '{l}'")));
    // A member listing everything sees only their own chats.
    cases.push(("light, owner:all", &light, OwnerFilter::All, None, None, format!("owner_id = '{l}'")));
    cases.push(("light, owner:heavy", &light, OwnerFilter::User(h), None, None, "FALSE".into()));
    cases.push(("org admin, owner:heavy", &admin, OwnerFilter::User(h), None, None, format!("owner_id = '{h}' AND organization_id = '{a}'")));
    cases.push(("site owner, owner:all in B", &owner, OwnerFilter::All, None, Some(b), format!("organization_id = '{b}'")));

    for (who, subject, own, arch, org, cond) in &cases {
        let all = reference(&mut db, cond).await;
        let actor = store.actor(subject);
        // The first page, a page starting inside the pinned chats, and a deep page.
        let mut starts = vec![None, Some(0)];
        if all.len() > 100 {
            starts.push(Some(all.len() / 2));
        }
        for start in starts {
            if start.is_some_and(|k| k >= all.len()) {
                continue;
            }
            let q = page(*own, *arch, *org, start.map(|k| all[k]));
            let what = format!("{who}, archived {arch:?}, after {start:?}");
            let got: Vec<Uuid> = actor.chats(&q).await.unwrap().iter().map(|c| c.chat.id).collect();
            let from = start.map_or(0, |k| k + 1);
            let want = &all[from.min(all.len())..(from + 50).min(all.len())];
            assert_eq!(got, want, "{what}: wrong page");
            if all.len() > 1_000 {
                check_plan(&what, &actor.explain_chats(&q).await.unwrap());
            }
        }
    }
}

#[tokio::test]
async fn a_title_search_reads_its_matches_not_the_history() {
    let (store, mut db) = fresh_store().await;
    let w = seed(&mut db).await;
    // Titles with LIKE's special characters, which a search takes literally.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, title)
         SELECT gen_random_uuid(), '{h}', '{a}', last_model_config_id, t
         FROM (SELECT last_model_config_id FROM chats LIMIT 1) m, unnest(ARRAY['Deploy 100% done', 'Deploy 1000 done', 'snake_case tips']) t",
        h = w.heavy,
        a = w.org_a
    )))
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query("ANALYZE chats").execute(&mut db).await.unwrap();
    let heavy = Subject::new(w.heavy).with_org(w.org_a, &[OrgRole::AgentsAccess]).with_org(w.org_b, &[OrgRole::AgentsAccess]);
    let actor = store.actor(&heavy);
    let search = |words: &[&str]| {
        let mut q = page(OwnerFilter::Me, None, None, None);
        q.title_words = words.iter().map(|w| w.to_string()).collect();
        q
    };
    let titles = |v: Vec<agentry_store::chats::ChatWithChildren>| -> Vec<String> {
        let mut t: Vec<String> = v.into_iter().map(|c| c.chat.title).collect();
        t.sort();
        t
    };
    // Case-insensitive, every word must match, `%` and `_` are literal.
    assert_eq!(titles(actor.chats(&search(&["DEPLOY"])).await.unwrap()), ["Deploy 100% done", "Deploy 1000 done"]);
    assert_eq!(titles(actor.chats(&search(&["deploy", "0%"])).await.unwrap()), ["Deploy 100% done"]);
    assert_eq!(titles(actor.chats(&search(&["e_c"])).await.unwrap()), ["snake_case tips"]);
    assert!(actor.chats(&search(&["nothing-like-this"])).await.unwrap().is_empty());
    // A selective word among 22,000 of the caller's chats is read through the trigram index.
    // (Titles like the seed's `c1`…`c22000` share their trigrams, and there a scan is cheaper;
    // real titles are words, so give the heavy user's chats varied ones.)
    sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE chats SET title = 'Chat ' || md5(id::text) WHERE owner_id = '{}' AND title ~ '^c[0-9]'", w.heavy)))
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("ANALYZE chats").execute(&mut db).await.unwrap();
    let word: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT substr(title, 10, 10) FROM chats WHERE owner_id = '{}' AND title LIKE 'Chat %' ORDER BY id LIMIT 1",
        w.heavy
    )))
    .fetch_one(&mut db)
    .await
    .unwrap();
    let q = search(&[word.as_str()]);
    let want = reference(&mut db, &format!("owner_id = '{}' AND title ILIKE '%{word}%'", w.heavy)).await;
    assert!(!want.is_empty());
    let got: Vec<Uuid> = actor.chats(&q).await.unwrap().iter().map(|c| c.chat.id).collect();
    assert_eq!(got, want);
    check_plan("title search", &actor.explain_chats(&q).await.unwrap());
}

/// Workspaces, audit entries, users, members and templates: the first page and a deep page (cursor)
/// of each list read a few pages of rows, over 20,000 workspaces, 40,000 audit entries, 5,000
/// users, 5,003 members of one organization and 3,000 templates.
#[tokio::test]
async fn other_lists_read_a_page_not_the_history() {
    let (store, mut db) = fresh_store().await;
    let w = seed(&mut db).await;
    let (a, b, h) = (w.org_a, w.org_b, w.heavy);
    let (tpl, version) = (Uuid::new_v4(), Uuid::new_v4());
    // 3,000 templates in A, each with its version (the template → version reference is checked
    // at commit, the version → template one at once, hence the order and the transaction).
    let mut tx = sqlx::Connection::begin(&mut db).await.unwrap();
    let statements = vec![
        format!(
            "CREATE TEMP TABLE tv AS SELECT '{tpl}'::uuid AS tid, '{version}'::uuid AS vid, 0 AS i
             UNION ALL SELECT gen_random_uuid(), gen_random_uuid(), i FROM generate_series(1, 2999) i"
        ),
        format!(
            "INSERT INTO templates (id, organization_id, name, display_name, active_version_id)
             SELECT tid, '{a}', 'tpl-' || lpad(i::text, 4, '0'), 'T', vid FROM tv"
        ),
        "INSERT INTO template_versions (id, template_id, number) SELECT vid, tid, 1 FROM tv".into(),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let statements = vec![
        // 10,000 workspaces of the heavy user in A, 10,000 of others in A and B, newest first
        // interleaved, each with one build.
        format!(
            "INSERT INTO workspaces (id, organization_id, owner_id, template_id, template_version_id, name, created_at)
             SELECT gen_random_uuid(), CASE WHEN i % 4 = 3 THEN '{b}'::uuid ELSE '{a}'::uuid END,
                    CASE WHEN i % 2 = 0 THEN '{h}'::uuid ELSE (SELECT id FROM users WHERE lower(username) = 'u' || (i % 5000 + 1)) END,
                    '{tpl}', '{version}', 'ws-' || i, now() - make_interval(secs => i)
             FROM generate_series(1, 20000) i"
        ),
        "INSERT INTO workspace_builds (id, workspace_id, build_number, transition, status, template_version_id)
         SELECT gen_random_uuid(), id, 1, 'start', 'succeeded', template_version_id FROM workspaces"
            .into(),
        // 30,000 audit entries in A, 10,000 in B, 2,000 site-wide.
        format!(
            "INSERT INTO audit_logs (id, time, organization_id, action, resource_type, resource_id)
             SELECT gen_random_uuid(), now() - make_interval(secs => i),
                    CASE WHEN i % 21 = 0 THEN NULL WHEN i % 4 = 3 THEN '{b}'::uuid ELSE '{a}'::uuid END,
                    'create', 'chat', gen_random_uuid()
             FROM generate_series(1, 42000) i"
        ),
        "ANALYZE".into(),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut db).await.unwrap();
    }
    sqlx::query("ANALYZE").execute(&mut db).await.unwrap();

    let heavy = Subject::new(h).with_org(a, &[OrgRole::AgentsAccess]).with_org(b, &[OrgRole::AgentsAccess]);
    let admin = Subject::new(w.admin_a).with_org(a, &[OrgRole::OrganizationAdmin, OrgRole::AgentsAccess]);
    let owner = Subject::new(w.site_owner).with_site_role(SiteRole::Owner);

    // Workspaces: own (owner:me), an org admin's (one range per organization), the site's.
    use agentry_store::workspaces::{OwnerQuery, WorkspaceQuery};
    let mine = WorkspaceQuery { owner: Some(OwnerQuery::Me), ..Default::default() };
    let all = WorkspaceQuery::default();
    for (who, subject, q, cond) in [
        ("heavy, owner:me", &heavy, &mine, format!("owner_id = '{h}'")),
        ("org admin", &admin, &all, format!("organization_id = '{a}'")),
        ("site owner", &owner, &all, "TRUE".to_string()),
    ] {
        let ids: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM workspaces WHERE NOT deleted AND {cond} ORDER BY created_at DESC, id DESC"
        )))
        .fetch_all(&mut db)
        .await
        .unwrap();
        let actor = store.actor(subject);
        for start in [None, Some(ids.len() / 2)] {
            let after = start.map(|k| ids[k]);
            let (page, _) = actor.workspaces(q, 50, 0, after).await.unwrap();
            let from = start.map_or(0, |k| k + 1);
            let got: Vec<Uuid> = page.iter().map(|w| w.id).collect();
            assert_eq!(got, ids[from..from + 50], "workspaces, {who}, after {start:?}: wrong page");
            check_plan_of(&format!("workspaces, {who}, after {start:?}"), &actor.explain_workspaces(q, 50, 0, after).await.unwrap(), "workspaces");
        }
    }

    // Audit: the site's log, and an org admin's (one range per organization it audits).
    for (who, subject, cond) in [("site owner", &owner, "TRUE".to_string()), ("org admin", &admin, format!("organization_id = '{a}'"))] {
        let ids: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM audit_logs WHERE {cond} ORDER BY time DESC, id DESC LIMIT 50"
        )))
        .fetch_all(&mut db)
        .await
        .unwrap();
        let actor = store.actor(subject);
        let (page, _) = actor.audit_logs(50, 0).await.unwrap();
        assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), ids, "audit, {who}: wrong page");
        check_plan_of(&format!("audit, {who}"), &actor.explain_audit_logs(50, 0).await.unwrap(), "audit_logs");
    }

    // Users, by username: the first page and one after a cursor in the middle.
    let names: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM users ORDER BY lower(username)").fetch_all(&mut db).await.unwrap();
    let actor = store.actor(&owner);
    for start in [None, Some(names.len() / 2)] {
        let after = start.map(|k| names[k]);
        let q = agentry_store::users::UserQuery::default();
        let (page, _) = actor.users(&q, 50, 0, after).await.unwrap();
        let from = start.map_or(0, |k| k + 1);
        assert_eq!(page.iter().map(|u| u.id).collect::<Vec<_>>(), names[from..from + 50], "users after {start:?}");
        check_plan_of(&format!("users after {start:?}"), &actor.explain_users(&q, 50, 0, after).await.unwrap(), "users");
    }

    // Members of an organization (5,003 in A), by username: as its admin and as a plain member.
    let members: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT m.user_id FROM organization_members m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = '{a}' ORDER BY lower(u.username)"
    )))
    .fetch_all(&mut db)
    .await
    .unwrap();
    let light = Subject::new(w.light).with_org(a, &[OrgRole::AgentsAccess]);
    for (who, subject) in [("org admin", &admin), ("member", &light)] {
        let actor = store.actor(subject);
        for start in [None, Some(members.len() / 2)] {
            let after = start.map(|k| members[k]);
            let page = actor.members(&a.to_string(), 50, 0, after).await.unwrap();
            let from = start.map_or(0, |k| k + 1);
            assert_eq!(page.iter().map(|m| m.user_id).collect::<Vec<_>>(), members[from..from + 50], "members, {who}, after {start:?}");
            check_plan_of(
                &format!("members, {who}, after {start:?}"),
                &actor.explain_members(&a.to_string(), 50, 0, after).await.unwrap(),
                "organization_members",
            );
        }
    }

    // Templates of an organization, by name.
    let tpls: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM templates WHERE organization_id = '{a}' ORDER BY lower(name)"
    )))
    .fetch_all(&mut db)
    .await
    .unwrap();
    let actor = store.actor(&admin);
    for start in [None, Some(tpls.len() / 2)] {
        let after = start.map(|k| tpls[k]);
        let page = actor.templates(&a.to_string(), 50, 0, after).await.unwrap();
        let from = start.map_or(0, |k| k + 1);
        assert_eq!(page.iter().map(|t| t.id).collect::<Vec<_>>(), tpls[from..from + 50], "templates after {start:?}");
        check_plan_of(
            &format!("templates after {start:?}"),
            &actor.explain_templates(&a.to_string(), 50, 0, after).await.unwrap(),
            "templates",
        );
    }
}

fn check_plan_of(what: &str, plan: &serde_json::Value, table: &str) {
    assert!(!plan.is_null(), "{what}: no plan");
    let read = explain::rows_read(plan, table);
    let sorted = explain::largest_sort_input(plan);
    assert!(!explain::seq_scans(plan, table), "{what}: sequential scan over {table}\n{plan:#}");
    assert!(read <= BOUND, "{what}: read {read} {table} rows for one page\n{plan:#}");
    assert!(sorted <= BOUND, "{what}: sorted {sorted} rows for one page\n{plan:#}");
}

/// Chat rows read through `index` (all loops), from the plan's index scans.
fn rows_read_through(plan: &serde_json::Value, index: &str) -> f64 {
    explain::nodes(plan)
        .into_iter()
        .filter(|n| n["Index Name"].as_str() == Some(index))
        .map(|n| {
            let f = |k: &str| n[k].as_f64().unwrap_or(0.0);
            (f("Actual Rows") + f("Rows Removed by Filter")) * f("Actual Loops").max(1.0)
        })
        .sum()
}

/// The trap of a prepared list statement: on a site where the average owner has fewer chats
/// than a page, a generic plan costed for that average owner reads an owner's whole range and
/// sorts it. The chat list runs prepared with its generic plan (the `lists` module of the
/// store), so this checks that plan for a user with 22,000 chats, 700 of them pinned, among
/// 5,000 users with two chats each: every page reads at most a page per branch (and the page's
/// children), the pinned chats included, and is the page a plain `ORDER BY` gives. (The list
/// as it was planned before, `AGENTRY_BENCH_BEFORE=chat-list-plan`, read 10,729 chat rows for a
/// page starting inside the pinned chats.)
#[tokio::test]
async fn a_heavy_user_among_light_ones_reads_one_page_per_branch() {
    let (store, mut db) = fresh_store().await;
    let w = seed(&mut db).await;
    let (a, h) = (w.org_a, w.heavy);
    for sql in [
        format!(
            "INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, title, updated_at)
             SELECT gen_random_uuid(), u.id, '{a}', (SELECT id FROM chat_model_configs LIMIT 1), 'x', now() - make_interval(secs => k)
             FROM users u, generate_series(1, 2) k WHERE u.username LIKE 'u%'"
        ),
        // Hundreds of pinned chats of the heavy user in each archived state, spread over its
        // history.
        format!(
            "UPDATE chats SET pin_order = 1 + (n % 3) FROM (
                 SELECT id, row_number() OVER (ORDER BY updated_at DESC) AS n FROM chats
                 WHERE owner_id = '{h}' AND organization_id = '{a}' AND parent_chat_id IS NULL AND pin_order = 0
             ) p WHERE chats.id = p.id AND (p.n % 55 = 1 OR (chats.archived AND p.n % 7 = 0))"
        ),
        "ANALYZE".into(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut db).await.unwrap();
    }
    let pinned: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM chats WHERE owner_id = '{h}' AND pin_order > 0")))
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(pinned >= 600, "{pinned} pinned chats");
    let heavy = Subject::new(h).with_org(a, &[OrgRole::AgentsAccess]).with_org(w.org_b, &[OrgRole::AgentsAccess]);
    let actor = store.actor(&heavy);
    for (arch, cond) in [(None, "TRUE"), (Some(false), "NOT archived"), (Some(true), "archived")] {
        let all = reference(&mut db, &format!("owner_id = '{h}' AND {cond}")).await;
        // The first page, one inside the pinned chats, one just after them, a deep one.
        let first_unpinned = all.len()
            - reference(&mut db, &format!("owner_id = '{h}' AND {cond} AND pin_order = 0")).await.len();
        assert!(first_unpinned > 100, "{first_unpinned} pinned chats with archived {arch:?}");
        for start in [None, Some(10), Some(first_unpinned - 1), Some(all.len() / 2)] {
            let q = page(OwnerFilter::Me, arch, None, start.map(|k| all[k]));
            let what = format!("heavy among light, archived {arch:?}, after {start:?}");
            // More runs than PostgreSQL's five custom plans before it may switch to a generic one.
            for _ in 0..7 {
                actor.chats(&q).await.unwrap();
            }
            let got = actor.chats(&q).await.unwrap();
            let from = start.map_or(0, |k| k + 1);
            let want = &all[from..(from + 50).min(all.len())];
            assert_eq!(got.iter().map(|c| c.chat.id).collect::<Vec<_>>(), want, "{what}: wrong page");
            let plan = actor.explain_chats(&q).await.unwrap();
            check_plan(&what, &plan);
            // At most a page from each branch, and each root's children (at most three in this
            // seed, also when the archived filter then drops them). A cursor on a pinned chat
            // reads two pinned ranges (the rest of its pin order, the higher ones).
            let pinned_branches = if start.is_some_and(|k| k < first_unpinned) { 2 } else { 1 };
            let read = explain::rows_read(&plan, "chats");
            let bound = 50 * (pinned_branches + 1) + 3 * got.len();
            // The pinned index holds both archived states: a list of one state also reads the
            // pinned chats of the other that lie between its own.
            let other_state: usize = match arch {
                None => 0,
                Some(a) => reference(&mut db, &format!("owner_id = '{h}' AND pin_order > 0 AND archived <> {a}")).await.len(),
            };
            let through_pinned = rows_read_through(&plan, "chats_owner_pinned_idx");
            assert!(
                through_pinned <= (50 * pinned_branches + other_state) as f64,
                "{what}: read {through_pinned} pinned chats\n{plan:#}"
            );
            let bound = bound + other_state;
            assert!(read <= bound as f64, "{what}: read {read} chat rows, more than {bound}\n{plan:#}");
        }
    }
}

/// The list pool does not check a connection it used less than a second ago before handing it
/// out again (the store's `lists` module), so a server restart or a killed backend shows up as
/// a failed query: the list runs it again on another connection instead of failing the page.
#[tokio::test]
async fn a_page_survives_its_list_connection_being_killed() {
    let (store, mut db) = fresh_store().await;
    let w = seed(&mut db).await;
    let light = Subject::new(w.light).with_org(w.org_a, &[OrgRole::AgentsAccess]);
    let actor = store.actor(&light);
    let q = page(OwnerFilter::Me, None, None, None);
    let want: Vec<Uuid> = actor.chats(&q).await.unwrap().iter().map(|c| c.chat.id).collect();
    assert_eq!(want.len(), 50);
    // Every backend that ran the page statement: the list pool's connections.
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
         AND query LIKE '%WITH page AS MATERIALIZED%'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(!pids.is_empty());
    sqlx::query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid").bind(&pids).execute(&mut db).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let alive: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)")
            .bind(&pids)
            .fetch_one(&mut db)
            .await
            .unwrap();
        if alive == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the killed backends did not exit");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let got: Vec<Uuid> = actor.chats(&q).await.unwrap().iter().map(|c| c.chat.id).collect();
    assert_eq!(got, want);
}
