//! `GET /_matrix/client/versions` (spec: client-server API, "API standards").

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::json;

use crate::router::AppState;

/// The spec versions whose account and session endpoints Nexus serves.
/// Clients pick endpoint versions from this list (v3 paths since v1.1);
/// features that later releases add are listed here only once they exist.
const VERSIONS: &[&str] =
    &["v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12"];

pub async fn supported_versions(State(state): State<AppState>) -> impl IntoResponse {
    Json(json!({
        "versions": VERSIONS,
        "unstable_features": {
            // Simplified sliding sync (MSC4186 in ruma's v5 format): Element X
            // and matrix-sdk-ui refuse servers that do not list it.
            "org.matrix.simplified_msc3575": true,
            // Delayed events: Element Call's "leave when I vanish".
            "org.matrix.msc4140": true,
            // Profile fields beyond name and avatar (MSC4133, in the spec
            // since v1.16) on the v3 paths: matrix-js-sdk offers its
            // extended-profile calls only to servers listing this.
            "uk.tcpip.msc4133.stable": true,
            // MatrixRTC transports, when a media server is configured.
            "org.matrix.msc4143": !state.services.matrix_rtc.transports().is_empty(),
        },
    }))
}
