//! The developer portal, as Nexus endpoints under `/_nexus/bridge/v1`,
//! authenticated with a Nexus user's own Matrix access token:
//!
//! - `POST /applications` `{name, description?, privileged_intents?}` makes
//!   an application and its bot; the answer carries the bot token, once.
//!   `privileged_intents` names any of `message_content`, `guild_members`,
//!   `guild_presences`.
//! - `POST /applications/{id}/guilds/{spaceRoomId}` adds the bot to a
//!   server: the caller needs MANAGE_GUILD there (asked of the homeserver's
//!   permission endpoint; on a homeserver without it, their invite power
//!   decides). The bot is invited, with the caller's token, to the space
//!   and each of its channels, and joins them.
//! - `GET /rooms/{roomId}/commands` lists the commands people in the room
//!   can type (`/name …`): those of each bot in it, the guild's own over
//!   the global ones of the same name. The caller must be in the room.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::post;
use axum::{Json, Router};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{DiscordError, DiscordJson};
use crate::Bridge;
use crate::applications::privileged_intent;
use crate::matrix::{As, MatrixError, enc};
use crate::shapes;
use crate::snowflake::{self, Kind};

/// Discord's MANAGE_GUILD bit.
const MANAGE_GUILD: u64 = 1 << 5;

pub fn portal_router() -> Router<Arc<Bridge>> {
    Router::new()
        .route("/_nexus/bridge/v1/applications", post(create_application))
        .route("/_nexus/bridge/v1/applications/{application_id}/guilds/{space_id}", post(add_to_guild))
        .route("/_nexus/bridge/v1/rooms/{room_id}/commands", axum::routing::get(room_commands))
}

/// A Nexus user and their access token.
pub struct NexusUser {
    user_id: String,
    token: String,
}

impl FromRequestParts<Arc<Bridge>> for NexusUser {
    type Rejection = DiscordError;

