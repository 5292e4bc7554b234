//! agentry's chat daemon.
//!
//! It runs model calls for chats on behalf of their owners. Today that is title generation;
//! the agent loop (claiming pending chats, streaming, tools, subagents) builds on the same
//! provider resolution in [`providers`].

pub mod providers;
pub mod title;

pub use providers::ProviderError;
