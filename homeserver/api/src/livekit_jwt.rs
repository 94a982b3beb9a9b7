//! The built-in LiveKit token service (lk-jwt-service's API, MSC4195),
//! served under `[matrix_rtc] token_service_path` when a LiveKit server is
//! configured: `POST /sfu/get` (legacy), `POST /get_token`,
//! `POST /delegate_delayed_leave`, `GET /healthz`.
//! Callers authenticate with an OpenID token, not an access token: Element
//! Call on another homeserver uses it too.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use nexus_core::matrix_rtc::{OpenIdToken, TokenRequest};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::router::AppState;

pub fn routes(state: &AppState) -> Router<AppState> {
    let Some(base) = state.services.matrix_rtc.token_service_path() else { return Router::new() };
    let base = base.trim_end_matches('/');
    Router::new()
        .route(&format!("{base}/sfu/get"), post(legacy))
        .route(&format!("{base}/get_token"), post(get_token))
        .route(&format!("{base}/delegate_delayed_leave"), post(delegate_delayed_leave))
        .route(&format!("{base}/healthz"), get(healthz))
}

#[derive(Deserialize)]
struct OpenIdBody {
    access_token: String,
    matrix_server_name: String,
}

impl From<OpenIdBody> for OpenIdToken {
    fn from(body: OpenIdBody) -> Self {
        OpenIdToken { access_token: body.access_token, matrix_server_name: body.matrix_server_name }
    }
}

/// `/sfu/get`. Delayed-leave delegation fields (`delay_id`, …) are
/// accepted and not acted on: Nexus's own delayed events keep the
/// client's membership honest without it.
#[derive(Deserialize)]
pub struct LegacyBody {
    room: String,
    openid_token: OpenIdBody,
    device_id: String,
}

#[derive(Deserialize)]
struct MemberBody {
    id: String,
    claimed_user_id: String,
    claimed_device_id: String,
}

#[derive(Deserialize)]
pub struct GetTokenBody {
    room_id: String,
    slot_id: String,
    openid_token: OpenIdBody,
    member: MemberBody,
}

async fn legacy(State(state): State<AppState>, JsonBody(body): JsonBody<LegacyBody>) -> ApiResult<impl IntoResponse> {
    let request = TokenRequest::Legacy { room: body.room, device_id: body.device_id };
    let token = state.services.matrix_rtc.join_token(&body.openid_token.into(), request).await?;
    Ok(Json(json!({ "url": token.url, "jwt": token.jwt })))
}

async fn get_token(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<GetTokenBody>,
) -> ApiResult<impl IntoResponse> {
    let request = TokenRequest::Member {
        room_id: body.room_id,
        slot_id: body.slot_id,
        member_id: body.member.id,
        claimed_user_id: body.member.claimed_user_id,
        claimed_device_id: body.member.claimed_device_id,
    };
    let token = state.services.matrix_rtc.join_token(&body.openid_token.into(), request).await?;
    Ok(Json(json!({ "url": token.url, "jwt": token.jwt })))
}

#[derive(Deserialize)]
pub struct DelegateBody {
    room_id: String,
    slot_id: String,
    openid_token: OpenIdBody,
    member: MemberBody,
    delay_id: String,
    /// Milliseconds.
    delay_timeout: u64,
}

/// `/delegate_delayed_leave`. `delay_cs_api_url` is not read: only this
/// server's own users delegate, and their delayed event is here.
async fn delegate_delayed_leave(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DelegateBody>,
) -> ApiResult<impl IntoResponse> {
    let member = TokenRequest::Member {
        room_id: body.room_id,
        slot_id: body.slot_id,
        member_id: body.member.id,
        claimed_user_id: body.member.claimed_user_id,
        claimed_device_id: body.member.claimed_device_id,
    };
    let delay = std::time::Duration::from_millis(body.delay_timeout);
    let rtc = &state.services.matrix_rtc;
    rtc.delegate_delayed_leave(&body.openid_token.into(), member, &body.delay_id, delay).await?;
    Ok(Json(json!({})))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({}))
}
