//! `agentry chats create|send|watch|interrupt|list|show|archive`.
//!
//! `create` and `send` follow the chat's stream and print the answer as it arrives: text
//! inline, each tool call on its own line (`→ name {args}`) and its outcome (`← ok` / `← error`),
//! retries and errors on standard error. They return when the chat is idle again (or stops with
//! an error, which makes the command fail).

use std::io::Write;

use agentry_client::agentry_sdk as sdk;
use agentry_client::{Client, EventStream};
use clap::Subcommand;
use uuid::Uuid;

use super::output::{print_list, print_one};
use super::{Out, Result, fmt, org_or_default};

#[derive(Subcommand)]
pub enum ChatsCommand {
    /// Start a chat in an organization and stream the answer.
    Create {
        prompt: String,
        /// Organization id or name; the default organization when absent.
        #[arg(long)]
        org: Option<String>,
        /// Bind a workspace (id, or name among your workspaces).
        #[arg(long)]
        workspace: Option<String>,
        /// Return once the chat is created instead of streaming the answer.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        out: Out,
    },
    /// Send a message (queued if the chat is busy) and stream the answer.
    Send {
        chat: Uuid,
        message: String,
        /// Stop the current turn instead of queueing behind it.
        #[arg(long)]
        interrupt: bool,
        #[arg(long)]
        no_wait: bool,
    },
    /// Follow a chat's events until interrupted.
    Watch { chat: Uuid },
    /// Stop the current turn.
    Interrupt { chat: Uuid },
    /// List chats: `--search owner:all archived:true organization:<org>`.
    List {
        #[arg(long, default_value = "")]
        search: String,
        #[command(flatten)]
        out: Out,
    },
    /// Show a chat and its history.
    Show {
        chat: Uuid,
        #[command(flatten)]
        out: Out,
    },
    /// Archive a chat (and its subagents).
    Archive { chat: Uuid },
}

const HEADERS: &[&str] = &["ID", "TITLE", "STATUS", "ORGANIZATION", "UPDATED"];

fn row(c: &sdk::Chat) -> Vec<String> {
    vec![c.id.to_string(), c.title.clone(), c.status.clone(), c.organization_id.to_string(), c.updated_at.to_rfc3339()]
}

fn text_content(t: &str) -> serde_json::Value {
    serde_json::json!([{"type": "text", "text": t}])
}

/// A workspace given by id, or by name among the caller's workspaces in `org`.
async fn resolve_workspace(c: &Client, org: Uuid, ws: &str) -> Result<Uuid> {
    if let Ok(id) = Uuid::parse_str(ws) {
        return Ok(id);
    }
    let list = c.workspaces("owner:me").await?;
    list.workspaces
        .iter()
        .find(|w| w.name == ws && w.organization_id == org)
        .map(|w| w.id)
        .ok_or_else(|| format!("no workspace named {ws:?} of yours in that organization").into())
}

