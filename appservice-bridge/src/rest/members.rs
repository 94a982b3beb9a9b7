//! Guild members and bans. Reads come from the space's state; changes are
//! the bot's own Matrix actions (`nexus.member` for roles, nicknames and
//! timeouts; the homeserver's kick and ban, which reach every channel), so
//! the homeserver's rules judge them as they judge anyone's.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::guilds::{Guild, guild_state};
use super::{Bot, DiscordError, DiscordJson};
use crate::Bridge;
use crate::applications::{Application, intents};
use crate::matrix::{As, MatrixError, enc};
use crate::members::{joined, member_key, membership};
use crate::shapes;
use crate::snowflake::{self, Kind};

fn unknown_member() -> DiscordError {
    DiscordError::new(StatusCode::NOT_FOUND, 10007, "Unknown Member")
}

fn unknown_ban() -> DiscordError {
    DiscordError::new(StatusCode::NOT_FOUND, 10026, "Unknown Ban")
}

pub(super) fn unknown_role() -> DiscordError {
    DiscordError::new(StatusCode::NOT_FOUND, 10011, "Unknown Role")
}

/// The Matrix user a user snowflake names (`@me`: the bot).
async fn user_of(bridge: &Bridge, application: &Application, user: &str) -> Result<String, DiscordError> {
    if user == "@me" {
        return Ok(application.bot_user_id.clone());
    }
    let id = snowflake::parse(user).ok_or_else(DiscordError::unknown_user)?;
    bridge.snowflakes.matrix_id(Kind::User, id).await?.ok_or_else(DiscordError::unknown_user)
}

