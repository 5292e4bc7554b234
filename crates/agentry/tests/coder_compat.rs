//! Coder's own clients against agentry (issue 19): the routes Coder's TypeScript client calls
//! for users, members, organizations, roles, templates and build information answer with
//! Coder's JSON shapes, checked against JSON schemas of Coder's types (`coder/schemas.json`,
//! written from Coder's published `typesGenerated.ts`), so a change that drifts from them fails
//! here. Also the behaviour behind the new routes and fields: paging and searching users, a
//! user's own organizations, every readable template, and `last_seen_at`.

mod common;

use agentry_sdk::ClientError;

use agentry_client::agentry_sdk as sdk;
use agentry_client::{Client, Result as ClientResult};
use common::{TestServer, expect_status};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

// ---- the schema check ----

/// The JSON-Schema subset the schemas use: `type`, `enum`, `format` (`uuid`, `date-time`),
/// `required`, `properties`, `items` and `$ref` to `#/$defs/…`. Small on purpose: it needs no
/// dependency, and a full validator would accept the same documents.
struct Schemas(Value);

impl Schemas {
    fn load() -> Schemas {
        Schemas(serde_json::from_str(include_str!("coder/schemas.json")).expect("schemas.json is JSON"))
    }

    fn def(&self, name: &str) -> &Value {
        self.0["$defs"].get(name).unwrap_or_else(|| panic!("no schema for {name}"))
    }

    /// Every way `v` departs from Coder's type `name`, each as `path: problem`.
    fn problems(&self, name: &str, v: &Value) -> Vec<String> {
        let mut out = Vec::new();
        self.check(self.def(name), v, name, &mut out);
        out
    }

