//! Ecosystem conventions (issue 12): compressed JSON answers, and chat streams that compression
//! does not hold back.

mod common;


use agentry_fakellm::{FakeLlm, Step, Turn};
use common::TestServer;
use common::chat::{WAIT, create_chat, setup_provider};
use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn json_answers_are_compressed_as_accepted_and_small_ones_are_not() {
    let s = TestServer::start_api_only().await;
    let http = reqwest::Client::new();
    let plain = http.get(format!("{}/api/v2/openapi.json", s.url)).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none(), "nothing accepted, nothing compressed");
    let plain_len = plain.bytes().await.unwrap().len();
    for (accept, coding) in [("br, gzip", "br"), ("gzip, deflate", "gzip")] {
        let res = http.get(format!("{}/api/v2/openapi.json", s.url)).header("accept-encoding", accept).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-encoding"], coding, "{accept}");
        assert_eq!(res.headers()["content-type"], "application/json");
        let len = res.bytes().await.unwrap().len();
        assert!(len * 4 < plain_len, "{accept}: {len} of {plain_len} bytes");
    }
    // Below 1 KiB an answer is sent as it is.
    let small = http.get(format!("{}/api/v2/buildinfo", s.url)).header("accept-encoding", "br, gzip").send().await.unwrap();
    assert_eq!(small.status(), 200);
    assert!(small.headers().get("content-encoding").is_none());
    s.stop().await;
}

/// Reads frames until one contains `needle`; panics on `forbidden` or at the deadline.
async fn read_until<S>(ws: &mut S, needle: &str, forbidden: Option<&str>)
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = tokio::time::timeout(left, ws.next()).await.unwrap_or_else(|_| panic!("no frame with {needle:?}"));
        let Some(Ok(Message::Text(t))) = frame else { continue };
        if let Some(f) = forbidden {
            assert!(!t.contains(f), "{f:?} arrived before {needle:?}: {t}");
        }
        if t.contains(needle) {
            return;
        }
    }
}

/// A browser asks for compression on the WebSocket handshake too. The stream must still deliver
/// each token as it comes: the first one arrives while the model is held before the second.
#[tokio::test]
async fn a_chat_streams_token_by_token_to_a_client_that_accepts_compression() {
    let s = TestServer::start().await;
    let (owner, first) = s.owner().await;
    owner.update_member_roles(&first.organization_id.to_string(), "owner", &["agents-access"]).await.unwrap();
    let fake = FakeLlm::start().await;
    setup_provider(&owner, &fake).await;
    fake.push_turn(Turn::new(vec![Step::text("tokenone "), Step::gate("rest"), Step::text("tokentwo")]));
    let chat = create_chat(&owner, first.organization_id, "hello").await;
    let url = format!("{}/api/experimental/chats/{}/stream?after_id=0", s.url.replacen("http://", "ws://", 1), chat.id);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {}", owner.token().unwrap()).parse().unwrap());
    req.headers_mut().insert("accept-encoding", "gzip, deflate, br".parse().unwrap());
    let (mut ws, res) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert!(res.headers().get("content-encoding").is_none(), "a WebSocket handshake is never compressed");
    read_until(&mut ws, "tokenone", Some("tokentwo")).await;
    fake.open_gate("rest");
    read_until(&mut ws, "tokentwo", None).await;
    s.stop().await;
}
