//! A channel's messages: history, one message, create, edit, delete, and
//! reactions. Each is the matching Matrix action by the bot's user, so the
//! homeserver's permission rules apply to it exactly as to a person.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::channels::channel_room;
use super::form::MessageForm;
use super::outgoing::{MessageBody, Uploaded};
use super::{Bot, DiscordError, DiscordJson};
use crate::Bridge;
use crate::matrix::{As, enc};
use crate::shapes;
use crate::snowflake::{self, Kind};
use crate::threads::thread_root;

/// Matrix events read per page while filling a history page.
const MATRIX_PAGE: usize = 100;

/// The message (event) a snowflake names in a channel (room).
pub(super) async fn message_event(
    bridge: &Bridge,
    bot: &str,
    room_id: &str,
    message_id: &str,
) -> Result<Value, DiscordError> {
    let snowflake = snowflake::parse(message_id).ok_or_else(DiscordError::unknown_message)?;
    let event_id =
        bridge.snowflakes.matrix_id(Kind::Event, snowflake).await?.ok_or_else(DiscordError::unknown_message)?;
    let event = match bridge.homeserver.event(As::Bot(bot), room_id, &event_id).await {
        Ok(event) => event,
        Err(e) if e.downcast_ref::<crate::matrix::MatrixError>().is_some_and(|m| m.status == 404) => {
            return Err(DiscordError::unknown_message());
        }
        Err(e) => return Err(e.into()),
    };
    if event["type"] != "m.room.message" || event["content"].as_object().is_none_or(|c| c.is_empty()) {
        // Not a message, or deleted.
        return Err(DiscordError::unknown_message());
    }
    Ok(event)
}

/// The guild of a channel, once per request.
pub(super) async fn guild_of(bridge: &Bridge, bot: &str, room_id: &str) -> Result<Option<u64>, DiscordError> {
    if let Some(guild) = bridge.cached_guild(room_id) {
        return Ok(guild);
    }
    let events = bridge.homeserver.state(As::Bot(bot), room_id).await?;
    let guild = match shapes::parent_space(&events) {
        Some(space) => Some(bridge.snowflakes.of(Kind::Room, &space).await?),
        None => None,
    };
    bridge.remember_guild(room_id, guild);
    Ok(guild)
}

/// A message as the REST API returns it, content included (a bot may read
/// what it fetches; the MESSAGE_CONTENT rule is the gateway's).
pub(super) async fn rest_message(bridge: &Bridge, guild: Option<u64>, event: &Value) -> Result<Value, DiscordError> {
    let sender = event["sender"].as_str().unwrap_or_default();
    let author = bridge.author(sender).await?;
    let mut message = shapes::message(&bridge.snowflakes, event, guild, author, true).await?;
    bridge.finish_message(&mut message, event).await?;
    Ok(message)
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    limit: Option<u32>,
    before: Option<String>,
    after: Option<String>,
    around: Option<String>,
}

