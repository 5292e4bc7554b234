//! Black-box tests of the platform API: identity, organizations, members, roles, authcheck and
//! the audit log, through the real server and the typed client.

mod common;

use agentry_sdk::ClientError;

use std::collections::BTreeMap;

use agentry_client::agentry_sdk as sdk;
use agentry_rbac::{Action, Object, OrgRole, ResourceType, SiteRole, Subject};
use common::{PASSWORD, TestServer, expect_status};
use reqwest::StatusCode;

#[tokio::test]
async fn first_user_becomes_owner_once() {
    let s = TestServer::start().await;
    assert!(!s.client.has_first_user().await.unwrap());
    let (owner, first) = s.owner().await;
    let me = owner.me().await.unwrap();
    assert_eq!(me.id, first.user_id);
    assert!(me.roles.iter().any(|r| r.name == "owner" && r.organization_id.is_none()));
    assert_eq!(me.organization_ids, vec![first.organization_id]);
    let default = owner.organization(&first.organization_id.to_string()).await.unwrap();
    assert!(default.is_default);

    let again = sdk::CreateFirstUserRequest {
        email: "other@example.com".into(),
        username: "other".into(),
        password: PASSWORD.into(),
        name: None,
    };
    expect_status(s.client.create_first_user(&again).await, 409);
    assert!(s.client.has_first_user().await.unwrap());
    s.stop().await;
}

