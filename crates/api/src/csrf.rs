//! Same-origin checks for requests authenticated by the session cookie.
//!
//! The browser attaches the session cookie to requests any page makes to the deployment, and
//! `SameSite=Lax` does not stop a page on the same *site* (another port of the same host, a
//! sibling subdomain) or a WebSocket handshake. So a request that authenticates with the
//! cookie must show it comes from the deployment's own pages:
//! - a WebSocket upgrade must carry the access URL's `Origin`, or none (a browser always sends
//!   one, so no `Origin` means a non-browser client);
//! - any other request that is not `GET`/`HEAD`/`OPTIONS` must carry the access URL's `Origin`
//!   or `Sec-Fetch-Site: same-origin` (computed by the browser, a page cannot forge it).
//!
//! Requests carrying a token header (`Authorization`, `Coder-Session-Token`) are not affected:
//! a foreign page cannot make the browser add those. Nor are requests without the cookie: they
//! are either unauthenticated or refused by [`crate::auth::Auth`].

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::{SESSION_COOKIE, SESSION_HEADER};
use crate::error::{ApiError, ClientError};

/// `scheme://host[:port]` of a URL, lowercased, without a default port: what browsers send as
/// `Origin`.
pub(crate) fn origin_of(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url.as_str()));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = match (scheme, authority.rsplit_once(':')) {
        ("http", Some((host, "80"))) | ("https", Some((host, "443"))) => host,
        _ => authority,
    };
    format!("{scheme}://{authority}")
}

fn has_cookie_session(h: &HeaderMap) -> bool {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .any(|(k, v)| k == SESSION_COOKIE && !v.is_empty())
}

fn is_websocket_upgrade(req: &Request) -> bool {
    req.method() == Method::GET
        && req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The middleware: refuses cookie-authenticated requests that do not come from the
/// deployment's own origin (see the module docs) with 403.
pub(crate) async fn same_origin(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let h = req.headers();
    let by_header = h.contains_key(header::AUTHORIZATION) || h.contains_key(SESSION_HEADER);
    if by_header || !has_cookie_session(h) {
        return next.run(req).await;
    }
    let origin = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(origin_of);
    let ours = origin_of(&s.config.access_url);
    let allowed = if is_websocket_upgrade(&req) {
        origin.as_deref().is_none_or(|o| o == ours)
    } else if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        true
    } else {
        let same_origin_fetch =
            h.get("sec-fetch-site").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("same-origin"));
        origin.as_deref().is_some_and(|o| o == ours) || same_origin_fetch
    };
    if allowed {
        next.run(req).await
    } else {
        tracing::info!(method = %req.method(), path = %req.uri().path(), origin = ?origin, "refused a cross-origin request authenticated by cookie");
        ApiError::from(ClientError::CrossOriginRequest).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn origins_drop_paths_case_and_default_ports() {
        assert_eq!(origin_of("http://127.0.0.1:3000"), "http://127.0.0.1:3000");
        assert_eq!(origin_of("https://Agents.Example.com/"), "https://agents.example.com");
        assert_eq!(origin_of("https://agents.example.com:443/x?y"), "https://agents.example.com");
        assert_eq!(origin_of("http://agents.example.com:80"), "http://agents.example.com");
        assert_eq!(origin_of("http://agents.example.com:8080"), "http://agents.example.com:8080");
        assert_eq!(origin_of("http://[::1]:80"), "http://[::1]");
        assert_ne!(origin_of("http://127.0.0.1:3001"), origin_of("http://127.0.0.1:3000"));
    }
}
