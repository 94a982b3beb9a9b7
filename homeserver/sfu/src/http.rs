//! LiveKit's client-facing HTTP surface: the signalling WebSocket at
//! `rtc`, its `rtc/validate` check, and `rtc/v1` answered 404 so clients
//! fall back to the v0 protocol this server speaks (LiveKit's SDKs try v1
//! first and fall back only on a 404). The browser's validate request is
//! cross-origin, so these answers allow any origin.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

use crate::Inner;
use crate::signal::{self, ConnectOptions};
use crate::token::{Grants, TokenError};

pub fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/rtc", get(connect))
        .route("/rtc/validate", get(validate))
        .route("/rtc/v1", any(v1_absent))
        .route("/rtc/v1/validate", any(v1_absent))
        .route("/twirp/livekit.RoomService/{method}", post(crate::twirp::call))
        .route("/metrics", get(metrics))
        .with_state(inner)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut response = (status, body.into()).into_response();
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

/// The token from `Authorization: Bearer` (LiveKit's Rust and Python
/// SDKs) or the `access_token` query parameter (browsers, which cannot
/// set headers on a WebSocket).
pub fn bearer(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    header.and_then(|h| h.strip_prefix("Bearer ").map(str::to_owned)).or_else(|| query.get("access_token").cloned())
}

// The refusal is the HTTP answer itself, built once per refused request;
// boxing it would only add an allocation to the path that matters less.
#[allow(clippy::result_large_err)]
fn check(inner: &Inner, headers: &HeaderMap, query: &HashMap<String, String>) -> Result<Grants, Response> {
    let token = bearer(headers, query).ok_or_else(|| text(StatusCode::UNAUTHORIZED, "permissions denied: no token"))?;
    let grants =
        inner.keys.verify(&token, crate::now_secs()).map_err(|e| text(StatusCode::UNAUTHORIZED, e.to_string()))?;
    grants.require_join().map_err(|e| match e {
        TokenError::Incomplete(_) => text(StatusCode::BAD_REQUEST, e.to_string()),
        _ => text(StatusCode::UNAUTHORIZED, e.to_string()),
    })?;
    Ok(grants)
}

/// A query flag as LiveKit reads it: `1` or `true`.
fn flag(query: &HashMap<String, String>, name: &str) -> Option<bool> {
    query.get(name).map(|v| v == "1" || v == "true")
}

async fn connect(
    State(inner): State<Arc<Inner>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return text(StatusCode::NOT_FOUND, "the signalling endpoint takes a WebSocket");
    };
    let grants = match check(&inner, &headers, &query) {
        Ok(grants) => grants,
        Err(refused) => return refused,
    };
    let options = ConnectOptions {
        auto_subscribe: flag(&query, "auto_subscribe").unwrap_or(true),
        reconnect: flag(&query, "reconnect").unwrap_or(false),
    };
    upgrade
        .max_message_size(signal::MAX_MESSAGE)
        .max_frame_size(signal::MAX_MESSAGE)
        .on_upgrade(move |socket| signal::serve(socket, inner, grants, options))
}

async fn validate(
    State(inner): State<Arc<Inner>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    match check(&inner, &headers, &query) {
        Ok(_) => text(StatusCode::OK, "success"),
        Err(refused) => refused,
    }
}

async fn v1_absent() -> Response {
    text(StatusCode::NOT_FOUND, "signalling v1 is not served here; use /rtc")
}

/// Counters in Prometheus's text format, for whoever holds a token with
/// `roomList` (the operator: the API key is theirs).
async fn metrics(
    State(inner): State<Arc<Inner>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let allowed = bearer(&headers, &query)
        .and_then(|token| inner.keys.verify(&token, crate::now_secs()).ok())
        .is_some_and(|grants| grants.video.room_list);
    if !allowed {
        return text(StatusCode::UNAUTHORIZED, "a token with roomList is needed");
    }
    let mut body = String::new();
    for (name, help, value) in inner.media.stats().snapshot() {
        let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
        body.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
