//! One module per resource; handlers named by verb.

pub mod authcheck;
pub mod budgets;
pub mod chats;
pub mod meta;
pub mod orgs;
pub mod site;
pub mod templates;
pub mod users;
pub mod workspaces;
pub mod workspaceagents;