    fn check(&self, schema: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.strip_prefix("#/$defs/").expect("local references only");
            return self.check(self.def(name), v, path, out);
        }
        if let Some(t) = schema.get("type").and_then(Value::as_str) {
            let ok = match t {
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "boolean" => v.is_boolean(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "null" => v.is_null(),
                other => panic!("unsupported type {other}"),
            };
            if !ok {
                out.push(format!("{path}: expected {t}, got {v}"));
                return;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(v)
        {
            out.push(format!("{path}: {v} is not one of {allowed:?}"));
        }
        if let (Some(f), Some(s)) = (schema.get("format").and_then(Value::as_str), v.as_str()) {
            let ok = match f {
                "uuid" => Uuid::parse_str(s).is_ok(),
                "date-time" => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
                other => panic!("unsupported format {other}"),
            };
            if !ok {
                out.push(format!("{path}: {s:?} is not a {f}"));
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if v.get(key).is_none() {
                    out.push(format!("{path}: missing {key}"));
                }
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (key, sub) in props {
                if let Some(field) = v.get(key) {
                    self.check(sub, field, &format!("{path}.{key}"), out);
                }
            }
        }
        if let (Some(items), Some(elems)) = (schema.get("items"), v.as_array()) {
            for (i, e) in elems.iter().enumerate() {
                self.check(items, e, &format!("{path}[{i}]"), out);
            }
        }
    }

    #[track_caller]
    fn assert_is(&self, name: &str, v: &Value) {
        let p = self.problems(name, v);
        assert!(p.is_empty(), "not a Coder {name}:\n{}\n{v:#}", p.join("\n"));
    }

    /// Each element of the array `v` is a `name`, and there is at least one.
    #[track_caller]
    fn assert_all(&self, name: &str, v: &Value) {
        let elems = v.as_array().unwrap_or_else(|| panic!("expected an array of {name}, got {v}"));
        assert!(!elems.is_empty(), "expected at least one {name}");
        for e in elems {
            self.assert_is(name, e);
        }
    }
}

/// The raw JSON of a GET, so fields the typed client would drop are still seen.
async fn raw(c: &Client, path: &str) -> Value {
    c.send(c.request(Method::GET, path)).await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

async fn raw_send(c: &Client, method: Method, path: &str) -> Value {
    c.send(c.request(method.clone(), path)).await.unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

async fn template(c: &Client, org: &str, name: &str) -> sdk::Template {
    c.create_template(
        org,
        &sdk::CreateTemplateRequest {
            name: name.into(),
            display_name: None,
            description: None,
            startup_script: None,
            parameters: None,
            network: None,
            kind: None,
        },
    )
    .await
    .unwrap()
}

#[test]
fn the_schema_check_catches_drift() {
    let schemas = Schemas::load();
    let good = json!({
        "id": "0191d0b2-31a8-7c0e-9b5f-3c2a1d4e5f60", "username": "ann", "avatar_url": "", "name": "",
        "email": "ann@example.com", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "last_seen_at": "0001-01-01T00:00:00Z", "status": "active", "login_type": "password",
        "organization_ids": [], "roles": [{"name": "member", "display_name": "Member", "organization_id": ""}],
    });
    schemas.assert_is("User", &good);

    let drift = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        schemas.problems("User", &v)
    };
    assert_eq!(drift(&|v| { v.as_object_mut().unwrap().remove("avatar_url"); }), ["User: missing avatar_url"]);
    assert_eq!(drift(&|v| v["status"] = json!(1)).len(), 1, "a mistyped field");
    assert_eq!(drift(&|v| v["status"] = json!("deleted")).len(), 1, "a value outside the enum");
    assert_eq!(drift(&|v| v["id"] = json!("not-a-uuid")).len(), 1, "a malformed id");
    assert_eq!(drift(&|v| v["last_seen_at"] = json!("yesterday")).len(), 1, "a malformed time");
    // The role's organization id is "" for a site role in Coder, never null.
    assert_eq!(
        drift(&|v| v["roles"][0]["organization_id"] = Value::Null),
        ["User.roles[0].organization_id: expected string, got null"]
    );
    // A bare array is not Coder's users list.
    assert!(!schemas.problems("GetUsersResponse", &json!([good])).is_empty());
}

#[tokio::test]
async fn responses_match_coders_types() {
    let schemas = Schemas::load();
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let team = s.org(&owner, "team").await;
    let (member, ann) = s.user(&owner, "ann", &[team.id]).await;
    owner.update_member_roles("team", "ann", &["agents-access"]).await.unwrap();
    owner.update_site_roles("ann", &["auditor"]).await.unwrap();
    template(&owner, "team", "base").await;

    schemas.assert_is("BuildInfoResponse", &raw(&s.client, "/api/v2/buildinfo").await);

    let users = raw(&owner, "/api/v2/users").await;
    schemas.assert_is("GetUsersResponse", &users);
    assert_eq!(users["count"], json!(2));
    schemas.assert_is("User", &raw(&owner, "/api/v2/users/me").await);
    schemas.assert_is("User", &raw(&owner, &format!("/api/v2/users/{}", ann.id)).await);
    schemas.assert_is("User", &raw_send(&owner, Method::PUT, "/api/v2/users/ann/status/suspend").await);
    schemas.assert_is("User", &raw_send(&owner, Method::PUT, "/api/v2/users/ann/status/activate").await);

    schemas.assert_all("Organization", &raw(&member, "/api/v2/users/me/organizations").await);
    schemas.assert_is("Organization", &raw(&member, "/api/v2/users/me/organizations/team").await);
    schemas.assert_all("Organization", &raw(&owner, "/api/v2/organizations").await);
    schemas.assert_is("Organization", &raw(&owner, "/api/v2/organizations/team").await);

    let members = raw(&owner, "/api/v2/organizations/team/members").await;
    schemas.assert_all("OrganizationMemberWithUserData", &members);
    let ann_row = members.as_array().unwrap().iter().find(|m| m["username"] == "ann").unwrap();
    assert_eq!(
        ann_row["roles"],
        json!([{"name": "agents-access", "display_name": "Agents Access", "organization_id": team.id}])
    );
    assert_eq!(
        ann_row["global_roles"],
        json!([
            {"name": "member", "display_name": "Member", "organization_id": ""},
            {"name": "auditor", "display_name": "Auditor", "organization_id": ""},
        ])
    );
    schemas.assert_is("OrganizationMember", &raw_send(&owner, Method::POST, "/api/v2/organizations/default/members/ann").await);

    let site_roles = raw(&owner, "/api/v2/users/roles").await;
    schemas.assert_all("AssignableRoles", &site_roles);
    let org_roles = raw(&owner, &format!("/api/v2/organizations/{}/members/roles", team.id)).await;
    schemas.assert_all("AssignableRoles", &org_roles);
    for r in org_roles.as_array().unwrap() {
        assert_eq!(r["organization_id"], json!(team.id), "{r}");
        assert_eq!(r["built_in"], json!(true), "{r}");
    }

    schemas.assert_all("Template", &raw(&member, "/api/v2/templates").await);
    s.stop().await;
}

#[tokio::test]
async fn roles_list_their_permissions_per_level() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let site = owner.site_roles().await.unwrap();
    let auditor = site.iter().find(|r| r.name == "auditor").unwrap();
    assert_eq!(auditor.display_name, "Auditor");
    assert_eq!(auditor.organization_id, None);
    assert!(auditor.organization_permissions.is_empty() && auditor.user_permissions.is_empty());
    let read = |t: &str| sdk::Permission { negate: false, resource_type: t.into(), action: "read".into() };
    assert!(auditor.site_permissions.contains(&read("audit_log")), "{:?}", auditor.site_permissions);
    assert!(!auditor.site_permissions.iter().any(|p| p.resource_type == "chat"), "auditors read no chats");

    let org = owner.org_roles("default").await.unwrap();
    let ban = org.iter().find(|r| r.name == "organization-workspace-creation-ban").unwrap();
    let negated: Vec<&str> =
        ban.organization_permissions.iter().filter(|p| p.negate).map(|p| p.action.as_str()).collect();
    assert_eq!(negated, ["create", "delete"], "{:?}", ban.organization_permissions);
    let agents = org.iter().find(|r| r.name == "agents-access").unwrap();
    assert!(agents.organization_member_permissions.contains(&sdk::Permission {
        negate: false,
        resource_type: "chat".into(),
        action: "create".into()
    }));
    assert!(agents.organization_permissions.is_empty(), "agents-access grants only on one's own chats");
    s.stop().await;
}

#[tokio::test]
async fn openapi_describes_the_same_shapes() {
    let schemas = Schemas::load();
    let s = TestServer::start().await;
    let doc = raw(&s.client, "/api/v2/openapi.json").await;
    let components = &doc["components"]["schemas"];
    // Coder's type → the component that describes agentry's answer.
    for (coder, ours) in [
        ("User", "User"),
        ("GetUsersResponse", "GetUsersResponse"),
        ("SlimRole", "SlimRole"),
        ("Organization", "Organization"),
        ("OrganizationMemberWithUserData", "OrganizationMember"),
        ("AssignableRoles", "AssignableRole"),
        ("Permission", "Permission"),
        ("BuildInfoResponse", "BuildInfo"),
        ("Template", "Template"),
    ] {
        let props = components[ours]["properties"].as_object().unwrap_or_else(|| panic!("no component {ours}"));
        for field in schemas.def(coder)["required"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()) {
            assert!(props.contains_key(field), "OpenAPI {ours} lacks Coder's {coder}.{field}");
        }
    }
    let ok_body = |path: &str| doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"].clone();
    assert_eq!(ok_body("/api/v2/users"), json!({"$ref": "#/components/schemas/GetUsersResponse"}));
    assert_eq!(ok_body("/api/v2/users/{user}/organizations")["items"], json!({"$ref": "#/components/schemas/Organization"}));
    assert_eq!(ok_body("/api/v2/templates")["items"], json!({"$ref": "#/components/schemas/Template"}));
    let template_params = doc["paths"]["/api/v2/templates"]["get"]["parameters"].as_array().unwrap();
    assert!(template_params.iter().any(|p| p["name"] == "q" && p["in"] == "query"), "{template_params:?}");
    let params: Vec<(&str, &str)> = doc["paths"]["/api/v2/users"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap_or("")))
        .collect();
    for p in ["limit", "offset", "q"] {
        assert!(params.contains(&(p, "query")), "GET /api/v2/users does not document {p}: {params:?}");
    }
    let params = &doc["paths"]["/api/v2/templates"]["get"]["parameters"];
    assert!(params.as_array().unwrap().iter().any(|p| p["name"] == "limit" && p["in"] == "query"), "{params}");
    // Every documented path parameter is in its path: query parameters documented as path
    // parameters make generated clients build wrong URLs.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "path") {
                let name = p["name"].as_str().unwrap();
                assert!(path.contains(&format!("{{{name}}}")), "{method} {path} documents {name} as a path parameter");
            }
        }
    }
    s.stop().await;
}

