//! `/.well-known/matrix/*`: how clients and servers find this homeserver.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, response::IntoResponse};
use nexus_core::Error;
use serde_json::json;

use crate::error::ApiError;
use crate::router::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/.well-known/matrix/client", get(client)).route("/.well-known/matrix/server", get(server))
}

async fn client(State(state): State<AppState>) -> impl IntoResponse {
    let base_url = state.services.settings.server.client_base_url();
    let mut answer = json!({ "m.homeserver": { "base_url": base_url } });
    // MatrixRTC clients older than `/rtc/transports` look here (MSC4143).
    let transports = state.services.matrix_rtc.transports();
    if !transports.is_empty() {
        answer["org.matrix.msc4143.rtc_foci"] = json!(transports);
    }
    Json(answer)
}

async fn server(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    // Without a configured endpoint, other servers fall back to the server
    // name itself, which is what a 404 here tells them.
    match &state.services.settings.server.federation_endpoint {
        Some(endpoint) => Ok(Json(json!({ "m.server": endpoint }))),
        None => Err(ApiError(Error::NotFound("no federation delegation is configured".to_owned()))),
    }
}
