//! `files::link` refuses a file of another organization inside the transaction that links
//! it, whatever the caller checked before (it used to trust the API to have checked).

mod common;

use std::str::FromStr;

use agentry_store::chats::messages::BusyBehavior;
use agentry_store::chats::models::{ModelConfigInput, ProviderInput};
use agentry_store::chats::{ChatExtras, NewChat, NewContent};
use agentry_store::users::NewUser;
use agentry_store::{ClientError, Store, StoreError};
use agentry_types::Part;
use sqlx::postgres::PgConnectOptions;

async fn fresh_store() -> Store {
    let url = common::fresh_database().await;
    let store = Store::connect(PgConnectOptions::from_str(&url).unwrap(), 4).await.unwrap();
    store.migrate().await.unwrap();
    store
}

#[tokio::test]
async fn a_file_of_another_organization_is_never_linked() {
    let store = fresh_store().await;
    let new = NewUser { email: "o@example.com", username: "owner", name: "", hashed_password: "x".into() };
    let (owner, _) = store.auth().create_first_user(&new).await.unwrap();
    let subject = store.worker().subject_for(owner.id).await.unwrap();
    let actor = store.actor(&subject);
    let other = actor.create_organization("other", "Other", "").await.unwrap();
    let subject = store.worker().subject_for(owner.id).await.unwrap();
    let actor = store.actor(&subject);
    let provider = ProviderInput { provider: Some("openai".into()), api_key: Some("k".into()), ..Default::default() };
    actor.create_provider(&provider).await.unwrap();
    let model = ModelConfigInput {
        provider: Some("openai".into()),
        model: Some("m".into()),
        is_default: Some(true),
        ..Default::default()
    };
    actor.create_model_config(&model).await.unwrap();
    let default_org = owner.organization_ids.iter().copied().find(|o| *o != other.id).unwrap();
    let chat = actor
        .create_chat(NewChat {
            organization_id: Some(default_org),
            content: Ok(NewContent { parts: vec![Part::text("hi")], title: "hi".into() }),
            system_prompt: None,
            workspace_id: None,
            model_config_id: None,
            extras: Ok(ChatExtras::default()),
        })
        .await
        .unwrap();
    let foreign = actor.upload_chat_file(other.id, "a.txt", "text/plain", b"x").await.unwrap();

    // The file ids travel beside the content: a caller that skipped the check is still refused.
    let content = Part::content(&[Part::text("see the file")]);
    let e = actor.send_message(chat.id, content, None, BusyBehavior::Queue, &[foreign.id]).await.unwrap_err();
    assert!(matches!(e, StoreError::Client(ClientError::FileInOtherOrganization { index: 0 })), "{e:?}");

    // And create refuses a file part of another organization at its place in the order.
    let e = actor
        .create_chat(NewChat {
            organization_id: Some(default_org),
            content: Ok(NewContent {
                parts: vec![Part::File { file_id: foreign.id, media_type: None, name: None }],
                title: "f".into(),
            }),
            system_prompt: None,
            workspace_id: None,
            model_config_id: None,
            extras: Ok(ChatExtras::default()),
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Client(ClientError::FileInOtherOrganization { index: 0 })), "{e:?}");
}