// ---- behaviour behind the new routes and fields ----

fn names(page: &sdk::GetUsersResponse) -> Vec<&str> {
    page.users.iter().map(|u| u.username.as_str()).collect()
}

#[tokio::test]
async fn users_list_pages_counts_and_searches() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let (plain, _) = s.user(&owner, "carol", &[]).await;
    for name in ["alice", "bob", "dave"] {
        s.user(&owner, name, &[]).await;
    }
    owner.suspend_user("dave").await.unwrap();
    owner.update_site_roles("bob", &["template-admin"]).await.unwrap();

    let all = owner.users(100, 0).await.unwrap();
    assert_eq!((names(&all), all.count), (vec!["alice", "bob", "carol", "dave", "owner"], 5));
    // A page keeps the total.
    let page = owner.users(2, 2).await.unwrap();
    assert_eq!((names(&page), page.count), (vec!["carol", "dave"], 5));
    let past_the_end = owner.users(2, 10).await.unwrap();
    assert_eq!((past_the_end.users.len(), past_the_end.count), (0, 5));

    // Coder's search string: words in the username or email, status, role; terms combine.
    let q = |q: &'static str| {
        let owner = owner.clone();
        async move { owner.search_users(q, 100, 0).await }
    };
    let r = q("AL").await.unwrap();
    assert_eq!((names(&r), r.count), (vec!["alice"], 1));
    assert_eq!(names(&q("@EXAMPLE.com ar").await.unwrap()), ["carol"], "every word must match");
    assert_eq!(names(&q("status:suspended").await.unwrap()), ["dave"]);
    assert_eq!(q("status:active").await.unwrap().count, 4);
    assert_eq!(names(&q("role:template-admin").await.unwrap()), ["bob"]);
    assert_eq!(names(&q("role:owner status:active").await.unwrap()), ["owner"]);
    assert_eq!(q("role:member").await.unwrap().count, 5);
    let r = q("role:template-admin status:suspended").await.unwrap();
    assert_eq!((r.users.len(), r.count), (0, 0));
    for bad in ["status:gone", "role:emperor", "color:blue"] {
        let e = expect_status(q(bad).await, 400);
        assert!(e.is(&ClientError::InvalidUserQuery), "{}", e);
        assert_eq!(e.body().unwrap().validations[0].field, "q", "{bad}");
    }

    // RBAC in SQL: a plain member reads only themself, and the count says so too.
    let mine = plain.users(100, 0).await.unwrap();
    assert_eq!((names(&mine), mine.count), (vec!["carol"], 1));
    s.stop().await;
}