/// `GET /channels/{channel.id}/messages`: newest first, `limit` 1–100
/// (default 50), at most one of `before`, `after`, `around`.
pub async fn history(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(channel_id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<Value>, DiscordError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(DiscordError::invalid_form("limit", "Must be between 1 and 100."));
    }
    let limit = limit as usize;
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let bot = application.bot_user_id.as_str();
    let anchor =
        |id: &Option<String>| id.as_deref().map(|id| snowflake::parse(id).ok_or_else(DiscordError::unknown_message));
    let room = enc(&room_id);
    let guild = guild_of(&bridge, bot, &room_id).await?;
    if let Some((_, root)) = super::channels::thread_of(&bridge, &channel_id).await? {
        let (before, after) = (anchor(&query.before).transpose()?, anchor(&query.after).transpose()?);
        return Ok(Json(Value::Array(
            thread_history(&bridge, bot, guild, &room_id, &root, limit, before, after).await?,
        )));
    }
    let mut messages: Vec<Value> = Vec::new();
    if let Some(around) = anchor(&query.around).transpose()? {
        let event_id =
            bridge.snowflakes.matrix_id(Kind::Event, around).await?.ok_or_else(DiscordError::unknown_message)?;
        let path = format!("/_matrix/client/v3/rooms/{room}/context/{}?limit={}", enc(&event_id), limit * 2);
        let context = bridge.homeserver.call(As::Bot(bot), reqwest::Method::GET, &path, None).await?;
        let mut events: Vec<Value> = context["events_after"].as_array().cloned().unwrap_or_default();
        events.reverse();
        events.push(context["event"].clone());
        events.extend(context["events_before"].as_array().cloned().unwrap_or_default());
        for event in events.into_iter().filter(is_message) {
            messages.push(rest_message(&bridge, guild, &event).await?);
        }
        // Centred on the anchor, as Discord does.
        let around = around.to_string();
        let centre = messages.iter().position(|m| m["id"].as_str() == Some(around.as_str())).unwrap_or(0);
        let start = centre.saturating_sub(limit / 2).min(messages.len().saturating_sub(limit));
        messages = messages.into_iter().skip(start).take(limit).collect();
        return Ok(Json(Value::Array(messages)));
    }
    // Walk backwards from the newest (or from just before `before`), or
    // forwards from just after `after`.
    let (dir, mut from, stop_at) = match (anchor(&query.before).transpose()?, anchor(&query.after).transpose()?) {
        (_, Some(after)) => {
            let token = bridge.context_token(bot, &room_id, after, "end").await?;
            ("f", token, None)
        }
        (Some(before), None) => match bridge.snowflakes.matrix_id(Kind::Event, before).await? {
            Some(_) => ("b", bridge.context_token(bot, &room_id, before, "start").await?, None),
            // A time, not a message: from the newest, down to that time.
            None => ("b", None, Some(before)),
        },
        (None, None) => ("b", None, None),
    };
    loop {
        let mut path = format!("/_matrix/client/v3/rooms/{room}/messages?dir={dir}&limit={MATRIX_PAGE}");
        if let Some(token) = &from {
            path.push_str(&format!("&from={}", enc(token)));
        }
        let page = bridge.homeserver.call(As::Bot(bot), reqwest::Method::GET, &path, None).await?;
        let chunk = page["chunk"].as_array().cloned().unwrap_or_default();
        // A channel's history leaves out its threads' replies, as Discord's.
        for event in chunk.iter().filter(|e| is_message(e) && thread_root(&e["content"]).is_none()) {
            let message = rest_message(&bridge, guild, event).await?;
            let id = message["id"].as_str().and_then(snowflake::parse).unwrap_or(0);
            if stop_at.is_some_and(|before| id >= before) {
                continue;
            }
            messages.push(message);
            if messages.len() == limit {
                break;
            }
        }
        from = page["end"].as_str().map(str::to_owned);
        if messages.len() == limit || chunk.is_empty() || from.is_none() {
            break;
        }
    }
    if dir == "f" {
        messages.reverse();
    }
    Ok(Json(Value::Array(messages)))
}

/// A thread's replies, newest first, from the homeserver's thread
/// relations; `before`/`after` bound them by snowflake (which orders by time).
#[allow(clippy::too_many_arguments)]
async fn thread_history(
    bridge: &Bridge,
    bot: &str,
    guild: Option<u64>,
    room_id: &str,
    root: &str,
    limit: usize,
    before: Option<u64>,
    after: Option<u64>,
) -> Result<Vec<Value>, DiscordError> {
    let mut messages = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let mut path = format!(
            "/_matrix/client/v1/rooms/{}/relations/{}/m.thread?dir=b&limit={MATRIX_PAGE}",
            enc(room_id),
            enc(root)
        );
        if let Some(token) = &from {
            path.push_str(&format!("&from={}", enc(token)));
        }
        let page = bridge.homeserver.call(As::Bot(bot), reqwest::Method::GET, &path, None).await?;
        let chunk = page["chunk"].as_array().cloned().unwrap_or_default();
        for event in chunk.iter().filter(|e| is_message(e)) {
            let message = rest_message(bridge, guild, event).await?;
            let id = message["id"].as_str().and_then(snowflake::parse).unwrap_or(0);
            if before.is_some_and(|b| id >= b) || after.is_some_and(|a| id <= a) {
                continue;
            }
            messages.push(message);
        }
        from = page["next_batch"].as_str().map(str::to_owned);
        if messages.len() >= limit || chunk.is_empty() || from.is_none() {
            break;
        }
    }
    // `after` wants the oldest ones after it (still served newest first).
    if after.is_some() && messages.len() > limit {
        messages.drain(..messages.len() - limit);
    }
    messages.truncate(limit);
    Ok(messages)
}

/// A message as bots see one: not an edit, not deleted, not a further
/// file of a bot's message.
pub(crate) fn is_message(event: &Value) -> bool {
    event["type"] == "m.room.message"
        && event["content"].as_object().is_some_and(|c| !c.is_empty())
        && event["content"]["m.relates_to"]["rel_type"] != "m.replace"
        && event["content"]["nexus.discord"]["part_of"].is_null()
}

