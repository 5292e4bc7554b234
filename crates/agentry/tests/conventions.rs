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

/// The README's run command as root on a fresh machine: no `--data-dir`, so the default one,
/// with root's home 0700 as usual. The embedded PostgreSQL runs as the `postgres` system user,
/// which cannot enter a 0700 home; the server used to stop with "/root is not traversable by the
/// system user `postgres`". Root's default is now `/var/lib/agentry`. The server runs in a
/// bubblewrap mount namespace with a private, empty `/var/lib`, so the host's is not touched.
#[tokio::test]
async fn the_readme_run_works_as_root_with_a_0700_home_and_the_default_data_directory() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: this test is about running as root");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut cmd = std::process::Command::new("bwrap");
    cmd.args(["--dev-bind", "/", "/", "--tmpfs", "/var/lib", "--cap-add", "ALL", "--die-with-parent", "--"])
        .arg(env!("CARGO_BIN_EXE_agentry"))
        .args(["server", "--http-address", "127.0.0.1:0", "--chat-daemon", "false"])
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("AGENTRY_DATA_DIR")
        .env_remove("AGENTRY_POSTGRES_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    struct Guard(std::process::Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Guard(cmd.spawn().expect("spawn bwrap"));
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("agentry listening on ")
        .unwrap_or_else(|| panic!("the server did not start (first line {line:?}); see its log above"))
        .to_string();
    let owner = common::first_owner(&url).await;
    assert_eq!(owner.me().await.unwrap().username, "owner");
    // A graceful stop (SIGINT, as Ctrl-C) also stops the embedded database. The signal goes to
    // agentry itself, bubblewrap's child; bubblewrap exits with its status.
    let bwrap = server.0.id();
    let children = std::fs::read_to_string(format!("/proc/{bwrap}/task/{bwrap}/children")).unwrap();
    let agentry: i32 = children.split_whitespace().next().expect("bubblewrap runs agentry").parse().unwrap();
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(agentry, libc::SIGINT) };
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            assert!(status.success(), "the server exited with {status}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the server did not stop");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// PostgreSQL's text cannot hold a NUL character; before issue 12 one in a JSON body or a
/// query reached the database and came back as a 500 (found by schemathesis). It is the
/// client's error: 400 for a body or a query, 404 for a path (no name or id contains one).
#[tokio::test]
async fn a_nul_character_is_refused_before_it_reaches_the_database() {
    let s = TestServer::start_api_only().await;
    let (owner, _) = s.owner().await;
    let http = reqwest::Client::new();
    let token = owner.token().unwrap().to_string();
    let res = http
        .post(format!("{}/api/v2/organizations", s.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"name": "nul-org", "display_name": "a\u0000b"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["message"], "Request body must be valid JSON.");
    // The escaped backslash is ordinary text.
    let res = http
        .post(format!("{}/api/v2/organizations", s.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"name": "ok-org", "display_name": "a\\u0000b"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = http.get(format!("{}/api/v2/workspaces?q=%00", s.url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let res = http.get(format!("{}/api/v2/users/a%00b", s.url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 404);
    s.stop().await;
}
