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
    vec![c.id.to_string(), c.title.clone(), c.status.to_string(), c.organization_id.to_string(), c.updated_at.to_rfc3339()]
}

fn text_content(t: &str) -> serde_json::Value {
    sdk::Part::content(&[sdk::Part::text(t)])
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
                for p in sdk::Part::parse_content(&m.content) {
                    print_part(&p);
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
fn print_part(p: &sdk::Part) {
    match p {
        sdk::Part::Text { text } => print!("{text}"),
        sdk::Part::Reasoning { text } => print!("(thinking) {text}"),
        sdk::Part::ToolCall { tool_name, args, .. } => {
            print!("\n→ {tool_name} {}", args.clone().unwrap_or(serde_json::Value::Null))
        }
        sdk::Part::ToolResult { tool_name, result, is_error, .. } => {
            let ok = if *is_error { "error" } else { "ok" };
            print!("\n← {tool_name} {ok}: {}", summarize(result));
        }
        sdk::Part::File { .. } => print!("[file]"),
        sdk::Part::FileReference { .. } => print!("[file-reference]"),
    }
}

/// A payload as the compact JSON the CLI prints.
fn json_text(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
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
            match e {
                sdk::ChatStreamEvent::MessagePart { message_part, .. } => match message_part.part {
                    sdk::Part::Text { text } => {
                        print!("{text}");
                        streamed_text = true;
                    }
                    sdk::Part::ToolCall { tool_name, args: Some(args), .. } => print!("\n→ {tool_name} {args}"),
                    _ => {}
                },
                sdk::ChatStreamEvent::Message { message: m, .. } => {
                    match m.role {
                        sdk::MessageRole::Tool => {
                            for p in sdk::Part::parse_content(&m.content) {
                                print_part(&p);
                            }
                            println!();
                        }
                        sdk::MessageRole::Assistant if !streamed_text => {
                            for p in sdk::Part::parse_content(&m.content) {
                                print_part(&p);
                            }
                        }
                        _ => {}
                    }
                    if m.role == sdk::MessageRole::Assistant {
                        streamed_text = false;
                    }
                }
                sdk::ChatStreamEvent::Retry { retry, .. } => eprintln!("\n(provider busy, retrying: {})", json_text(&retry)),
                sdk::ChatStreamEvent::Error { error, .. } => eprintln!("\nerror: {}", json_text(&error)),
                sdk::ChatStreamEvent::ActionRequired { action_required, .. } => {
                    eprintln!("\nwaiting for client tool results: {}", json_text(&action_required))
                }
                sdk::ChatStreamEvent::Status { status, .. } => match status.status {
                    sdk::ChatStatus::Pending | sdk::ChatStatus::Running => ran = true,
                    sdk::ChatStatus::Waiting if until_idle && ran => {
                        println!();
                        stream.close().await;
                        return Ok(());
                    }
                    sdk::ChatStatus::Error if until_idle => {
                        println!();
                        let chat = c.chat(chat).await?;
                        return Err(format!("the chat stopped with an error: {}", chat.last_error.unwrap_or_default()).into());
                    }
                    sdk::ChatStatus::RequiresAction if until_idle => {
                        println!();
                        return Ok(());
                    }
                    _ => {}
                },
                sdk::ChatStreamEvent::QueueUpdate { .. } => {}
            }
            out.flush()?;
        }
    }
    Ok(())
}