    async fn from_request_parts(parts: &mut Parts, bridge: &Arc<Bridge>) -> Result<NexusUser, DiscordError> {
        let header = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let Some(token) = header.strip_prefix("Bearer ") else { return Err(DiscordError::unauthorized()) };
        match bridge.homeserver.whoami(token).await {
            Ok(user_id) => Ok(NexusUser { user_id, token: token.to_owned() }),
            Err(e) if e.downcast_ref::<MatrixError>().is_some_and(|m| m.status == 401 || m.status == 403) => {
                Err(DiscordError::unauthorized())
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[derive(Deserialize)]
pub struct NewApplication {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    privileged_intents: Vec<String>,
}

async fn create_application(
    State(bridge): State<Arc<Bridge>>,
    caller: NexusUser,
    DiscordJson(body): DiscordJson<NewApplication>,
) -> Result<Json<Value>, DiscordError> {
    let name = body.name.trim();
    if !(2..=32).contains(&name.chars().count()) {
        return Err(DiscordError::invalid_form("name", "Must be between 2 and 32 in length."));
    }
    let mut intents = 0;
    for wanted in &body.privileged_intents {
        intents |= privileged_intent(wanted)
            .ok_or_else(|| DiscordError::invalid_form("privileged_intents", &format!("unknown intent {wanted:?}")))?;
    }
    let (application, token) = bridge
        .applications
        .create(&caller.user_id, name, &body.description, |id| bridge.bot_user_id(id), intents)
        .await?;
    let (localpart, _) = bridge.bot_user_id(application.id);
    bridge.homeserver.register(&localpart).await?;
    bridge.homeserver.set_displayname(&application.bot_user_id, name).await?;
    let bot_id = bridge.snowflakes.of(Kind::User, &application.bot_user_id).await?;
    Ok(Json(json!({
        "id": application.id.to_string(),
        "name": application.name,
        "flags": application.flags(),
        "bot": {"id": bot_id.to_string(), "user_id": application.bot_user_id},
        "token": token,
    })))
}

async fn add_to_guild(
    State(bridge): State<Arc<Bridge>>,
    caller: NexusUser,
    Path((application_id, space_id)): Path<(String, String)>,
) -> Result<Json<Value>, DiscordError> {
    let unknown_application = || DiscordError::new(StatusCode::NOT_FOUND, 10002, "Unknown Application");
    let id = snowflake::parse(&application_id).ok_or_else(unknown_application)?;
    let application = bridge.applications.get(id).await?.ok_or_else(unknown_application)?;
    let state = match bridge.homeserver.state(As::Token(&caller.token), &space_id).await {
        Ok(state) => state,
        Err(e) if e.downcast_ref::<MatrixError>().is_some() => {
            return Err(DiscordError::new(StatusCode::NOT_FOUND, 10004, "Unknown Guild"));
        }
        Err(e) => return Err(e.into()),
    };
    if !shapes::is_guild(&state) {
        return Err(DiscordError::new(StatusCode::NOT_FOUND, 10004, "Unknown Guild"));
    }
    if !may_manage_guild(&bridge, &caller, &space_id).await? {
        return Err(DiscordError::missing_permissions());
    }
    let bot = application.bot_user_id.as_str();
    let mut rooms = vec![space_id.clone()];
    rooms.extend(shapes::children(&state));
    let mut joined = Vec::new();
    for room in &rooms {
        bridge.homeserver.invite(As::Token(&caller.token), room, bot).await?;
        bridge.homeserver.join(As::Bot(bot), room).await?;
        joined.push(room.clone());
    }
    let guild_id = bridge.snowflakes.of(Kind::Room, &space_id).await?;
    Ok(Json(json!({"guild_id": guild_id.to_string(), "joined": joined})))
}

/// MANAGE_GUILD in the server, as the homeserver's permission endpoint says;
/// a homeserver without that endpoint leaves it to its invite rules.
async fn may_manage_guild(bridge: &Bridge, caller: &NexusUser, space_id: &str) -> anyhow::Result<bool> {
    let path = format!("/_nexus/client/v1/rooms/{}/permissions", enc(space_id));
    match bridge.homeserver.call(As::Token(&caller.token), Method::GET, &path, None).await {
        Ok(answer) => {
            let permissions = answer["permissions"].as_str().and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
            // ADMINISTRATOR implies every permission.
            Ok(permissions & (MANAGE_GUILD | 1 << 3) != 0)
        }
        Err(e) if e.downcast_ref::<MatrixError>().is_some_and(|m| m.status == 404 && m.errcode == "M_UNRECOGNIZED") => {
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

/// The commands available in a room, for clients' autocompletion.
async fn room_commands(
    State(bridge): State<Arc<Bridge>>,
    caller: NexusUser,
    Path(room_id): Path<String>,
) -> Result<Json<Value>, DiscordError> {
    let path = format!("/_matrix/client/v3/rooms/{}/joined_members", enc(&room_id));
    let members = match bridge.homeserver.call(As::Token(&caller.token), Method::GET, &path, None).await {
        Ok(members) => members,
        Err(e) if e.downcast_ref::<MatrixError>().is_some_and(|m| m.status == 403 || m.status == 404) => {
            return Err(DiscordError::unknown_channel());
        }
        Err(e) => return Err(e.into()),
    };
    let bots: Vec<String> = members["joined"]
        .as_object()
        .into_iter()
        .flat_map(|joined| joined.keys())
        .filter(|user| bridge.is_bot(user))
        .cloned()
        .collect();
    let mut commands = Vec::new();
    for bot in bots {
        let Some(application) = bridge.application_of_bot(&bot) else { continue };
        let state = bridge.homeserver.state(As::Bot(&bot), &room_id).await?;
        let guild = match shapes::parent_space(&state) {
            Some(space) => bridge.snowflakes.existing(Kind::Room, &space).await?.unwrap_or(0),
            None => 0,
        };
        let mut visible: Vec<Value> = Vec::new();
        let scopes = if guild == 0 { vec![0] } else { vec![guild, 0] };
        for scope in scopes {
            for command in bridge.commands.list(application, scope).await? {
                if command["type"] == 1 && !visible.iter().any(|c| c["name"] == command["name"]) {
                    visible.push(command);
                }
            }
        }
        for command in visible {
            commands.push(json!({
                "bot_user_id": bot,
                "application_id": application.to_string(),
                "name": command["name"],
                "description": command["description"],
                "options": command["options"],
            }));
        }
    }
    Ok(Json(json!({"commands": commands})))
}
