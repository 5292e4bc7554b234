//! Organizations own their AI (issue 14 items 1, 2 and 6; issue 15 defect 10): organization
//! providers and models, which organization may use which model, the organization's default
//! model, several providers of one type, the audit trail, and `agentry models list --org`.
//! Real servers on real PostgreSQL; the model runs go to the fake provider over HTTP.

mod common;

use agentry_sdk::ClientError;

use std::process::Command;

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use agentry_fakellm::{FakeLlm, Step, Turn};
use common::chat::{WAIT, text, wait_status};
use common::{PASSWORD, TestServer, expect_error, expect_status};
use serde_json::json;
use uuid::Uuid;

/// Orgs A and B; bob (agents-access in B), alice (agents-access in A), admin_a and admin_b
/// (organization admins of A and B).
struct World {
    s: TestServer,
    owner: Client,
    a: sdk::Organization,
    b: sdk::Organization,
    alice: Client,
    bob: Client,
    admin_a: Client,
    admin_b: Client,
}

async fn world(s: TestServer) -> World {
    let (owner, _) = s.owner().await;
    let a = s.org(&owner, "org-a").await;
    let b = s.org(&owner, "org-b").await;
    let (alice, _) = s.user(&owner, "alice", &[a.id]).await;
    owner.update_member_roles(&a.id.to_string(), "alice", &["agents-access"]).await.unwrap();
    let (bob, _) = s.user(&owner, "bob", &[b.id]).await;
    owner.update_member_roles(&b.id.to_string(), "bob", &["agents-access"]).await.unwrap();
    let (admin_a, _) = s.user(&owner, "admin-a", &[a.id]).await;
    owner.update_member_roles(&a.id.to_string(), "admin-a", &["organization-admin", "agents-access"]).await.unwrap();
    let (admin_b, _) = s.user(&owner, "admin-b", &[b.id]).await;
    owner.update_member_roles(&b.id.to_string(), "admin-b", &["organization-admin"]).await.unwrap();
    World { s, owner, a, b, alice, bob, admin_a, admin_b }
}

fn model_req(model: &str) -> sdk::CreateChatModelConfigRequest {
    sdk::CreateChatModelConfigRequest { provider: "openai-compat".into(), model: model.into(), ..Default::default() }
}

fn provider_req(name: &str, base_url: &str, org: Option<Uuid>) -> sdk::CreateChatProviderRequest {
    sdk::CreateChatProviderRequest {
        provider: "openai-compat".into(),
        display_name: Some(name.into()),
        base_url: Some(base_url.into()),
        organization_id: org,
        ..Default::default()
    }
}

/// The ids of the models `c` may use in `org`.
async fn usable(c: &Client, org: Uuid) -> Vec<Uuid> {
    let resp = c.chat_models_in(Some(org)).await.unwrap();
    resp.providers.iter().flat_map(|p| p.models.iter().map(|m| m.id)).collect()
}

fn chat_req(org: Uuid, model: Option<Uuid>, prompt: &str) -> sdk::CreateChatRequest {
    sdk::CreateChatRequest { organization_id: Some(org), content: Some(text(prompt)), model_config_id: model, ..Default::default() }
}

fn msg(prompt: &str, model: Option<Uuid>) -> sdk::CreateChatMessageRequest {
    sdk::CreateChatMessageRequest { content: Some(text(prompt)), model_config_id: model, busy_behavior: None }
}

fn limit_to(orgs: Option<Vec<Uuid>>) -> sdk::UpdateChatModelConfigRequest {
    sdk::UpdateChatModelConfigRequest { organization_ids: Some(orgs), ..Default::default() }
}

