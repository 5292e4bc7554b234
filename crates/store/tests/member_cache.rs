//! The member list served from the process's member cache (`auth_cache`, issue 18) answers
//! exactly what its SQL answers, for every kind of caller, page and cursor; and it follows
//! changes made anywhere, because the database's triggers announce them.

mod common;

use std::str::FromStr;
use std::time::Duration;

use agentry_rbac::{OrgRole, SiteRole, Subject};
use agentry_store::Store;
use sqlx::postgres::PgConnectOptions;
use sqlx::Connection;
use uuid::Uuid;

/// A fresh database and two stores on it: one caching (its listener connected), one not.
async fn fresh_stores() -> (Store, Store, sqlx::PgConnection) {
    let url = common::fresh_database().await;
    let plain = Store::connect(PgConnectOptions::from_str(&url).unwrap(), 4).await.unwrap();
    plain.migrate().await.unwrap();
    let cached = Store::connect(PgConnectOptions::from_str(&url).unwrap(), 4).await.unwrap();
    cached.start_session_cache();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !cached.caching() {
        assert!(std::time::Instant::now() < deadline, "the cache's listener did not connect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (cached, plain, sqlx::PgConnection::connect(&url).await.unwrap())
}

async fn exec(db: &mut sqlx::PgConnection, sql: String) {
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(db).await.unwrap();
}

fn names(page: &[agentry_store::members::Member]) -> Vec<String> {
    page.iter().map(|m| m.username.clone()).collect()
}

#[tokio::test]
async fn cached_member_pages_are_the_sql_pages_for_every_caller() {
    let (cached, plain, mut db) = fresh_stores().await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let (admin, member, outsider, other, auditor, owner) =
        (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    exec(&mut db, format!("INSERT INTO organizations (id, name, display_name) VALUES ('{a}', 'org-a', 'A'), ('{b}', 'org-b', 'B')")).await;
    // Mixed case and punctuation, so the order is the database's collation of lower(username).
    exec(
        &mut db,
        format!(
            "INSERT INTO users (id, email, username, hashed_password, site_roles) VALUES
             ('{admin}', 'admin@x.test', 'Zed-Admin', '!', '{{}}'), ('{member}', 'member@x.test', 'bob', '!', '{{}}'),
             ('{outsider}', 'outsider@x.test', 'Carol', '!', '{{}}'), ('{other}', 'other@x.test', 'dave_b', '!', '{{}}'),
             ('{auditor}', 'auditor@x.test', 'audrey', '!', '{{auditor}}'), ('{owner}', 'owner@x.test', 'Owner', '!', '{{owner}}')"
        ),
    )
    .await;
    exec(
        &mut db,
        "INSERT INTO users (id, email, username, hashed_password)
         SELECT gen_random_uuid(), 'u' || i || '@x.test', CASE WHEN i % 3 = 0 THEN 'U' ELSE 'u' END || i || '.x', '!'
         FROM generate_series(1, 240) i"
            .into(),
    )
    .await;
    exec(
        &mut db,
        format!(
            "INSERT INTO organization_members (organization_id, user_id, roles)
             SELECT '{a}', id, CASE WHEN random() < 0.2 THEN ARRAY['agents-access'] ELSE '{{}}' END
             FROM users WHERE username LIKE 'u%' OR username LIKE 'U%' OR id IN ('{admin}', '{member}', '{auditor}')"
        ),
    )
    .await;
    exec(&mut db, format!("UPDATE organization_members SET roles = ARRAY['organization-admin'] WHERE user_id = '{admin}'")).await;
    exec(
        &mut db,
        format!("INSERT INTO organization_members (organization_id, user_id, roles) VALUES ('{b}', '{other}', '{{}}'), ('{b}', '{member}', '{{}}')"),
    )
    .await;

    let callers = [
        ("site owner", Subject::new(owner).with_site_role(SiteRole::Owner)),
        ("auditor, member of A", Subject::new(auditor).with_site_role(SiteRole::Auditor).with_org(a, &[])),
        ("admin of A", Subject::new(admin).with_org(a, &[OrgRole::OrganizationAdmin])),
        ("member of A and B", Subject::new(member).with_org(a, &[]).with_org(b, &[])),
        ("member of B only", Subject::new(other).with_org(b, &[])),
        ("no organization", Subject::new(outsider)),
    ];
    let in_a: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT user_id FROM organization_members WHERE organization_id = '{a}' ORDER BY username_key, user_id"
    )))
    .fetch_all(&mut db)
    .await
    .unwrap();
    let cursors = [None, Some(in_a[0]), Some(in_a[in_a.len() / 2]), Some(*in_a.last().unwrap()), Some(outsider), Some(other)];
    let mut compared = 0;
    for (who, subject) in &callers {
        for org in [a.to_string(), "org-b".to_string(), Uuid::new_v4().to_string()] {
            for after in cursors {
                for (limit, offset) in [(50, 0), (7, 3), (1000, 0), (25, 230)] {
                    let want = plain.actor(subject).members(&org, limit, offset, after).await;
                    let got = cached.actor(subject).members(&org, limit, offset, after).await;
                    let what = format!("{who}, org {org}, after {after:?}, limit {limit} offset {offset}");
                    match (got, want) {
                        (Ok(got), Ok(want)) => {
                            assert_eq!(names(&got), names(&want), "{what}");
                            assert_eq!(
                                got.iter().map(|m| (&m.roles, &m.site_roles, m.organization_id)).collect::<Vec<_>>(),
                                want.iter().map(|m| (&m.roles, &m.site_roles, m.organization_id)).collect::<Vec<_>>(),
                                "{what}"
                            );
                            compared += got.len();
                        }
                        (got, want) => assert_eq!(format!("{:?}", got.err()), format!("{:?}", want.err()), "{what}"),
                    }
                }
            }
        }
    }
    assert!(compared > 2_000, "the callers saw members ({compared} compared)");
}

