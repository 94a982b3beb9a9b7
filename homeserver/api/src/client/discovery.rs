//! Learning about rooms without reading them: a room's aliases, its
//! summary (MSC3266, stable in v1.15), and the rooms two users share.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::Error;
use ruma::{OwnedRoomId, RoomAliasId, RoomId};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, PathParams, QueryParams};
use crate::ids::{room_id, user_id};
use crate::router::AppState;

pub async fn aliases(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw_room_id): PathParams<String>,
) -> ApiResult<impl IntoResponse> {
    let room_id = room_id(&raw_room_id)?;
    let aliases = state.services.rooms.local_aliases(&caller.user_id, &room_id).await?;
    Ok(Json(json!({ "aliases": aliases })))
}

pub async fn summary(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(room_id_or_alias): PathParams<String>,
) -> ApiResult<impl IntoResponse> {
    let room_id: OwnedRoomId = if room_id_or_alias.starts_with('#') {
        let alias = <&RoomAliasId>::try_from(room_id_or_alias.as_str())
            .map_err(|e| ApiError(Error::InvalidParam(format!("not a room alias: {e}"))))?;
        state.services.federation.resolve_alias(alias).await?.0
    } else {
        <&RoomId>::try_from(room_id_or_alias.as_str())
            .map_err(|e| ApiError(Error::InvalidParam(format!("not a room id or alias: {e}"))))?
            .to_owned()
    };
    Ok(Json(state.services.rooms.room_summary(&caller.user_id, &room_id).await?))
}

#[derive(Deserialize)]
pub struct MutualRoomsQuery {
    user_id: String,
}

pub async fn mutual_rooms(
    State(state): State<AppState>,
    Authed(caller): Authed,
    QueryParams(query): QueryParams<MutualRoomsQuery>,
) -> ApiResult<impl IntoResponse> {
    let other = user_id(&query.user_id)?;
    let joined = state.services.rooms.mutual_rooms(&caller.user_id, &other).await?;
    Ok(Json(json!({ "count": joined.len(), "joined": joined })))
}

#[derive(Deserialize)]
pub struct UserSearch {
    search_term: String,
    limit: Option<u64>,
}

/// The spec's default page size, and the most one search returns.
const DEFAULT_LIMIT: u64 = 10;
const MAX_LIMIT: u64 = 50;

pub async fn search_users(
    State(state): State<AppState>,
    Authed(caller): Authed,
    JsonBody(body): JsonBody<UserSearch>,
) -> ApiResult<impl IntoResponse> {
    let limit = body.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT) as usize;
    let (results, limited) = state.services.rooms.search_users(&caller.user_id, &body.search_term, limit).await?;
    Ok(Json(json!({ "results": results, "limited": limited })))
}