#[tokio::test]
async fn an_org_that_may_not_use_a_model_cannot_create_or_post_with_it_and_does_not_see_it() {
    let w = world(TestServer::start_api_only().await).await;
    let everyone = w.owner.create_chat_model_config(&model_req("m-everyone")).await.unwrap();
    assert_eq!(everyone.organization_ids, None, "site-wide models are for every organization by default");
    let only_a = w
        .owner
        .create_chat_model_config(&sdk::CreateChatModelConfigRequest {
            organization_ids: Some(vec![w.a.id]),
            ..model_req("m-only-a")
        })
        .await
        .unwrap();
    assert_eq!(only_a.organization_ids, Some(vec![w.a.id]));
    assert_eq!(only_a.organization_id, None);

    // The list per organization: A sees both, B only the open one.
    let in_a = usable(&w.alice, w.a.id).await;
    assert!(in_a.contains(&everyone.id) && in_a.contains(&only_a.id), "{in_a:?}");
    assert_eq!(usable(&w.bob, w.b.id).await, vec![everyone.id]);

    // B's member cannot create or post with the model of A.
    expect_error(w.bob.create_chat(&chat_req(w.b.id, Some(only_a.id), "hi")).await, ClientError::ModelNotInOrganization);
    let chat = w.bob.create_chat(&chat_req(w.b.id, None, "hi")).await.unwrap();
    assert_eq!(chat.last_model_config_id, everyone.id);
    expect_error(w.bob.send_chat_message(chat.id, &msg("switch", Some(only_a.id))).await, ClientError::ModelNotInOrganization);
    assert_eq!(w.bob.chat(chat.id).await.unwrap().last_model_config_id, everyone.id, "no switch happened");

    // Withdrawing the model from B: posting and editing with it are refused, and it leaves
    // B's list.
    w.owner.update_chat_model_config(everyone.id, &limit_to(Some(vec![w.a.id]))).await.unwrap();
    assert!(usable(&w.bob, w.b.id).await.is_empty());
    expect_error(w.bob.send_chat_message(chat.id, &msg("again", None)).await, ClientError::ModelNotInOrganization);
    let first = w.bob.chat_messages(chat.id, None, None).await.unwrap().messages.into_iter().find(|m| m.role == sdk::MessageRole::User).unwrap();
    expect_error(
        w.bob.edit_chat_message(chat.id, first.id, &sdk::EditChatMessageRequest { content: Some(text("edited")) }).await,
        ClientError::ModelNotInOrganization,
    );
    // The default model is not available in B any more either: no chat starts silently on
    // another model.
    expect_error(w.bob.create_chat(&chat_req(w.b.id, None, "hi")).await, ClientError::ModelNotInOrganization);
    // Back to every organization: B may use it again.
    w.owner.update_chat_model_config(everyone.id, &limit_to(None)).await.unwrap();
    w.bob.send_chat_message(chat.id, &msg("again", None)).await.unwrap();

    // Only people who may create chats in an organization may list its models: a non-member
    // learns nothing (404), a member without agents-access is refused (403).
    expect_status(w.bob.chat_models_in(Some(w.a.id)).await, 404);
    expect_status(w.alice.chat_models_in(Some(Uuid::now_v7())).await, 404);
    let (plain, _) = w.s.user(&w.owner, "plain", &[w.a.id]).await;
    expect_status(plain.chat_models_in(Some(w.a.id)).await, 403);
    // A non-site-admin never sees which other organizations a model is limited to.
    let seen = w.bob.chat_model_configs().await.unwrap();
    assert!(seen.iter().all(|m| m.organization_ids.as_ref().is_none_or(|l| !l.contains(&w.a.id))), "{seen:?}");

    // Every change is audited.
    let audit = w.owner.audit_logs(100, 0).await.unwrap().audit_logs;
    let model_writes: Vec<_> =
        audit.iter().filter(|e| e.resource_type == "chat_model_config" && e.resource_id == everyone.id && e.action == "write").collect();
    assert_eq!(model_writes.len(), 2, "{model_writes:?}");
    assert!(model_writes.iter().any(|e| e.diff["organization_ids"] == json!([w.a.id])), "{model_writes:?}");
    w.s.stop().await;
}