#[tokio::test]
async fn cached_members_follow_changes_announced_by_the_database() {
    let (cached, _plain, mut db) = fresh_stores().await;
    let (org, alice, bob) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    exec(&mut db, format!("INSERT INTO organizations (id, name, display_name) VALUES ('{org}', 'team', 'Team')")).await;
    exec(
        &mut db,
        format!("INSERT INTO users (id, email, username, hashed_password) VALUES ('{alice}', 'a@x.test', 'alice', '!'), ('{bob}', 'b@x.test', 'bob', '!')"),
    )
    .await;
    exec(&mut db, format!("INSERT INTO organization_members (organization_id, user_id, roles) VALUES ('{org}', '{alice}', '{{}}')")).await;
    let owner = Subject::new(Uuid::new_v4()).with_site_role(SiteRole::Owner);
    let list = || async { names(&cached.actor(&owner).members("team", 100, 0, None).await.unwrap()) };
    assert_eq!(list().await, ["alice"]);

    // A change no trigger announces (triggers off in this session) is not seen: the list is
    // served from memory, not read again.
    exec(&mut db, "SET session_replication_role = replica".into()).await;
    exec(&mut db, format!("UPDATE users SET name = 'Alice A.' WHERE id = '{alice}'")).await;
    exec(&mut db, "SET session_replication_role = DEFAULT".into()).await;
    let page = cached.actor(&owner).members("team", 100, 0, None).await.unwrap();
    assert_eq!(page[0].name, "", "the cached row (the name was changed unannounced)");

    async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !check().await {
            assert!(std::time::Instant::now() < deadline, "{what} was not seen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Announced changes, each made in plain SQL as another process or an operator would.
    exec(&mut db, format!("INSERT INTO organization_members (organization_id, user_id, roles) VALUES ('{org}', '{bob}', '{{}}')")).await;
    eventually("a new member", async || list().await == ["alice", "bob"]).await;
    exec(&mut db, format!("UPDATE users SET username = 'Aaron' WHERE id = '{bob}'")).await;
    eventually("a username change", async || list().await == ["Aaron", "alice"]).await;
    exec(&mut db, format!("UPDATE users SET email = 'new@x.test' WHERE id = '{alice}'")).await;
    eventually("an email change", async || {
        cached.actor(&owner).members("team", 100, 0, None).await.unwrap().iter().any(|m| m.email == "new@x.test")
    })
    .await;
    exec(&mut db, format!("UPDATE organization_members SET roles = ARRAY['organization-admin'] WHERE user_id = '{alice}'")).await;
    eventually("a role change", async || {
        cached.actor(&owner).members("team", 100, 0, None).await.unwrap().iter().any(|m| m.roles == ["organization-admin"])
    })
    .await;
    exec(&mut db, format!("UPDATE users SET site_roles = ARRAY['auditor'] WHERE id = '{bob}'")).await;
    eventually("a site role change", async || {
        cached.actor(&owner).members("team", 100, 0, None).await.unwrap().iter().any(|m| m.site_roles == ["auditor"])
    })
    .await;
    exec(&mut db, format!("DELETE FROM organization_members WHERE user_id = '{bob}'")).await;
    eventually("a removal", async || list().await == ["alice"]).await;
}
