//! Application commands over REST: global (`/applications/{id}/commands`)
//! and per guild (`/applications/{id}/guilds/{guild}/commands`): list,
//! create (or replace by name), bulk overwrite, get, edit, delete.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;

use super::{Bot, DiscordError, DiscordJson};
use crate::Bridge;
use crate::applications::Application;
use crate::commands::{Invalid, checked_command};
use crate::snowflake::{self, Kind};

fn missing_access() -> DiscordError {
    DiscordError::new(StatusCode::FORBIDDEN, 50001, "Missing Access")
}

fn unknown_command() -> DiscordError {
    DiscordError::new(StatusCode::NOT_FOUND, 10063, "Unknown application command")
}

impl From<Invalid> for DiscordError {
    fn from(invalid: Invalid) -> DiscordError {
        DiscordError::invalid_form(&invalid.field, &invalid.problem)
    }
}

/// The scope a path names: 0 for global, else a guild the bot is in.
async fn scope(
    bridge: &Bridge,
    application: &Application,
    application_id: &str,
    guild_id: Option<&str>,
) -> Result<u64, DiscordError> {
    if snowflake::parse(application_id) != Some(application.id) {
        return Err(missing_access());
    }
    let Some(guild_id) = guild_id else { return Ok(0) };
    let guild = snowflake::parse(guild_id).ok_or_else(missing_access)?;
    let space = bridge.snowflakes.matrix_id(Kind::Room, guild).await?.ok_or_else(missing_access)?;
    if !bridge.homeserver.joined_rooms(&application.bot_user_id).await?.contains(&space) {
        return Err(missing_access());
    }
    Ok(guild)
}

async fn list(
    bridge: &Bridge,
    application: &Application,
    id: &str,
    guild: Option<&str>,
) -> Result<Json<Value>, DiscordError> {
    let scope = scope(bridge, application, id, guild).await?;
    Ok(Json(Value::Array(bridge.commands.list(application.id, scope).await?)))
}

async fn create(
    bridge: &Bridge,
    application: &Application,
    id: &str,
    guild: Option<&str>,
    body: &Value,
) -> Result<(StatusCode, Json<Value>), DiscordError> {
    let scope = scope(bridge, application, id, guild).await?;
    let checked = checked_command(body)?;
    let (command, new) = bridge.commands.upsert(application.id, scope, checked).await?;
    Ok((if new { StatusCode::CREATED } else { StatusCode::OK }, Json(command)))
}

async fn overwrite(
    bridge: &Bridge,
    application: &Application,
    id: &str,
    guild: Option<&str>,
    body: &Value,
) -> Result<Json<Value>, DiscordError> {
    let scope = scope(bridge, application, id, guild).await?;
    let Some(list) = body.as_array() else { return Err(DiscordError::invalid_form("body", "Must be an array.")) };
    if list.len() > 100 {
        return Err(DiscordError::invalid_form("body", "Must be 100 or fewer in length."));
    }
    let mut checked = Vec::with_capacity(list.len());
    for (i, command) in list.iter().enumerate() {
        let command = checked_command(command).map_err(|e| Invalid { field: format!("{i}.{}", e.field), ..e })?;
        if checked.iter().any(|c: &Value| c["name"] == command["name"] && c["type"] == command["type"]) {
            return Err(DiscordError::invalid_form(&format!("{i}.name"), "Application command names must be unique"));
        }
        checked.push(command);
    }
    Ok(Json(Value::Array(bridge.commands.overwrite(application.id, scope, checked).await?)))
}

async fn one(
    bridge: &Bridge,
    application: &Application,
    (id, guild, command): (&str, Option<&str>, &str),
    action: Action<'_>,
) -> Result<axum::response::Response, DiscordError> {
    use axum::response::IntoResponse;
    let scope = scope(bridge, application, id, guild).await?;
    let command = snowflake::parse(command).ok_or_else(unknown_command)?;
    match action {
        Action::Get => {
            let found = bridge.commands.get(application.id, scope, command).await?.ok_or_else(unknown_command)?;
            Ok(Json(found).into_response())
        }
        Action::Edit(changes) => match bridge.commands.edit(application.id, scope, command, changes).await? {
            Some(Ok(edited)) => Ok(Json(edited).into_response()),
            Some(Err(invalid)) => Err(invalid.into()),
            None => Err(unknown_command()),
        },
        Action::Delete => match bridge.commands.delete(application.id, scope, command).await? {
            true => Ok(StatusCode::NO_CONTENT.into_response()),
            false => Err(unknown_command()),
        },
    }
}

