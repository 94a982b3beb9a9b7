//! `GET /_matrix/client/versions` (spec: client-server API, "API standards").

use axum::Json;
use axum::response::IntoResponse;
use serde_json::json;

/// The spec versions whose account and session endpoints Nexus serves.
/// Clients pick endpoint versions from this list (v3 paths since v1.1);
/// features that later releases add are listed here only once they exist.
const VERSIONS: &[&str] =
    &["v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12"];

pub async fn supported_versions() -> impl IntoResponse {
    Json(json!({
        "versions": VERSIONS,
        // Simplified sliding sync (MSC4186 in ruma's v5 format): Element X
        // and matrix-sdk-ui refuse servers that do not list it.
        "unstable_features": { "org.matrix.simplified_msc3575": true },
    }))
}
