//! Reactions: `m.reaction` annotations, read from the homeserver's
//! relations (so nothing need be remembered) and removed by redacting them
//! — someone else's only with the power to redact, as the homeserver
//! judges it (Discord's MANAGE_MESSAGES).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::channels::channel_room;
use super::messages::{message_event, redact, txn_id};
use super::{Bot, DiscordError};
use crate::Bridge;
use crate::matrix::{As, enc};
use crate::snowflake::{self, Kind};

/// A reaction's key from its path segment: a Unicode emoji, or a custom
/// one as `name:id` (kept whole).
fn reaction_key(emoji: &str) -> Result<String, DiscordError> {
    if emoji.is_empty() || emoji.chars().count() > 64 {
        return Err(DiscordError::new(StatusCode::BAD_REQUEST, 10014, "Unknown Emoji"));
    }
    Ok(emoji.to_owned())
}

/// The reactions to `target` (with `key` when given): `(event id, sender, key)`.
async fn reactions(
    bridge: &Bridge,
    bot: &str,
    room_id: &str,
    target: &str,
    key: Option<&str>,
) -> Result<Vec<(String, String, String)>, DiscordError> {
    let mut found = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let mut path = format!(
            "/_matrix/client/v1/rooms/{}/relations/{}/m.annotation/m.reaction?limit=100",
            enc(room_id),
            enc(target)
        );
        if let Some(token) = &from {
            path.push_str(&format!("&from={}", enc(token)));
        }
        let page = bridge.homeserver.call(As::Bot(bot), reqwest::Method::GET, &path, None).await?;
        let chunk = page["chunk"].as_array().cloned().unwrap_or_default();
        for event in &chunk {
            let reaction_key = event["content"]["m.relates_to"]["key"].as_str().unwrap_or_default();
            if key.is_none_or(|k| k == reaction_key)
                && let (Some(id), Some(sender)) = (event["event_id"].as_str(), event["sender"].as_str())
            {
                found.push((id.to_owned(), sender.to_owned(), reaction_key.to_owned()));
            }
        }
        match page["next_batch"].as_str() {
            Some(next) if !chunk.is_empty() => from = Some(next.to_owned()),
            _ => return Ok(found),
        }
    }
}

/// The message a path names, in its room, with the bot's user.
async fn target(bridge: &Bridge, bot: &str, room_id: &str, message_id: &str) -> Result<String, DiscordError> {
    let event = message_event(bridge, bot, room_id, message_id).await?;
    Ok(event["event_id"].as_str().unwrap_or_default().to_owned())
}

/// `PUT /channels/{channel.id}/messages/{message.id}/reactions/{emoji}/@me`.
pub async fn add(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((channel_id, message_id, emoji, user)): Path<(String, String, String, String)>,
) -> Result<StatusCode, DiscordError> {
    if user != "@me" {
        return Err(DiscordError::new(StatusCode::METHOD_NOT_ALLOWED, 0, "405: Method Not Allowed"));
    }
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let bot = application.bot_user_id.as_str();
    let target = target(&bridge, bot, &room_id, &message_id).await?;
    let key = reaction_key(&emoji)?;
    if reactions(&bridge, bot, &room_id, &target, Some(&key)).await?.iter().any(|(_, sender, _)| sender == bot) {
        return Ok(StatusCode::NO_CONTENT);
    }
    let content = json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}});
    bridge.homeserver.send(As::Bot(bot), &room_id, &txn_id(), "m.reaction", &content).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE …/reactions/{emoji}/@me` or `…/reactions/{emoji}/{user.id}`.
pub async fn remove_one(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((channel_id, message_id, emoji, user)): Path<(String, String, String, String)>,
) -> Result<StatusCode, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let bot = application.bot_user_id.as_str();
    let whose = match user.as_str() {
        "@me" => bot.to_owned(),
        id => {
            let id = snowflake::parse(id).ok_or_else(DiscordError::unknown_user)?;
            bridge.snowflakes.matrix_id(Kind::User, id).await?.ok_or_else(DiscordError::unknown_user)?
        }
    };
    let target = target(&bridge, bot, &room_id, &message_id).await?;
    let key = reaction_key(&emoji)?;
    for (reaction, sender, _) in reactions(&bridge, bot, &room_id, &target, Some(&key)).await? {
        if sender == whose {
            redact(&bridge, bot, &room_id, &reaction).await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE …/reactions/{emoji}` (all of one emoji) and `DELETE …/reactions`.
async fn remove_all(
    bridge: &Bridge,
    bot: &str,
    room_id: &str,
    message_id: &str,
    key: Option<&str>,
) -> Result<StatusCode, DiscordError> {
    let target = target(bridge, bot, room_id, message_id).await?;
    for (reaction, _, _) in reactions(bridge, bot, room_id, &target, key).await? {
        redact(bridge, bot, room_id, &reaction).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove_emoji(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((channel_id, message_id, emoji)): Path<(String, String, String)>,
) -> Result<StatusCode, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let key = reaction_key(&emoji)?;
    remove_all(&bridge, &application.bot_user_id, &room_id, &message_id, Some(&key)).await
}

pub async fn remove_every(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((channel_id, message_id)): Path<(String, String)>,
) -> Result<StatusCode, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    remove_all(&bridge, &application.bot_user_id, &room_id, &message_id, None).await
}

/// `GET …/reactions/{emoji}?after=&limit=`: who reacted, by user id.
pub async fn users(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((channel_id, message_id, emoji)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, DiscordError> {
    let limit = super::query_limit(&query, 25, 100)?;
    let after = query.get("after").and_then(|a| snowflake::parse(a)).unwrap_or(0);
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let bot = application.bot_user_id.as_str();
    let target = target(&bridge, bot, &room_id, &message_id).await?;
    let key = reaction_key(&emoji)?;
    let mut users = Vec::new();
    for (_, sender, _) in reactions(&bridge, bot, &room_id, &target, Some(&key)).await? {
        let user = bridge.author(&sender).await?;
        let id = user["id"].as_str().and_then(snowflake::parse).unwrap_or(0);
        if id > after && !users.iter().any(|(known, _)| *known == id) {
            users.push((id, user));
        }
    }
    users.sort_by_key(|(id, _)| *id);
    Ok(Json(Value::Array(users.into_iter().take(limit).map(|(_, user)| user).collect())))
}
