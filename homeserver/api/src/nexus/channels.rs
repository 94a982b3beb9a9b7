//! A server's layout: channel edits and removal, categories, role order.

use axum::Json;
use axum::extract::State;
use nexus_core::guilds::channels::ChannelEdit;
use nexus_extensions::events::server::Category;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::extract::{Authed, JsonBody, PathParams};
use crate::ids::room_id;
use crate::router::AppState;

/// `null` and absent differ for `category`: null makes the channel
/// uncategorised, absent leaves it where it is.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditChannel {
    name: Option<String>,
    topic: Option<String>,
    position: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    category: Option<Option<String>>,
    slowmode_seconds: Option<u32>,
    nsfw: Option<bool>,
    default_auto_archive_duration: Option<u32>,
}

pub async fn edit_channel(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<EditChannel>,
) -> ApiResult<Json<Value>> {
    let room = room_id(&raw)?;
    let edit = ChannelEdit {
        name: body.name,
        topic: body.topic,
        position: body.position,
        category: body.category,
        slowmode_seconds: body.slowmode_seconds,
        nsfw: body.nsfw,
        default_auto_archive_duration: body.default_auto_archive_duration,
    };
    state.services.guilds.edit_channel(&caller.user_id, &room, edit).await?;
    Ok(Json(json!({})))
}

pub async fn remove_channel(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let room = room_id(&raw)?;
    state.services.guilds.remove_channel(&caller.user_id, &room).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Categories {
    categories: Vec<Category>,
}

pub async fn set_categories(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<Categories>,
) -> ApiResult<Json<Value>> {
    let space = room_id(&raw)?;
    state.services.guilds.set_categories(&caller.user_id, &space, body.categories).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolePositions {
    positions: std::collections::BTreeMap<String, u32>,
}

pub async fn set_role_positions(
    State(state): State<AppState>,
    Authed(caller): Authed,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<RolePositions>,
) -> ApiResult<Json<Value>> {
    let space = room_id(&raw)?;
    state.services.guilds.set_role_positions(&caller.user_id, &space, body.positions.into_iter().collect()).await?;
    Ok(Json(json!({})))
}