/// The reason a moderator gave, from Discord's audit-log header
/// (percent-encoded).
fn audit_reason(headers: &HeaderMap) -> Option<String> {
    let mut rest = headers.get("x-audit-log-reason")?.to_str().ok()?.as_bytes();
    let mut decoded = Vec::with_capacity(rest.len());
    while let Some((&byte, tail)) = rest.split_first() {
        let escaped = (byte == b'%')
            .then(|| tail.get(..2))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(value) => {
                decoded.push(value);
                rest = &tail[2..];
            }
            None => {
                decoded.push(byte);
                rest = tail;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

/// `GET /guilds/{guild.id}/members?limit=&after=`: needs the GUILD_MEMBERS
/// privileged intent, as on Discord.
pub async fn list(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(guild_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, DiscordError> {
    if application.privileged_intents & intents::GUILD_MEMBERS == 0 {
        return Err(DiscordError::new(StatusCode::FORBIDDEN, 50001, "Missing Access"));
    }
    let limit = super::query_limit(&query, 1, 1000)?;
    let after = match query.get("after") {
        Some(after) => {
            snowflake::parse(after).ok_or_else(|| DiscordError::invalid_form("after", "Not a snowflake."))?
        }
        None => 0,
    };
    let guild = guild_state(&bridge, &application, &guild_id).await?;
    let mut ids = Vec::new();
    for user in joined(&guild.state) {
        ids.push((bridge.snowflakes.of(Kind::User, user).await?, user.to_owned()));
    }
    ids.sort();
    let mut members = Vec::new();
    for (_, user) in ids.into_iter().filter(|(id, _)| *id > after).take(limit) {
        if let Some(member) = bridge.member(&guild.space, guild.id, &guild.state, &user).await? {
            members.push(member);
        }
    }
    Ok(Json(Value::Array(members)))
}

/// `GET /guilds/{guild.id}/members/{user.id}`.
pub async fn get(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((guild_id, user)): Path<(String, String)>,
) -> Result<Json<Value>, DiscordError> {
    let guild = guild_state(&bridge, &application, &guild_id).await?;
    let user = user_of(&bridge, &application, &user).await?;
    let member = bridge.member(&guild.space, guild.id, &guild.state, &user).await?;
    Ok(Json(member.ok_or_else(unknown_member)?))
}

/// Writes a member's `nexus.member` after `change` edits its content.
async fn change_member(
    bridge: &Bridge,
    bot: &str,
    guild: &Guild,
    user: &str,
    change: impl FnOnce(&mut Map<String, Value>),
) -> Result<(), DiscordError> {
    let key = member_key(user);
    let mut content =
        shapes::state(&guild.state, "nexus.member", &key).and_then(Value::as_object).cloned().unwrap_or_default();
    change(&mut content);
    bridge.homeserver.set_state(As::Bot(bot), &guild.space, "nexus.member", &key, &Value::Object(content)).await?;
    Ok(())
}

/// `PATCH /guilds/{guild.id}/members/{user.id}`: `nick`, `roles`,
/// `communication_disabled_until` (a timeout). For `@me`, `nick` is the
/// bot's own display name in the space (§6.5).
pub async fn modify(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((guild_id, user)): Path<(String, String)>,
    DiscordJson(body): DiscordJson<Map<String, Value>>,
) -> Result<Json<Value>, DiscordError> {
    let guild = guild_state(&bridge, &application, &guild_id).await?;
    let bot = application.bot_user_id.as_str();
    let user = user_of(&bridge, &application, &user).await?;
    if membership(&guild.state, &user) != Some("join") {
        return Err(unknown_member());
    }
    for unsupported in ["mute", "deaf", "channel_id", "flags"] {
        if body.contains_key(unsupported) {
            return Err(DiscordError::invalid_form(unsupported, "Voice moderation goes through the Nexus voice API."));
        }
    }
    if user == bot {
        if let Some(nick) = body.get("nick") {
            let mut content = shapes::state(&guild.state, "m.room.member", bot).cloned().unwrap_or_else(|| json!({}));
            content["membership"] = json!("join");
            content["displayname"] = match nick.as_str().filter(|n| !n.is_empty()) {
                Some(nick) => json!(nick),
                None => json!(application.name),
            };
            bridge.homeserver.set_state(As::Bot(bot), &guild.space, "m.room.member", bot, &content).await?;
        }
    } else {
        let nick = match body.get("nick") {
            Some(Value::String(nick)) if (1..=32).contains(&nick.chars().count()) => Some(Some(nick.clone())),
            Some(Value::String(nick)) if nick.is_empty() => Some(None),
            Some(Value::Null) => Some(None),
            None => None,
            Some(_) => return Err(DiscordError::invalid_form("nick", "Must be between 1 and 32 in length.")),
        };
        let roles = match body.get("roles") {
            Some(Value::Array(ids)) => {
                let mut keys = Vec::new();
                for id in ids {
                    let id = snowflake::from_json(id).ok_or_else(unknown_role)?;
                    let key = bridge.role_key(&guild.space, guild.id, id).await?.ok_or_else(unknown_role)?;
                    if key != "everyone" && !keys.contains(&key) {
                        keys.push(key);
                    }
                }
                Some(keys)
            }
            None | Some(Value::Null) => None,
            Some(_) => return Err(DiscordError::invalid_form("roles", "Must be an array of role ids.")),
        };
        let timeout = match body.get("communication_disabled_until") {
            Some(Value::String(until)) => {
                Some(Some(shapes::parse_timestamp(until).ok_or_else(|| {
                    DiscordError::invalid_form("communication_disabled_until", "Not an ISO 8601 time.")
                })?))
            }
            Some(Value::Null) => Some(None),
            None => None,
            Some(_) => return Err(DiscordError::invalid_form("communication_disabled_until", "Not an ISO 8601 time.")),
        };
        change_member(&bridge, bot, &guild, &user, |content| {
            set_or_remove(content, "nick", nick.map(|n| n.map(Value::from)));
            if let Some(roles) = roles {
                content.insert("roles".to_owned(), json!(roles));
            }
            set_or_remove(content, "communication_disabled_until", timeout.map(|t| t.map(Value::from)));
        })
        .await?;
    }
    let state = bridge.homeserver.state(As::Bot(bot), &guild.space).await?;
    let member = bridge.member(&guild.space, guild.id, &state, &user).await?;
    Ok(Json(member.ok_or_else(unknown_member)?))
}

fn set_or_remove(content: &mut Map<String, Value>, field: &str, change: Option<Option<Value>>) {
    match change {
        Some(Some(value)) => {
            content.insert(field.to_owned(), value);
        }
        Some(None) => {
            content.remove(field);
        }
        None => {}
    }
}

/// `PUT`/`DELETE /guilds/{guild.id}/members/{user.id}/roles/{role.id}`.
async fn member_role(
    bridge: &Bridge,
    application: &Application,
    (guild_id, user, role): (&str, &str, &str),
    add: bool,
) -> Result<StatusCode, DiscordError> {
    let guild = guild_state(bridge, application, guild_id).await?;
    let user = user_of(bridge, application, user).await?;
    if membership(&guild.state, &user) != Some("join") {
        return Err(unknown_member());
    }
    let role = snowflake::parse(role).ok_or_else(unknown_role)?;
    let key = bridge.role_key(&guild.space, guild.id, role).await?.ok_or_else(unknown_role)?;
    if key == "everyone"
        || shapes::state(&guild.state, "nexus.role", &key).is_none_or(|c| c.as_object().is_none_or(|c| c.is_empty()))
    {
        return Err(unknown_role());
    }
    change_member(bridge, &application.bot_user_id, &guild, &user, |content| {
        let mut roles: Vec<Value> = content.get("roles").and_then(Value::as_array).cloned().unwrap_or_default();
        roles.retain(|r| r != key.as_str());
        if add {
            roles.push(json!(key));
        }
        content.insert("roles".to_owned(), Value::Array(roles));
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn add_role(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((guild, user, role)): Path<(String, String, String)>,
) -> Result<StatusCode, DiscordError> {
    member_role(&bridge, &application, (&guild, &user, &role), true).await
}

pub async fn remove_role(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((guild, user, role)): Path<(String, String, String)>,
) -> Result<StatusCode, DiscordError> {
    member_role(&bridge, &application, (&guild, &user, &role), false).await
}

/// Kick or ban through the Nexus client API (which reaches every channel);
/// on a homeserver without it, in the space alone.
async fn moderate(
    bridge: &Bridge,
    bot: &str,
    guild: &Guild,
    user: &str,
    action: &str,
    reason: Option<String>,
) -> Result<(), DiscordError> {
    let mut body = json!({});
    if let Some(reason) = &reason {
        body["reason"] = json!(reason);
    }
    let path = format!("/_nexus/client/v1/servers/{}/members/{}/{action}", enc(&guild.space), enc(user));
    match bridge.homeserver.call(As::Bot(bot), Method::POST, &path, Some(&body)).await {
        Ok(_) => Ok(()),
        Err(e) if e.downcast_ref::<MatrixError>().is_some_and(|m| m.errcode == "M_UNRECOGNIZED") => {
            body["user_id"] = json!(user);
            let path = format!("/_matrix/client/v3/rooms/{}/{action}", enc(&guild.space));
            bridge.homeserver.call(As::Bot(bot), Method::POST, &path, Some(&body)).await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /guilds/{guild.id}/members/{user.id}`: a kick.
pub async fn kick(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((guild_id, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, DiscordError> {
    let guild = guild_state(&bridge, &application, &guild_id).await?;
    let user = user_of(&bridge, &application, &user).await?;
    if membership(&guild.state, &user) != Some("join") {
        return Err(unknown_member());
    }
    moderate(&bridge, &application.bot_user_id, &guild, &user, "kick", audit_reason(&headers)).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn ban_json(bridge_user: Value, state: &[Value], user: &str) -> Value {
    let reason = shapes::state(state, "m.room.member", user).and_then(|c| c["reason"].as_str());
    json!({"user": bridge_user, "reason": reason})
}

/// `GET /guilds/{guild.id}/bans`.
pub async fn bans(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(guild_id): Path<String>,
) -> Result<Json<Value>, DiscordError> {
    let guild = guild_state(&bridge, &application, &guild_id).await?;
    let banned: Vec<&str> = guild
        .state
        .iter()
        .filter(|e| e["type"] == "m.room.member" && e["content"]["membership"] == "ban")
        .filter_map(|e| e["state_key"].as_str())
        .collect();
    let mut out = Vec::with_capacity(banned.len());
    for user in banned {
        out.push(ban_json(bridge.author(user).await?, &guild.state, user));
    }
    Ok(Json(Value::Array(out)))
}

/// `GET /guilds/{guild.id}/bans/{user.id}`.
pub async fn get_ban(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((guild_id, user)): Path<(String, String)>,
) -> Result<Json<Value>, DiscordError> {
    let guild = guild_state(&bridge, &application, &guild_id).await?;
    let user = user_of(&bridge, &application, &user).await.map_err(|_| unknown_ban())?;
    if membership(&guild.state, &user) != Some("ban") {
        return Err(unknown_ban());
    }
    Ok(Json(ban_json(bridge.author(&user).await?, &guild.state, &user)))
}

/// `PUT /guilds/{guild.id}/bans/{user.id}`.
pub async fn ban(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((guild_id, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, DiscordError> {
    let guild = guild_state(&bridge, &application, &guild_id).await?;
    let user = user_of(&bridge, &application, &user).await?;
    moderate(&bridge, &application.bot_user_id, &guild, &user, "ban", audit_reason(&headers)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /guilds/{guild.id}/bans/{user.id}`: unbanned from the space
/// and from each of its channels that banned them.
pub async fn unban(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((guild_id, user)): Path<(String, String)>,
) -> Result<StatusCode, DiscordError> {
    let guild = guild_state(&bridge, &application, &guild_id).await?;
    let user = user_of(&bridge, &application, &user).await.map_err(|_| unknown_ban())?;
    if membership(&guild.state, &user) != Some("ban") {
        return Err(unknown_ban());
    }
    let bot = application.bot_user_id.as_str();
    let body = json!({"user_id": user});
    let mut rooms = vec![guild.space.clone()];
    rooms.extend(shapes::children(&guild.state));
    for room in rooms {
        let path = format!("/_matrix/client/v3/rooms/{}/state/m.room.member/{}", enc(&room), enc(&user));
        let banned = match bridge.homeserver.call(As::Bot(bot), Method::GET, &path, None).await {
            Ok(content) => content["membership"] == "ban",
            Err(_) => false,
        };
        if banned {
            let path = format!("/_matrix/client/v3/rooms/{}/unban", enc(&room));
            bridge.homeserver.call(As::Bot(bot), Method::POST, &path, Some(&body)).await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
