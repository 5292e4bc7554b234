//! The organization migration (0004) on a database seeded in the pre-organization schema:
//! every chat gets (1) its bound workspace's organization, else (2) its owner's oldest
//! membership, else (3) the default organization; children follow their root; the column ends
//! NOT NULL and indexed.

mod common;

use std::str::FromStr;

use agentry_store::Store;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;


async fn exec(conn: &mut PgConnection, sql: &str, ids: &[Uuid]) {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
    for id in ids {
        q = q.bind(*id);
    }
    q.execute(&mut *conn).await.unwrap();
}

#[tokio::test]
async fn backfill_uses_workspace_then_oldest_membership_then_default() {
    let url = common::fresh_database().await;
    let store = Store::connect(PgConnectOptions::from_str(&url).unwrap(), 2).await.unwrap();
    // The schema as it was before chats had an organization.
    store.migrate_to(3).await.unwrap();
    let mut c = PgConnection::connect(&url).await.unwrap();

    let default: Uuid = sqlx::query_scalar("SELECT id FROM organizations WHERE is_default").fetch_one(&mut c).await.unwrap();
    let (x, y) = (Uuid::new_v4(), Uuid::new_v4());
    for (id, name) in [(x, "x"), (y, "y")] {
        sqlx::query("INSERT INTO organizations (id, name, display_name) VALUES ($1, $2, $2)").bind(id).bind(name).execute(&mut c).await.unwrap();
    }
    let (joined_twice, loner, builder) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    for (id, name) in [(joined_twice, "twice"), (loner, "loner"), (builder, "builder")] {
        sqlx::query("INSERT INTO users (id, email, username, hashed_password) VALUES ($1, $2 || '@example.com', $2, 'x')")
            .bind(id)
            .bind(name)
            .execute(&mut c)
            .await
            .unwrap();
    }
    // `twice` joined Y first and X a day later: Y is the oldest membership.
    exec(&mut c, "INSERT INTO organization_members (organization_id, user_id, created_at) VALUES ($1, $2, now() - interval '2 days')", &[y, joined_twice]).await;
    exec(&mut c, "INSERT INTO organization_members (organization_id, user_id, created_at) VALUES ($1, $2, now() - interval '1 day')", &[x, joined_twice]).await;
    exec(&mut c, "INSERT INTO organization_members (organization_id, user_id) VALUES ($1, $2)", &[x, builder]).await;

    let (tpl_x, tpl_y) = (Uuid::new_v4(), Uuid::new_v4());
    exec(&mut c, "INSERT INTO templates (id, organization_id, name, display_name) VALUES ($1, $2, 'tx', 'tx')", &[tpl_x, x]).await;
    exec(&mut c, "INSERT INTO templates (id, organization_id, name, display_name) VALUES ($1, $2, 'ty', 'ty')", &[tpl_y, y]).await;
    let (ws_x, ws_x_soft_deleted, ws_gone) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let ws = "INSERT INTO workspaces (id, organization_id, owner_id, template_id, name) VALUES ($1, $2, $3, $4, $5::text)";
    for (id, org, owner, tpl, name) in [
        (ws_x, x, builder, tpl_x, "wx"),
        (ws_x_soft_deleted, x, joined_twice, tpl_x, "wxd"),
        (ws_gone, y, builder, tpl_y, "wgone"),
    ] {
        sqlx::query(ws).bind(id).bind(org).bind(owner).bind(tpl).bind(name).execute(&mut c).await.unwrap();
    }
    exec(&mut c, "UPDATE workspaces SET deleted = true WHERE id = $1", &[ws_x_soft_deleted]).await;

    let model = Uuid::new_v4();
    exec(&mut c, "INSERT INTO chat_model_configs (id, provider, model) VALUES ($1, 'openai', 'm')", &[model]).await;
    let chat = |id: Uuid, owner: Uuid, ws: Option<Uuid>, parent: Option<Uuid>| {
        sqlx::query(
            "INSERT INTO chats (id, owner_id, workspace_id, parent_chat_id, root_chat_id, last_model_config_id)
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(id)
        .bind(owner)
        .bind(ws)
        .bind(parent)
        .bind(model)
    };
    let ids: Vec<Uuid> = (0..7).map(|_| Uuid::new_v4()).collect();
    let [bound, bound_soft_deleted, lost_workspace, oldest_membership, no_membership, child, builder_chat] =
        ids.clone().try_into().unwrap();
    chat(bound, joined_twice, Some(ws_x), None).execute(&mut c).await.unwrap();
    chat(bound_soft_deleted, joined_twice, Some(ws_x_soft_deleted), None).execute(&mut c).await.unwrap();
    chat(lost_workspace, builder, Some(ws_gone), None).execute(&mut c).await.unwrap();
    chat(oldest_membership, joined_twice, None, None).execute(&mut c).await.unwrap();
    chat(no_membership, loner, None, None).execute(&mut c).await.unwrap();
    // A child whose own tiers would give Y, but whose root is in X.
    chat(child, joined_twice, None, Some(bound)).execute(&mut c).await.unwrap();
    chat(builder_chat, builder, None, None).execute(&mut c).await.unwrap();
    // The workspace is deleted outright: the binding is lost (ON DELETE SET NULL).
    exec(&mut c, "DELETE FROM workspaces WHERE id = $1", &[ws_gone]).await;

    store.migrate().await.unwrap();

    let org_of = |id: Uuid| sqlx::query_scalar::<_, Uuid>("SELECT organization_id FROM chats WHERE id = $1").bind(id);
    assert_eq!(org_of(bound).fetch_one(&mut c).await.unwrap(), x, "tier 1: the workspace's organization");
    assert_eq!(org_of(bound_soft_deleted).fetch_one(&mut c).await.unwrap(), x, "a soft-deleted workspace still names its org");
    assert_eq!(org_of(lost_workspace).fetch_one(&mut c).await.unwrap(), x, "tier 2 after the workspace was deleted: builder's only membership");
    assert_eq!(org_of(oldest_membership).fetch_one(&mut c).await.unwrap(), y, "tier 2: the oldest membership, not the newest");
    assert_eq!(org_of(no_membership).fetch_one(&mut c).await.unwrap(), default, "tier 3: the default organization");
    assert_eq!(org_of(child).fetch_one(&mut c).await.unwrap(), x, "children follow their root");
    assert_eq!(org_of(builder_chat).fetch_one(&mut c).await.unwrap(), x);

    let nullable: String = sqlx::query_scalar(
        "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'chats' AND column_name = 'organization_id'",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(nullable, "NO");
    let indexed: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE tablename = 'chats' AND indexdef LIKE '%(organization_id%')")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert!(indexed);
    let err = sqlx::query("INSERT INTO chats (id, owner_id, last_model_config_id) VALUES ($1, $2, $3)")
        .bind(Uuid::new_v4())
        .bind(loner)
        .bind(model)
        .execute(&mut c)
        .await;
    assert!(err.is_err(), "new chats need an organization");
}
