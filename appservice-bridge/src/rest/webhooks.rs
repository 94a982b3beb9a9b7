//! Channel webhooks over REST: made and listed by a bot with
//! MANAGE_WEBHOOKS in the channel, read, renamed and deleted by their
//! application (or with their token), and executed with their token alone
//! (`POST /webhooks/{id}/{token}`, which is also where interaction
//! followups go: an interaction token is tried when no webhook matches).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::channels::{channel_room, thread_of};
use super::form::MessageForm;
use super::guilds::guild_state;
use super::messages::guild_of;
use super::outgoing::EPHEMERAL;
use super::{Bot, DiscordError, DiscordJson};
use crate::Bridge;
use crate::applications::Application;
use crate::matrix::{As, enc};
use crate::snowflake;
use crate::webhooks::Webhook;

/// Discord's MANAGE_WEBHOOKS and ADMINISTRATOR bits.
const MANAGE_WEBHOOKS: u64 = 1 << 29;
const ADMINISTRATOR: u64 = 1 << 3;

fn unknown_webhook() -> DiscordError {
    DiscordError::new(StatusCode::NOT_FOUND, 10015, "Unknown Webhook")
}

fn checked_name(name: Option<&Value>) -> Result<String, DiscordError> {
    let name = name.and_then(Value::as_str).unwrap_or_default();
    let lower = name.to_lowercase();
    if !(1..=80).contains(&name.chars().count()) || lower.contains("discord") || lower.contains("clyde") {
        return Err(DiscordError::invalid_form("name", "Invalid webhook name."));
    }
    Ok(name.to_owned())
}

/// MANAGE_WEBHOOKS for the bot in a room, as the homeserver's permission
/// evaluator says (a homeserver without one leaves it to its own rules).
async fn may_manage(bridge: &Bridge, bot: &str, room_id: &str) -> Result<(), DiscordError> {
    let permissions: u64 = bridge.permissions_in(bot, room_id, bot).await?.parse().unwrap_or(0);
    let unknown = permissions == 0;
    if unknown || permissions & (MANAGE_WEBHOOKS | ADMINISTRATOR) != 0 {
        return Ok(());
    }
    Err(DiscordError::missing_permissions())
}

/// `POST /channels/{channel.id}/webhooks` `{name}`.
pub async fn create(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(channel_id): Path<String>,
    DiscordJson(body): DiscordJson<Map<String, Value>>,
) -> Result<Json<Value>, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    if thread_of(&bridge, &channel_id).await?.is_some() {
        return Err(DiscordError::wrong_channel_type());
    }
    let name = checked_name(body.get("name"))?;
    let bot = application.bot_user_id.as_str();
    may_manage(&bridge, bot, &room_id).await?;
    let guild = guild_of(&bridge, bot, &room_id).await?;
    let (webhook, token) = bridge.create_webhook(bot, application.id, &room_id, guild, &name).await?;
    Ok(Json(bridge.webhook_json(&webhook, Some(&token)).await?))
}

/// `GET /channels/{channel.id}/webhooks`.
pub async fn of_channel(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(channel_id): Path<String>,
) -> Result<Json<Value>, DiscordError> {
    let room_id = channel_room(&bridge, &application, &channel_id).await?;
    may_manage(&bridge, &application.bot_user_id, &room_id).await?;
    let mut listed = Vec::new();
    for webhook in bridge.webhooks().await?.iter().filter(|w| w.room_id == room_id) {
        listed.push(bridge.webhook_json(webhook, None).await?);
    }
    Ok(Json(Value::Array(listed)))
}

/// `GET /guilds/{guild.id}/webhooks`.
pub async fn of_guild(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(guild_id): Path<String>,
) -> Result<Json<Value>, DiscordError> {
    let guild = guild_state(&bridge, &application, &guild_id).await?;
    may_manage(&bridge, &application.bot_user_id, &guild.space).await?;
    let mut listed = Vec::new();
    for webhook in bridge.webhooks().await?.iter().filter(|w| w.guild_id == Some(guild.id)) {
        listed.push(bridge.webhook_json(webhook, None).await?);
    }
    Ok(Json(Value::Array(listed)))
}

/// The webhook a path names, for its own application.
async fn owned(bridge: &Bridge, application: &Application, id: &str) -> Result<Webhook, DiscordError> {
    let id = snowflake::parse(id).ok_or_else(unknown_webhook)?;
    let webhook = bridge.webhook(id).await?.ok_or_else(unknown_webhook)?;
    if webhook.application_id != application.id {
        return Err(unknown_webhook());
    }
    Ok(webhook)
}

/// The webhook a path names, if the token is its own.
async fn by_token(bridge: &Bridge, id: &str, token: &str) -> Result<Option<Webhook>, DiscordError> {
    let Some(id) = snowflake::parse(id) else { return Ok(None) };
    Ok(bridge.webhook(id).await?.filter(|w| w.token_matches(token)))
}

async fn rename(bridge: &Bridge, mut webhook: Webhook, body: &Map<String, Value>) -> Result<Json<Value>, DiscordError> {
    if body.contains_key("name") {
        webhook.name = checked_name(body.get("name"))?;
        bridge.homeserver.set_displayname(&webhook.user_id, &webhook.name).await?;
        bridge.save_webhook(&webhook).await?;
    }
    if body.get("channel_id").is_some_and(|c| !c.is_null()) {
        return Err(DiscordError::invalid_form("channel_id", "A webhook stays in its channel here."));
    }
    Ok(Json(bridge.webhook_json(&webhook, None).await?))
}