pub async fn run(c: &Client, cmd: ChatsCommand) -> Result<()> {
    match cmd {
        ChatsCommand::Create { prompt, org, workspace, no_wait, out } => {
            let org = org_or_default(c, org).await?;
            let org = c.organization(&org).await?.id;
            let workspace_id = match workspace {
                Some(w) => Some(resolve_workspace(c, org, &w).await?),
                None => None,
            };
            let chat = c
                .create_chat(&sdk::CreateChatRequest {
                    organization_id: Some(org),
                    content: Some(text_content(&prompt)),
                    workspace_id,
                    ..Default::default()
                })
                .await?;
            if no_wait {
                return print_one(fmt(&out), &chat, HEADERS, row(&chat));
            }
            eprintln!("chat {} ({})", chat.id, chat.title);
            // Everything after the user's own message.
            let after = c.chat_messages(chat.id, None, Some(1)).await?.messages.first().map(|m| m.id).unwrap_or(0);
            follow(c, chat.id, after, true).await
        }
        ChatsCommand::Send { chat, message, interrupt, no_wait } => {
            let sent = c
                .send_chat_message(chat, &sdk::CreateChatMessageRequest {
                    content: Some(text_content(&message)),
                    busy_behavior: interrupt.then(|| "interrupt".to_string()),
                    ..Default::default()
                })
                .await?;
            if sent.queued {
                eprintln!("queued behind the current turn");
            }
            if no_wait {
                return Ok(());
            }
            let after = sent.message.map(|m| m.id).unwrap_or(0);
            let after = if after == 0 {
                c.chat_messages(chat, None, Some(1)).await?.messages.first().map(|m| m.id).unwrap_or(0)
            } else {
                after
            };
            follow(c, chat, after, true).await
        }
        ChatsCommand::Watch { chat } => {
            let after = c.chat_messages(chat, None, Some(1)).await?.messages.first().map(|m| m.id).unwrap_or(0);
            follow(c, chat, after, false).await
        }
        ChatsCommand::Interrupt { chat } => {
            let c2 = c.interrupt_chat(chat).await?;
            eprintln!("chat {} is {}", c2.id, c2.status);
            Ok(())
        }
        ChatsCommand::List { search, out } => {
            let chats = c.chats(&search).await?;
            let mut rows = Vec::new();
            for chat in &chats {
                rows.push(row(chat));
                for child in &chat.children {
                    let mut r = row(child);
                    r[1] = format!("  └ {}", r[1]);
                    rows.push(r);
                }
            }
            print_list(fmt(&out), &chats, HEADERS, rows)
        }
        ChatsCommand::Show { chat, out } => {
            let meta = c.chat(chat).await?;
            let history = c.chat_messages(chat, None, Some(200)).await?;
            if matches!(fmt(&out), super::output::Format::Json) {
                let v = serde_json::json!({"chat": meta, "messages": history.messages, "queued_messages": history.queued_messages});
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            println!("{} — {} [{}]", meta.title, meta.status, meta.id);
            if let Some(e) = &meta.last_error {
                println!("last error: {e}");
            }
            for m in history.messages.iter().rev() {
                println!("\n{}:", m.role);
                for p in m.content.as_array().into_iter().flatten() {
                    print_part(p);
                }
                println!();
            }
            for q in &history.queued_messages {
                println!("\nqueued: {}", q.content);
            }
            Ok(())
        }
        ChatsCommand::Archive { chat } => {
            c.update_chat(chat, &sdk::UpdateChatRequest { archived: Some(true), ..Default::default() }).await?;
            eprintln!("archived {chat}");
            Ok(())
        }
    }
}

/// Prints one stored part of a message.
fn print_part(p: &serde_json::Value) {
    match p["type"].as_str().unwrap_or("") {
        "text" => print!("{}", p["text"].as_str().unwrap_or("")),
        "reasoning" => print!("(thinking) {}", p["text"].as_str().unwrap_or("")),
        "tool-call" => print!("\n→ {} {}", p["tool_name"].as_str().unwrap_or("?"), p["args"]),
        "tool-result" => {
            let ok = if p["is_error"].as_bool().unwrap_or(false) { "error" } else { "ok" };
            print!("\n← {} {}: {}", p["tool_name"].as_str().unwrap_or("?"), ok, summarize(&p["result"]));
        }
        other => print!("[{other}]"),
    }
}

fn summarize(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 200 { format!("{}…", s.chars().take(200).collect::<String>()) } else { s }
}

/// Follows the chat's stream, printing live parts and finished tool messages. With
/// `until_idle`, returns once the chat is idle again after having run.
async fn follow(c: &Client, chat: Uuid, after: i64, until_idle: bool) -> Result<()> {
    let mut stream: EventStream<sdk::ChatStreamEvent> = c.stream_chat(chat, after).await?;
    let mut out = std::io::stdout();
    let mut ran = false;
    // Live text of the current step, so its final message is not printed twice.
    let mut streamed_text = false;
    while let Some(batch) = stream.next_batch().await {
        for e in batch? {
            match e.kind.as_str() {
                "message_part" => {
                    let part = e.message_part.as_ref().map(|m| &m["part"]).cloned().unwrap_or_default();
                    match part["type"].as_str() {
                        Some("text") => {
                            print!("{}", part["text"].as_str().unwrap_or(""));
                            streamed_text = true;
                        }
                        Some("tool-call") if part.get("args").is_some() => {
                            print!("\n→ {} {}", part["tool_name"].as_str().unwrap_or("?"), part["args"]);
                        }
                        _ => {}
                    }
                }
                "message" => {
                    let Some(m) = e.message else { continue };
                    match m.role.as_str() {
                        "tool" => {
                            for p in m.content.as_array().into_iter().flatten() {
                                print_part(p);
                            }
                            println!();
                        }
                        "assistant" if !streamed_text => {
                            for p in m.content.as_array().into_iter().flatten() {
                                print_part(p);
                            }
                        }
                        _ => {}
                    }
                    if m.role == "assistant" {
                        streamed_text = false;
                    }
                }
                "retry" => eprintln!("\n(provider busy, retrying: {})", e.retry.unwrap_or_default()),
                "error" => eprintln!("\nerror: {}", e.error.unwrap_or_default()),
                "action_required" => eprintln!("\nwaiting for client tool results: {}", e.action_required.unwrap_or_default()),
                "status" => {
                    let status = e.status.map(|s| s.status).unwrap_or_default();
                    match status.as_str() {
                        "pending" | "running" => ran = true,
                        "waiting" if until_idle && ran => {
                            println!();
                            stream.close().await;
                            return Ok(());
                        }
                        "error" if until_idle => {
                            println!();
                            let chat = c.chat(chat).await?;
                            return Err(format!("the chat stopped with an error: {}", chat.last_error.unwrap_or_default()).into());
                        }
                        "requires_action" if until_idle => {
                            println!();
                            return Ok(());
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
            out.flush()?;
        }
    }
    Ok(())
}
