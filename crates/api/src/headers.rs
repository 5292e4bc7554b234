//! Security headers on every response. The web UI is a static bundle that loads only its own
//! scripts, styles and API, so the policy allows nothing else: no inline script or style, no
//! other origins, never framed. The chat sockets connect to the access URL's own host, named
//! explicitly as `ws(s)://` because older browsers do not count WebSocket URLs as `'self'`.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// The Content-Security-Policy for a deployment reached at `access_url`.
pub(crate) fn content_security_policy(access_url: &str) -> String {
    let origin = crate::csrf::origin_of(access_url);
    let socket = match origin.split_once("://") {
        Some(("https", rest)) => format!(" wss://{rest}"),
        Some((_, rest)) => format!(" ws://{rest}"),
        None => String::new(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         font-src 'self'; connect-src 'self'{socket}; object-src 'none'; base-uri 'self'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

pub(crate) async fn security_headers(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let mut set = |name: HeaderName, value: HeaderValue| {
        h.entry(name).or_insert(value);
    };
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(&s.config.access_url)) {
        set(header::CONTENT_SECURITY_POLICY, csp);
    }
    set(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    set(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    set(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if s.config.access_url.trim().to_ascii_lowercase().starts_with("https://") {
        set(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    res
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_policy_names_the_deployments_own_socket_origin() {
        let p = super::content_security_policy("https://agents.example.com/");
        assert!(p.contains("connect-src 'self' wss://agents.example.com;"), "{p}");
        assert!(p.contains("frame-ancestors 'none'") && p.contains("script-src 'self';"), "{p}");
        assert!(!p.contains("unsafe"), "{p}");
        let p = super::content_security_policy("http://127.0.0.1:3000");
        assert!(p.contains("connect-src 'self' ws://127.0.0.1:3000;"), "{p}");
    }
}
