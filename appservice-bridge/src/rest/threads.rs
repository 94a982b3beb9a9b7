//! Threads over REST: started from a message or on their own (a root
//! message the bot posts), changed (`nexus.thread`: name, archived,
//! locked), joined (a bot in a channel already receives its threads, so
//! joining only checks the thread), and the guild's active ones.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::channels::{channel_room, thread_of};
use super::guilds::guild_state;
use super::messages::{guild_of, message_event};
use super::{Bot, DiscordError, DiscordJson};
use crate::Bridge;
use crate::matrix::{As, enc};
use crate::shapes;
use crate::threads::PRIVATE_THREAD;

const ARCHIVE_DURATIONS: [u64; 4] = [60, 1440, 4320, 10080];

/// `nexus.thread` content from Discord's fields over `base`.
fn thread_content(mut base: Map<String, Value>, body: &Map<String, Value>) -> Result<Value, DiscordError> {
    for (field, value) in body {
        match (field.as_str(), value) {
            ("name", Value::String(name)) if (1..=100).contains(&name.chars().count()) => {
                base.insert("name".to_owned(), value.clone());
            }
            ("auto_archive_duration", Value::Number(minutes))
                if minutes.as_u64().is_some_and(|m| ARCHIVE_DURATIONS.contains(&m)) =>
            {
                base.insert(field.clone(), value.clone());
            }
            ("archived" | "locked" | "invitable", Value::Bool(_)) => {
                if field == "archived" {
                    base.insert("archive_timestamp".to_owned(), json!(crate::snowflake::now_ms()));
                }
                base.insert(field.clone(), value.clone());
            }
            ("applied_tags", Value::Array(_)) => {
                base.insert(field.clone(), value.clone());
            }
            (_, Value::Null) | ("type" | "rate_limit_per_user" | "message" | "flags", _) => {}
            (field, _) => return Err(DiscordError::invalid_form(field, "Invalid value.")),
        }
    }
    if !base.contains_key("name") {
        return Err(DiscordError::invalid_form("name", "This field is required"));
    }
    base.entry("auto_archive_duration").or_insert(json!(1440));
    Ok(Value::Object(base))
}

async fn start(
    bridge: &Bridge,
    bot: &str,
    room_id: &str,
    root: &str,
    content: &Value,
) -> Result<(StatusCode, Json<Value>), DiscordError> {
    bridge.homeserver.set_state(As::Bot(bot), room_id, "nexus.thread", root, content).await?;
    let guild = guild_of(bridge, bot, room_id).await?;
    Ok((StatusCode::CREATED, Json(bridge.thread_channel(bot, guild, room_id, root).await?)))
}

/// `POST /channels/{channel.id}/messages/{message.id}/threads`.
pub async fn start_from_message(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((channel_id, message_id)): Path<(String, String)>,
    DiscordJson(body): DiscordJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<Value>), DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    if thread_of(&bridge, &channel_id).await?.is_some() {
        return Err(DiscordError::wrong_channel_type());
    }
    let bot = application.bot_user_id.as_str();
    let root = message_event(&bridge, bot, &room_id, &message_id).await?;
    let root = root["event_id"].as_str().unwrap_or_default().to_owned();
    let content = thread_content(Map::new(), &body)?;
    start(&bridge, bot, &room_id, &root, &content).await
}

/// `POST /channels/{channel.id}/threads`: a thread without a starter
/// message — Matrix threads hang off a root, so the bot posts its name as
/// one (a forum post's `message` when given).
pub async fn start_without_message(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(channel_id): Path<String>,
    DiscordJson(body): DiscordJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<Value>), DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    if thread_of(&bridge, &channel_id).await?.is_some() {
        return Err(DiscordError::wrong_channel_type());
    }
    let bot = application.bot_user_id.as_str();
    let mut content = thread_content(Map::new(), &body)?;
    if body.get("type").and_then(Value::as_u64) == Some(PRIVATE_THREAD) {
        content["private"] = json!(true);
    }
    let text = body
        .get("message")
        .and_then(|m| m["content"].as_str())
        .filter(|t| !t.is_empty())
        .or(content["name"].as_str())
        .unwrap_or("thread");
    let root = json!({"msgtype": "m.text", "body": text});
    let txn = format!("thread-{}", crate::snowflake::now_ms());
    let root = bridge.homeserver.send(As::Bot(bot), &room_id, &txn, "m.room.message", &root).await?;
    start(&bridge, bot, &room_id, &root, &content).await
}

