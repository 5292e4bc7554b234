//! Completes the OpenAPI document the route annotations produce, with what is true of every
//! route by the way the router is built rather than by what one handler does:
//!
//! - **Error responses.** Every error body is [`agentry_sdk::Response`] (the `Response`
//!   schema; the same type `ApiError` serializes, so a field added there shows up here). Each
//!   operation lists, besides what its own annotation says:
//!   - `401` unless it is one of the [`PUBLIC`] operations (the `Auth` extractor);
//!   - `403` for every unsafe method (the same-origin check of cookie sessions, `crate::csrf`);
//!   - `400` and `413` when it takes a JSON body (`ApiJson`: malformed JSON, a body over
//!     [`crate::MAX_JSON_BODY`]); `400` when it takes query parameters (`ApiQuery`) or a path
//!     parameter documented as a UUID or an integer (the handlers parse those and refuse what
//!     does not parse);
//!   - `404` when its path has parameters (the object is missing or not visible);
//!   - `500` (an internal error, e.g. the database is unreachable).
//! - **WebSockets.** The two stream routes answer a request that is not a WebSocket upgrade
//!   with axum's plain-text `400`, or `426` when the connection cannot be upgraded.
//! - **Operation ids** are unique (utoipa names an operation after its handler, and several
//!   modules have a `list` or a `get`): a duplicated id becomes `<module>_<handler>`.
//! - **Links** from each response that names a new or listed object to the operations that take
//!   its id (see [`LINKS`]), so a client generator or a stateful fuzzer can walk from
//!   `POST /organizations` to `GET /organizations/{org}`.
//! - **Security**: the three ways a token is accepted (`crate::auth`).

use std::collections::BTreeMap;

use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{KnownFormat, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::link::Link;
use utoipa::openapi::{ContentBuilder, OpenApi, PathItem, Ref, RefOr};

/// Operations that do not take the `Auth` extractor.
const PUBLIC: &[(&str, &str)] = &[
    ("get", "/api/v2/buildinfo"),
    ("get", "/api/v2/users/first"),
    ("post", "/api/v2/users/first"),
    ("post", "/api/v2/users/login"),
];

/// WebSocket routes (their upgrade is refused in plain text, not JSON).
const WEBSOCKETS: &[&str] = &["/api/experimental/chats/watch", "/api/experimental/chats/{chat}/stream"];

/// One kind of object: where its id comes from, and which path parameter takes it.
struct LinkSource {
    /// `(method, path, status, JSON pointer to the id in that response)`.
    from: &'static [(&'static str, &'static str, &'static str, &'static str)],
    /// Every operation under one of these path prefixes with this parameter gets the id.
    param: &'static str,
    under: &'static [&'static str],
}

const LINKS: &[LinkSource] = &[
    LinkSource {
        from: &[
            ("post", "/api/v2/organizations", "201", "/id"),
            ("get", "/api/v2/organizations", "200", "/0/id"),
        ],
        param: "org",
        under: &["/api/v2/organizations/{org}", "/api/v2/users/{user}/organizations/{org}"],
    },
    LinkSource {
        from: &[("post", "/api/v2/users", "201", "/id"), ("get", "/api/v2/users", "200", "/users/0/id")],
        param: "user",
        under: &["/api/v2/users/{user}", "/api/v2/organizations/{org}/members/{user}"],
    },
    LinkSource {
        from: &[
            ("post", "/api/v2/organizations/{org}/templates", "201", "/id"),
            ("get", "/api/v2/templates", "200", "/0/id"),
        ],
        param: "id",
        under: &["/api/v2/templates/{id}"],
    },
    LinkSource {
        from: &[
            ("post", "/api/v2/organizations/{org}/members/{user}/workspaces", "201", "/id"),
            ("get", "/api/v2/workspaces", "200", "/workspaces/0/id"),
        ],
        param: "id",
        under: &["/api/v2/workspaces/{id}"],
    },
    LinkSource {
        from: &[
            ("post", "/api/v2/workspaces/{id}/builds", "201", "/id"),
            ("get", "/api/v2/workspaces/{id}", "200", "/latest_build/id"),
        ],
        param: "id",
        under: &["/api/v2/workspacebuilds/{id}"],
    },
    LinkSource {
        from: &[
            ("post", "/api/experimental/chats", "201", "/id"),
            ("get", "/api/experimental/chats", "200", "/0/id"),
        ],
        param: "chat",
        under: &["/api/experimental/chats/{chat}"],
    },
    LinkSource {
        from: &[("post", "/api/experimental/chats/files", "201", "/id")],
        param: "file",
        under: &["/api/experimental/chats/files/{file}"],
    },
    LinkSource {
        from: &[
            ("post", "/api/experimental/chats/providers", "201", "/id"),
            ("get", "/api/experimental/chats/providers", "200", "/0/id"),
        ],
        param: "provider",
        under: &["/api/experimental/chats/providers/{provider}"],
    },
    LinkSource {
        from: &[
            ("post", "/api/experimental/chats/model-configs", "201", "/id"),
            ("get", "/api/experimental/chats/model-configs", "200", "/0/id"),
        ],
        param: "config",
        under: &["/api/experimental/chats/model-configs/{config}"],
    },
];

