//! Pins: the channel's `m.room.pinned_events` (changing it needs
//! PIN_MESSAGES, which the homeserver checks). Discord's current routes
//! (`/channels/{id}/messages/pins`, `{items, has_more}`) and the older
//! ones (`/channels/{id}/pins`, a list of messages).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::channels::channel_room;
use super::messages::{guild_of, message_event, rest_message};
use super::{Bot, DiscordError};
use crate::Bridge;
use crate::matrix::{As, enc};
use crate::shapes;

/// Discord's most pins per channel.
const MAX_PINS: usize = 250;

/// The pinned event ids, oldest first, and when the list last changed.
async fn pinned(bridge: &Bridge, bot: &str, room_id: &str) -> Result<(Vec<String>, u64), DiscordError> {
    let path = format!("/_matrix/client/v3/rooms/{}/state/m.room.pinned_events/?format=event", enc(room_id));
    let event = match bridge.homeserver.call(As::Bot(bot), reqwest::Method::GET, &path, None).await {
        Ok(event) => event,
        Err(e) if e.downcast_ref::<crate::matrix::MatrixError>().is_some_and(|m| m.status == 404) => Value::Null,
        Err(e) => return Err(e.into()),
    };
    let ids = event["content"]["pinned"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    Ok((ids, event["origin_server_ts"].as_u64().unwrap_or(0)))
}

/// The pinned messages, newest pin first, with when the pins last changed
/// (Matrix keeps no time per pin).
async fn pinned_messages(bridge: &Bridge, bot: &str, room_id: &str) -> Result<Vec<(Value, u64)>, DiscordError> {
    let (ids, changed) = pinned(bridge, bot, room_id).await?;
    let guild = guild_of(bridge, bot, room_id).await?;
    let mut messages = Vec::new();
    for id in ids.iter().rev() {
        // A pinned event the bot may not see, or one deleted, is left out.
        if let Ok(event) = bridge.homeserver.event(As::Bot(bot), room_id, id).await
            && super::messages::is_message(&event)
        {
            messages.push((rest_message(bridge, guild, &event).await?, changed));
        }
    }
    Ok(messages)
}

/// `GET /channels/{channel.id}/messages/pins?before=&limit=`.
pub async fn list(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(channel_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, DiscordError> {
    let limit = super::query_limit(&query, 50, 50)?;
    let before = query.get("before").and_then(|b| shapes::parse_timestamp(b));
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let all = pinned_messages(&bridge, &application.bot_user_id, &room_id).await?;
    let mut items: Vec<Value> = all
        .into_iter()
        .filter(|(_, at)| before.is_none_or(|b| *at < b))
        .map(|(message, at)| json!({"pinned_at": shapes::timestamp(at), "message": message}))
        .collect();
    let has_more = items.len() > limit;
    items.truncate(limit);
    Ok(Json(json!({"items": items, "has_more": has_more})))
}

/// `GET /channels/{channel.id}/pins` (the older route).
pub async fn list_old(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(channel_id): Path<String>,
) -> Result<Json<Value>, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let all = pinned_messages(&bridge, &application.bot_user_id, &room_id).await?;
    Ok(Json(Value::Array(all.into_iter().map(|(message, _)| message).collect())))
}

/// `PUT`/`DELETE /channels/{channel.id}/messages/pins/{message.id}` (and
/// `/channels/{channel.id}/pins/{message.id}`).
async fn change(
    bridge: &Bridge,
    bot: &str,
    room_id: &str,
    message_id: &str,
    pin: bool,
) -> Result<StatusCode, DiscordError> {
    let event = message_event(bridge, bot, room_id, message_id).await?;
    let event_id = event["event_id"].as_str().unwrap_or_default().to_owned();
    let (mut ids, _) = pinned(bridge, bot, room_id).await?;
    let had = ids.contains(&event_id);
    if pin == had {
        return Ok(StatusCode::NO_CONTENT);
    }
    if pin {
        if ids.len() >= MAX_PINS {
            return Err(DiscordError::new(StatusCode::BAD_REQUEST, 30003, "Maximum number of pins reached (250)"));
        }
        ids.push(event_id);
    } else {
        ids.retain(|id| *id != event_id);
    }
    bridge.homeserver.set_state(As::Bot(bot), room_id, "m.room.pinned_events", "", &json!({"pinned": ids})).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn pin(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((channel_id, message_id)): Path<(String, String)>,
) -> Result<StatusCode, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    change(&bridge, &application.bot_user_id, &room_id, &message_id, true).await
}

pub async fn unpin(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((channel_id, message_id)): Path<(String, String)>,
) -> Result<StatusCode, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    change(&bridge, &application.bot_user_id, &room_id, &message_id, false).await
}
