//! One turn of one chat: the step loop.
//!
//! Each step streams one model call (publishing text, reasoning and tool-call deltas as live
//! parts), runs the built-in tool calls in parallel as the chat owner, and saves the assistant
//! message and the tool results in one fenced transaction. It repeats while the model called
//! built-in tools, up to `max_steps`. Calls of client-side (dynamic) tools end the turn in
//! `requires_action`. An interrupt saves what the step produced so far, with an error result
//! for every tool call that did not finish; a shutdown hands the chat back without saving, so
//! the step is redone by whichever replica claims it next.
//!
//! The owner's right to start AI work in the chat's organization is re-checked with a subject
//! rebuilt from the database before every model call and before every tool call (and the
//! daemon stops a run at once when an auth change says the owner lost it): a run never outlives
//! its owner's access by more than the call in flight. Losing it ends the turn in `error` with
//! [`ClientError::NoAiAccess`]; the queue stays stored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use agentry_llm::{ChatRequest, FinishReason, ProviderConfig, StreamEvent, Usage};
use agentry_store::chats::messages::{Message as Row, NewMessage, Usage as StoredUsage};
use agentry_store::chats::models::ModelConfig;
use agentry_types::{ChatFailure, ClientError, LivePart, MessageRole, Part, RetryInfo};
use agentry_store::chats::worker::{Claimed, Fenced, Outcome, StepRecord};
use agentry_store::StoreError;
use agentry_store::parts::LiveKind;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use crate::state::{Shared, Stop};
use crate::tools::{self, ToolCtx, ToolOutput};
use crate::{cost, prompt, title};

/// The result text of a tool call that an interrupt cut short.
pub const INTERRUPTED_RESULT: &str = "tool call was interrupted before it produced a result";
/// The result text of a tool call whose run was cut off by the loss of the process running it
/// (a crash, a kill, a lost database): the call was saved before it started and never got a
/// result, so it may have run partly, fully or not at all. It is not run again.
pub const CRASHED_RESULT: &str = "tool call was interrupted: the server running it stopped before it finished, so it may have run partly, completely or not at all; it was not run again. Check its effects before repeating it";
/// The result text of a tool call that did not run because the owner lost access.
pub const NOT_RUN_NO_ACCESS: &str = "tool call did not run: the chat owner no longer has access to start AI work in this organization";

/// How a run ended, before the final write.
enum End {
    Finish(Outcome),
    /// The fenced write failed: someone else decides what happens next.
    Lost,
    /// The database failed under a write (a restart, a lost connection): the chat goes back to
    /// `pending` as on shutdown, so the turn is redone (saved steps and tool calls are not
    /// repeated) instead of ending in `error` over a blip.
    HandBack,
}

/// What one streamed step produced.
#[derive(Default)]
struct StepAcc {
    text: String,
    reasoning: String,
    /// Calls by stream index.
    calls: BTreeMap<usize, CallAcc>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
}

/// One tool call of a streamed step.
struct CallAcc {
    id: String,
    name: String,
    /// The argument text so far.
    raw: String,
    /// The parsed arguments, once the call is complete.
    args: Option<Value>,
}

impl CallAcc {
    fn new(id: String, name: String) -> CallAcc {
        CallAcc { id, name, raw: String::new(), args: None }
    }
}

impl StepAcc {
    fn is_empty(&self) -> bool {
        self.text.is_empty() && self.reasoning.is_empty() && self.calls.is_empty()
    }

    /// Complete tool calls: (id, name, arguments).
    fn complete_calls(&self) -> Vec<(String, String, Value)> {
        self.calls.values().filter_map(|c| c.args.clone().map(|a| (c.id.clone(), c.name.clone(), a))).collect()
    }

    fn content(&self) -> Value {
        let mut parts = Vec::new();
        if !self.reasoning.is_empty() {
            parts.push(Part::reasoning(self.reasoning.clone()));
        }
        if !self.text.is_empty() {
            parts.push(Part::text(self.text.clone()));
        }
        for c in self.calls.values() {
            let args = c.args.clone().unwrap_or_else(|| serde_json::from_str(&c.raw).unwrap_or_else(|_| json!({})));
            parts.push(Part::tool_call(c.id.clone(), c.name.clone(), args));
        }
        Part::content(&parts)
    }
}

enum Streamed {
    Finished,
    Stopped(Stop),
    Failed(String),
}