async fn org_names(r: ClientResult<Vec<sdk::Organization>>) -> Vec<String> {
    r.unwrap().into_iter().map(|o| o.name).collect()
}

#[tokio::test]
async fn user_organizations_lists_only_that_users_orgs() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    s.org(&owner, "alpha").await;
    let (boss, _) = s.user(&owner, "boss", &[]).await;
    owner.update_site_roles("boss", &["owner"]).await.unwrap();
    // Created by another owner, so the first owner is not a member of it.
    s.org(&boss, "bosses").await;
    let alpha = owner.organization("alpha").await.unwrap();
    let (ann, _) = s.user(&owner, "ann", &[alpha.id]).await;
    let (bob, _) = s.user(&owner, "bob", &[]).await;

    assert_eq!(org_names(ann.user_organizations("me").await).await, ["alpha"]);
    assert_eq!(org_names(bob.user_organizations("me").await).await, ["default"]);
    // A site owner reads every organization but belongs only to some.
    assert_eq!(org_names(owner.organizations().await).await, ["default", "alpha", "bosses"]);
    assert_eq!(org_names(owner.user_organizations("me").await).await, ["default", "alpha"]);
    assert_eq!(org_names(owner.user_organizations("boss").await).await, ["default", "bosses"]);
    assert_eq!(org_names(owner.user_organizations(&bob.me().await.unwrap().id.to_string()).await).await, ["default"]);
    // One of them by name (ignoring case) or id; an organization the user is not in is a 404,
    // even for an owner who may read it.
    assert_eq!(ann.user_organization("me", "ALPHA").await.unwrap().id, alpha.id);
    assert_eq!(owner.user_organization("ann", &alpha.id.to_string()).await.unwrap().name, "alpha");
    expect_status(owner.user_organization("me", "bosses").await, 404);
    expect_status(ann.user_organization("me", "default").await, 404);
    // Someone the caller cannot read does not exist for them.
    expect_status(ann.user_organizations("bob").await, 404);
    expect_status(ann.user_organization("bob", "default").await, 404);
    expect_status(ann.user_organizations("nobody").await, 404);
    s.stop().await;
}