#[tokio::test]
async fn an_org_provider_and_its_models_are_invisible_to_other_orgs_and_their_chats() {
    let w = world(TestServer::start_api_only().await).await;
    let site = w.owner.create_chat_model_config(&model_req("site-model")).await.unwrap();

    // Org admins manage their organization's providers; site-wide ones stay the site owner's.
    expect_status(w.admin_a.create_chat_provider(&provider_req("Mine", "http://127.0.0.1:9/v1", None)).await, 403);
    let prov = w
        .admin_a
        .create_chat_provider(&sdk::CreateChatProviderRequest {
            api_key: Some("secret-key".into()),
            ..provider_req("A's compat", "http://127.0.0.1:9/v1", Some(w.a.id))
        })
        .await
        .unwrap();
    assert_eq!(prov.organization_id, Some(w.a.id));
    assert!(prov.has_api_key);
    // Creating a provider in someone else's organization reveals nothing about it.
    expect_status(w.admin_b.create_chat_provider(&provider_req("Sneaky", "http://127.0.0.1:9/v1", Some(w.a.id))).await, 404);
    expect_status(w.bob.create_chat_provider(&provider_req("Sneaky", "http://127.0.0.1:9/v1", Some(w.b.id))).await, 403);

    assert_eq!(w.admin_a.chat_providers().await.unwrap().iter().map(|p| p.id).collect::<Vec<_>>(), vec![prov.id]);
    assert!(w.admin_b.chat_providers().await.unwrap().is_empty());
    assert!(w.owner.chat_providers().await.unwrap().iter().any(|p| p.id == prov.id), "the site owner sees every provider");
    let raw = w.admin_a.request(reqwest::Method::GET, "/api/experimental/chats/providers").send().await.unwrap().text().await.unwrap();
    assert!(!raw.contains("secret-key"), "keys are never returned: {raw}");
    let patch = sdk::UpdateChatProviderRequest { display_name: Some("taken".into()), ..Default::default() };
    expect_status(w.admin_b.update_chat_provider(prov.id, &patch).await, 404);
    expect_status(w.admin_b.delete_chat_provider(prov.id).await, 404);

    // A model on A's provider, owned by A.
    let model = w
        .admin_a
        .create_chat_model_config(&sdk::CreateChatModelConfigRequest {
            provider_id: Some(prov.id),
            organization_id: Some(w.a.id),
            ..model_req("a-model")
        })
        .await
        .unwrap();
    assert_eq!((model.organization_id, model.provider_id), (Some(w.a.id), Some(prov.id)));
    assert_eq!(model.provider_display_name.as_deref(), Some("A's compat"));
    assert!(!model.is_default, "an organization's model is never the site default");
    // B's admin can neither build on A's provider nor touch A's model.
    let steal = sdk::CreateChatModelConfigRequest { provider_id: Some(prov.id), organization_id: Some(w.b.id), ..model_req("stolen") };
    expect_error(w.admin_b.create_chat_model_config(&steal).await, ClientError::ProviderNotFound);
    // Nor may a site-wide model run on an organization's provider.
    let site_on_org = sdk::CreateChatModelConfigRequest { provider_id: Some(prov.id), ..model_req("leaky") };
    expect_error(w.owner.create_chat_model_config(&site_on_org).await, ClientError::ProviderNotFound);
    let rename = sdk::UpdateChatModelConfigRequest { display_name: Some("mine now".into()), ..Default::default() };
    expect_status(w.admin_b.update_chat_model_config(model.id, &rename).await, 404);
    expect_status(w.admin_b.delete_chat_model_config(model.id).await, 404);
    // An org model has no organization list (it is its organization's alone).
    expect_error(w.admin_a.update_chat_model_config(model.id, &limit_to(Some(vec![w.b.id]))).await, ClientError::OrganizationListOnOrgModel);
    // The organization's admins cannot change which organizations may use a site-wide model.
    expect_status(w.admin_a.update_chat_model_config(site.id, &limit_to(Some(vec![w.a.id]))).await, 404);
    assert!(!w.admin_b.chat_model_configs().await.unwrap().iter().any(|m| m.id == model.id));

    // Usable in A only.
    assert!(usable(&w.alice, w.a.id).await.contains(&model.id));
    let listed = w.alice.chat_models_in(Some(w.a.id)).await.unwrap();
    let group = listed.providers.iter().find(|p| p.provider_id == Some(prov.id)).unwrap();
    assert_eq!(group.display_name.as_deref(), Some("A's compat"), "the Models list shows the provider's name");
    assert!(!usable(&w.bob, w.b.id).await.contains(&model.id));
    expect_error(w.bob.create_chat(&chat_req(w.b.id, Some(model.id), "hi")).await, ClientError::ModelNotInOrganization);

    // Defaults: A's admin picks A's model; B's admin cannot touch A's default (404) nor pick
    // a model B may not use.
    let d = w.admin_a.set_org_chat_default_model(&w.a.id.to_string(), Some(model.id)).await.unwrap();
    assert_eq!(d.model_config_id, Some(model.id));
    expect_status(w.admin_b.set_org_chat_default_model(&w.a.id.to_string(), Some(site.id)).await, 404);
    expect_status(w.admin_b.org_chat_default_model(&w.a.id.to_string()).await, 404);
    expect_error(
        w.admin_b.set_org_chat_default_model(&w.b.id.to_string(), Some(model.id)).await,
        ClientError::ModelNotInOrganization,
    );
    expect_status(w.alice.set_org_chat_default_model(&w.a.id.to_string(), None).await, 403);
    let chat = w.alice.create_chat(&chat_req(w.a.id, None, "hi")).await.unwrap();
    assert_eq!(chat.last_model_config_id, model.id, "A's default applies to A's new chats");
    let listed = w.alice.chat_models_in(Some(w.a.id)).await.unwrap();
    let first = listed.providers.iter().flat_map(|p| &p.models).next().unwrap();
    assert_eq!(first.id, model.id, "the organization's default is marked and listed first");
    assert!(first.is_default);
    let chat_b = w.bob.create_chat(&chat_req(w.b.id, None, "hi")).await.unwrap();
    assert_eq!(chat_b.last_model_config_id, site.id, "B keeps the site default");

    // The audit log has each change, in its organization.
    let audit = w.owner.audit_logs(200, 0).await.unwrap().audit_logs;
    for (rtype, id) in [("chat_provider", prov.id), ("chat_model_config", model.id), ("chat_org_settings", w.a.id)] {
        let e = audit.iter().find(|e| e.resource_type == rtype && e.resource_id == id).unwrap_or_else(|| panic!("no audit entry for {rtype}"));
        assert_eq!(e.organization_id, Some(w.a.id), "{e:?}");
        assert!(!e.diff.to_string().contains("secret-key"), "{e:?}");
    }
    // A's admin reads A's entries; B's admin does not.
    let seen_b = w.admin_b.audit_logs(200, 0).await.map(|r| r.audit_logs).unwrap_or_default();
    assert!(!seen_b.iter().any(|e| e.resource_id == prov.id), "{seen_b:?}");

    // A provider or model for an organization that does not exist: not found, not a crash.
    let ghost = Some(Uuid::now_v7());
    expect_status(w.owner.create_chat_provider(&provider_req("Ghost", "http://127.0.0.1:9/v1", ghost)).await, 404);
    let ghost_model = sdk::CreateChatModelConfigRequest { organization_id: ghost, ..model_req("ghost") };
    expect_status(w.owner.create_chat_model_config(&ghost_model).await, 404);

    // Deleting the provider deletes its models with it.
    w.admin_a.delete_chat_provider(prov.id).await.unwrap();
    assert!(!usable(&w.alice, w.a.id).await.contains(&model.id));
    // An organization with its own providers, models, default and chats can still be deleted.
    let prov2 = w.admin_a.create_chat_provider(&provider_req("Again", "http://127.0.0.1:9/v1", Some(w.a.id))).await.unwrap();
    let m2 = sdk::CreateChatModelConfigRequest { provider_id: Some(prov2.id), organization_id: Some(w.a.id), ..model_req("a2") };
    let m2 = w.admin_a.create_chat_model_config(&m2).await.unwrap();
    w.admin_a.set_org_chat_default_model(&w.a.id.to_string(), Some(m2.id)).await.unwrap();
    w.alice.create_chat(&chat_req(w.a.id, None, "on a2")).await.unwrap();
    w.owner.delete_organization(&w.a.id.to_string()).await.unwrap();
    assert!(!w.owner.chat_providers().await.unwrap().iter().any(|p| p.id == prov2.id));
    w.s.stop().await;
}