/// The document served at `/api/v2/openapi.json` (and committed as `docs/openapi.json`).
///
/// utoipa 5.5 serializes a link's fields in snake case (`operation_id`); OpenAPI spells them
/// `operationId`, `operationRef` and `requestBody`, so they are renamed here.
pub fn document() -> serde_json::Value {
    use utoipa::OpenApi as _;
    let mut doc = serde_json::to_value(crate::ApiDoc::openapi()).expect("the OpenAPI document serializes");
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for op in paths.values_mut().filter_map(|i| i.as_object_mut()).flat_map(|i| i.values_mut()) {
            let responses = op.get_mut("responses").and_then(|r| r.as_object_mut());
            for response in responses.into_iter().flat_map(|r| r.values_mut()) {
                let links = response.get_mut("links").and_then(|l| l.as_object_mut());
                for link in links.into_iter().flat_map(|l| l.values_mut()).filter_map(|l| l.as_object_mut()) {
                    for (from, to) in [("operation_id", "operationId"), ("operation_ref", "operationRef"), ("request_body", "requestBody")] {
                        if let Some(v) = link.remove(from) {
                            link.insert(to.to_string(), v);
                        }
                    }
                }
            }
        }
    }
    doc
}

/// The modifier `ApiDoc` applies; see the module docs.
pub struct Complete;

impl Modify for Complete {
    fn modify(&self, doc: &mut OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations_mut(item) {
                add_error_responses(method, path, op);
            }
        }
        unique_operation_ids(doc);
        add_links(doc);
        add_security(doc);
    }
}

fn operations_mut(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    let PathItem { get, put, post, delete, patch, .. } = item;
    [("get", get), ("put", put), ("post", post), ("delete", delete), ("patch", patch)]
        .into_iter()
        .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
        .collect()
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Response"))).build())
        .build()
        .into()
}

fn text_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    let text = Schema::Object(utoipa::openapi::schema::Object::with_type(Type::String));
    ResponseBuilder::new()
        .description(description)
        .content("text/plain; charset=utf-8", ContentBuilder::new().schema(Some(text)).build())
        .build()
        .into()
}

fn is_json_body(body: &Option<RequestBody>) -> bool {
    body.as_ref().is_some_and(|b| b.content.keys().any(|k| k == "application/json"))
}

/// A path parameter the handler parses (a UUID or an integer): a value that does not parse is a 400.
fn parsed_path_param(op: &Operation) -> bool {
    op.parameters.iter().flatten().any(|p| {
        p.parameter_in == ParameterIn::Path
            && matches!(&p.schema, Some(RefOr::T(Schema::Object(o)))
                if o.format == Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))
                    || matches!(o.schema_type, utoipa::openapi::schema::SchemaType::Type(Type::Integer)))
    })
}

fn add_error_responses(method: &str, path: &str, op: &mut Operation) {
    let public = PUBLIC.contains(&(method, path));
    let has_path_params = path.contains('{');
    let has_query = op.parameters.iter().flatten().any(|p| p.parameter_in == ParameterIn::Query);
    let json_body = is_json_body(&op.request_body);
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    if json_body || has_query || parsed_path_param(op) {
        wanted.push(("400", "The request is invalid: malformed JSON or parameters, or a field fails validation."));
    }
    if !public {
        wanted.push(("401", "No valid session or API key."));
    }
    if method != "get" {
        wanted.push(("403", "Not allowed (also: a cookie session used from another origin)."));
    }
    if has_path_params {
        wanted.push(("404", "The object does not exist or is not visible to the caller."));
    }
    if json_body {
        wanted.push(("413", "The request body is too large."));
    }
    wanted.push(("500", "An internal error."));
    let responses = &mut op.responses.responses;
    for (status, description) in wanted {
        responses.entry(status.to_string()).or_insert_with(|| error_response(description));
    }
    if WEBSOCKETS.contains(&path) {
        responses.insert("400".into(), text_response("Not a WebSocket upgrade request."));
        responses.insert("426".into(), text_response("The connection cannot be upgraded."));
    }
}

fn unique_operation_ids(doc: &mut OpenApi) {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            if let Some(id) = &op.operation_id {
                *count.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let module = module_of(path);
        for (_, op) in operations_mut(item) {
            if let Some(id) = &op.operation_id
                && count[id] > 1
            {
                op.operation_id = Some(format!("{module}_{id}"));
            }
        }
    }
}

