//! What an admin does with a room beyond the list and its details:
//! read its history (messages, context, the event at a time, any event by
//! id), see its forward extremities, put a user in it, make a user its
//! admin — Synapse's shapes; synapse-admin's room messages tab reads
//! `timestamp_to_event`, then `context`, then `messages`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use nexus_core::Error;
use nexus_core::rooms::Direction;
use ruma::{OwnedRoomId, OwnedUserId, RoomAliasId, RoomId};
use serde_json::{Map, Value, json};

use super::Admin;
use super::query::{legal_room, query_int};
use crate::client::room_events::{context_body, messages_body, messages_query, parse_filter};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::router::AppState;

/// A room id, or a local alias resolved.
async fn room_or_alias(state: &AppState, raw: &str) -> Result<OwnedRoomId, ApiError> {
    if let Ok(room) = RoomId::parse(raw) {
        return Ok(room);
    }
    let Ok(alias) = <&RoomAliasId>::try_from(raw) else {
        return Err(ApiError(Error::BadRequest(format!("{raw} was not legal room ID or room alias"))));
    };
    match state.services.rooms.resolve_alias(alias).await {
        Ok(room) => Ok(room),
        Err(Error::NotFound(_)) => Err(ApiError(Error::BadRequest(format!("Unknown room ID or room alias {raw}")))),
        Err(e) => Err(ApiError(e)),
    }
}

/// `GET /_synapse/admin/v1/rooms/{roomId}/messages`: every event,
/// whatever the room's history visibility.
pub async fn messages(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let room = legal_room(&raw)?;
    let limit = query_int(&query, "limit", 10)?.min(1000);
    let from = query.get("from").filter(|f| f.as_str() != "END").cloned();
    let dir = query.get("dir").map_or("f", String::as_str);
    let messages =
        messages_query(dir, from, query.get("to").cloned(), Some(limit), query.get("filter").map(String::as_str))?;
    let page = state.services.admin_room_messages(&caller.0, &room, messages).await?;
    Ok(Json(messages_body(page)))
}

/// `GET /_synapse/admin/v1/rooms/{roomId}/context/{eventId}`.
pub async fn context(
    State(state): State<AppState>,
    caller: Admin,
    PathParams((raw_room, raw_event)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let room = legal_room(&raw_room)?;
    let event = crate::ids::event_id(&raw_event)?;
    let limit = query_int(&query, "limit", 10)?;
    let filter = parse_filter(query.get("filter").map(String::as_str))?.into_room_filter();
    let context = state.services.admin_room_context(&caller.0, &room, &event, limit, &filter).await?;
    Ok(Json(context_body(context)))
}

/// `GET /_synapse/admin/v1/rooms/{roomId}/timestamp_to_event?ts=&dir=`.
pub async fn timestamp_to_event(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let room = legal_room(&raw)?;
    let Some(ts) = query.get("ts") else {
        return Err(ApiError(Error::MissingParam("Missing integer query parameter 'ts'".into())));
    };
    let ts = ts
        .parse::<u64>()
        .map_err(|_| ApiError(Error::InvalidParam("Query parameter 'ts' must be an integer".into())))?;
    let direction = match query.get("dir").map_or("f", String::as_str) {
        "f" => Direction::Forward,
        "b" => Direction::Backward,
        _ => return Err(ApiError(Error::InvalidParam("Query parameter 'dir' must be one of ['b', 'f']".into()))),
    };
    let (event_id, ts) = state.services.admin_event_at_time(&caller.0, &room, ts, direction).await?;
    Ok(Json(json!({ "event_id": event_id, "origin_server_ts": ts })))
}

/// `GET /_synapse/admin/v1/fetch_event/{eventId}`.
pub async fn fetch_event(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let event = crate::ids::event_id(&raw)?;
    Ok(Json(json!({ "event": state.services.admin_fetch_event(&caller.0, &event).await? })))
}

/// `GET /_synapse/admin/v1/rooms/{roomIdOrAlias}/forward_extremities`.
pub async fn forward_extremities(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let room = room_or_alias(&state, &raw).await?;
    let found = state.services.admin_forward_extremities(&caller.0, &room).await?;
    let results: Vec<Value> = found
        .iter()
        .map(|e| {
            json!({
                "event_id": e.event_id,
                "state_group": e.state_group,
                "depth": e.depth,
                "received_ts": e.origin_server_ts,
            })
        })
        .collect();
    Ok(Json(json!({ "count": results.len(), "results": results })))
}

fn body_user(body: &Map<String, Value>) -> Result<Option<OwnedUserId>, ApiError> {
    match body.get("user_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) => Ok(Some(crate::ids::user_id(raw)?)),
        Some(_) => Err(ApiError(Error::BadJson("'user_id' must be a string".into()))),
    }
}

/// `POST /_synapse/admin/v1/join/{roomIdOrAlias}` `{user_id}`.
pub async fn join(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let Some(user) = body_user(&body)? else {
        return Err(ApiError(Error::MissingParam("Missing params: ['user_id']".into())));
    };
    let room = room_or_alias(&state, &raw).await?;
    let joined = state.services.admin_join(&caller.0, &room, &user).await?;
    Ok(Json(json!({ "room_id": joined })))
}

/// `POST /_synapse/admin/v1/rooms/{roomIdOrAlias}/make_room_admin`
/// `{user_id?}` (the caller by default).
pub async fn make_room_admin(
    State(state): State<AppState>,
    caller: Admin,
    PathParams(raw): PathParams<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let body = super::users::optional_body(&body)?;
    let user = body_user(&body)?.unwrap_or_else(|| caller.0.user_id.clone());
    let room = room_or_alias(&state, &raw).await?;
    state.services.make_room_admin(&caller.0, &room, &user).await?;
    Ok(Json(json!({})))
}