enum Action<'a> {
    Get,
    Edit(&'a Value),
    Delete,
}

pub async fn global_list(
    State(b): State<Arc<Bridge>>,
    Bot(a): Bot,
    Path(id): Path<String>,
) -> Result<Json<Value>, DiscordError> {
    list(&b, &a, &id, None).await
}

pub async fn global_create(
    State(b): State<Arc<Bridge>>,
    Bot(a): Bot,
    Path(id): Path<String>,
    DiscordJson(body): DiscordJson<Value>,
) -> Result<(StatusCode, Json<Value>), DiscordError> {
    create(&b, &a, &id, None, &body).await
}

pub async fn global_overwrite(
    State(b): State<Arc<Bridge>>,
    Bot(a): Bot,
    Path(id): Path<String>,
    DiscordJson(body): DiscordJson<Value>,
) -> Result<Json<Value>, DiscordError> {
    overwrite(&b, &a, &id, None, &body).await
}

pub async fn guild_list(
    State(b): State<Arc<Bridge>>,
    Bot(a): Bot,
    Path((id, guild)): Path<(String, String)>,
) -> Result<Json<Value>, DiscordError> {
    list(&b, &a, &id, Some(&guild)).await
}

pub async fn guild_create(
    State(b): State<Arc<Bridge>>,
    Bot(a): Bot,
    Path((id, guild)): Path<(String, String)>,
    DiscordJson(body): DiscordJson<Value>,
) -> Result<(StatusCode, Json<Value>), DiscordError> {
    create(&b, &a, &id, Some(&guild), &body).await
}

pub async fn guild_overwrite(
    State(b): State<Arc<Bridge>>,
    Bot(a): Bot,
    Path((id, guild)): Path<(String, String)>,
    DiscordJson(body): DiscordJson<Value>,
) -> Result<Json<Value>, DiscordError> {
    overwrite(&b, &a, &id, Some(&guild), &body).await
}

pub async fn global_get(
    State(b): State<Arc<Bridge>>,
    Bot(a): Bot,
    Path((id, command)): Path<(String, String)>,
) -> Result<axum::response::Response, DiscordError> {
    one(&b, &a, (&id, None, &command), Action::Get).await
}

pub async fn global_edit(
    State(b): State<Arc<Bridge>>,
    Bot(a): Bot,
    Path((id, command)): Path<(String, String)>,
    DiscordJson(body): DiscordJson<Value>,
) -> Result<axum::response::Response, DiscordError> {
    one(&b, &a, (&id, None, &command), Action::Edit(&body)).await
}

pub async fn global_delete(
    State(b): State<Arc<Bridge>>,
    Bot(a): Bot,
    Path((id, command)): Path<(String, String)>,
) -> Result<axum::response::Response, DiscordError> {
    one(&b, &a, (&id, None, &command), Action::Delete).await
}

pub async fn guild_get(
    State(b): State<Arc<Bridge>>,
    Bot(a): Bot,
    Path((id, guild, command)): Path<(String, String, String)>,
) -> Result<axum::response::Response, DiscordError> {
    one(&b, &a, (&id, Some(&guild), &command), Action::Get).await
}

pub async fn guild_edit(
    State(b): State<Arc<Bridge>>,
    Bot(a): Bot,
    Path((id, guild, command)): Path<(String, String, String)>,
    DiscordJson(body): DiscordJson<Value>,
) -> Result<axum::response::Response, DiscordError> {
    one(&b, &a, (&id, Some(&guild), &command), Action::Edit(&body)).await
}

pub async fn guild_delete(
    State(b): State<Arc<Bridge>>,
    Bot(a): Bot,
    Path((id, guild, command)): Path<(String, String, String)>,
) -> Result<axum::response::Response, DiscordError> {
    one(&b, &a, (&id, Some(&guild), &command), Action::Delete).await
}