#[tokio::test]
async fn all_templates_lists_only_readable_templates() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let a = s.org(&owner, "org-a").await;
    s.org(&owner, "org-b").await;
    let zeta = template(&owner, "default", "zeta").await;
    template(&owner, "default", "alpha").await;
    template(&owner, "org-a", "beta").await;
    let hidden = template(&owner, "org-b", "secret").await;
    let (member, _) = s.user(&owner, "ann", &[a.id]).await;
    owner.add_member("default", "ann").await.unwrap();

    let seen = |ts: Vec<sdk::Template>| ts.into_iter().map(|t| format!("{}/{}", t.organization_name, t.name)).collect::<Vec<_>>();
    assert_eq!(seen(owner.all_templates(100, 0).await.unwrap()), ["default/alpha", "default/zeta", "org-a/beta", "org-b/secret"]);
    assert_eq!(seen(member.all_templates(100, 0).await.unwrap()), ["default/alpha", "default/zeta", "org-a/beta"]);
    // Paging runs over the filtered rows, so no page comes back short because of RBAC.
    assert_eq!(seen(member.all_templates(2, 1).await.unwrap()), ["default/zeta", "org-a/beta"]);
    let after = member.all_templates(100, 0).await.unwrap()[1].id;
    let rest: Vec<sdk::Template> =
        member.send(member.request(Method::GET, &format!("/api/v2/templates?after_id={after}"))).await.unwrap();
    assert_eq!(seen(rest), ["org-a/beta"]);
    expect_status(member.template(hidden.id).await, 404);

    // Coder's search string narrows the same rows: organization (name or id), deprecation,
    // exact name, words in the name; an unknown filter is refused rather than ignored.
    let search = |q: String| {
        let member = member.clone();
        async move { seen(member.search_templates(&q, 100, 0).await.unwrap()) }
    };
    assert_eq!(search("organization:ORG-A".into()).await, ["org-a/beta"]);
    assert_eq!(search(format!("organization:{}", a.id)).await, ["org-a/beta"]);
    assert_eq!(search("organization:org-b".into()).await, Vec::<String>::new(), "RBAC still applies");
    assert_eq!(search("exact_name:alpha".into()).await, ["default/alpha"]);
    assert_eq!(search("ET".into()).await, ["default/zeta", "org-a/beta"]);
    let deprecate = sdk::UpdateTemplateRequest { deprecated: Some(true), ..Default::default() };
    owner.update_template(zeta.id, &deprecate).await.unwrap();
    assert_eq!(search("deprecated:true".into()).await, ["default/zeta"]);
    assert_eq!(search("deprecated:false organization:default".into()).await, ["default/alpha"]);
    let e = expect_status(member.search_templates("color:blue", 100, 0).await, 400);
    assert!(e.is(&ClientError::InvalidTemplateQuery), "{}", e);

    // Leaving an organization hides its templates at once.
    owner.remove_member("org-a", "ann").await.unwrap();
    assert_eq!(seen(member.all_templates(100, 0).await.unwrap()), ["default/alpha", "default/zeta"]);
    let t = &owner.all_templates(1, 0).await.unwrap()[0];
    assert_eq!((t.created_by_name.as_str(), t.organization_display_name.as_str()), ("owner", "Default"));
    s.stop().await;
}