pub(crate) async fn run_chat(shared: Arc<Shared>, claimed: Claimed, stop: watch::Receiver<Stop>, watermark: Arc<AtomicI64>) {
    let chat_id = claimed.chat.id;
    let lease = claimed.lease.clone();
    let mut first_turn = false;
    let mut model_for_title = None;
    let end = match drive(&shared, &claimed, stop, &watermark, &mut first_turn, &mut model_for_title).await {
        Ok(end) => end,
        Err(e) => End::Finish(Outcome::Error(e)),
    };
    let system = shared.store.worker();
    let wm = watermark.load(Ordering::Acquire);
    let result = match end {
        End::Lost => Ok(()),
        End::Finish(Outcome::Shutdown) | End::HandBack => system.release_on_shutdown(&lease).await,
        End::Finish(outcome) => {
            let done = outcome == Outcome::Done;
            match system.finish_turn(&lease, wm, outcome).await {
                Ok(Fenced::Done(chat)) => {
                    if done && first_turn && chat.parent_chat_id.is_none() && shared.cfg.generate_titles
                        && let Some(model) = model_for_title.take()
                    {
                        tokio::spawn(generate_title(shared.clone(), chat, model));
                    }
                    Ok(())
                }
                Ok(Fenced::Lost) => Ok(()),
                Err(e) => Err(e),
            }
        }
    };
    if let Err(e) = result {
        tracing::warn!(chat = %chat_id, error = %e, "finishing a chat turn failed; stale recovery will hand it on");
    }
    shared.parts.publish(chat_id, LiveKind::Clear, Value::Null);
    shared.finished(&lease);
}

async fn generate_title(shared: Arc<Shared>, chat: agentry_store::chats::Chat, model: ModelConfig) {
    // A title is a model call too: only for an owner who may still start AI work here.
    let Ok(owner) = ai_work_subject(&shared, &chat).await else { return };
    if let Err(e) = within_budget(&shared, &chat).await {
        tracing::info!(chat = %chat.id, error = %e, "no title: over budget");
        return;
    }
    // The organization may still use the model (else no title: titles never fall back to
    // another model; the chat keeps its title).
    if model_access(&shared, &chat, model.id).await.is_err() {
        return;
    }
    let Ok(Some(first)) = shared.store.actor(&owner).first_user_text(&chat).await else { return };
    match title::generate(&shared.store, &shared.llm, &model, &chat, &first).await {
        Ok(t) => {
            if let Err(e) = shared.store.worker().set_generated_title(chat.id, &chat.title, &t).await {
                tracing::warn!(chat = %chat.id, error = %e, "saving a generated title failed");
            }
        }
        Err(e) => tracing::info!(chat = %chat.id, error = %e, "title generation failed"),
    }
}

fn stop_outcome(s: Stop) -> End {
    match s {
        Stop::Shutdown => End::Finish(Outcome::Shutdown),
        Stop::Revoked => End::Finish(Outcome::Error(ClientError::NoAiAccess.message())),
        _ => End::Finish(Outcome::Interrupted),
    }
}

/// Whether the chat's organization may (still) use the model; `Err` ends the turn with
/// `ClientError::ModelNotInOrganization` as `last_error` (no silent switch to another model).
async fn model_access(shared: &Shared, chat: &agentry_store::chats::Chat, model: uuid::Uuid) -> Result<(), String> {
    match shared.store.worker().model_usable_in_org(model, chat.organization_id).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ClientError::ModelNotInOrganization.message()),
        Err(e) => Err(e.to_string()),
    }
}

/// The owner's subject rebuilt from the database, if the owner may still start AI work in the
/// chat's organization; `Err` ends the turn (`ClientError::NoAiAccess`, or the store's failure).
async fn ai_work_subject(shared: &Shared, chat: &agentry_store::chats::Chat) -> Result<agentry_rbac::Subject, String> {
    match shared.store.worker().ai_work_subject(chat).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(ClientError::NoAiAccess.message()),
        Err(e) => Err(e.to_string()),
    }
}

/// The budget check before a model call: `Err` ends the turn with the catalogue's text naming
/// the spent limit and its reset (`ChatFailure::OverBudget`); the queue stays stored.
async fn within_budget(shared: &Shared, chat: &agentry_store::chats::Chat) -> Result<(), String> {
    match shared.store.worker().check_budgets(chat).await {
        Ok(()) => Ok(()),
        Err(agentry_store::StoreError::Client(e)) => Err(ChatFailure::OverBudget(e).to_string()),
        Err(e) => Err(e.to_string()),
    }
}