#[tokio::test]
async fn login_logout_and_every_way_to_send_a_token() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;

    let e = expect_status(s.client.login("owner@example.com", "wrong password").await, 401);
    assert!(e.is(&ClientError::InvalidCredentials), "{}", e);
    expect_status(s.client.login("nobody@example.com", PASSWORD).await, 401);
    expect_status(s.client.me().await, 401);
    expect_status(s.client.with_token("garbage").me().await, 401);
    expect_status(s.client.with_token("abcdefghij-notthesecret").me().await, 401);

    // The login response sets an HttpOnly cookie that authenticates on its own, and the token
    // works as a Bearer header too.
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/api/v2/users/login", s.url))
        .json(&serde_json::json!({"email": "owner@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("agentry_session_token=") && cookie.contains("HttpOnly"), "{cookie}");
    let token: sdk::LoginResponse = resp.json().await.unwrap();
    let pair = cookie.split(';').next().unwrap();
    let by_cookie = http.get(format!("{}/api/v2/users/me", s.url)).header("Cookie", pair).send().await.unwrap();
    assert_eq!(by_cookie.status(), StatusCode::OK);
    let by_bearer = http
        .get(format!("{}/api/v2/users/me", s.url))
        .bearer_auth(&token.session_token)
        .send()
        .await
        .unwrap();
    assert_eq!(by_bearer.status(), StatusCode::OK);

    // Logout ends exactly that session.
    let session = s.client.with_token(&token.session_token);
    session.logout().await.unwrap();
    expect_status(session.me().await, 401);
    owner.me().await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn suspended_users_get_401_everywhere() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let (alice, user) = s.user(&owner, "alice", &[]).await;
    let key = alice.create_api_key("me", &sdk::CreateTokenRequest::default()).await.unwrap().key;
    let by_key = s.client.with_token(key);
    by_key.me().await.unwrap();

    owner.suspend_user("alice").await.unwrap();
    expect_status(alice.me().await, 401);
    expect_status(by_key.organizations().await, 401);
    expect_status(s.client.login("alice@example.com", PASSWORD).await, 401);
    let e = expect_status(owner.suspend_user("me").await, 400);
    assert!(e.is(&ClientError::CannotSuspendSelf), "{}", e);

    let back = owner.activate_user(&user.id.to_string()).await.unwrap();
    assert_eq!(back.status, sdk::UserStatus::Active);
    alice.me().await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn user_admin_creates_users_and_members_cannot() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let (admin, _) = s.user(&owner, "useradmin", &[]).await;
    owner.update_site_roles("useradmin", &["user-admin"]).await.unwrap();
    let (plain, _) = s.user(&owner, "plain", &[]).await;

    let created = admin
        .create_user(&sdk::CreateUserRequest {
            email: "new@example.com".into(),
            username: "newbie".into(),
            password: PASSWORD.into(),
            name: None,
            organization_ids: None,
        })
        .await
        .unwrap();
    let default = owner.organizations().await.unwrap().into_iter().find(|o| o.is_default).unwrap();
    assert_eq!(created.organization_ids, vec![default.id]);
    assert_eq!(created.roles, vec![sdk::SlimRole { name: "member".into(), display_name: "Member".into(), organization_id: None }]);

    let denied = sdk::CreateUserRequest {
        email: "x@example.com".into(),
        username: "x".into(),
        password: PASSWORD.into(),
        name: None,
        organization_ids: None,
    };
    expect_status(plain.create_user(&denied).await, 403);
    // A user admin may not hand out powerful site roles; only the owner may.
    expect_status(admin.update_site_roles("newbie", &["owner"]).await, 403);
    // Nor lock the owner out.
    expect_status(admin.suspend_user("owner").await, 403);
    owner.me().await.unwrap();
    admin.suspend_user("newbie").await.unwrap();
    admin.activate_user("newbie").await.unwrap();
    // Nor act as someone else through a token minted for them; the owner may, for anyone.
    expect_status(admin.create_api_key("owner", &sdk::CreateTokenRequest::default()).await, 403);
    expect_status(admin.create_api_key("newbie", &sdk::CreateTokenRequest::default()).await, 403);
    admin.create_api_key("me", &sdk::CreateTokenRequest::default()).await.unwrap();
    let minted = owner.create_api_key("newbie", &sdk::CreateTokenRequest::default()).await.unwrap().key;
    assert_eq!(s.client.with_token(minted).me().await.unwrap().username, "newbie");
    expect_status(plain.update_site_roles("plain", &["auditor"]).await, 403);
    s.stop().await;
}

#[tokio::test]
async fn passwords_change_with_the_current_one_and_only_the_owner_resets_others() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let (alice, _) = s.user(&owner, "alice", &[]).await;
    let other_session = s.client.logged_in("alice@example.com", PASSWORD).await.unwrap();
    let (admin, _) = s.user(&owner, "useradmin", &[]).await;
    owner.update_site_roles("useradmin", &["user-admin"]).await.unwrap();
    let change = |old: Option<&str>, new: &str| sdk::UpdateUserPasswordRequest { old_password: old.map(Into::into), password: new.into() };

    // Your own: the current password is required and checked, the new one validated.
    let e = alice.update_password("me", &change(None, "a new secret 1")).await.unwrap_err();
    assert!(e.is(&sdk::ClientError::OldPasswordRequired), "{e:?}");
    let e = alice.update_password("me", &change(Some("wrong password"), "a new secret 1")).await.unwrap_err();
    assert!(e.is(&sdk::ClientError::OldPasswordIncorrect), "{e:?}");
    expect_status(alice.update_password("me", &change(Some(PASSWORD), "short")).await, 400);
    alice.update_password("me", &change(Some(PASSWORD), "a new secret 1")).await.unwrap();
    // The session it was changed from goes on; the other sign-in ends; the new password works.
    alice.me().await.unwrap();
    expect_status(other_session.me().await, 401);
    expect_status(s.client.login("alice@example.com", PASSWORD).await, 401);
    s.client.logged_in("alice@example.com", "a new secret 1").await.unwrap();

    // Someone else's: a user admin may not (a password is the account), nor a member; the owner may.
    expect_status(admin.update_password("alice", &change(None, "taken over!")).await, 403);
    // A member cannot even see other users.
    expect_status(alice.update_password("useradmin", &change(None, "taken over!")).await, 404);
    expect_status(admin.update_password("owner", &change(None, "taken over!")).await, 403);
    owner.update_password("alice", &change(None, "reset by owner")).await.unwrap();
    expect_status(alice.me().await, 401);
    s.client.logged_in("alice@example.com", "reset by owner").await.unwrap();
    let log = owner.audit_logs(50, 0).await.unwrap();
    assert!(log.audit_logs.iter().any(|e| e.description == "changed the password of alice"));
    s.stop().await;
}

#[tokio::test]
async fn org_boundaries_for_members_and_admins() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let a = s.org(&owner, "org-a").await;
    let b = s.org(&owner, "org-b").await;
    let (admin_a, _) = s.user(&owner, "admin-a", &[a.id]).await;
    owner.update_member_roles("org-a", "admin-a", &["organization-admin"]).await.unwrap();
    let (member, member_user) = s.user(&owner, "member", &[b.id]).await;

    // The org admin of A adds a member and grants agents-access.
    let added = admin_a.add_member("org-a", "member").await.unwrap();
    assert_eq!(added.organization_id, a.id);
    let granted = admin_a.update_member_roles(&a.id.to_string(), &member_user.id.to_string(), &["agents-access"]).await.unwrap();
    assert_eq!(granted.roles, vec![sdk::SlimRole {
            name: "agents-access".into(),
            display_name: "Agents Access".into(),
            organization_id: Some(a.id)
        }]);
    expect_status(admin_a.add_member("org-a", "member").await, 409);

    // The admin of A sees nothing of B.
    expect_status(admin_a.organization("org-b").await, 404);
    expect_status(admin_a.members("org-b").await, 404);
    expect_status(admin_a.add_member("org-b", "admin-a").await, 404);
    let visible: Vec<String> = admin_a.organizations().await.unwrap().into_iter().map(|o| o.name).collect();
    assert!(visible.contains(&"org-a".to_string()) && !visible.contains(&"org-b".to_string()), "{visible:?}");

    // A member of A (and B) reads A's members but cannot add or change them.
    let (outsider, _) = s.user(&owner, "outsider", &[b.id]).await;
    let names: Vec<String> = member.members("org-a").await.unwrap().into_iter().map(|m| m.username).collect();
    assert!(names.contains(&"admin-a".to_string()) && names.contains(&"member".to_string()), "{names:?}");
    expect_status(member.add_member("org-a", "outsider").await, 403);
    expect_status(member.update_member_roles("org-a", "member", &["organization-admin"]).await, 403);
    // Someone only in B cannot read A's members at all.
    expect_status(outsider.members("org-a").await, 404);
    expect_status(outsider.organization(&a.id.to_string()).await, 404);

    // Removing the member makes org A unreadable to them on their very next request.
    admin_a.remove_member("org-a", "member").await.unwrap();
    expect_status(member.organization("org-a").await, 404);
    expect_status(member.members("org-a").await, 404);
    member.members("org-b").await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn who_may_assign_which_org_role() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let a = s.org(&owner, "team").await;
    let (uadmin, _) = s.user(&owner, "org-uadmin", &[a.id]).await;
    owner.update_member_roles("team", "org-uadmin", &["organization-user-admin"]).await.unwrap();
    let (_, _) = s.user(&owner, "dev", &[a.id]).await;

    // An org user admin grants agents-access but cannot make anyone (itself included) an admin.
    uadmin.update_member_roles("team", "dev", &["agents-access"]).await.unwrap();
    expect_status(uadmin.update_member_roles("team", "dev", &["organization-admin"]).await, 403);
    expect_status(uadmin.update_member_roles("team", "org-uadmin", &["organization-admin"]).await, 403);
    let roles = uadmin.org_roles("team").await.unwrap();
    let assignable: BTreeMap<String, bool> = roles.into_iter().map(|r| (r.name, r.assignable)).collect();
    assert!(assignable["agents-access"]);
    assert!(!assignable["organization-admin"]);

    let e = expect_status(owner.update_member_roles("team", "dev", &["owner"]).await, 400);
    assert_eq!(e.body().unwrap().validations[0].field, "roles");
    s.stop().await;
}