/// The route module a path belongs to (as in `crate::routes`).
fn module_of(path: &str) -> &'static str {
    let rest = path.trim_start_matches("/api/v2/").trim_start_matches("/api/experimental/");
    match rest.split('/').next().unwrap_or_default() {
        "users" => "users",
        "organizations" if path.contains("/templates") => "templates",
        "organizations" if path.contains("/workspaces") => "workspaces",
        "organizations" => "orgs",
        "templates" => "templates",
        "workspaces" | "workspacebuilds" => "workspaces",
        "chats" if path.contains("/{chat}/") => "chat_messages",
        "chats" => "chats",
        _ => "meta",
    }
}

fn operation_id(doc: &OpenApi, method: &str, path: &str) -> Option<String> {
    let item = doc.paths.paths.get(path)?;
    let op = match method {
        "get" => item.get.as_ref(),
        "put" => item.put.as_ref(),
        "post" => item.post.as_ref(),
        "delete" => item.delete.as_ref(),
        "patch" => item.patch.as_ref(),
        _ => None,
    }?;
    op.operation_id.clone()
}

fn add_links(doc: &mut OpenApi) {
    // (source method, source path, status, link name, link)
    let mut planned: Vec<(&str, &str, &str, String, Link)> = Vec::new();
    for source in LINKS {
        for (path, item) in &doc.paths.paths {
            let path = path.as_str();
            if !source.under.iter().any(|p| path.starts_with(p)) || !path.contains(&format!("{{{}}}", source.param)) {
                continue;
            }
            let mut ops = item.clone();
            for (method, op) in operations_mut(&mut ops) {
                let Some(target) = op.operation_id.clone() else { continue };
                for &(from_method, from_path, status, pointer) in source.from {
                    if from_path == path && from_method == method {
                        continue;
                    }
                    let value = serde_json::Value::String(format!("$response.body#{pointer}"));
                    let link = Link::builder().operation_id(target.clone()).parameter(source.param, value).build();
                    planned.push((from_method, from_path, status, target.clone(), link));
                }
            }
        }
    }
    for (method, path, status, name, link) in planned {
        if operation_id(doc, method, path).is_none() {
            continue;
        }
        let Some(item) = doc.paths.paths.get_mut(path) else { continue };
        let Some(op) = operations_mut(item).into_iter().find(|(m, _)| *m == method).map(|(_, op)| op) else { continue };
        if let Some(RefOr::T(response)) = op.responses.responses.get_mut(status) {
            response.links.insert(name, RefOr::T(link));
        }
    }
}

fn add_security(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some("A session token or API key.")).build()),
    );
    components.add_security_scheme(
        "session_header",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(crate::auth::SESSION_HEADER))),
    );
    components.add_security_scheme(
        "session_cookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::SESSION_COOKIE))),
    );
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations_mut(item) {
            if PUBLIC.contains(&(method, path.as_str())) {
                continue;
            }
            op.security = Some(
                ["bearer", "session_header", "session_cookie"]
                    .into_iter()
                    .map(|s| SecurityRequirement::new(s, Vec::<String>::new()))
                    .collect(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    /// `docs/openapi.json` is the document the server serves at `/api/v2/openapi.json`; the web
    /// UI's types are generated from it (`cd site && npm run gen:api`). Regenerate it with
    /// `AGENTRY_UPDATE_OPENAPI=1 cargo test -p agentry-api --lib openapi`.
    #[test]
    fn the_committed_snapshot_is_current() {
        let doc = serde_json::to_string_pretty(&super::document()).expect("the document serializes") + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
        if std::env::var_os("AGENTRY_UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &doc).expect("writing docs/openapi.json");
            return;
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == doc,
            "docs/openapi.json is stale: run `AGENTRY_UPDATE_OPENAPI=1 cargo test -p agentry-api --lib openapi`, \
             then `cd site && npm run gen:api`, and commit both"
        );
    }

    #[test]
    fn operation_ids_are_unique_and_links_name_real_operations() {
        let doc = crate::ApiDoc::openapi();
        let mut ids = std::collections::BTreeSet::new();
        let mut item_ops = Vec::new();
        for item in doc.paths.paths.values() {
            for op in [&item.get, &item.put, &item.post, &item.delete, &item.patch].into_iter().flatten() {
                let id = op.operation_id.clone().expect("every operation has an id");
                assert!(ids.insert(id.clone()), "operation id {id} is used twice");
                item_ops.push(op.clone());
            }
        }
        let mut links = 0;
        for op in item_ops {
            for response in op.responses.responses.values() {
                if let utoipa::openapi::RefOr::T(r) = response {
                    for link in r.links.values() {
                        if let utoipa::openapi::RefOr::T(l) = link {
                            assert!(ids.contains(&l.operation_id), "a link names {}", l.operation_id);
                            links += 1;
                        }
                    }
                }
            }
        }
        assert!(links > 20, "only {links} links");
        let served = super::document().to_string();
        assert!(served.contains("\"operationId\"") && !served.contains("\"operation_id\""), "links spell operationId");
    }
}
