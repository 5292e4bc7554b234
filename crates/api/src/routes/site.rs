//! The web UI: `site/dist` embedded at compile time and served at `/` with an SPA fallback.
//!
//! Every GET or HEAD outside `/api` and `/healthz` that names no embedded file answers
//! `index.html`, so the client-side router owns those paths. Missing files under `/assets/` stay
//! 404s: answering HTML for a script or stylesheet would only hide a stale deployment.
//!
//! The assets are embedded when the crate is compiled (also in debug builds), so the binary is
//! self-contained. `site/dist` may be absent — `cargo build` must not need Node — and then `/`
//! answers a short page saying how to build the UI. `build.rs` makes cargo recompile this crate
//! when `site/dist` appears or changes.
//!
//! Security headers (a strict Content-Security-Policy among them) are added to every response
//! by `crate::headers`; the UI bundle needs no inline script or style.
//!
//! Caching: files under `/assets/` carry a content hash in their names (Vite), so they are
//! immutable; `index.html` and anything else is revalidated on every load.

use axum::body::Body;
use axum::http::{HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::{ApiError, ClientError};

#[derive(RustEmbed)]
#[folder = "../../site/dist"]
#[allow_missing = true]
struct Dist;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

const NOT_BUILT: &str = "<!doctype html>
<html lang=\"en\">
<head><meta charset=\"utf-8\"><title>agentry: web UI not built</title></head>
<body>
<h1>The web UI was not built</h1>
<p>This agentry binary was compiled without <code>site/dist</code>, so it serves the API only.
To get the web UI, build it and then the server:</p>
<pre>(cd site &amp;&amp; npm ci &amp;&amp; npm run build) &amp;&amp; cargo run --release -p agentry -- server</pre>
<p>The API is described at <a href=\"/api/v2/openapi.json\">/api/v2/openapi.json</a>.</p>
</body>
</html>
";

/// The router's fallback: JSON 404 for unknown API routes, the UI for everything else.
pub async fn serve(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") || !(method == Method::GET || method == Method::HEAD) {
        return ApiError::from(ClientError::RouteNotFound).into_response();
    }
    let file = path.trim_start_matches('/');
    if !file.is_empty()
        && file != "index.html"
        && let Some(asset) = Dist::get(file)
    {
        let cache = if file.starts_with("assets/") { IMMUTABLE } else { REVALIDATE };
        return asset_response(asset, cache);
    }
    if file.starts_with("assets/") {
        return ApiError::from(ClientError::AssetNotFound).into_response();
    }
    match Dist::get("index.html") {
        Some(index) => asset_response(index, REVALIDATE),
        None => html(NOT_BUILT),
    }
}

fn asset_response(asset: rust_embed::EmbeddedFile, cache: &'static str) -> Response {
    let mime = asset.metadata.mimetype().to_string();
    let mut res = Response::new(Body::from(asset.data.into_owned()));
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

fn html(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE)),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    async fn get(path: &str) -> Response {
        serve(Method::GET, path.parse().unwrap()).await
    }

    #[tokio::test]
    async fn api_paths_stay_json_404s() {
        let res = get("/api/v2/nope").await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        let res = serve(Method::POST, "/agents".parse().unwrap()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn client_routes_answer_the_app_or_the_not_built_page() {
        for path in ["/", "/agents", "/agents/0b6c7c1e-0000-4000-8000-000000000000", "/settings/providers"] {
            let res = get(path).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            assert!(res.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{path}");
            assert_eq!(res.headers()[header::CACHE_CONTROL], REVALIDATE, "{path}");
        }
    }

    #[tokio::test]
    async fn hashed_assets_are_immutable_and_missing_ones_404() {
        if let Some(name) = Dist::iter().find(|f| f.starts_with("assets/")) {
            let res = get(&format!("/{name}")).await;
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(res.headers()[header::CACHE_CONTROL], IMMUTABLE);
        }
        assert_eq!(get("/assets/missing-0000.js").await.status(), StatusCode::NOT_FOUND);
    }
}