#[tokio::test]
async fn authcheck_agrees_with_the_engine() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let a = s.org(&owner, "alpha").await;
    let b = s.org(&owner, "beta").await;
    let c = s.org(&owner, "gamma").await;
    let (user, me) = s.user(&owner, "checker", &[a.id, b.id]).await;
    owner.update_member_roles("alpha", "checker", &["agents-access"]).await.unwrap();
    owner.update_member_roles("beta", "checker", &["organization-auditor"]).await.unwrap();

    // The same subject, built directly from the engine.
    let subject = Subject::new(me.id)
        .with_org(a.id, &[OrgRole::AgentsAccess])
        .with_org(b.id, &[OrgRole::OrganizationAuditor]);
    let other = uuid::Uuid::new_v4();
    let mut checks = BTreeMap::new();
    let mut expected = BTreeMap::new();
    let mut i = 0;
    for t in ResourceType::ALL {
        for action in t.actions().iter() {
            for org in [None, Some(a.id), Some(b.id), Some(c.id)] {
                for (owner_wire, owner_id) in [(None, None), (Some("me".to_string()), Some(me.id)), (Some(other.to_string()), Some(other))] {
                    let key = format!("c{i}");
                    i += 1;
                    let mut obj = Object::new(t);
                    if let Some(o) = org { obj = obj.in_org(o); }
                    if let Some(o) = owner_id { obj = obj.owned_by(o); }
                    expected.insert(key.clone(), subject.can(action, &obj));
                    checks.insert(key, sdk::AuthorizationCheck {
                        object: sdk::AuthorizationObject {
                            resource_type: t.as_str().into(),
                            owner_id: owner_wire.clone(),
                            organization_id: org,
                            resource_id: None,
                        },
                        action: action.as_str().into(),
                    });
                }
            }
        }
    }
    assert!(checks.len() <= 1000);
    let got = user.authcheck(&sdk::AuthorizationRequest { checks }).await.unwrap();
    assert_eq!(got, expected);
    // The org picker's question: chat create, owner me, per org.
    assert!(got.values().any(|v| *v) && got.values().any(|v| !*v));

    let owner_subject = Subject::new(uuid::Uuid::nil()).with_site_role(SiteRole::Owner);
    let one = |rt: &str, action: &str| sdk::AuthorizationRequest {
        checks: BTreeMap::from([("x".to_string(), sdk::AuthorizationCheck {
            object: sdk::AuthorizationObject { resource_type: rt.into(), owner_id: None, organization_id: Some(c.id), resource_id: None },
            action: action.into(),
        })]),
    };
    assert_eq!(owner.authcheck(&one("chat", "delete")).await.unwrap()["x"], owner_subject.can(Action::Delete, &Object::new(ResourceType::Chat).in_org(c.id)));
    expect_status(user.authcheck(&one("spaceship", "read")).await, 400);
    expect_status(user.authcheck(&one("audit_log", "delete")).await, 400);
    s.stop().await;
}

