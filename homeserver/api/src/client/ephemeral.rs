//! Typing, receipts and read markers (spec: client-server API, "Typing
//! notifications", "Receipts", "Read markers").

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::Error;
use ruma::{OwnedEventId, OwnedUserId};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, PathParams};
use crate::ids::{event_id, room_id};
use crate::router::AppState;

#[derive(Deserialize)]
pub struct TypingBody {
    typing: bool,
    timeout: Option<u64>,
}

pub async fn typing(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_room_id, raw_user)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<TypingBody>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let user =
        OwnedUserId::try_from(raw_user).map_err(|e| ApiError(Error::InvalidParam(format!("not a user id: {e}"))))?;
    if user != caller.user_id {
        return Err(ApiError(Error::Forbidden("you may only set your own typing state".to_owned())));
    }
    let typing = body.typing.then(|| Duration::from_millis(body.timeout.unwrap_or(30_000)));
    state.services.set_typing(&room_id, &user, typing).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
pub struct ReceiptBody {
    thread_id: Option<String>,
}

pub async fn receipt(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_room_id, kind, raw_event_id)): PathParams<(String, String, String)>,
    JsonBody(body): JsonBody<ReceiptBody>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let event_id = event_id(&raw_event_id)?;
    let thread_id = body.thread_id;
    let markers = &state.services.read_markers;
    markers.mark(&caller.user_id, &caller.device_id, &room_id, &kind, &event_id, thread_id.as_deref()).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct ReadMarkersBody {
    #[serde(rename = "m.fully_read")]
    fully_read: Option<OwnedEventId>,
    #[serde(rename = "m.read")]
    read: Option<OwnedEventId>,
    #[serde(rename = "m.read.private")]
    read_private: Option<OwnedEventId>,
}

pub async fn read_markers(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_room_id): PathParams<String>,
    JsonBody(body): JsonBody<ReadMarkersBody>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let markers = &state.services.read_markers;
    for (kind, event) in
        [("m.fully_read", body.fully_read), ("m.read", body.read), ("m.read.private", body.read_private)]
    {
        if let Some(event_id) = event {
            markers.mark(&caller.user_id, &caller.device_id, &room_id, kind, &event_id, None).await?;
        }
    }
    Ok(Json(json!({})))
}
