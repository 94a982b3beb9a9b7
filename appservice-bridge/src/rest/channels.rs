//! Channels and their messages.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Bot, DiscordError, DiscordJson};
use crate::Bridge;
use crate::applications::Application;
use crate::matrix::As;
use crate::shapes;
use crate::snowflake::{self, Kind};

/// The most characters Discord takes in one message.
const MAX_CONTENT: usize = 2_000;

/// The room of a channel snowflake the bot is in.
async fn channel_room(bridge: &Bridge, application: &Application, channel_id: &str) -> Result<String, DiscordError> {
    let snowflake = snowflake::parse(channel_id).ok_or_else(DiscordError::unknown_channel)?;
    let room_id =
        bridge.snowflakes.matrix_id(Kind::Room, snowflake).await?.ok_or_else(DiscordError::unknown_channel)?;
    let joined = bridge.homeserver.joined_rooms(&application.bot_user_id).await?;
    if !joined.contains(&room_id) {
        return Err(DiscordError::unknown_channel());
    }
    Ok(room_id)
}

/// `GET /channels/{channel.id}`.
pub async fn get_channel(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(channel_id): Path<String>,
) -> Result<Json<Value>, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let events = bridge.homeserver.state(As::Bot(&application.bot_user_id), &room_id).await?;
    let guild_id = match shapes::parent_space(&events) {
        Some(space) => bridge.snowflakes.of(Kind::Room, &space).await?,
        None => 0,
    };
    Ok(Json(shapes::channel(&bridge.snowflakes, guild_id, &room_id, &events, 0).await?))
}

#[derive(Deserialize)]
pub struct MessageReference {
    /// A snowflake, as a string or a number.
    #[serde(default)]
    message_id: Value,
}

#[derive(Deserialize)]
pub struct CreateMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    nonce: Option<Value>,
    #[serde(default)]
    message_reference: Option<MessageReference>,
}

/// `POST /channels/{channel.id}/messages` (JSON bodies).
pub async fn create_message(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(channel_id): Path<String>,
    DiscordJson(body): DiscordJson<CreateMessage>,
) -> Result<Json<Value>, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let text = body.content.unwrap_or_default();
    if text.is_empty() {
        return Err(DiscordError::new(StatusCode::BAD_REQUEST, 50006, "Cannot send an empty message"));
    }
    if text.chars().count() > MAX_CONTENT {
        return Err(DiscordError::invalid_form("content", "Must be 2000 or fewer in length."));
    }
    let bot = application.bot_user_id.as_str();
    let mut content = json!({"msgtype": "m.text", "body": text});
    if let Some(reference) = body.message_reference.filter(|r| !r.message_id.is_null()) {
        let replied = match snowflake::from_json(&reference.message_id) {
            Some(id) => bridge.snowflakes.matrix_id(Kind::Event, id).await?,
            None => None,
        };
        let replied = replied.ok_or_else(DiscordError::unknown_message)?;
        content["m.relates_to"] = json!({"m.in_reply_to": {"event_id": replied}});
    }
    let txn_id = format!("discord-{}", bridge.snowflakes.fresh(Kind::Event).await?);
    let event_id = bridge.homeserver.send(As::Bot(bot), &room_id, &txn_id, "m.room.message", &content).await?;
    let event = bridge.homeserver.event(As::Bot(bot), &room_id, &event_id).await?;
    let events = bridge.homeserver.state(As::Bot(bot), &room_id).await?;
    let guild = match shapes::parent_space(&events) {
        Some(space) => Some(bridge.snowflakes.of(Kind::Room, &space).await?),
        None => None,
    };
    let bot_id = bridge.snowflakes.of(Kind::User, bot).await?;
    let author = shapes::user(bot_id, bot, Some(&application.name), true);
    let mut message = shapes::message(&bridge.snowflakes, &event, guild, author, true).await?;
    if let Some(nonce) = body.nonce {
        message["nonce"] = nonce;
    }
    Ok(Json(message))
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
