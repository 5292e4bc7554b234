//! The `fakellm` binary: prints its address first, then serves the script and the default text.
//! Spoken to with raw HTTP/1.1 so this crate needs no HTTP client.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

async fn post(addr: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect to fakellm");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(60),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("response within 10 s")
    .unwrap();
    response
}

#[tokio::test]
async fn serves_the_script_then_the_default() {
    let dir = std::env::temp_dir().join(format!("fakellm-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("script.json");
    std::fs::write(
        &script,
        r#"[{"steps": [{"type": "text", "text": "Scripted answer"}, {"type": "tool_call", "id": "toolu_1", "name": "list_templates"}]},
            {"steps": [{"type": "error", "status": 429, "retry_after": 1}]}]"#,
    )
    .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_fakellm"))
        .args(["--listen", "127.0.0.1:0", "--script"])
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start fakellm");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        addr.starts_with("127.0.0.1:"),
        "first line is the address: {addr}"
    );

    let body = r#"{"model": "claude", "max_tokens": 100, "stream": true, "messages": [{"role": "user", "content": "hi"}]}"#;
    let first = post(&addr, "/v1/messages", body).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(first.contains("text/event-stream"));
    assert!(first.contains(r#""text":"Scripted ""#), "{first}");
    for fragment in [
        r#""type":"tool_use""#,
        r#""id":"toolu_1""#,
        r#""name":"list_templates""#,
    ] {
        assert!(first.contains(fragment), "{fragment} in {first}");
    }
    assert!(first.contains(r#""stop_reason":"tool_use""#), "{first}");
    assert!(first.contains("event: message_stop"));

    let second = post(&addr, "/v1/chat/completions", body).await;
    assert!(second.starts_with("HTTP/1.1 429"), "{second}");
    assert!(
        second.to_ascii_lowercase().contains("retry-after: 1"),
        "{second}"
    );

    let third = post(&addr, "/v1/chat/completions", body).await;
    assert!(third.contains(r#""content":"Hello ""#), "{third}");
    assert!(third.contains("data: [DONE]"), "{third}");

    child.kill().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn rejects_a_bad_script() {
    let dir = std::env::temp_dir().join(format!("fakellm-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("script.json");
    std::fs::write(&script, r#"[{"steps": [{"type": "sing"}]}]"#).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_fakellm"))
        .arg("--script")
        .arg(&script)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid script"));
    std::fs::remove_dir_all(&dir).unwrap();
}