#[tokio::test]
async fn audit_log_is_written_and_filtered_by_rbac() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let a = s.org(&owner, "audited").await;
    let doomed = s.org(&owner, "doomed").await;
    let (_, u) = s.user(&owner, "subject", &[a.id]).await;
    owner.update_member_roles("audited", "subject", &["agents-access"]).await.unwrap();
    owner.suspend_user("subject").await.unwrap();
    owner.remove_member("audited", "subject").await.unwrap();
    owner.add_member("audited", "subject").await.unwrap();
    owner.delete_organization(&doomed.id.to_string()).await.unwrap();
    let (auditor, _) = s.user(&owner, "auditor", &[]).await;
    owner.update_site_roles("auditor", &["auditor"]).await.unwrap();
    let (org_auditor, _) = s.user(&owner, "orgauditor", &[a.id]).await;
    owner.update_member_roles("audited", "orgauditor", &["organization-auditor"]).await.unwrap();
    let (plain, _) = s.user(&owner, "plain", &[a.id]).await;

    let all = auditor.audit_logs(200, 0).await.unwrap();
    let seen: Vec<(String, String)> =
        all.audit_logs.iter().map(|l| (l.resource_type.clone(), l.action.clone())).collect();
    for want in [
        ("user", "create"),
        ("user", "write"),
        ("organization", "create"),
        ("organization", "delete"),
        ("organization_member", "create"),
        ("organization_member", "delete"),
        ("organization_member", "write"),
    ] {
        assert!(seen.contains(&(want.0.to_string(), want.1.to_string())), "missing {want:?} in {seen:?}");
    }
    assert!(all.audit_logs.iter().any(|l| l.resource_id == u.id && l.diff["status"]["new"] == "suspended"));
    assert_eq!(all.count as usize, all.audit_logs.len());

    // The org auditor sees exactly the entries of its org; a plain member sees none.
    let org_view = org_auditor.audit_logs(200, 0).await.unwrap();
    assert!(!org_view.audit_logs.is_empty());
    assert!(org_view.audit_logs.iter().all(|l| l.organization_id == Some(a.id)));
    assert_eq!(
        org_view.count as usize,
        all.audit_logs.iter().filter(|l| l.organization_id == Some(a.id)).count()
    );
    assert_eq!(plain.audit_logs(50, 0).await.unwrap().count, 0);
    s.stop().await;
}

