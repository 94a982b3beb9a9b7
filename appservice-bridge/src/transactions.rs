//! The appservice side: `PUT /_matrix/app/v1/transactions/{txnId}` from the
//! homeserver (authenticated with the `hs_token`), user and alias queries
//! (the bridge creates nothing on demand) and ping.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use crate::Bridge;

/// The routes a homeserver calls, under the registration's `url`.
pub fn router() -> Router<Arc<Bridge>> {
    Router::new()
        .route("/_matrix/app/v1/transactions/{txn_id}", put(transaction))
        .route("/_matrix/app/v1/users/{user_id}", get(not_found))
        .route("/_matrix/app/v1/rooms/{alias}", get(not_found))
        .route("/_matrix/app/v1/ping", post(ping))
}

fn matrix_error(status: StatusCode, errcode: &str, error: &str) -> Response {
    (status, Json(json!({"errcode": errcode, "error": error}))).into_response()
}

/// The refusal of a request without the right `hs_token`, if it is one.
fn refusal(bridge: &Bridge, headers: &HeaderMap) -> Option<Response> {
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match token {
        Some(token) if token == bridge.config.hs_token => None,
        Some(_) => Some(matrix_error(StatusCode::FORBIDDEN, "M_FORBIDDEN", "wrong hs_token")),
        None => Some(matrix_error(StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED", "no hs_token")),
    }
}

async fn transaction(
    State(bridge): State<Arc<Bridge>>,
    Path(txn_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = refusal(&bridge, &headers) {
        return refused;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return matrix_error(StatusCode::BAD_REQUEST, "M_NOT_JSON", "the transaction is not JSON");
    };
    if bridge.first_sight_of_transaction(&txn_id) {
        for event in body["events"].as_array().into_iter().flatten() {
            if let Err(e) = bridge.on_event(event).await {
                // One event the bridge cannot translate must not block the
                // rest of the homeserver's queue.
                tracing::warn!(error = %e, event_id = ?event["event_id"], "bridge: an event was not dispatched");
            }
        }
        // MSC2409: stable name first, else the unstable one.
        let ephemeral = body.get("ephemeral").or_else(|| body.get("de.sorunome.msc2409.ephemeral"));
        for event in ephemeral.and_then(Value::as_array).into_iter().flatten() {
            if let Err(e) = bridge.on_ephemeral(event).await {
                tracing::warn!(error = %e, "bridge: an ephemeral event was not dispatched");
            }
        }
    }
    Json(json!({})).into_response()
}

async fn not_found(State(bridge): State<Arc<Bridge>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&bridge, &headers) {
        return refused;
    }
    matrix_error(StatusCode::NOT_FOUND, "M_NOT_FOUND", "the bridge creates nothing on demand")
}

async fn ping(State(bridge): State<Arc<Bridge>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&bridge, &headers) {
        return refused;
    }
    Json(json!({})).into_response()
}
