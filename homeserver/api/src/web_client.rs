//! The Nexus web client (`clients/web`), served at `/` from a built
//! directory when one is configured. API paths never reach it: an unknown
//! `/_matrix/…` path is still the spec's `M_UNRECOGNIZED`.

use std::path::PathBuf;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// Paths that belong to the APIs (the client-server, federation, media,
/// admin and Nexus APIs, discovery, the bot API and the SFU).
const API_PREFIXES: [&str; 6] = ["/_matrix", "/_synapse", "/_nexus", "/.well-known", "/api/", "/twirp"];

/// What the client may load: its own files and WASM, and API requests to
/// any homeserver the user points it at; no third-party scripts, frames or
/// styles, whatever a message contains.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; media-src 'self' blob:; \
     connect-src 'self' http: https: ws: wss:; worker-src 'self' blob:; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'; object-src 'none'";

#[derive(Clone, Debug)]
pub struct WebClient {
    /// The build's files; any other path is the app itself (its routes live
    /// in the URL's fragment, but a reload of a deep link still works). The
    /// build ships a `.gz` beside each file (scripts/web-client.sh): served
    /// to browsers that accept it, nothing compressed per request.
    files: ServeDir<ServeFile>,
}

impl WebClient {
    /// The built client in `dir`, which must hold its `index.html`.
    pub fn new(dir: PathBuf) -> std::io::Result<WebClient> {
        let index = dir.join("index.html");
        if !index.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} has no index.html (build the client with scripts/web-client.sh)", dir.display()),
            ));
        }
        let index = ServeFile::new(index).precompressed_gzip();
        Ok(WebClient { files: ServeDir::new(dir).precompressed_gzip().fallback(index) })
    }

    /// Whether this request is for the client rather than an API.
    pub fn serves(&self, request: &Request) -> bool {
        let path = request.uri().path();
        (request.method() == Method::GET || request.method() == Method::HEAD)
            && !API_PREFIXES.iter().any(|prefix| path.starts_with(prefix))
    }

    /// A file of the client, with the headers every one carries.
    pub async fn respond(&self, request: Request) -> Response {
        let immutable = request.uri().path().starts_with("/assets/");
        let mut response = match self.files.clone().oneshot(request).await {
            Ok(response) => response.into_response(),
            Err(never) => match never {},
        };
        let headers = response.headers_mut();
        // Vite names assets by their hash, so they never change; the page does.
        let cache = if immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        response
    }
}