#[tokio::test]
async fn bad_input_is_answered_and_nothing_is_half_written() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let http = reqwest::Client::new();
    let token = owner.token().unwrap().to_string();
    let post = |path: &str, body: String| {
        http.post(format!("{}{}", s.url, path))
            .header("Coder-Session-Token", &token)
            .header("Content-Type", "application/json")
            .body(body)
    };

    let r = post("/api/v2/users", "{not json".into()).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: sdk::Response = r.json().await.unwrap();
    assert_eq!(body.code.as_deref(), Some(ClientError::InvalidJson { reason: String::new() }.code()));
    assert_eq!(body.message, ClientError::InvalidJson { reason: String::new() }.message());
    let r = post("/api/v2/users", r#"{"email": 5}"#.into()).send().await.unwrap();
    assert_eq!(r.status(), 400);

    let bad = sdk::CreateUserRequest {
        email: "not-an-email".into(),
        username: "".into(),
        password: "short".into(),
        name: None,
        organization_ids: None,
    };
    let e = expect_status(owner.create_user(&bad).await, 400);
    let mut fields: Vec<&str> = e.body().unwrap().validations.iter().map(|v| v.field.as_str()).collect();
    fields.sort();
    assert_eq!(fields, vec!["email", "password", "username"]);

    let ok = sdk::CreateUserRequest {
        email: "dup@example.com".into(),
        username: "dup".into(),
        password: PASSWORD.into(),
        name: None,
        organization_ids: None,
    };
    owner.create_user(&ok).await.unwrap();
    let e = expect_status(owner.create_user(&sdk::CreateUserRequest { email: "other@example.com".into(), ..ok.clone() }).await, 409);
    assert!(e.message().unwrap().contains("username"));
    let e = expect_status(owner.create_user(&sdk::CreateUserRequest { username: "other".into(), email: "DUP@example.com".into(), ..ok.clone() }).await, 409);
    assert!(e.message().unwrap().contains("email"));

    // An unknown organization in the list fails the whole creation: no user is left behind.
    let ghost = uuid::Uuid::new_v4();
    let e = expect_status(
        owner.create_user(&sdk::CreateUserRequest {
            username: "ghostly".into(),
            email: "ghostly@example.com".into(),
            organization_ids: Some(vec![ghost]),
            ..ok.clone()
        }).await,
        400,
    );
    assert_eq!(e.body().unwrap().validations[0].field, "organization_ids");
    expect_status(owner.user("ghostly").await, 404);

    expect_status(owner.organization("no-such-org").await, 404);
    expect_status(owner.organization(&ghost.to_string()).await, 404);
    expect_status(owner.user("nobody").await, 404);
    expect_status(owner.add_member("default", "nobody").await, 404);
    expect_status(owner.add_member("no-such-org", "dup").await, 404);
    expect_status(owner.create_organization(&sdk::CreateOrganizationRequest { name: "bad name!".into(), display_name: None, description: None }).await, 400);
    s.org(&owner, "taken").await;
    expect_status(owner.create_organization(&sdk::CreateOrganizationRequest { name: "TAKEN".into(), display_name: None, description: None }).await, 409);
    expect_status(owner.delete_organization("default").await, 400);

    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let r = post("/api/v2/organizations", huge).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let unknown = http.get(format!("{}/api/v2/nope", s.url)).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    s.stop().await;
}

#[tokio::test]
async fn meta_routes_and_openapi() {
    let s = TestServer::start().await;
    assert_eq!(s.client.healthz().await.unwrap(), "OK");
    let info = s.client.buildinfo().await.unwrap();
    assert_eq!(info.external_url, s.url);
    let doc: serde_json::Value = reqwest::get(format!("{}/api/v2/openapi.json", s.url)).await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for p in ["/api/v2/users/first", "/api/v2/organizations/{org}/members/{user}/roles", "/api/v2/authcheck"] {
        assert!(paths.contains_key(p), "{p} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"]["User"].is_object());
    s.stop().await;
}