#[tokio::test]
async fn several_providers_of_one_type_with_distinct_names() {
    let w = world(TestServer::start_api_only().await).await;
    let fast = w.owner.create_chat_provider(&provider_req("Fast", "http://127.0.0.1:9/v1", None)).await.unwrap();
    let local = w.owner.create_chat_provider(&provider_req("Local", "http://127.0.0.1:10/v1", None)).await.unwrap();
    assert_ne!(fast.id, local.id);
    expect_error(w.owner.create_chat_provider(&provider_req("Local", "http://127.0.0.1:11/v1", None)).await, ClientError::ProviderExists);
    // Renaming onto a taken name is the same conflict.
    let rename = sdk::UpdateChatProviderRequest { display_name: Some("Fast".into()), ..Default::default() };
    expect_error(w.owner.update_chat_provider(local.id, &rename).await, ClientError::ProviderExists);

    // By type alone the provider is ambiguous now; by id it is not.
    expect_error(w.owner.create_chat_model_config(&model_req("m")).await, ClientError::AmbiguousProvider);
    let m = w
        .owner
        .create_chat_model_config(&sdk::CreateChatModelConfigRequest { provider_id: Some(local.id), ..model_req("m") })
        .await
        .unwrap();
    assert_eq!((m.provider_id, m.provider_display_name.as_deref(), m.provider.as_str()), (Some(local.id), Some("Local"), "openai-compat"));
    // The provider id alone is enough (the type follows from it).
    let n = w
        .owner
        .create_chat_model_config(&sdk::CreateChatModelConfigRequest { provider: String::new(), provider_id: Some(fast.id), ..model_req("m") })
        .await
        .unwrap();
    assert_eq!(n.provider_display_name.as_deref(), Some("Fast"));
    // Same model on another provider is distinct; on the same one it is a duplicate.
    expect_error(
        w.owner.create_chat_model_config(&sdk::CreateChatModelConfigRequest { provider_id: Some(local.id), ..model_req("m") }).await,
        ClientError::ModelConfigExists,
    );
    let models = w.alice.chat_models_in(Some(w.a.id)).await.unwrap();
    let names: Vec<_> = models.providers.iter().map(|p| p.display_name.clone().unwrap_or_default()).collect();
    assert!(names.contains(&"Fast".to_string()) && names.contains(&"Local".to_string()), "{names:?}");

    // The context limit is a positive integer: a string is a 400, not silently 128000.
    for bad in [json!("abc"), json!(0), json!(-5), json!(1.5)] {
        let res = w
            .owner
            .request(reqwest::Method::POST, "/api/experimental/chats/model-configs")
            .json(&json!({"provider_id": local.id, "model": "ctx", "context_limit": bad}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "context_limit {bad}: {}", res.text().await.unwrap());
    }
    assert!(!w.owner.chat_model_configs().await.unwrap().iter().any(|m| m.model == "ctx"));
    w.s.stop().await;
}

#[tokio::test]
async fn new_organizations_get_what_the_deployment_setting_says() {
    let w = world(TestServer::start_api_only().await).await;
    let m = w.owner.create_chat_model_config(&model_req("m")).await.unwrap();
    assert_eq!(w.owner.chat_model_access().await.unwrap().new_organizations, "all");
    let c = w.s.org(&w.owner, "org-c").await;
    w.owner.add_member(&c.id.to_string(), "alice").await.unwrap();
    w.owner.update_member_roles(&c.id.to_string(), "alice", &["agents-access"]).await.unwrap();
    assert_eq!(usable(&w.alice, c.id).await, vec![m.id], "all: a new organization may use every open model");

    expect_error(w.owner.set_chat_model_access("some").await, ClientError::InvalidNewOrgModels);
    expect_status(w.admin_a.set_chat_model_access("none").await, 403);
    w.owner.set_chat_model_access("none").await.unwrap();
    let d = w.s.org(&w.owner, "org-d").await;
    w.owner.add_member(&d.id.to_string(), "alice").await.unwrap();
    w.owner.update_member_roles(&d.id.to_string(), "alice", &["agents-access"]).await.unwrap();
    assert!(usable(&w.alice, d.id).await.is_empty(), "none: a new organization starts without site-wide models");
    assert_eq!(usable(&w.alice, c.id).await, vec![m.id], "existing organizations keep theirs");
    // The site owner enables the model for it.
    let cfg = w.owner.chat_model_configs().await.unwrap().into_iter().find(|x| x.id == m.id).unwrap();
    let mut list = cfg.organization_ids.unwrap();
    list.push(d.id);
    w.owner.update_chat_model_config(m.id, &limit_to(Some(list))).await.unwrap();
    assert_eq!(usable(&w.alice, d.id).await, vec![m.id]);
    let audit = w.owner.audit_logs(100, 0).await.unwrap().audit_logs;
    assert!(audit.iter().any(|e| e.resource_type == "chat_model_access" && e.diff["new_organizations"] == "none"));
    w.s.stop().await;
}

#[tokio::test]
async fn withdrawing_a_model_errors_the_next_turn_and_org_providers_serve_their_chats() {
    let w = world(TestServer::start().await).await;
    let site_fake = FakeLlm::start().await;
    let org_fake = FakeLlm::start().await;
    w.owner.create_chat_provider(&provider_req("Site", &site_fake.openai_base_url(), None)).await.unwrap();
    let site_model = w.owner.create_chat_model_config(&model_req("fake-model")).await.unwrap();
    let prov = w.admin_a.create_chat_provider(&provider_req("A's own", &org_fake.openai_base_url(), Some(w.a.id))).await.unwrap();
    let a_model = w
        .admin_a
        .create_chat_model_config(&sdk::CreateChatModelConfigRequest {
            provider_id: Some(prov.id),
            organization_id: Some(w.a.id),
            ..model_req("a-model")
        })
        .await
        .unwrap();

    // A chat on A's model runs on A's provider (not the site-wide one of the same type).
    org_fake.push_turn(Turn::text("from A's provider"));
    let chat = w.alice.create_chat(&chat_req(w.a.id, Some(a_model.id), "hello")).await.unwrap();
    let done = wait_status(&w.alice, chat.id, |s| matches!(s, sdk::ChatStatus::Waiting | sdk::ChatStatus::Error)).await;
    assert_eq!(done.status, sdk::ChatStatus::Waiting, "{:?}", done.last_error);
    assert_eq!(org_fake.requests().len(), 1);
    assert!(site_fake.requests().is_empty());

    // Withdrawal mid-use: a turn is running on the site model with a follow-up queued; the
    // model is withdrawn from A; the running step finishes, the next turn errors with the
    // message and the provider is not called again.
    site_fake.push_turn(Turn::new(vec![Step::text("first "), Step::gate("withdraw"), Step::text("answer")]));
    let chat = w.alice.create_chat(&chat_req(w.a.id, Some(site_model.id), "long task")).await.unwrap();
    site_fake.wait_for_requests(1, WAIT).await;
    let queued = w.alice.send_chat_message(chat.id, &msg("and then?", None)).await.unwrap();
    assert!(queued.queued, "{queued:?}");
    w.owner.update_chat_model_config(site_model.id, &limit_to(Some(vec![w.b.id]))).await.unwrap();
    site_fake.open_gate("withdraw");
    let ended = wait_status(&w.alice, chat.id, |s| s == sdk::ChatStatus::Error).await;
    assert_eq!(ended.last_error.as_deref(), Some(ClientError::ModelNotInOrganization.message().as_str()));
    assert_eq!(ended.last_model_config_id, site_model.id, "no silent switch to another model");
    assert_eq!(site_fake.requests().len(), 1, "the withdrawn model was not called again");

    // Title regeneration obeys the same rule (refused, no other model used).
    expect_error(w.alice.regenerate_chat_title(chat.id).await, ClientError::ModelNotInOrganization);
    assert_eq!(site_fake.requests().len(), 1);
    w.s.stop().await;
}

#[tokio::test]
async fn a_subagent_does_not_run_on_a_model_withdrawn_from_its_organization() {
    let w = world(TestServer::start().await).await;
    let fake = FakeLlm::start().await;
    w.owner.create_chat_provider(&provider_req("Site", &fake.openai_base_url(), None)).await.unwrap();
    let m = w.owner.create_chat_model_config(&model_req("fake-model")).await.unwrap();
    // The parent's first step asks for a subagent; before the parent's next model call the
    // model is withdrawn from A.
    fake.push_turn(Turn::new(vec![
        Step::gate("spawn"),
        Step::tool_call("spawn_agent", json!({"title": "helper", "prompt": "do the thing"})),
    ]));
    let chat = w.alice.create_chat(&chat_req(w.a.id, None, "delegate")).await.unwrap();
    fake.wait_for_requests(1, WAIT).await;
    w.owner.update_chat_model_config(m.id, &limit_to(Some(vec![w.b.id]))).await.unwrap();
    fake.open_gate("spawn");
    let ended = wait_status(&w.alice, chat.id, |s| s == sdk::ChatStatus::Error).await;
    assert_eq!(ended.last_error.as_deref(), Some(ClientError::ModelNotInOrganization.message().as_str()));
    // Any child that was created did not reach the provider either.
    assert_eq!(fake.requests().len(), 1, "{:?}", fake.requests().iter().map(|r| r.body.to_string()).collect::<Vec<_>>());
    w.s.stop().await;
}

fn agentry(config: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agentry"))
        .args(args)
        .env("AGENTRY_CONFIG_DIR", config)
        .env_remove("AGENTRY_URL")
        .env_remove("AGENTRY_SESSION_TOKEN")
        .output()
        .expect("run agentry");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_lists_the_models_of_an_organization() {
    let w = world(TestServer::start_api_only().await).await;
    w.owner.create_chat_provider(&provider_req("Team compat", "http://127.0.0.1:9/v1", None)).await.unwrap();
    let open = w.owner.create_chat_model_config(&model_req("open-model")).await.unwrap();
    let only_a = w
        .owner
        .create_chat_model_config(&sdk::CreateChatModelConfigRequest { organization_ids: Some(vec![w.a.id]), ..model_req("a-only") })
        .await
        .unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let (ok, _, err) = agentry(cfg.path(), &["login", &w.s.url, "--email", "alice@example.com", "--password", PASSWORD]);
    assert!(ok, "{err}");
    let (ok, out, err) = agentry(cfg.path(), &["models", "list", "--org", "org-a", "-o", "json"]);
    assert!(ok, "{err}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = listed.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&open.id.to_string().as_str()) && ids.contains(&only_a.id.to_string().as_str()), "{out}");
    let (ok, table, err) = agentry(cfg.path(), &["models", "list", "--org", "org-a"]);
    assert!(ok, "{err}");
    assert!(table.starts_with("ID") && table.contains("Team compat") && table.contains("a-only"), "{table}");

    // In B (bob's organization) the model limited to A is not listed; alice may not list B's.
    let bob_cfg = tempfile::tempdir().unwrap();
    let (ok, _, err) = agentry(bob_cfg.path(), &["login", &w.s.url, "--email", "bob@example.com", "--password", PASSWORD]);
    assert!(ok, "{err}");
    let (ok, out, err) = agentry(bob_cfg.path(), &["models", "list", "--org", &w.b.id.to_string(), "-o", "json"]);
    assert!(ok, "{err}");
    assert!(!out.contains(&only_a.id.to_string()) && out.contains(&open.id.to_string()), "{out}");
    let (ok, _, _) = agentry(cfg.path(), &["models", "list", "--org", &w.b.id.to_string()]);
    assert!(!ok, "alice is not in B");
    w.s.stop().await;
}
