//! The template-version migration (0009) on a database seeded in the schema before it: every
//! template's script and parameters become its version 1, which is its active version; every
//! workspace and every build is pinned to it; the content columns leave `templates`; versions
//! cannot be rewritten afterwards.

mod common;

use std::str::FromStr;

use agentry_store::Store;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;


/// A `template_versions` row: id, template, number, script, parameters, network, author.
type VersionRow = (Uuid, Uuid, i32, String, serde_json::Value, String, Option<Uuid>);

#[tokio::test]
async fn existing_templates_get_version_one_and_workspaces_are_pinned_to_it() {
    let url = common::fresh_database().await;
    let store = Store::connect(PgConnectOptions::from_str(&url).unwrap(), 2).await.unwrap();
    // Everything before template versions.
    store.migrate_to(8).await.unwrap();
    let mut c = PgConnection::connect(&url).await.unwrap();

    let org: Uuid = sqlx::query_scalar("SELECT id FROM organizations WHERE is_default").fetch_one(&mut c).await.unwrap();
    let user = Uuid::new_v4();
    sqlx::query("INSERT INTO users (id, email, username, hashed_password) VALUES ($1, 'u@example.com', 'u', 'x')")
        .bind(user)
        .execute(&mut c)
        .await
        .unwrap();
    let (used, unused) = (Uuid::new_v4(), Uuid::new_v4());
    let params = serde_json::json!([{"name": "region", "type": "string", "default": "eu", "required": false, "options": [], "description": ""}]);
    sqlx::query(
        "INSERT INTO templates (id, organization_id, name, display_name, startup_script, parameters, created_by)
         VALUES ($1, $2, 'used', 'used', 'echo used', $3, $4), ($5, $2, 'unused', 'unused', 'echo unused', '[]', NULL)",
    )
    .bind(used)
    .bind(org)
    .bind(&params)
    .bind(user)
    .bind(unused)
    .execute(&mut c)
    .await
    .unwrap();
    let ws = Uuid::new_v4();
    sqlx::query("INSERT INTO workspaces (id, organization_id, owner_id, template_id, name) VALUES ($1, $2, $3, $4, 'ws')")
        .bind(ws)
        .bind(org)
        .bind(user)
        .bind(used)
        .execute(&mut c)
        .await
        .unwrap();
    for n in [1, 2] {
        sqlx::query(
            "INSERT INTO workspace_builds (id, workspace_id, build_number, transition, status)
             VALUES ($1, $2, $3, 'start', 'succeeded')",
        )
        .bind(Uuid::new_v4())
        .bind(ws)
        .bind(n)
        .execute(&mut c)
        .await
        .unwrap();
    }

    store.migrate().await.unwrap();

    let versions: Vec<VersionRow> = sqlx::query_as(
        "SELECT v.id, v.template_id, v.number, v.startup_script, v.parameters, v.network, v.created_by
         FROM template_versions v ORDER BY v.startup_script",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(versions.len(), 2, "one version per template");
    let (unused_v, used_v) = (&versions[0], &versions[1]);
    assert_eq!((used_v.1, used_v.2, used_v.3.as_str(), &used_v.4, used_v.5.as_str(), used_v.6), (used, 1, "echo used", &params, "full", Some(user)));
    assert_eq!((unused_v.1, unused_v.2, unused_v.3.as_str()), (unused, 1, "echo unused"));

    let active = |id: Uuid| sqlx::query_scalar::<_, Uuid>("SELECT active_version_id FROM templates WHERE id = $1").bind(id);
    assert_eq!(active(used).fetch_one(&mut c).await.unwrap(), used_v.0);
    assert_eq!(active(unused).fetch_one(&mut c).await.unwrap(), unused_v.0);
    let pinned: Uuid = sqlx::query_scalar("SELECT template_version_id FROM workspaces WHERE id = $1").bind(ws).fetch_one(&mut c).await.unwrap();
    assert_eq!(pinned, used_v.0);
    let builds: Vec<Uuid> = sqlx::query_scalar("SELECT template_version_id FROM workspace_builds WHERE workspace_id = $1")
        .bind(ws)
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert_eq!(builds, vec![used_v.0, used_v.0]);

    // The content lives only in versions now.
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'templates'
         AND column_name IN ('startup_script', 'parameters')",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(left, 0);
    // A version is never rewritten, and a workspace cannot be pinned to another template's.
    let rewrite = sqlx::query("UPDATE template_versions SET startup_script = 'cat secret.txt' WHERE id = $1")
        .bind(used_v.0)
        .execute(&mut c)
        .await;
    assert!(rewrite.is_err(), "a version's script was rewritten");
    let cross = sqlx::query("UPDATE workspaces SET template_version_id = $1 WHERE id = $2").bind(unused_v.0).bind(ws).execute(&mut c).await;
    assert!(cross.is_err(), "a workspace was pinned to another template's version");
    // Deleting the author keeps the version.
    sqlx::query("DELETE FROM users WHERE id = $1").bind(user).execute(&mut c).await.unwrap();
    let author: Option<Uuid> = sqlx::query_scalar("SELECT created_by FROM template_versions WHERE id = $1").bind(used_v.0).fetch_one(&mut c).await.unwrap();
    assert_eq!(author, None);
}