pub async fn get(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(id): Path<String>,
) -> Result<Json<Value>, DiscordError> {
    let webhook = owned(&bridge, &application, &id).await?;
    Ok(Json(bridge.webhook_json(&webhook, None).await?))
}

pub async fn modify(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(id): Path<String>,
    DiscordJson(body): DiscordJson<Map<String, Value>>,
) -> Result<Json<Value>, DiscordError> {
    let webhook = owned(&bridge, &application, &id).await?;
    rename(&bridge, webhook, &body).await
}

pub async fn delete(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(id): Path<String>,
) -> Result<StatusCode, DiscordError> {
    let webhook = owned(&bridge, &application, &id).await?;
    bridge.delete_webhook(&webhook).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn get_with_token(
    State(bridge): State<Arc<Bridge>>,
    Path((id, token)): Path<(String, String)>,
) -> Result<Json<Value>, DiscordError> {
    let webhook = by_token(&bridge, &id, &token).await?.ok_or_else(unknown_webhook)?;
    Ok(Json(bridge.webhook_json(&webhook, None).await?))
}

pub async fn modify_with_token(
    State(bridge): State<Arc<Bridge>>,
    Path((id, token)): Path<(String, String)>,
    DiscordJson(body): DiscordJson<Map<String, Value>>,
) -> Result<Json<Value>, DiscordError> {
    let webhook = by_token(&bridge, &id, &token).await?.ok_or_else(unknown_webhook)?;
    rename(&bridge, webhook, &body).await
}

pub async fn delete_with_token(
    State(bridge): State<Arc<Bridge>>,
    Path((id, token)): Path<(String, String)>,
) -> Result<StatusCode, DiscordError> {
    let webhook = by_token(&bridge, &id, &token).await?.ok_or_else(unknown_webhook)?;
    bridge.delete_webhook(&webhook).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /webhooks/{id}/{token}`: executes a channel webhook (`?wait=true`
/// answers with the message, else 204; `?thread_id=` posts in a thread),
/// or, for an interaction's token, a followup.
pub async fn execute(
    State(bridge): State<Arc<Bridge>>,
    Path((id, token)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    form: MessageForm,
) -> Result<Response, DiscordError> {
    let Some(webhook) = by_token(&bridge, &id, &token).await? else {
        return super::interactions::followup(State(bridge), Path((id, token)), form)
            .await
            .map(IntoResponse::into_response);
    };
    let poster = webhook.user_id.clone();
    let (body, files) = bridge.upload_files(&poster, form).await?;
    let mut content = body.matrix_content_with(None, 0, &files)?;
    if body.flags.unwrap_or(0) & EPHEMERAL != 0 {
        return Err(DiscordError::invalid_form("flags", "Invalid flags"));
    }
    if let Some(username) = body.username.as_deref().filter(|u| !u.is_empty()) {
        let username = checked_name(Some(&json!(username)))?;
        name_in_room(&bridge, &webhook, &username).await?;
        content["nexus.discord"]["username"] = json!(username);
    } else {
        name_in_room(&bridge, &webhook, &webhook.name).await?;
    }
    if let Some(thread) = query.get("thread_id") {
        let (_, root) = match snowflake::parse(thread) {
            Some(thread) => bridge.thread_of(thread).await?,
            None => None,
        }
        .filter(|(room, _)| *room == webhook.room_id)
        .ok_or_else(DiscordError::unknown_channel)?;
        content["m.relates_to"] = json!({"rel_type": "m.thread", "event_id": root, "is_falling_back": true, "m.in_reply_to": {"event_id": root}});
    }
    let message = bridge.post_message(&poster, &webhook.room_id, &content).await?;
    bridge.post_parts(&poster, &webhook.room_id, &message, &files, &content["m.relates_to"]).await?;
    // discord.py sends `wait=1`, discord.js `wait=true`.
    if query.get("wait").is_some_and(|w| matches!(w.as_str(), "true" | "True" | "1")) {
        return Ok(Json(message).into_response());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The name the webhook's user shows in its room (its display name there).
async fn name_in_room(bridge: &Bridge, webhook: &Webhook, name: &str) -> Result<(), DiscordError> {
    let user = webhook.user_id.as_str();
    let path = format!("/_matrix/client/v3/rooms/{}/state/m.room.member/{}", enc(&webhook.room_id), enc(user));
    let mut member = bridge.homeserver.call(As::Bot(user), reqwest::Method::GET, &path, None).await?;
    if member["displayname"] != name {
        member["displayname"] = json!(name);
        bridge.homeserver.set_state(As::Bot(user), &webhook.room_id, "m.room.member", user, &member).await?;
    }
    Ok(())
}

/// A message a channel webhook posted, if `id`/`token` name a channel
/// webhook (`None`: try an interaction's token instead).
pub(super) async fn own_message(
    bridge: &Bridge,
    id: &str,
    token: &str,
    message_id: &str,
) -> Result<Option<(Webhook, Value)>, DiscordError> {
    let Some(webhook) = by_token(bridge, id, token).await? else { return Ok(None) };
    let event = super::messages::message_event(bridge, &webhook.user_id, &webhook.room_id, message_id).await?;
    if event["sender"] != webhook.user_id.as_str() {
        return Err(DiscordError::unknown_message());
    }
    Ok(Some((webhook, event)))
}
