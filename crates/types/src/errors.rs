//! The catalogue of client-facing errors: every error a client can receive is one
//! [`ClientError`] variant, with a stable snake_case `code`, an HTTP status and its message (and,
//! for some, a fixed detail or the field a validation entry names). Modelled on meilisearch's
//! `Code` table: the table below is the only place these texts are written.
//!
//! Codes are part of the API: never rename one; a new situation gets a new variant. Messages may
//! be reworded only where neither the spec nor Coder compatibility pins them.
//!
//! What is *not* here: text meant for the model rather than for a client (tool results written
//! by the chat daemon), log lines, and per-field validation details, which describe one rule on
//! one field and travel in `validations[].detail`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Declares [`ClientError`] and its table. Each row is
/// `Variant { fields } => "code", status, "message" [, detail = expr] [, field = expr];`
/// where the message and the expressions may use the variant's fields by name.
macro_rules! catalogue {
    ($(
        $(#[$doc:meta])*
        $variant:ident $({ $($fname:ident : $fty:ty),* $(,)? })?
            => $code:literal, $status:literal, $message:literal
            $(, detail = $detail:expr)? $(, field = $field:expr)? ;
    )*) => {
        /// A client-facing error. See the module documentation.
        #[derive(Debug, Clone, PartialEq)]
        pub enum ClientError {
            $( $(#[$doc])* $variant $({ $($fname: $fty),* })?, )*
        }

        impl ClientError {
            /// Every code in the catalogue, in table order.
            pub const CODES: &'static [&'static str] = &[$($code),*];

            /// The stable snake_case code clients can match on.
            pub fn code(&self) -> &'static str {
                match self { $( Self::$variant { .. } => $code, )* }
            }

            /// The HTTP status the error is answered with.
            pub fn status(&self) -> u16 {
                match self { $( Self::$variant { .. } => $status, )* }
            }

            /// The human message (`message` in the response body).
            #[allow(unused_variables)]
            pub fn message(&self) -> String {
                match self { $( Self::$variant $({ $($fname),* })? => format!($message), )* }
            }

            /// The catalogue's detail for this error, if it has one.
            #[allow(unused_variables)]
            pub fn detail(&self) -> Option<String> {
                match self { $( Self::$variant $({ $($fname),* })? => catalogue!(@opt $($detail)?), )* }
            }

            /// The request field the error is about: answered as one `validations` entry
            /// `{field, detail: message}`.
            #[allow(unused_variables)]
            pub fn field(&self) -> Option<String> {
                match self { $( Self::$variant $({ $($fname),* })? => catalogue!(@field $($field)?), )* }
            }
        }
    };
    (@opt) => { None };
    (@opt $e:expr) => { Some(($e).to_string()) };
    (@field) => { None };
    (@field $e:expr) => { FieldName::field_name(&$e) };
}

/// A field name, or maybe one (for variants whose field depends on the request).
trait FieldName {
    fn field_name(&self) -> Option<String>;
}

impl FieldName for str {
    fn field_name(&self) -> Option<String> {
        Some(self.to_string())
    }
}

impl FieldName for String {
    fn field_name(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl FieldName for Option<&'static str> {
    fn field_name(&self) -> Option<String> {
        self.map(str::to_string)
    }
}

impl<T: FieldName + ?Sized> FieldName for &T {
    fn field_name(&self) -> Option<String> {
        (**self).field_name()
    }
}

catalogue! {
    // ---- requests, authentication, generic answers ----
    /// The object does not exist or the caller may not read it (deliberately the same).
    NotFound => "not_found", 404, "Resource not found or you do not have access to this resource";
    /// The caller may read the object but not do this to it.
    Forbidden => "forbidden", 403, "Forbidden.";
    Unauthorized => "unauthorized", 401, "You must be logged in to do that.";
    InvalidCredentials => "invalid_credentials", 401, "Incorrect email or password.";
    AccountSuspended => "account_suspended", 401, "Your account is suspended. Contact an administrator.";
    TooManyLoginAttempts => "too_many_login_attempts", 429, "Too many failed login attempts. Try again later.";
    CrossOriginRequest => "cross_origin_request", 403,
        "Cross-origin requests authenticated by the session cookie are not allowed.";
    /// The body is not the JSON the route expects; `reason` is the parser's account.
    InvalidJson { reason: String } => "invalid_json", 400, "Request body must be valid JSON.", detail = reason;
    JsonContentTypeRequired => "json_content_type_required", 400, "Request body must be valid JSON.",
        detail = "Expected request with `Content-Type: application/json`.";
    BodyTooLarge => "body_too_large", 413, "Request body is too large.";
    InvalidQueryParameters { reason: String } => "invalid_query_parameters", 400, "Invalid query parameters.",
        detail = reason;
    /// PostgreSQL's text cannot hold a NUL character, so no request may carry one.
    NulInBody => "nul_in_body", 400, "Request body must be valid JSON.",
        detail = "Text must not contain the NUL character (\\u0000).";
    NulInQuery => "nul_in_query", 400, "Invalid query parameters.",
        detail = "Text must not contain the NUL character (\\u0000).";
    InvalidLimit => "invalid_limit", 400, "Invalid limit parameter (1-1000).";
    InvalidOffset => "invalid_offset", 400, "Invalid offset parameter.";
    /// One or more fields are invalid; the response lists them in `validations`.
    ValidationFailed => "validation_failed", 400, "Validation failed.";
    /// Anything unexpected; the cause is logged, never shown.
    Internal => "internal", 500, "An internal error occurred.";
    RouteNotFound => "route_not_found", 404, "Route not found.";
    AssetNotFound => "asset_not_found", 404, "Asset not found.";
    InvalidId => "invalid_id", 400, "Invalid ID.";
    TooManyAuthorizationChecks => "too_many_authorization_checks", 400, "Too many checks (at most 1000).";
    InvalidAuthorizationCheck { key: String, problem: CheckProblem } => "invalid_authorization_check", 400,
        "Invalid check {key:?}: {problem}";

    // ---- users, organizations, members ----
    FirstUserExists => "first_user_exists", 409, "The first user has already been created.";
    FirstUserMissing => "first_user_missing", 404, "The initial user has not been created.";
    EmailTaken => "email_taken", 409, "A user with this email already exists.";
    UsernameTaken => "username_taken", 409, "A user with this username already exists.";
    CannotSuspendSelf => "cannot_suspend_self", 400, "You cannot suspend yourself.";
    /// Changing your own password needs the current one.
    OldPasswordRequired => "old_password_required", 400, "Your current password is required to change it.",
        field = "old_password";
    OldPasswordIncorrect => "old_password_incorrect", 400, "Your current password is incorrect.",
        field = "old_password";
    /// An organization named when creating a user does not exist or is not readable.
    UnknownOrganization { id: Uuid } => "unknown_organization", 400, "Organization {id} not found.",
        field = "organization_ids";
    InvalidUserQuery => "invalid_user_query", 400, "Invalid user search query.";
    OrganizationNameTaken => "organization_name_taken", 409, "An organization with this name already exists.";
    DefaultOrganizationUndeletable => "default_organization_undeletable", 400,
        "The default organization cannot be deleted.";
    AlreadyMember => "already_member", 409, "User is already a member of this organization.";

    // ---- templates and workspaces ----
    InvalidTemplateQuery => "invalid_template_query", 400, "Invalid template search query.";
    TemplateNameTaken => "template_name_taken", 409, "A template with this name already exists in the organization.";
    TemplateInUse { name: String, workspaces: i64 } => "template_in_use", 409,
        "Template {name:?} is used by {workspaces} workspace(s); delete them first.";
    /// A template parameter definition or value breaks a rule; `problem` says which.
    InvalidParameter { field: String, problem: Problem } => "invalid_parameter", 400, "{problem}", field = field;
    TemplateVersionMismatch => "template_version_mismatch", 400,
        "The template version is not a version of this workspace's template.", field = "template_version_id";
    WorkspaceNameTaken { name: String } => "workspace_name_taken", 409,
        "A workspace named {name:?} already exists for this user.";
    OwnerNotInOrganization { user: String, organization: String } => "owner_not_in_organization", 400,
        "User {user:?} is not a member of organization {organization:?}.";
    TemplateInOtherOrganization { template: String, organization: String } => "template_in_other_organization", 400,
        "Template {template:?} belongs to another organization; a workspace in organization {organization:?} \
         must use a template of that organization.", field = "template_id";
    TemplateDeprecated { template: String } => "template_deprecated", 400,
        "Template {template:?} is deprecated; choose another template.", field = "template_id";
    /// A version or parameter values given with a transition other than `start`.
    UpdateNeedsStart { field: &'static str } => "update_needs_start", 400,
        "A template version or parameter values can only be given with transition \"start\".", field = field;
    WorkspaceDeleted => "workspace_deleted", 409, "The workspace has been deleted.";
    BuildInProgress { number: i32, transition: String, status: String } => "build_in_progress", 409,
        "Build #{number} ({transition}) is still {status}; wait for it to finish.";
    WorkspaceAlreadyRunning => "workspace_already_running", 409, "The workspace is already running.";
    WorkspaceAlreadyStopped => "workspace_already_stopped", 409, "The workspace is already stopped.";
    WorkspaceNotRunning { status: String } => "workspace_not_running", 409,
        "The workspace is not running (status: {status}); start it first.";
    /// The agent could not be reached (not connected anywhere, or its replica went away while
    /// the operation ran); retrying later can succeed. `reason` is the agent layer's account.
    WorkspaceAgentUnreachable { reason: String } => "workspace_agent_unreachable", 503, "{reason}";
    /// The agent ran the operation and refused it (a path outside the workspace, …).
    WorkspaceAgentRefused { reason: String } => "workspace_agent_refused", 400, "{reason}";
    /// The agent speaks another protocol version; `reason` names both (the agent prints it).
    AgentProtocolMismatch { reason: String } => "agent_protocol_mismatch", 400, "{reason}";
    /// The agent route refused a token (unknown, revoked, or of a deleted workspace).
    AgentTokenInvalid => "agent_token_invalid", 401, "The workspace agent token is invalid or has been revoked.";
    /// `external-agent` on a workspace whose agent the server runs itself.
    NotExternalWorkspace => "not_external_workspace", 409,
        "This workspace's agent is run by the server (its template's kind is local); only external workspaces have an agent command.";
    /// Workspaces cannot be sandboxed on this host; `reason` says what is missing.
    WorkspaceIsolationUnavailable { reason: String } => "workspace_isolation_unavailable", 503,
        "Workspaces cannot be started: {reason}. (An operator who trusts every user with the server's own account may instead start the server with --unsafe-unsandboxed-workspaces.)";
    /// The workspace agent refused a command (bad working directory, …).
    ExecuteRefused { reason: String } => "execute_refused", 400, "{reason}";

    // ---- chats ----
    OrganizationRequired => "organization_required", 400, "organization_id is required.";
    NotAMember => "not_a_member", 403, "You are not a member of the specified organization.";
    ContentRequired => "content_required", 400, "Content is required.";
    ContentNotAnArray => "content_not_an_array", 400, "Content is required.",
        detail = "content must be an array of parts.";
    InvalidInputPart { problem: Problem } => "invalid_input_part", 400, "Invalid input part.", detail = problem;
    SystemPromptTooLong => "system_prompt_too_long", 400, "System prompt exceeds maximum length.";
    /// A workspace to bind a chat to is missing or unreadable; `field` names the request field
    /// when the error is reported as a validation too.
    WorkspaceNotFound { field: Option<&'static str> } => "workspace_not_found", 400,
        "Workspace not found or you do not have access to this resource", field = field;
    WorkspaceInOtherOrganization => "workspace_in_other_organization", 400,
        "Workspace does not belong to the specified organization.";
    WorkspaceInOtherChatOrganization => "workspace_in_other_chat_organization", 400,
        "Workspace does not belong to this chat's organization.", field = "workspace_id";
    InvalidModelConfig => "invalid_model_config", 400, "Invalid model config ID.";
    NoDefaultModel => "no_default_model", 400, "No default chat model config is configured.";
    FileInOtherOrganization { index: usize } => "file_in_other_organization", 400,
        "File does not belong to the specified organization.",
        detail = format!("content[{index}].file_id belongs to a different organization.");
    TooManyChatFiles { max: i64 } => "too_many_chat_files", 400, "A chat can have at most {max} files.";
    UsageLimitExceeded { spent_micros: i64, limit_micros: i64, resets_at: DateTime<Utc> } => "usage_limit_exceeded", 409,
        "You have reached your chat usage limit; it resets at {resets_at}.",
        detail = format!(
            "Spent ${:.2} of ${:.2} this period; the limit resets at {}.",
            *spent_micros as f64 / 1e6, *limit_micros as f64 / 1e6, resets_at.to_rfc3339()
        );
    /// The chat's organization has spent its budget for the period.
    OrganizationBudgetExceeded { spent_micros: i64, limit_micros: i64, resets_at: DateTime<Utc> } => "organization_budget_exceeded", 409,
        "This organization's chat budget is spent; it resets at {resets_at}.";
    /// The caller (or the chat's owner) has spent their budget in the chat's organization.
    MemberBudgetExceeded { spent_micros: i64, limit_micros: i64, resets_at: DateTime<Utc> } => "member_budget_exceeded", 409,
        "You have spent your chat budget in this organization; it resets at {resets_at}.";
    QueueFull { max: i64 } => "queue_full", 429, "Message queue is full.",
        detail = format!("Maximum {max} messages can be queued.");
    ChatMessageNotFound => "chat_message_not_found", 404, "Chat message not found.";
    QueuedMessageNotFound => "queued_message_not_found", 404, "Queued message not found.";
    InvalidChatId => "invalid_chat_id", 400, "Invalid chat ID.";
    InvalidChatMessageId => "invalid_chat_message_id", 400, "Invalid chat message ID.";
    InvalidQueuedMessageId => "invalid_queued_message_id", 400, "Invalid queued message ID.";
    InvalidBeforeId => "invalid_before_id", 400, "Invalid before_id parameter.";
    InvalidAfterId => "invalid_after_id", 400, "Invalid after_id parameter.";
    InvalidMessageLimit => "invalid_message_limit", 400, "Invalid limit parameter (1-200).";
    InvalidBusyBehavior => "invalid_busy_behavior", 400, "Invalid busy_behavior value.";
    InvalidChatSearch => "invalid_chat_search", 400, "Invalid search query.";
    /// Labels break their rules; each problem is a validation entry.
    InvalidLabels { problems: Vec<(String, Problem)> } => "invalid_labels", 400, "Invalid labels.";
    InvalidLabelFilter { value: String } => "invalid_label_filter", 400, "Invalid label filter: {value:?}.",
        detail = "Use label=key:value.";
    TooManyDynamicTools => "too_many_dynamic_tools", 400, "Too many dynamic tools.";
    DynamicToolNameEmpty => "dynamic_tool_name_empty", 400, "Dynamic tool names must not be empty.";
    DuplicateDynamicTool { name: String } => "duplicate_dynamic_tool", 400, "Duplicate dynamic tool name.",
        detail = name;
    InvalidDynamicTool { name: String } => "invalid_dynamic_tool", 400, "Invalid dynamic tool.",
        detail = format!("{name}: input_schema must be a JSON object.");
    ToolResultsRequired => "tool_results_required", 400, "At least one tool result is required.";
    NotAwaitingToolResults => "not_awaiting_tool_results", 409, "Chat is not waiting for tool results.";
    ToolResultsMismatch { expected: Vec<String> } => "tool_results_mismatch", 400,
        "Tool results do not match the pending tool calls.",
        detail = format!("results: expected tool_call_ids [{}]", expected.join(", "));
    OnlyUserMessagesEditable => "only_user_messages_editable", 400, "Only user messages can be edited.";
    TitleRegenerating => "title_regenerating", 409, "Title regeneration already in progress.";
    TitleGenerationFailed { reason: String } => "title_generation_failed", 502, "Failed to generate a title.",
        detail = reason;
    ChatAlreadyArchived => "chat_already_archived", 400, "Chat is already archived.";
    ChatNotArchived => "chat_not_archived", 400, "Chat is not archived.";
    ParentChatArchived => "parent_chat_archived", 400, "Cannot unarchive a chat whose parent is archived.";
    CannotPinArchived => "cannot_pin_archived", 400, "Cannot pin an archived chat.";
    NegativePinOrder => "negative_pin_order", 400, "pin_order must not be negative.", field = "pin_order";
    /// A delegated (child) chat tried to start subagents of its own.
    NestedSubagent => "nested_subagent", 400, "delegated chats cannot create child subagents";
    /// A chat's `last_error` when its owner lost the right to start AI work in its organization.
    NoAiAccess => "no_ai_access", 403, "The chat owner no longer has access to start AI work in this organization.";

    // ---- chat files ----
    MissingOrganizationParameter => "missing_organization_parameter", 400, "Missing organization query parameter.";
    InvalidOrganizationId => "invalid_organization_id", 400, "Invalid organization ID.";
    UnsupportedFileType { declared: String } => "unsupported_file_type", 400, "Unsupported file type.",
        detail = format!("{declared:?} is not allowed.");
    FileTooLarge => "file_too_large", 413, "File too large.", detail = "The limit is 10 MiB.";
    FileTypeMismatch => "file_type_mismatch", 400, "File content type does not match Content-Type header.";
    InvalidFileId => "invalid_file_id", 400, "Invalid file ID.";

    // ---- providers, model configs, usage limits ----
    UnknownProvider => "unknown_provider", 400, "provider must be one of openai, anthropic, openai-compat.",
        field = "provider";
    BaseUrlRequired => "base_url_required", 400, "An OpenAI-compatible provider needs a base_url.",
        field = "base_url";
    ProviderExists => "provider_exists", 409, "A provider of this type with this display name is already configured.";
    /// A model config named its provider by type and several providers of that type qualify.
    AmbiguousProvider => "ambiguous_provider", 400,
        "Several providers of this type are configured; choose one with provider_id.", field = "provider_id";
    /// The provider a model config names does not exist or may not be used by the model's owner.
    ProviderNotFound => "provider_not_found", 400, "Provider not found.", field = "provider_id";
    /// `organization_ids` was given for a model owned by one organization.
    OrganizationListOnOrgModel => "organization_ids_on_org_model", 400,
        "organization_ids applies only to site-wide models.", field = "organization_ids";
    /// The deployment setting for new organizations' model access.
    InvalidNewOrgModels => "invalid_new_org_models", 400, "new_organizations must be all or none.",
        field = "new_organizations";
    /// A model the chat's organization may not use (issue 14): at the API (400) and as a chat's
    /// `last_error` when access was withdrawn while the chat used it.
    ModelNotInOrganization => "model_not_in_organization", 400, "This model is not available in this organization.";
    ModelRequired => "model_required", 400, "model is required.", field = "model";
    /// The same provider, model and display name twice would be two entries nobody can tell apart.
    ModelConfigExists => "model_config_exists", 409, "A model with this provider, model identifier and display name already exists.";
    ContextLimitNotPositive => "context_limit_not_positive", 400, "context_limit must be positive.",
        field = "context_limit";
    NegativePrice { field: &'static str } => "negative_price", 400, "Prices must not be negative.", field = field;
    InvalidLimitPeriod => "invalid_limit_period", 400, "period must be day, week or month.", field = "period";
    NegativeUsageLimit => "negative_usage_limit", 400, "The limit must not be negative.", field = "limit_micros";
    InvalidUsageGroup => "invalid_usage_group", 400, "group_by must be day, model, user or organization.", field = "group_by";
    InvalidUsageRange => "invalid_usage_range", 400, "from and to must be dates (YYYY-MM-DD) or RFC 3339 times, from before to, at most 366 days apart.";
    InvalidUsageFormat => "invalid_usage_format", 400, "format must be json or csv.", field = "format";
}

impl ClientError {
    /// The `validations` entries `(field, detail)` the error carries: one for the field the
    /// catalogue names (detail = the message), or the problems it lists.
    pub fn validations(&self) -> Vec<(String, String)> {
        match self {
            ClientError::InvalidLabels { problems } => problems.iter().map(|(f, p)| (f.clone(), p.to_string())).collect(),
            other => other.field().map(|f| vec![(f, other.message())]).unwrap_or_default(),
        }
    }

    /// Extra top-level fields of the response body, for errors that carry data clients read.
    pub fn extra(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        if let ClientError::UsageLimitExceeded { spent_micros, limit_micros, resets_at }
        | ClientError::OrganizationBudgetExceeded { spent_micros, limit_micros, resets_at }
        | ClientError::MemberBudgetExceeded { spent_micros, limit_micros, resets_at } = self
        {
            m.insert("spent_micros".into(), (*spent_micros).into());
            m.insert("limit_micros".into(), (*limit_micros).into());
            m.insert("resets_at".into(), resets_at.to_rfc3339().into());
        }
        m
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ClientError {}

/// Why an authorization check (`POST /api/v2/authcheck`) is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckProblem {
    UnknownResourceType,
    UnknownAction,
    UndeclaredAction,
    InvalidOwner,
}

impl std::fmt::Display for CheckProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CheckProblem::UnknownResourceType => "unknown resource_type",
            CheckProblem::UnknownAction => "unknown action",
            CheckProblem::UndeclaredAction => "the resource type does not declare this action",
            CheckProblem::InvalidOwner => "owner_id must be a UUID or me",
        })
    }
}

/// Declares [`Problem`]: one rule a single field (or content part) broke, as a
/// `validations[].detail` or a `detail` text. Each row is `Variant { fields } => "text";`.
macro_rules! problems {
    ($( $(#[$doc:meta])* $variant:ident $({ $($fname:ident : $fty:ty),* $(,)? })? => $text:literal; )*) => {
        /// One rule a field broke; its `Display` is the detail clients see.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Problem {
            $( $(#[$doc])* $variant $({ $($fname: $fty),* })?, )*
        }

        impl std::fmt::Display for Problem {
            #[allow(unused_variables)]
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self { $( Self::$variant $({ $($fname),* })? => write!(f, $text), )* }
            }
        }
    };
}

problems! {
    // ---- shared field rules ----
    InvalidEmail => "Must be a valid email address.";
    Empty => "Must not be empty.";
    TooLong { max: usize } => "Must be at most {max} characters.";
    TooShort { min: usize } => "Must be at least {min} characters.";
    NameCharacters => "Only letters, digits, '-' and '_' are allowed.";
    ReservedName => "'me' is reserved.";
    ScriptTooLarge => "Must be at most 64 KiB.";
    TokenLifetime => "Must be between 60 seconds and 365 days.";
    ExecuteTimeout => "Must be between 1 and 600000.";
    NotASiteRole { value: String } => "{value:?} is not a site role.";
    NotAnOrganizationRole { value: String } => "{value:?} is not an organization role.";
    InvalidPriceInput => "Prices are non-negative dollars per million tokens.";
    TitleLength => "The title must be 1–200 characters.";
    TooManyLabels => "At most 50 labels.";
    LabelSize => "Keys (1–64 characters) and values (1–256 characters) must not be empty.";

    // ---- search strings (`q`) ----
    NotABool { value: String } => "{value:?} is not true or false.";
    UnsupportedTemplateFilter { key: String } =>
        "{key:?} is not a supported filter (organization, deprecated, exact_name, name).";
    NotAUserStatus { value: String } => "{value:?} is not a user status (active, suspended).";
    UnsupportedUserFilter { key: String } => "{key:?} is not a supported filter (status, role).";
    SearchTermNeedsValue { key: String } => "{key:?} needs a value, e.g. {key}:something.";
    UnknownWorkspaceStatus { value: String, all: String } => "Unknown status {value:?}; use one of {all}.";
    UnknownWorkspaceSearchKey { key: String } =>
        "Unknown search key {key:?}; use owner, organization, template, status or name.";
    ChatSearchArchived { term: String } => "{term}: archived must be true or false";
    ChatSearchUnknown { term: String } => "{term}: unknown filter; use owner:, archived:, organization:, title: or plain words";

    // ---- chat content parts ----
    PartNotValid { index: usize, reason: String } => "content[{index}] is not a valid part: {reason}";
    PartTextEmpty { index: usize } => "content[{index}].text cannot be empty.";
    PartFileIdRequired { index: usize } => "content[{index}].file_id is required.";
    PartFileNameEmpty { index: usize } => "content[{index}].file_name cannot be empty.";
    PartLineRange { index: usize } => "content[{index}] has an invalid line range.";
    PartType { index: usize, kind: String } =>
        "content[{index}].type {kind:?} is not one of text, file, file-reference.";
    PartFileMissing { index: usize } => "content[{index}].file_id references a file that does not exist.";

    // ---- template parameters ----
    TooManyParameters { max: usize } => "At most {max} parameters are allowed.";
    ParameterName => "Must start with a letter or '_' and contain only letters, digits and '_' (at most 64).";
    ParameterDeclaredTwice { name: String } => "Parameter {name:?} is declared twice.";
    OptionListedTwice { option: String } => "Option {option:?} is listed twice.";
    OptionInvalid { option: String, why: ValueProblem } => "Option {option:?} {why}.";
    RequiredWithDefault => "A required parameter cannot have a default.";
    DefaultNotAnOption => "The default must be one of the options.";
    DefaultInvalid { why: ValueProblem } => "The default {why}.";
    UnknownParameter { name: String } => "The template has no parameter named {name:?}.";
    ParameterGivenTwice { name: String } => "Parameter {name:?} is given twice.";
    ParameterNotAnOption { name: String, options: String } => "Parameter {name:?} must be one of: {options}.";
    ParameterInvalid { name: String, why: ValueProblem } => "Parameter {name:?} {why}.";
    ParameterRequired { name: String } => "Parameter {name:?} is required.";
}

/// Why a value does not fit a template parameter's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueProblem {
    NotANumber,
    NotABool,
}

impl std::fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ValueProblem::NotANumber => "must be a number",
            ValueProblem::NotABool => "must be true or false",
        })
    }
}

