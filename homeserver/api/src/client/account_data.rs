//! Account data and room tags (spec: client-server API, "Client config",
//! "Room tagging").

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use nexus_core::Error;
use ruma::{OwnedRoomId, UserId};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody, PathParams};
use crate::ids::{own_user, room_id};
use crate::router::AppState;

fn not_found() -> ApiError {
    ApiError(Error::NotFound("no account data of that type".to_owned()))
}

pub async fn get_global(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_user, kind)): PathParams<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let user = own_user(&raw_user, &caller.user_id)?;
    let content = state.services.account_data.get(&user, None, &kind).await?.ok_or_else(not_found)?;
    Ok(Json(content))
}

pub async fn put_global(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_user, kind)): PathParams<(String, String)>,
    JsonBody(content): JsonBody<Map<String, Value>>,
) -> ApiResult<impl IntoResponse> {
    let user = own_user(&raw_user, &caller.user_id)?;
    state.services.account_data.set(&user, None, &kind, content).await?;
    Ok(Json(json!({})))
}

pub async fn get_room(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_user, raw_room, kind)): PathParams<(String, String, String)>,
) -> ApiResult<impl IntoResponse> {
    let user = own_user(&raw_user, &caller.user_id)?;
    let room = room_id(&raw_room)?;
    let content = state.services.account_data.get(&user, Some(&room), &kind).await?.ok_or_else(not_found)?;
    Ok(Json(content))
}

pub async fn put_room(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_user, raw_room, kind)): PathParams<(String, String, String)>,
    JsonBody(content): JsonBody<Map<String, Value>>,
) -> ApiResult<impl IntoResponse> {
    let user = own_user(&raw_user, &caller.user_id)?;
    let room = room_id(&raw_room)?;
    state.services.account_data.set(&user, Some(&room), &kind, content).await?;
    Ok(Json(json!({})))
}

const TAGS: &str = "m.tag";

async fn tags_of(state: &AppState, user: &UserId, room: &OwnedRoomId) -> ApiResult<Map<String, Value>> {
    let content = state.services.account_data.get(user, Some(room), TAGS).await?.unwrap_or_default();
    Ok(content.get("tags").and_then(Value::as_object).cloned().unwrap_or_default())
}

pub async fn get_tags(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_user, raw_room)): PathParams<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let user = own_user(&raw_user, &caller.user_id)?;
    let room = room_id(&raw_room)?;
    Ok(Json(json!({ "tags": tags_of(&state, &user, &room).await? })))
}

async fn write_tags(state: &AppState, user: &UserId, room: &OwnedRoomId, tags: Map<String, Value>) -> ApiResult<()> {
    let mut content = Map::new();
    content.insert("tags".to_owned(), Value::Object(tags));
    Ok(state.services.account_data.set(user, Some(room), TAGS, content).await?)
}

pub async fn put_tag(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_user, raw_room, tag)): PathParams<(String, String, String)>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<impl IntoResponse> {
    let user = own_user(&raw_user, &caller.user_id)?;
    let room = room_id(&raw_room)?;
    if tag.len() > 255 {
        return Err(ApiError(Error::InvalidParam("tags are at most 255 bytes".to_owned())));
    }
    if body.get("order").is_some_and(|o| !o.is_number()) {
        return Err(ApiError(Error::BadJson("order must be a number".to_owned())));
    }
    let mut tags = tags_of(&state, &user, &room).await?;
    tags.insert(tag, Value::Object(body));
    write_tags(&state, &user, &room, tags).await?;
    Ok(Json(json!({})))
}

pub async fn delete_tag(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams((raw_user, raw_room, tag)): PathParams<(String, String, String)>,
) -> ApiResult<impl IntoResponse> {
    let user = own_user(&raw_user, &caller.user_id)?;
    let room = room_id(&raw_room)?;
    let mut tags = tags_of(&state, &user, &room).await?;
    if tags.remove(&tag).is_some() {
        write_tags(&state, &user, &room, tags).await?;
    }
    Ok(Json(json!({})))
}