#[tokio::test]
async fn two_servers_on_one_empty_database_migrate_once() {
    let db = common::fresh_database().await;
    let (one, two) = tokio::join!(TestServer::start_on(&db), TestServer::start_on(&db));
    let (owner, _) = one.owner().await;
    // The second server sees the same deployment.
    let via_two = two.client.logged_in("owner@example.com", PASSWORD).await.unwrap();
    assert_eq!(via_two.me().await.unwrap().id, owner.me().await.unwrap().id);

    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(&mut conn).await.unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../store/migrations")).unwrap().count();
    assert_eq!(applied as usize, files);
    let defaults: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations WHERE is_default").fetch_one(&mut conn).await.unwrap();
    assert_eq!(defaults, 1);
    one.stop().await;
    two.stop().await;
}

/// Sessions are cached per process; a change made through another process, or straight in the
/// database, must still end a session's rights within moments.
#[tokio::test]
async fn cached_sessions_follow_changes_made_elsewhere() {
    let db = common::fresh_database().await;
    let (one, two) = (TestServer::start_on(&db).await, TestServer::start_on(&db).await);
    let (owner, _) = one.owner().await;
    let team = one.org(&owner, "team").await;
    let (_, _) = one.user(&owner, "carol", &[team.id]).await;
    let carol_two = two.client.logged_in("carol@example.com", PASSWORD).await.unwrap();
    // Warm server two's cache.
    carol_two.me().await.unwrap();
    carol_two.organization("team").await.unwrap();

    // Removed from the org through server one: server two stops serving it.
    owner.remove_member("team", "carol").await.unwrap();
    common::eventually("the removal to take effect on the other server", || async {
        carol_two.organization("team").await.is_err().then_some(())
    })
    .await;

    // Suspended straight in the database (an operator's SQL): the trigger still tells everyone.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db).await.unwrap();
    sqlx::query("UPDATE users SET status = 'suspended' WHERE username = 'carol'").execute(&mut conn).await.unwrap();
    common::eventually("the suspension to take effect on the other server", || async {
        carol_two.me().await.is_err().then_some(())
    })
    .await;
    expect_status(carol_two.me().await, 401);
    one.stop().await;
    two.stop().await;
}

/// Organizations are cached per process (issue 18: `/organizations` ran 3.3× its SQL); an
/// organization created, renamed or deleted through another process, or straight in the
/// database, must still show on every server within moments, and at once on the one that made
/// the change.
#[tokio::test]
async fn cached_organizations_follow_changes_made_elsewhere() {
    let db = common::fresh_database().await;
    let (one, two) = (TestServer::start_on(&db).await, TestServer::start_on(&db).await);
    let (owner, _) = one.owner().await;
    let owner_two = two.client.logged_in("owner@example.com", PASSWORD).await.unwrap();
    let names = |orgs: Vec<sdk::Organization>| orgs.into_iter().map(|o| o.name).collect::<Vec<_>>();
    // Warm server two's cache.
    assert_eq!(names(owner_two.organizations().await.unwrap()), ["default"]);

    // Created through server one: server two lists it and finds it by name.
    one.org(&owner, "team").await;
    common::eventually("the new organization to show on the other server", || async {
        (names(owner_two.organizations().await.unwrap()) == ["default", "team"]).then_some(())
    })
    .await;
    owner_two.organization("team").await.unwrap();

    // Renamed straight in the database: the trigger tells every server.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db).await.unwrap();
    sqlx::query("UPDATE organizations SET name = 'crew' WHERE name = 'team'").execute(&mut conn).await.unwrap();
    common::eventually("the rename to show on the other server", || async {
        (names(owner_two.organizations().await.unwrap()) == ["default", "crew"]).then_some(())
    })
    .await;
    expect_status(owner_two.organization("team").await, 404);

    // Deleted through server two: server two answers 404 at once, server one within moments.
    owner_two.delete_organization("crew").await.unwrap();
    expect_status(owner_two.organization("crew").await, 404);
    assert_eq!(names(owner_two.organizations().await.unwrap()), ["default"]);
    common::eventually("the deletion to show on the other server", || async {
        (names(owner.organizations().await.unwrap()) == ["default"]).then_some(())
    })
    .await;
    one.stop().await;
    two.stop().await;
}