async fn drive(
    shared: &Arc<Shared>,
    claimed: &Claimed,
    mut stop: watch::Receiver<Stop>,
    watermark: &AtomicI64,
    first_turn: &mut bool,
    model_for_title: &mut Option<ModelConfig>,
) -> Result<End, String> {
    let system = shared.store.worker();
    let chat = &claimed.chat;
    let lease = &claimed.lease;
    let model = system
        .model_config(chat.last_model_config_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| ChatFailure::ModelConfigGone.to_string())?;
    model_access(shared, chat, model.id).await?;
    let provider = crate::providers::resolve(&shared.store, &model)
        .await
        .map_err(|e| ChatFailure::ModelUnavailable { reason: e.to_string() }.to_string())?;
    let owner = ai_work_subject(shared, chat).await?;
    let mut history: Vec<Row> = system.prompt_history(chat.id).await.map_err(|e| e.to_string())?;
    watermark.store(history.iter().map(|m| m.id).max().unwrap_or(0), Ordering::Release);
    // Tool calls saved before they ran and never answered: the run that started them is gone.
    // They are answered as interrupted, never run again (at most once).
    let unanswered = unanswered_calls(&history);
    if !unanswered.is_empty() {
        tracing::info!(chat = %chat.id, calls = unanswered.len(), "answering tool calls of a lost run as interrupted");
        let out = ToolOutput::error(CRASHED_RESULT);
        let results = unanswered
            .iter()
            .map(|(id, name)| {
                publish_result(shared, chat.id, id, name, &out);
                tool_message(id, name, &out)
            })
            .collect();
        let record = StepRecord { assistant: None, tool_results: results, partial: false };
        if let Some(end) = save(shared, lease, watermark, &mut history, record).await? {
            return Ok(end);
        }
    }
    // The turn's answer is already saved: the run that saved it died (or lost the database)
    // before it could end the turn. End it now instead of asking the model a second time.
    if history.last().is_some_and(|m| m.role == MessageRole::Assistant && !has_tool_calls(m)) {
        tracing::info!(chat = %chat.id, "the turn's answer was already saved; ending the turn");
        return Ok(End::Finish(Outcome::Done));
    }
    *first_turn = !history.iter().any(|m| m.role == MessageRole::Assistant);
    *model_for_title = Some(model.clone());

    let ctx = ToolCtx {
        store: shared.store.clone(),
        provisioning: shared.provisioning.clone(),
        hub: shared.hub.clone(),
        owner: std::sync::Mutex::new(Arc::new(owner)),
        chat: chat.clone(),
        workspace: std::sync::Mutex::new(chat.workspace_id),
        wake: shared.wake.clone(),
    };
    let specs = tools::specs(chat);
    let child = chat.parent_chat_id.is_some();

    for _ in 0..shared.cfg.max_steps {
        let now = *stop.borrow();
        if now != Stop::Go {
            return Ok(stop_outcome(now));
        }
        // Before every model call: may the owner still start AI work here, within budget?
        ctx.set_owner(ai_work_subject(shared, chat).await?);
        // … and may its organization still use the model?
        model_access(shared, chat, model.id).await?;
        within_budget(shared, chat).await?;
        let ids = prompt::file_ids(&history);
        let files: std::collections::HashMap<_, _> = system
            .attached_files(chat.id, &ids)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|f| (f.id, f))
            .collect();
        let (system_prompt, messages) = prompt::build(&history, child, &files);
        let req = ChatRequest {
            model: model.model.clone(),
            system: Some(system_prompt),
            messages,
            tools: specs.clone(),
            max_tokens: None,
            temperature: None,
        };
        let started = Instant::now();
        let mut acc = StepAcc::default();
        let streamed = stream_step(shared, chat.id, &provider, &req, &mut acc, &mut stop).await;
        let interrupted = match streamed {
            Streamed::Finished => None,
            Streamed::Stopped(Stop::Shutdown) => return Ok(End::Finish(Outcome::Shutdown)),
            Streamed::Stopped(why) => Some(why),
            Streamed::Failed(e) => {
                // Keep what the model said before the failure.
                if !acc.is_empty() {
                    let record = step_record(&model, &acc, Vec::new(), started, true);
                    if let Some(end) = save(shared, lease, watermark, &mut history, record).await? {
                        return Ok(end);
                    }
                }
                return Ok(End::Finish(Outcome::Error(ChatFailure::ProviderFailed { reason: e }.to_string())));
            }
        };
        if let Some(why) = interrupted {
            if acc.is_empty() {
                return Ok(stop_outcome(why));
            }
            let results = acc
                .calls
                .values()
                .map(|c| tool_message(&c.id, &c.name, &ToolOutput::error(INTERRUPTED_RESULT)))
                .collect();
            let mut record = step_record(&model, &acc, results, started, true);
            // The user's Stop (not a revoked access) marks the cut-off answer as stopped.
            if let Some(a) = record.assistant.as_mut() {
                a.stopped = why == Stop::Interrupted;
            }
            return match save(shared, lease, watermark, &mut history, record).await? {
                None => Ok(stop_outcome(why)),
                Some(end) => Ok(end),
            };
        }

        let calls = acc.complete_calls();
        // Only tools the chat declared wait for a client; a call of any other unknown name runs
        // here and gets an error result, so the model can correct itself instead of the chat
        // waiting for a client that will never answer.
        let (dynamic, builtin): (Vec<_>, Vec<_>) = calls.into_iter().partition(|(_, name, _)| tools::is_dynamic(chat, name));
        // The assistant message with its calls is saved before any tool starts: a run that dies
        // while a tool runs leaves a call without a result, which the next run answers as
        // interrupted instead of running the tool a second time.
        let two_writes = !builtin.is_empty();
        if two_writes {
            let record = step_record(&model, &acc, Vec::new(), started, false);
            if let Some(end) = save(shared, lease, watermark, &mut history, record).await? {
                return Ok(end);
            }
        }
        let mut outputs: Vec<Option<ToolOutput>> = vec![None; builtin.len()];
        let mut cut_short: Option<Stop> = None;
        // Why a tool call was not run (the owner lost access, or the check itself failed).
        let denied: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
        if !builtin.is_empty() {
            let ctx = &ctx;
            let denied = &denied;
            let runs = futures::future::join_all(builtin.iter().enumerate().map(|(i, (id, name, args))| async move {
                // Before every tool call: may the owner still start AI work here?
                let out = match ai_work_subject(shared, chat).await {
                    Ok(owner) => {
                        ctx.set_owner(owner);
                        tools::call(ctx, name, args.clone()).await
                    }
                    Err(e) => {
                        tracing::info!(chat = %chat.id, tool = %name, error = %e, "tool call not run");
                        let not_run = if e == ClientError::NoAiAccess.message() { NOT_RUN_NO_ACCESS.to_string() } else { format!("tool call did not run: {e}") };
                        denied.lock().expect("denied lock").get_or_insert(e);
                        ToolOutput::error(not_run)
                    }
                };
                (i, id.clone(), name.clone(), out)
            }));
            tokio::pin!(runs);
            tokio::select! {
                done = &mut runs => {
                    for (i, id, name, out) in done {
                        publish_result(shared, chat.id, &id, &name, &out);
                        outputs[i] = Some(out);
                    }
                }
                why = stop.wait_for(|s| *s != Stop::Go) => {
                    let why = why.map(|w| *w).unwrap_or(Stop::Interrupted);
                    if why == Stop::Shutdown {
                        return Ok(End::Finish(Outcome::Shutdown));
                    }
                    cut_short = Some(why);
                }
            }
        }
        let mut results: Vec<NewMessage> = builtin
            .iter()
            .zip(&outputs)
            .map(|((id, name, _), out)| {
                let out = out.clone().unwrap_or_else(|| ToolOutput::error(INTERRUPTED_RESULT));
                tool_message(id, name, &out)
            })
            .collect();
        let denied = denied.into_inner().expect("denied lock");
        if denied.is_some() && cut_short.is_none() {
            cut_short = Some(Stop::Revoked);
        }
        if cut_short.is_some() {
            // Dynamic calls will not be answered by a client either: the turn is over.
            results.extend(dynamic.iter().map(|(id, name, _)| tool_message(id, name, &ToolOutput::error(INTERRUPTED_RESULT))));
        }
        let record = if two_writes {
            StepRecord { assistant: None, tool_results: results, partial: cut_short.is_some() }
        } else {
            step_record(&model, &acc, results, started, cut_short.is_some())
        };
        if let Some(end) = save(shared, lease, watermark, &mut history, record).await? {
            return Ok(end);
        }
        if let Some(why) = cut_short {
            return Ok(match (why, denied) {
                (Stop::Revoked, Some(reason)) => End::Finish(Outcome::Error(reason)),
                (why, _) => stop_outcome(why),
            });
        }
        if !dynamic.is_empty() {
            return Ok(End::Finish(Outcome::RequiresAction));
        }
        if builtin.is_empty() {
            if let Some(FinishReason::Length) = acc.finish {
                tracing::info!(chat = %chat.id, "model reply was cut at its output token limit");
            }
            return Ok(End::Finish(Outcome::Done));
        }
    }
    Ok(End::Finish(Outcome::Error(ChatFailure::TooManySteps { max: shared.cfg.max_steps }.to_string())))
}

