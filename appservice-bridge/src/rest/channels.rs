//! Channels and their messages.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Bot, DiscordError};
use crate::Bridge;
use crate::applications::Application;
use crate::matrix::As;
use crate::shapes;
use crate::snowflake::{self, Kind};

/// The room of a channel (or thread) snowflake the bot is in.
pub(super) async fn channel_room(
    bridge: &Bridge,
    application: &Application,
    channel_id: &str,
) -> Result<String, DiscordError> {
    let snowflake = snowflake::parse(channel_id).ok_or_else(DiscordError::unknown_channel)?;
    let room_id = match bridge.snowflakes.matrix_id(Kind::Room, snowflake).await? {
        Some(room_id) => room_id,
        // A thread is in its channel's room.
        None => bridge.thread_of(snowflake).await?.map(|(room, _)| room).ok_or_else(DiscordError::unknown_channel)?,
    };
    if !bridge.bot_in_room(&application.bot_user_id, &room_id).await? {
        return Err(DiscordError::unknown_channel());
    }
    Ok(room_id)
}

/// The thread a channel snowflake names, if it is one.
pub(super) async fn thread_of(bridge: &Bridge, channel_id: &str) -> Result<Option<(String, String)>, DiscordError> {
    match snowflake::parse(channel_id) {
        Some(id) => Ok(bridge.thread_of(id).await?),
        None => Ok(None),
    }
}

/// `GET /channels/{channel.id}`.
pub async fn get_channel(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(channel_id): Path<String>,
) -> Result<Json<Value>, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    if let Some((_, root)) = thread_of(&bridge, &channel_id).await? {
        let guild = super::messages::guild_of(&bridge, &application.bot_user_id, &room_id).await?;
        return Ok(Json(bridge.thread_channel(&application.bot_user_id, guild, &room_id, &root).await?));
    }
    if let Some(person) = bridge.dm_person(&application.bot_user_id, &room_id).await? {
        return Ok(Json(bridge.dm_channel(&room_id, &person).await?));
    }
    let events = bridge.homeserver.state(As::Bot(&application.bot_user_id), &room_id).await?;
    let guild_id = match shapes::parent_space(&events) {
        Some(space) => bridge.snowflakes.of(Kind::Room, &space).await?,
        None => 0,
    };
    Ok(Json(shapes::channel(&bridge.snowflakes, guild_id, &room_id, &events, 0).await?))
}

/// `POST /channels/{channel.id}/typing`: typing for ten seconds.
pub async fn typing(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(channel_id): Path<String>,
) -> Result<StatusCode, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let bot = application.bot_user_id.as_str();
    let path = format!("/_matrix/client/v3/rooms/{}/typing/{}", crate::matrix::enc(&room_id), crate::matrix::enc(bot));
    let body = json!({"typing": true, "timeout": 10_000});
    bridge.homeserver.call(As::Bot(bot), reqwest::Method::PUT, &path, Some(&body)).await?;
    Ok(StatusCode::NO_CONTENT)
}
