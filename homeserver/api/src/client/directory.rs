//! Room aliases (spec: client-server API, "Room aliases").

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use nexus_core::Error;
use ruma::{OwnedRoomAliasId, OwnedRoomId};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody};
use crate::router::AppState;

fn alias(raw: &str) -> Result<OwnedRoomAliasId, ApiError> {
    OwnedRoomAliasId::try_from(raw).map_err(|e| ApiError(Error::InvalidParam(format!("not a room alias: {e}"))))
}

pub async fn resolve(State(state): State<AppState>, Path(raw_alias): Path<String>) -> ApiResult<impl IntoResponse> {
    let alias = alias(&raw_alias)?;
    let room_id = state.services.rooms.alias_info(&alias).await?;
    Ok(Json(json!({ "room_id": room_id, "servers": [state.services.server_name()] })))
}

#[derive(Deserialize)]
pub struct CreateAlias {
    room_id: OwnedRoomId,
}

pub async fn create(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Path(raw_alias): Path<String>,
    JsonBody(body): JsonBody<CreateAlias>,
) -> ApiResult<impl IntoResponse> {
    let alias = alias(&raw_alias)?;
    state.services.rooms.create_alias(&caller.user_id, &alias, &body.room_id).await?;
    Ok(Json(json!({})))
}

pub async fn delete(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Path(raw_alias): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let alias = alias(&raw_alias)?;
    state.services.rooms.delete_alias(&caller.user_id, &alias).await?;
    Ok(Json(json!({})))
}