/// `PATCH /channels/{channel.id}`: a thread's name, archival and lock, or
/// a channel's name and topic.
pub async fn modify(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(channel_id): Path<String>,
    DiscordJson(body): DiscordJson<Map<String, Value>>,
) -> Result<Json<Value>, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let bot = application.bot_user_id.as_str();
    let guild = guild_of(&bridge, bot, &room_id).await?;
    if let Some((_, root)) = thread_of(&bridge, &channel_id).await? {
        let path = format!("/_matrix/client/v3/rooms/{}/state/nexus.thread/{}", enc(&room_id), enc(&root));
        let current = bridge.homeserver.call(As::Bot(bot), reqwest::Method::GET, &path, None).await.ok();
        let current = current.and_then(|c| c.as_object().cloned()).unwrap_or_default();
        let mut body = body;
        if !current.contains_key("name") && !body.contains_key("name") {
            // A plain Matrix thread gets its fallback name.
            let thread = bridge.thread_channel(bot, guild, &room_id, &root).await?;
            body.insert("name".to_owned(), thread["name"].clone());
        }
        let content = thread_content(current, &body)?;
        bridge.homeserver.set_state(As::Bot(bot), &room_id, "nexus.thread", &root, &content).await?;
        return Ok(Json(bridge.thread_channel(bot, guild, &room_id, &root).await?));
    }
    for (field, kind, key) in [("name", "m.room.name", "name"), ("topic", "m.room.topic", "topic")] {
        match body.get(field) {
            Some(Value::String(text)) if text.chars().count() <= 1024 => {
                bridge.homeserver.set_state(As::Bot(bot), &room_id, kind, "", &json!({ key: text })).await?;
            }
            None | Some(Value::Null) => {}
            Some(_) => return Err(DiscordError::invalid_form(field, "Invalid value.")),
        }
    }
    let state = bridge.homeserver.state(As::Bot(bot), &room_id).await?;
    Ok(Json(shapes::channel(&bridge.snowflakes, guild.unwrap_or(0), &room_id, &state, 0).await?))
}

/// `PUT`/`DELETE /channels/{thread.id}/thread-members/@me`: a bot sees every
/// thread of the channels it is in, so there is nothing to join; the
/// thread must exist.
pub async fn join_or_leave(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(channel_id): Path<String>,
) -> Result<StatusCode, DiscordError> {
    channel_room(&bridge, &application, &channel_id).await?;
    if thread_of(&bridge, &channel_id).await?.is_none() {
        return Err(DiscordError::wrong_channel_type());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /guilds/{guild.id}/threads/active`: from the homeserver's thread
/// list (a homeserver without it has none to tell).
pub async fn active(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(guild_id): Path<String>,
) -> Result<Json<Value>, DiscordError> {
    let guild = guild_state(&bridge, &application, &guild_id).await?;
    let threads = bridge.active_threads(&application.bot_user_id, &guild.space, guild.id).await?;
    Ok(Json(json!({"threads": threads, "members": []})))
}

impl Bridge {
    /// The active threads of a guild's channels, as thread channels.
    pub async fn active_threads(&self, bot: &str, space: &str, guild: u64) -> anyhow::Result<Vec<Value>> {
        let path = format!("/_nexus/client/v1/servers/{}/threads", enc(space));
        let listed = match self.homeserver.call(As::Bot(bot), reqwest::Method::GET, &path, None).await {
            Ok(listed) => listed,
            Err(e) if e.downcast_ref::<crate::matrix::MatrixError>().is_some() => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut seen: HashSet<String> = HashSet::new();
        let mut threads = Vec::new();
        for thread in listed["threads"].as_array().into_iter().flatten() {
            let (Some(room), Some(root)) = (thread["room_id"].as_str(), thread["root_id"].as_str()) else { continue };
            if seen.insert(format!("{root}|{room}")) {
                threads.push(self.thread_channel(bot, Some(guild), room, root).await?);
            }
        }
        Ok(threads)
    }
}
