//! Voice channels (extensions-spec §22): who is in a channel's call, and
//! moderators' server mute, deafen and disconnect. Thin over
//! `core::matrix_rtc::voice`.

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use nexus_core::matrix_rtc::voice::ModerationChange;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, PathParams};
use crate::ids::{room_id, user_id};
use crate::router::AppState;

/// `GET /channels/{roomId}/voice`.
pub async fn voice_state(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let room = room_id(&raw)?;
    let participants = state.services.matrix_rtc.voice_state(&caller.user_id, &room).await?;
    let participants: Vec<Value> = participants
        .iter()
        .map(|p| {
            json!({
                "user_id": p.user_id,
                "devices": p.devices,
                "server_mute": p.moderation.mute,
                "server_deaf": p.moderation.deaf,
            })
        })
        .collect();
    Ok(Json(json!({ "participants": participants })))
}

#[derive(Deserialize)]
pub struct ModerationBody {
    mute: Option<bool>,
    deaf: Option<bool>,
}

/// `PUT /channels/{roomId}/voice/{userId}` with `mute` and/or `deaf`.
pub async fn moderate(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_room, raw_user)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<ModerationBody>,
) -> ApiResult<Json<Value>> {
    let (room, target) = (room_id(&raw_room)?, user_id(&raw_user)?);
    if body.mute.is_none() && body.deaf.is_none() {
        return Err(ApiError(Error::MissingParam("mute or deaf is needed".to_owned())));
    }
    let change = ModerationChange { mute: body.mute, deaf: body.deaf };
    state.services.matrix_rtc.moderate(&caller.user_id, &room, &target, change).await?;
    Ok(Json(json!({})))
}

/// `POST /channels/{roomId}/voice/{userId}/disconnect`.
pub async fn disconnect(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_room, raw_user)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (room, target) = (room_id(&raw_room)?, user_id(&raw_user)?);
    let ended = state.services.matrix_rtc.disconnect(&caller.user_id, &room, &target).await?;
    Ok(Json(json!({ "ended_memberships": ended })))
}