/// The member list answers a page at a time (by username); the typed client follows the pages,
/// so a caller of `members()` (the CLI's `members list`) still gets everyone, once, in order.
#[tokio::test]
async fn the_member_list_pages_by_username_and_the_client_follows_every_page() {
    let s = TestServer::start().await;
    let (owner, me) = s.owner().await;
    let org = me.organization_id;
    // 250 more members (written directly: creating them through the API would hash 250
    // passwords); the triggers of the membership table keep their username order.
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&s.database_url).await.unwrap();
    sqlx::query(
        "INSERT INTO users (id, email, username, hashed_password)
         SELECT gen_random_uuid(), 'm' || i || '@x.test', 'm' || lpad(i::text, 3, '0'), '!' FROM generate_series(1, 250) i",
    )
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query("INSERT INTO organization_members (organization_id, user_id, roles) SELECT $1, id, '{}' FROM users WHERE username LIKE 'm%'")
        .bind(org)
        .execute(&mut db)
        .await
        .unwrap();

    let page = |query: String| {
        let req = owner.request(reqwest::Method::GET, &format!("/api/v2/organizations/{org}/members?{query}"));
        async move { req.send().await.unwrap().error_for_status().unwrap().json::<Vec<sdk::OrganizationMember>>().await.unwrap() }
    };
    let first = page("limit=100".into()).await;
    assert_eq!(first.len(), 100);
    let next = page(format!("limit=100&after_id={}", first[99].user_id)).await;
    assert_eq!((first[99].username.as_str(), next[0].username.as_str()), ("m100", "m101"), "the next page starts after the cursor");

    let all = owner.members(&org.to_string()).await.unwrap();
    let names: Vec<&str> = all.iter().map(|m| m.username.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(all.len(), 251, "every member, the owner included");
    assert_eq!(names, sorted, "in username order, each once");
}

/// Every connection the API accepts has Nagle's algorithm off (`TCP_NODELAY`): a streamed token
/// is one small WebSocket frame, and with Nagle a frame written while the previous one is still
/// unacknowledged waits for that acknowledgement, which a client may delay by tens of
/// milliseconds (issue 18). Read from the server's own end of a connection, found among this
/// process's descriptors (the test server runs in this process) by its peer address.
#[tokio::test]
async fn accepted_connections_write_small_frames_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start().await;
    let addr: std::net::SocketAddr = s.url.trim_start_matches("http://").parse().unwrap();
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Answered, so the server has accepted the connection and serves it.
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 512];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    let nodelay = server_end_nodelay(conn.local_addr().unwrap()).expect("the server's end of the connection");
    assert!(nodelay, "TCP_NODELAY is off on the server's end of the connection");
    s.stop().await;
}

/// `TCP_NODELAY` of the socket in this process whose peer is `peer`.
fn server_end_nodelay(peer: std::net::SocketAddr) -> Option<bool> {
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|f| f.parse::<libc::c_int>().ok()) else { continue };
        // SAFETY: getpeername and getsockopt only write into the buffers given, with their
        // lengths; a descriptor that is not a socket (or closed meanwhile) makes them fail.
        let (mut addr, mut len) = (unsafe { std::mem::zeroed::<libc::sockaddr_in>() }, std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t);
        if unsafe { libc::getpeername(fd, (&mut addr as *mut libc::sockaddr_in).cast(), &mut len) } != 0 || addr.sin_family != libc::AF_INET as libc::sa_family_t {
            continue;
        }
        let ip = std::net::Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr));
        if std::net::SocketAddr::from((ip, u16::from_be(addr.sin_port))) != peer {
            continue;
        }
        let (mut on, mut len) = (0 as libc::c_int, std::mem::size_of::<libc::c_int>() as libc::socklen_t);
        if unsafe { libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, (&mut on as *mut libc::c_int).cast(), &mut len) } != 0 {
            return None;
        }
        return Some(on != 0);
    }
    None
}
