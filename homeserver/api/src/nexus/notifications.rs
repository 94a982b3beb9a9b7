//! Notification levels per server and per channel (extensions-spec §22, notification levels):
//! thin handlers over `core::guilds::notification_levels`. The same
//! handlers serve a server (its space id) and a channel (its room id).

use axum::Json;
use axum::extract::State;
use serde_json::Value;

use crate::error::ApiResult;
use crate::extract::{Authed, JsonBody, PathParams};
use crate::ids::room_id;
use crate::router::AppState;

pub async fn get(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let room = room_id(&raw)?;
    Ok(Json(state.services.notification_levels.get(&caller.user_id, &room).await?))
}

pub async fn put(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let room = room_id(&raw)?;
    Ok(Json(state.services.notification_levels.set(&caller.user_id, &room, &body).await?))
}
