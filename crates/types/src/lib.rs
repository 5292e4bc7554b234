//! The vocabulary every layer shares: the catalogue of client-facing errors ([`ClientError`]:
//! a stable snake_case code, an HTTP status and the message) and the typed chat domain.
//!
//! This crate does no I/O and knows nothing about databases or HTTP frameworks; a status is a
//! plain number here. The store returns these errors, the API maps them onto responses, the
//! SDK carries their codes, and tests compare against them instead of copying strings.

pub mod chat;
pub mod errors;

pub use chat::{ChatStatus, LivePart, MessageRole, Part, RetryInfo, Visibility};
pub use errors::{ChatFailure, ClientError, Problem, notices};