impl Bridge {
    /// The `/context` token on one side of a message (`start`: before it,
    /// `end`: after it).
    async fn context_token(
        &self,
        bot: &str,
        room_id: &str,
        message: u64,
        side: &str,
    ) -> Result<Option<String>, DiscordError> {
        let event_id =
            self.snowflakes.matrix_id(Kind::Event, message).await?.ok_or_else(DiscordError::unknown_message)?;
        let path = format!("/_matrix/client/v3/rooms/{}/context/{}?limit=0", enc(room_id), enc(&event_id));
        let context = self.homeserver.call(As::Bot(bot), reqwest::Method::GET, &path, None).await?;
        Ok(context[side].as_str().map(str::to_owned))
    }

    /// The Discord user who sent an event: a bot's username is its
    /// application's name.
    pub(crate) async fn author(&self, sender: &str) -> anyhow::Result<Value> {
        if let Some(webhook) = self.webhook_of_user(sender) {
            return self.webhook_author(webhook, None).await;
        }
        let id = self.snowflakes.of(Kind::User, sender).await?;
        let name = match self.application_of_bot(sender) {
            Some(application) => self.applications.get(application).await?.map(|a| a.name),
            None => None,
        };
        Ok(shapes::user(id, sender, name.as_deref(), self.is_bot(sender)))
    }
}

/// `GET /channels/{channel.id}/messages/{message.id}`.
pub async fn get_message(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((channel_id, message_id)): Path<(String, String)>,
) -> Result<Json<Value>, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let bot = application.bot_user_id.as_str();
    let event = message_event(&bridge, bot, &room_id, &message_id).await?;
    let guild = guild_of(&bridge, bot, &room_id).await?;
    Ok(Json(rest_message(&bridge, guild, &event).await?))
}

pub(super) fn txn_id() -> String {
    let bytes: [u8; 12] = rand::random();
    format!("discord-{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// `POST /channels/{channel.id}/messages` (JSON bodies).
pub async fn create_message(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(channel_id): Path<String>,
    form: MessageForm,
) -> Result<Json<Value>, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let bot = application.bot_user_id.as_str();
    let (body, files) = bridge.upload_files(bot, form).await?;
    let replied = match body.message_reference.as_ref().filter(|r| !r.message_id.is_null()) {
        Some(reference) => {
            let replied = match snowflake::from_json(&reference.message_id) {
                Some(id) => bridge.snowflakes.matrix_id(Kind::Event, id).await?,
                None => None,
            };
            Some(replied.ok_or_else(DiscordError::unknown_message)?)
        }
        None => None,
    };
    let mut content = body.matrix_content_with(replied.as_deref(), 0, &files)?;
    if let Some((_, root)) = super::channels::thread_of(&bridge, &channel_id).await? {
        // In a thread: an `m.thread` reply (falling back to a reply to the
        // root for clients without threads, unless it replies to a message).
        content["m.relates_to"] = json!({
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": replied.is_none(),
            "m.in_reply_to": {"event_id": replied.as_deref().unwrap_or(&root)},
        });
    }
    let mut message = bridge.post_message(bot, &room_id, &content).await?;
    bridge.post_parts(bot, &room_id, &message, &files, &content["m.relates_to"]).await?;
    if let Some(nonce) = body.nonce {
        message["nonce"] = nonce;
    }
    Ok(Json(message))
}

impl Bridge {
    /// The files after the first of a message: one Matrix event each,
    /// marked as parts of the first (which lists them all), so other
    /// clients show every file and bots see one message.
    pub(crate) async fn post_parts(
        &self,
        bot: &str,
        room_id: &str,
        message: &Value,
        files: &[Uploaded],
        relation: &Value,
    ) -> Result<(), DiscordError> {
        if files.len() < 2 {
            return Ok(());
        }
        let id = message["id"].as_str().and_then(snowflake::parse).unwrap_or(0);
        let first_event = self.snowflakes.matrix_id(Kind::Event, id).await?.unwrap_or_default();
        for file in &files[1..] {
            let mut content = json!({
                "msgtype": crate::attachments::msgtype(&file.content_type),
                "body": file.filename,
                "filename": file.filename,
                "url": file.mxc,
                "info": {"mimetype": file.content_type, "size": file.size},
                "nexus.discord": {"part_of": first_event},
            });
            if relation["rel_type"] == "m.thread" {
                content["m.relates_to"] = relation.clone();
            }
            self.homeserver.send(As::Bot(bot), room_id, &txn_id(), "m.room.message", &content).await?;
        }
        Ok(())
    }

    /// Sends Matrix `content` as the bot; the message as REST returns it.
    pub(crate) async fn post_message(&self, bot: &str, room_id: &str, content: &Value) -> Result<Value, DiscordError> {
        let event_id = self.homeserver.send(As::Bot(bot), room_id, &txn_id(), "m.room.message", content).await?;
        let event = self.homeserver.event(As::Bot(bot), room_id, &event_id).await?;
        let guild = guild_of(self, bot, room_id).await?;
        rest_message(self, guild, &event).await
    }

    /// Replaces the bot's message `original` with `body` (an `m.replace`);
    /// the edited message as REST returns it.
    pub(crate) async fn replace_message(
        &self,
        bot: &str,
        room_id: &str,
        original: &Value,
        body: &MessageBody,
        allow_flags: u64,
    ) -> Result<Value, DiscordError> {
        if original["sender"] != bot {
            return Err(DiscordError::new(
                StatusCode::FORBIDDEN,
                50005,
                "Cannot edit a message authored by another user",
            ));
        }
        let new_content = body.matrix_content(None, allow_flags)?;
        let original_id = original["event_id"].as_str().unwrap_or_default();
        let content = json!({
            "msgtype": "m.text",
            "body": format!("* {}", new_content["body"].as_str().unwrap_or_default()),
            "m.new_content": new_content,
            "m.relates_to": {"rel_type": "m.replace", "event_id": original_id},
        });
        let edit_id = self.homeserver.send(As::Bot(bot), room_id, &txn_id(), "m.room.message", &content).await?;
        let edited = self.homeserver.event(As::Bot(bot), room_id, original_id).await?;
        let guild = guild_of(self, bot, room_id).await?;
        let mut message = rest_message(self, guild, &edited).await?;
        if message["edited_timestamp"].is_null() {
            // The homeserver had not aggregated the edit yet.
            let edit = self.homeserver.event(As::Bot(bot), room_id, &edit_id).await?;
            message["content"] = content["m.new_content"]["nexus.discord"]["content"]
                .as_str()
                .or(content["m.new_content"]["body"].as_str())
                .map_or(Value::Null, |t| json!(t));
            message["embeds"] = content["m.new_content"]["nexus.discord"]["embeds"].clone();
            if message["embeds"].is_null() {
                message["embeds"] = json!([]);
            }
            message["edited_timestamp"] = json!(shapes::timestamp(edit["origin_server_ts"].as_u64().unwrap_or(0)));
        }
        Ok(message)
    }
}

/// `PATCH /channels/{channel.id}/messages/{message.id}`: the bot edits its
/// own message (an `m.replace`).
pub async fn edit_message(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((channel_id, message_id)): Path<(String, String)>,
    DiscordJson(body): DiscordJson<MessageBody>,
) -> Result<Json<Value>, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let bot = application.bot_user_id.as_str();
    let original = message_event(&bridge, bot, &room_id, &message_id).await?;
    Ok(Json(bridge.replace_message(bot, &room_id, &original, &body, 0).await?))
}