/// `last_seen_at` of `user` as the owner reads it.
async fn last_seen(owner: &Client, user: &str) -> chrono::DateTime<chrono::Utc> {
    owner.user(user).await.unwrap().last_seen_at
}

async fn backdate(database_url: &str, user: &str, by: &str) -> chrono::DateTime<chrono::Utc> {
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    let t = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "UPDATE users SET last_seen_at = now() - interval '{by}' WHERE username = $1 RETURNING last_seen_at"
    )))
    .bind(user)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    t
}

#[tokio::test]
async fn last_seen_at_tracks_activity_at_most_once_a_minute() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let (ann, _) = s.user(&owner, "ann", &[]).await;
    owner.create_user(&sdk::CreateUserRequest {
        email: "idle@example.com".into(),
        username: "idle".into(),
        password: common::PASSWORD.into(),
        name: None,
        organization_ids: None,
    })
    .await
    .unwrap();
    // Never seen: Coder's zero time, not null.
    let zero = last_seen(&owner, "idle").await;
    assert_eq!(zero.to_rfc3339(), "0001-01-01T00:00:00+00:00");
    let raw_user = raw(&owner, "/api/v2/users/idle").await;
    assert_eq!(raw_user["last_seen_at"], json!("0001-01-01T00:00:00Z"));

    // Any authenticated request counts (logging in is not one). The request that records it
    // is answered after the write, so every check below is immediate.
    assert_eq!(last_seen(&owner, "ann").await, zero);
    ann.me().await.unwrap();
    let first = last_seen(&owner, "ann").await;
    assert!(first > zero && chrono::Utc::now() - first < chrono::Duration::seconds(60), "{first}");

    // Not per request: within the minute, this process writes nothing more, even though the
    // stored time is now old enough for the database to accept a write.
    let old = backdate(&s.database_url, "ann", "10 minutes").await;
    for _ in 0..5 {
        ann.organizations().await.unwrap();
    }
    assert_eq!(last_seen(&owner, "ann").await, old, "a request within the minute wrote again");

    // Another replica (its own memory) writes when the stored time is over a minute old...
    let s2 = TestServer::start_on(&s.database_url).await;
    s2.client.with_token(ann.token().unwrap()).me().await.unwrap();
    let moved = last_seen(&owner, "ann").await;
    assert!(moved > old && chrono::Utc::now() - moved < chrono::Duration::seconds(60), "{moved}");

    // ...but not when another replica recorded it less than a minute ago.
    let s3 = TestServer::start_on(&s.database_url).await;
    let recent = backdate(&s.database_url, "ann", "30 seconds").await;
    s3.client.with_token(ann.token().unwrap()).me().await.unwrap();
    assert_eq!(last_seen(&owner, "ann").await, recent, "the database-side guard let a second write through");
    s3.stop().await;
    s2.stop().await;
    s.stop().await;
}
