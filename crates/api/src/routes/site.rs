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
//!
//! Compression: text assets (scripts, styles, HTML, SVG, JSON) are served brotli- or
//! gzip-compressed as the request's `Accept-Encoding` allows (brotli preferred), with
//! `Vary: Accept-Encoding`. Each is compressed once, at the highest levels, the first time it is
//! asked for, and kept (the bundle is a few hundred kB); so `cargo build` needs no Node and no
//! build step of its own. The API's JSON is compressed by `tower-http` (see `crate::router`).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, LazyLock, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
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
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let encoding = Encoding::accepted(&headers);
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
        return asset_response(file, asset, cache, encoding);
    }
    if file.starts_with("assets/") {
        return ApiError::from(ClientError::AssetNotFound).into_response();
    }
    match Dist::get("index.html") {
        Some(index) => asset_response("index.html", index, REVALIDATE, encoding),
        None => html(NOT_BUILT),
    }
}

/// A content coding the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

impl Encoding {
    /// The best coding `Accept-Encoding` allows: brotli, then gzip (a `q=0` refuses one).
    fn accepted(headers: &HeaderMap) -> Encoding {
        let mut br = false;
        let mut gzip = false;
        for item in headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')) {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()).is_some_and(|q| q <= 0.0)
            });
            match name.as_str() {
                "br" => br = !refused,
                "gzip" => gzip = !refused,
                _ => {}
            }
        }
        if br {
            Encoding::Brotli
        } else if gzip {
            Encoding::Gzip
        } else {
            Encoding::Identity
        }
    }

    fn header(self) -> Option<&'static str> {
        match self {
            Encoding::Brotli => Some("br"),
            Encoding::Gzip => Some("gzip"),
            Encoding::Identity => None,
        }
    }
}

/// Whether a type is worth compressing (images and fonts are compressed already).
fn compressible(mime: &str) -> bool {
    mime.starts_with("text/")
        || mime.starts_with("application/javascript")
        || mime.starts_with("application/json")
        || mime.starts_with("image/svg+xml")
}

/// A compressed copy of an embedded file, by its path and encoding.
type CompressedFiles = HashMap<(String, Encoding), Arc<[u8]>>;

/// Compressed copies of the embedded files, made on first use.
static COMPRESSED: LazyLock<Mutex<CompressedFiles>> = LazyLock::new(Default::default);

fn compress(data: &[u8], encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Brotli => {
            let mut out = Vec::new();
            let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 22, ..Default::default() };
            brotli::BrotliCompress(&mut &data[..], &mut out, &params).expect("compressing into memory");
            out
        }
        Encoding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(data).expect("compressing into memory");
            e.finish().expect("compressing into memory")
        }
        Encoding::Identity => data.to_vec(),
    }
}

fn compressed(name: &str, data: &[u8], encoding: Encoding) -> Arc<[u8]> {
    let key = (name.to_string(), encoding);
    if let Some(c) = COMPRESSED.lock().expect("cache lock").get(&key) {
        return c.clone();
    }
    // Compressed outside the lock; two first requests at once may both compress (same result).
    let c: Arc<[u8]> = compress(data, encoding).into();
    COMPRESSED.lock().expect("cache lock").insert(key, c.clone());
    c
}

fn asset_response(name: &str, asset: rust_embed::EmbeddedFile, cache: &'static str, encoding: Encoding) -> Response {
    let mime = asset.metadata.mimetype().to_string();
    let encoding = if compressible(&mime) { encoding } else { Encoding::Identity };
    let mut res = match encoding {
        Encoding::Identity => Response::new(Body::from(asset.data.into_owned())),
        _ => Response::new(Body::from(axum::body::Bytes::from_owner(compressed(name, &asset.data, encoding)))),
    };
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if compressible(&mime) {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Some(e) = encoding.header() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
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
        serve(Method::GET, path.parse().unwrap(), HeaderMap::new()).await
    }

    #[tokio::test]
    async fn api_paths_stay_json_404s() {
        let res = get("/api/v2/nope").await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        let res = serve(Method::POST, "/agents".parse().unwrap(), HeaderMap::new()).await;
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

    #[test]
    fn accept_encoding_prefers_brotli_then_gzip() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            m
        };
        assert_eq!(Encoding::accepted(&h("br, gzip")), Encoding::Brotli);
        assert_eq!(Encoding::accepted(&h("gzip, deflate, br;q=0.5")), Encoding::Brotli);
        assert_eq!(Encoding::accepted(&h("gzip, br;q=0")), Encoding::Gzip);
        assert_eq!(Encoding::accepted(&h("identity")), Encoding::Identity);
        assert_eq!(Encoding::accepted(&HeaderMap::new()), Encoding::Identity);
    }

    #[test]
    fn both_codings_give_back_the_original_bytes() {
        use std::io::Read;
        let data = "const a = 1;\n".repeat(500).into_bytes();
        let br = compress(&data, Encoding::Brotli);
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut out).unwrap();
        assert_eq!(out, data);
        let gz = compress(&data, Encoding::Gzip);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        assert!(br.len() < data.len() / 10 && gz.len() < data.len() / 10);
    }

    #[tokio::test]
    async fn scripts_are_served_compressed_as_accepted() {
        let Some(name) = Dist::iter().find(|f| f.starts_with("assets/") && f.ends_with(".js")) else { return };
        let original = Dist::get(&name).unwrap().data.into_owned();
        for (accept, coding) in [("br, gzip", Some("br")), ("gzip", Some("gzip")), ("identity", None)] {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(accept));
            let res = serve(Method::GET, format!("/{name}").parse().unwrap(), h).await;
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(res.headers().get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap()), coding, "{accept}");
            assert_eq!(res.headers()[header::VARY], "accept-encoding");
            let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
            if coding.is_none() {
                assert_eq!(body.as_ref(), &original[..]);
            } else {
                assert!(body.len() < original.len() / 2, "{accept}: {} of {}", body.len(), original.len());
            }
        }
    }
}
