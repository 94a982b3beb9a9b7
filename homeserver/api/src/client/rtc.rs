//! `GET /_matrix/client/unstable/org.matrix.msc4143/rtc/transports`
//! (MSC4143): the media servers this homeserver offers for calls.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::json;

use crate::extract::Authed;
use crate::router::AppState;

pub async fn transports(State(state): State<AppState>, Authed(_caller): Authed) -> impl IntoResponse {
    Json(json!({ "rtc_transports": state.services.matrix_rtc.transports() }))
}
