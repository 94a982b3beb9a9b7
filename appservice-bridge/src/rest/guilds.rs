//! Guilds the bot is in.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Bot, DiscordError};
use crate::Bridge;
use crate::applications::Application;
use crate::guilds::GuildView;
use crate::matrix::As;
use crate::shapes;
use crate::snowflake::{self, Kind};

fn unknown_guild() -> DiscordError {
    DiscordError::new(StatusCode::NOT_FOUND, 10004, "Unknown Guild")
}

/// A guild of the bot: its space, snowflake and the space's state.
pub(super) struct Guild {
    pub space: String,
    pub id: u64,
    pub state: Vec<Value>,
}

/// One guild of the bot, by snowflake, and the rooms the bot is in.
async fn guild_and_rooms(
    bridge: &Bridge,
    application: &Application,
    guild_id: &str,
) -> Result<(Guild, HashSet<String>), DiscordError> {
    let snowflake = snowflake::parse(guild_id).ok_or_else(unknown_guild)?;
    let space = bridge.snowflakes.matrix_id(Kind::Room, snowflake).await?.ok_or_else(unknown_guild)?;
    let bot = application.bot_user_id.as_str();
    let joined: HashSet<String> = bridge.homeserver.joined_rooms(bot).await?.into_iter().collect();
    if !joined.contains(&space) {
        return Err(unknown_guild());
    }
    let state = bridge.homeserver.state(As::Bot(bot), &space).await?;
    if !shapes::is_guild(&state) {
        return Err(unknown_guild());
    }
    Ok((Guild { space, id: snowflake, state }, joined))
}

pub(super) async fn guild_state(
    bridge: &Bridge,
    application: &Application,
    guild_id: &str,
) -> Result<Guild, DiscordError> {
    Ok(guild_and_rooms(bridge, application, guild_id).await?.0)
}

/// One guild of the bot, as GUILD_CREATE shows it.
async fn guild(bridge: &Bridge, application: &Application, guild_id: &str) -> Result<GuildView, DiscordError> {
    let (guild, joined) = guild_and_rooms(bridge, application, guild_id).await?;
    Ok(bridge.guild_view(&application.bot_user_id, &guild.space, &guild.state, &joined, false).await?)
}

/// `GET /users/@me/guilds`: partial guilds.
pub async fn my_guilds(State(bridge): State<Arc<Bridge>>, Bot(application): Bot) -> Result<Json<Value>, DiscordError> {
    let guilds = bridge.guilds_of(&application.bot_user_id, false).await?;
    let partial: Vec<Value> = guilds
        .into_iter()
        .map(|g| {
            let p = g.payload;
            json!({
                "id": p["id"], "name": p["name"], "icon": null, "banner": null, "owner": false,
                "permissions": "0", "features": [],
                "approximate_member_count": p["member_count"],
            })
        })
        .collect();
    Ok(Json(Value::Array(partial)))
}

/// `GET /guilds/{guild.id}`: the guild, without the gateway-only fields.
pub async fn get_guild(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(guild_id): Path<String>,
) -> Result<Json<Value>, DiscordError> {
    let mut payload = guild(&bridge, &application, &guild_id).await?.payload;
    if let Some(object) = payload.as_object_mut() {
        for gateway_only in ["channels", "threads", "members", "presences", "voice_states", "joined_at", "large"] {
            object.remove(gateway_only);
        }
    }
    Ok(Json(payload))
}

/// `GET /guilds/{guild.id}/channels`.
pub async fn channels(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(guild_id): Path<String>,
) -> Result<Json<Value>, DiscordError> {
    let view = guild(&bridge, &application, &guild_id).await?;
    Ok(Json(view.payload["channels"].clone()))
}