/// Why a chat's turn ended in `error`: the chat's `last_error`, which clients show (the
/// owner losing access is [`ClientError::NoAiAccess`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ChatFailure {
    /// The chat's model configuration was deleted.
    ModelConfigGone,
    /// The model's provider cannot be called (not configured, no key).
    ModelUnavailable { reason: String },
    /// The provider failed after its retries.
    ProviderFailed { reason: String },
    /// The turn hit the step limit.
    TooManySteps { max: usize },
    /// A client did not answer dynamic tool calls in time (also each call's result).
    DynamicToolTimeout,
    /// A budget or usage limit is spent; the text is the catalogue's (which limit, when it
    /// resets), the same a client gets from the API.
    OverBudget(ClientError),
}

impl std::fmt::Display for ChatFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChatFailure::ModelConfigGone => f.write_str("The chat's model configuration no longer exists."),
            ChatFailure::ModelUnavailable { reason } => write!(f, "Cannot call the model: {reason}."),
            ChatFailure::ProviderFailed { reason } => write!(f, "The model provider failed: {reason}"),
            ChatFailure::TooManySteps { max } => {
                write!(f, "The turn stopped after {max} model steps without a final answer.")
            }
            ChatFailure::DynamicToolTimeout => f.write_str("Dynamic tool execution timed out"),
            ChatFailure::OverBudget(e) => f.write_str(&e.message()),
        }
    }
}