/// Saves a step under the lease and extends the local history. `Some` ends the run: the lease
/// is lost ([`End::Lost`]), or the database failed under the write ([`End::HandBack`]).
async fn save(shared: &Arc<Shared>, lease: &agentry_store::chats::worker::Lease, watermark: &AtomicI64, history: &mut Vec<Row>, record: StepRecord) -> Result<Option<End>, String> {
    // The step's buffered parts are dropped before its message is committed, so a stream that
    // connects meanwhile never gets both the saved message and the parts it replaces (it reads
    // the database first, then the buffer). Other replicas' streams get the parts (and the
    // clearing) before the message.
    shared.parts.publish(lease.chat_id, LiveKind::Clear, Value::Null);
    shared.parts.flush().await;
    let wm = watermark.load(Ordering::Acquire);
    match shared.store.worker().persist_step(lease, wm, record).await {
        Ok(Fenced::Done(saved)) => {
            if let Some(max) = saved.iter().map(|m| m.id).max() {
                watermark.store(max, Ordering::Release);
            }
            history.extend(saved);
            Ok(None)
        }
        Ok(Fenced::Lost) => Ok(Some(End::Lost)),
        Err(StoreError::Database(e)) => {
            tracing::warn!(chat = %lease.chat_id, error = %e, "saving a step failed; handing the chat back");
            Ok(Some(End::HandBack))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn step_record(model: &ModelConfig, acc: &StepAcc, tool_results: Vec<NewMessage>, started: Instant, partial: bool) -> StepRecord {
    let usage = acc.usage.unwrap_or_default();
    let stored = StoredUsage {
        input_tokens: acc.usage.map(|u| u.input_tokens as i64),
        output_tokens: acc.usage.map(|u| u.output_tokens as i64),
        reasoning_tokens: usage.reasoning_tokens.map(|t| t as i64),
        cache_creation_tokens: usage.cache_creation_tokens.map(|t| t as i64),
        cache_read_tokens: usage.cache_read_tokens.map(|t| t as i64),
        context_limit: Some(model.context_limit),
        total_cost_micros: acc.usage.and_then(|u| cost::micros(model, &u)),
        runtime_ms: Some(started.elapsed().as_millis() as i64),
    };
    StepRecord { assistant: Some(NewMessage::assistant(acc.content(), Some(model.id), stored)), tool_results, partial }
}

fn has_tool_calls(m: &Row) -> bool {
    Part::parse_content(&m.content.0).iter().any(|p| matches!(p, Part::ToolCall { .. }))
}

/// The tool calls in `history` that no tool message answers, in order: (id, name).
fn unanswered_calls(history: &[Row]) -> Vec<(String, String)> {
    let answered: std::collections::HashSet<String> = history
        .iter()
        .filter(|r| r.role == MessageRole::Tool)
        .flat_map(|r| Part::parse_content(&r.content.0))
        .filter_map(|p| match p {
            Part::ToolResult { tool_call_id, .. } => Some(tool_call_id),
            _ => None,
        })
        .collect();
    history
        .iter()
        .filter(|r| r.role == MessageRole::Assistant)
        .flat_map(|r| Part::parse_content(&r.content.0))
        .filter_map(|p| match p {
            Part::ToolCall { tool_call_id, tool_name, .. } if !answered.contains(&tool_call_id) => Some((tool_call_id, tool_name)),
            _ => None,
        })
        .collect()
}

fn result_part(id: &str, name: &str, out: &ToolOutput) -> Part {
    Part::tool_result(id, name, out.result.clone(), out.is_error)
}

fn tool_message(id: &str, name: &str, out: &ToolOutput) -> NewMessage {
    NewMessage::tool(Part::content(&[result_part(id, name, out)]))
}

fn publish_part(shared: &Arc<Shared>, chat_id: Uuid, role: MessageRole, part: Part) {
    let body = serde_json::value::to_raw_value(&LivePart { role, part }).expect("a live part serializes");
    shared.parts.publish_raw(chat_id, LiveKind::Part, body);
}

fn publish_result(shared: &Arc<Shared>, chat_id: Uuid, id: &str, name: &str, out: &ToolOutput) {
    publish_part(shared, chat_id, MessageRole::Tool, result_part(id, name, out));
}

/// The `provider` label of the provider metrics.
fn provider_label(p: &ProviderConfig) -> &'static str {
    match p.kind {
        agentry_llm::ProviderKind::OpenAi => "openai",
        agentry_llm::ProviderKind::OpenAiCompat => "openai-compat",
        agentry_llm::ProviderKind::Anthropic => "anthropic",
    }
}

async fn stream_step(
    shared: &Arc<Shared>,
    chat_id: Uuid,
    provider: &ProviderConfig,
    req: &ChatRequest,
    acc: &mut StepAcc,
    stop: &mut watch::Receiver<Stop>,
) -> Streamed {
    let mut events = shared.llm.stream(provider, req, &shared.cfg.retry);
    // Made once for the whole step, not once per token: a new wait registers with the stop
    // channel and a dropped one unregisters, each taking its lock (issue 18).
    let stopped = stop.wait_for(|s| *s != Stop::Go);
    tokio::pin!(stopped);
    let text_tokens = metrics::counter!("agentry_tokens_streamed_total", "kind" => "text");
    let reasoning_tokens = metrics::counter!("agentry_tokens_streamed_total", "kind" => "reasoning");
    loop {
        let next = tokio::select! {
            biased;
            why = &mut stopped => return Streamed::Stopped(why.map(|w| *w).unwrap_or(Stop::Interrupted)),
            next = events.next() => next,
        };
        let event = match next {
            None => {
                return if acc.finish.is_some() {
                    Streamed::Finished
                } else {
                    Streamed::Failed("the stream ended before the reply was complete".into())
                };
            }
            Some(Err(e)) => {
                metrics::counter!("agentry_provider_errors_total", "provider" => provider_label(provider), "kind" => "failed").increment(1);
                return Streamed::Failed(e.to_string());
            }
            Some(Ok(e)) => e,
        };
        match event {
            StreamEvent::TextDelta(t) => {
                acc.text.push_str(&t);
                text_tokens.increment(1);
                publish_part(shared, chat_id, MessageRole::Assistant, Part::text(t));
            }
            StreamEvent::ReasoningDelta(t) => {
                acc.reasoning.push_str(&t);
                reasoning_tokens.increment(1);
                publish_part(shared, chat_id, MessageRole::Assistant, Part::reasoning(t));
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                publish_part(shared, chat_id, MessageRole::Assistant, Part::tool_call_delta(id.clone(), name.clone(), ""));
                acc.calls.insert(index, CallAcc::new(id, name));
            }
            StreamEvent::ToolCallArgsDelta { index, delta } => {
                if let Some(call) = acc.calls.get_mut(&index) {
                    call.raw.push_str(&delta);
                    publish_part(shared, chat_id, MessageRole::Assistant, Part::tool_call_delta(call.id.clone(), call.name.clone(), delta));
                }
            }
            StreamEvent::ToolCallEnd { index, id, name, arguments } => {
                publish_part(shared, chat_id, MessageRole::Assistant, Part::tool_call(id.clone(), name.clone(), arguments.clone()));
                acc.calls.entry(index).or_insert_with(|| CallAcc::new(id, name)).args = Some(arguments);
            }
            StreamEvent::Usage(u) => acc.usage = Some(u),
            StreamEvent::Retry { attempt, delay, error, status } => {
                metrics::counter!("agentry_provider_errors_total", "provider" => provider_label(provider), "kind" => "retried").increment(1);
                let retry = RetryInfo { attempt, delay_ms: delay.as_millis() as u64, error, status };
                shared.parts.publish(chat_id, LiveKind::Retry, serde_json::to_value(retry).expect("retry serializes"));
            }
            StreamEvent::Finish { reason } => acc.finish = Some(reason),
        }
    }
}
