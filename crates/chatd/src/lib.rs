//! agentry's chat daemon: runs agent chats against LLM providers, as the chat owner.
//!
//! - [`daemon`]: the per-process [`Daemon`] — claiming pending chats across replicas with
//!   `FOR UPDATE SKIP LOCKED`, batch heartbeats, stale recovery, shutdown hand-back.
//! - `run`: one turn of one chat (stream → tools in parallel → fenced save → repeat).
//! - [`tools`]: the built-in tools, acting as the chat owner through the authorizing facade.
//! - [`prompt`], [`cost`], [`providers`], [`title`], [`env`].
//!
//! **Invariant:** chatd never runs SQL itself; every read and write goes through
//! `agentry_store` — the owner's `Actor` for anything a tool does, named `System` tasks for
//! claiming and the worker's fenced writes. No row lock is held across a model call.

mod config;
pub mod cost;
pub mod daemon;
pub mod env;
pub mod prompt;
pub mod providers;
mod run;
mod state;
pub mod title;
pub mod tools;

pub use daemon::{Daemon, DaemonConfig};
pub use providers::ProviderError;
pub use run::{CRASHED_RESULT, INTERRUPTED_RESULT};