/// Why a workspace build failed, as its job's `error` says (the build log tells more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildFailure {
    /// The server stopped while the build ran.
    ServerShutDown,
    /// The server restarted while the build ran (found at start).
    ServerRestarted,
    /// The replica running the build stopped heartbeating.
    ReplicaGone,
    /// The template's startup script failed.
    ScriptFailed { code: i32 },
}

impl std::fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildFailure::ServerShutDown => f.write_str("The server shut down while this build was running."),
            BuildFailure::ServerRestarted => f.write_str("The server restarted while this build was running."),
            BuildFailure::ReplicaGone => f.write_str("The server running this build went away."),
            BuildFailure::ScriptFailed { code } => write!(f, "the startup script exited with code {code}"),
        }
    }
}

/// Client-facing texts that are not errors: messages of successful answers that carry only a
/// message, and the results the server records for tool calls it cancelled.
pub mod notices {
    pub const FIRST_USER_CREATED: &str = "The first user has been created.";
    pub const LOGGED_OUT: &str = "Logged out.";
    pub const TOOL_CALL_CANCELLED_BY_MESSAGE: &str = "The user sent a new message instead.";
    pub const TOOL_CALL_CANCELLED_BY_INTERRUPT: &str = "The user interrupted the turn.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ClientError::CODES {
            assert!(seen.insert(*code), "duplicate code {code}");
            assert!(
                !code.is_empty()
                    && code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && !code.starts_with('_')
                    && !code.ends_with('_'),
                "{code} is not snake_case"
            );
        }
    }

    /// The texts SPEC §3 and Coder's clients pin. This is the one test that spells them out:
    /// every other test compares against the catalogue.
    #[test]
    fn pinned_messages() {
        assert_eq!(ClientError::NotFound.message(), "Resource not found or you do not have access to this resource");
        assert_eq!(ClientError::NotFound.status(), 404);
        assert_eq!(ClientError::Forbidden.message(), "Forbidden.");
        assert_eq!(ClientError::Unauthorized.status(), 401);
        assert_eq!(ClientError::ValidationFailed.message(), "Validation failed.");
        assert_eq!(ClientError::NotAMember.message(), "You are not a member of the specified organization.");
        assert_eq!(ClientError::NotAMember.status(), 403);
        assert_eq!(ClientError::QueueFull { max: 50 }.status(), 429);
        assert_eq!(ClientError::QueueFull { max: 50 }.detail().as_deref(), Some("Maximum 50 messages can be queued."));
    }

    #[test]
    fn messages_use_their_fields() {
        let e = ClientError::WorkspaceNameTaken { name: "dev".into() };
        assert_eq!(e.message(), "A workspace named \"dev\" already exists for this user.");
        assert_eq!(e.code(), "workspace_name_taken");
        let e = ClientError::NegativePrice { field: "input_price_per_million" };
        assert_eq!(e.field().as_deref(), Some("input_price_per_million"));
        let e = ClientError::InvalidAuthorizationCheck { key: "k".into(), problem: CheckProblem::UnknownAction };
        assert_eq!(e.message(), "Invalid check \"k\": unknown action");
        assert_eq!(ClientError::ContentRequired.detail(), None);
        assert_eq!(ClientError::WorkspaceNotFound { field: None }.field(), None);
        assert_eq!(ClientError::WorkspaceNotFound { field: Some("workspace_id") }.field().as_deref(), Some("workspace_id"));
        assert_eq!(ClientError::NegativePinOrder.field().as_deref(), Some("pin_order"));
    }
}