/// `DELETE /channels/{channel.id}/messages/{message.id}`: a redaction.
pub async fn delete_message(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((channel_id, message_id)): Path<(String, String)>,
) -> Result<StatusCode, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let bot = application.bot_user_id.as_str();
    let event = message_event(&bridge, bot, &room_id, &message_id).await?;
    redact(&bridge, bot, &room_id, event["event_id"].as_str().unwrap_or_default()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn redact(bridge: &Bridge, bot: &str, room_id: &str, event_id: &str) -> Result<(), DiscordError> {
    let path = format!("/_matrix/client/v3/rooms/{}/redact/{}/{}", enc(room_id), enc(event_id), txn_id());
    bridge.homeserver.call(As::Bot(bot), reqwest::Method::PUT, &path, Some(&json!({}))).await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct BulkDelete {
    messages: Vec<Value>,
}

/// `POST /channels/{channel.id}/messages/bulk-delete`: 2–100 messages, none
/// older than two weeks (Discord's rules), each redacted.
pub async fn bulk_delete(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(channel_id): Path<String>,
    DiscordJson(body): DiscordJson<BulkDelete>,
) -> Result<StatusCode, DiscordError> {
    if !(2..=100).contains(&body.messages.len()) {
        return Err(DiscordError::invalid_form("messages", "Must be between 2 and 100 in length."));
    }
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    let bot = application.bot_user_id.as_str();
    let two_weeks_ago = snowflake::now_ms().saturating_sub(14 * 24 * 3600 * 1000);
    let mut events = Vec::with_capacity(body.messages.len());
    for id in &body.messages {
        let id = snowflake::from_json(id).ok_or_else(DiscordError::unknown_message)?;
        if snowflake::timestamp_ms(id) < two_weeks_ago {
            return Err(DiscordError::new(
                StatusCode::BAD_REQUEST,
                50034,
                "You can only bulk delete messages that are under 14 days old.",
            ));
        }
        events.push(message_event(&bridge, bot, &room_id, &id.to_string()).await?);
    }
    for event in events {
        redact(&bridge, bot, &room_id, event["event_id"].as_str().unwrap_or_default()).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
