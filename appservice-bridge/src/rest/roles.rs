//! Guild roles: `nexus.role` state in the space, written by the bot (the
//! homeserver's update rules decide whether it may: MANAGE_ROLES and the
//! hierarchy). Discord's `color` is `colours.primary`, its `colors`
//! (gradients) Nexus's `colours`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::guilds::{Guild, guild_state};
use super::members::unknown_role;
use super::{Bot, DiscordError, DiscordJson};
use crate::Bridge;
use crate::matrix::As;
use crate::shapes;
use crate::snowflake;

/// The roles of a guild, in Discord's shape.
async fn roles(bridge: &Bridge, guild: &Guild) -> Result<Vec<Value>, DiscordError> {
    Ok(shapes::roles(&bridge.snowflakes, &guild.space, guild.id, &guild.state).await?)
}

/// `GET /guilds/{guild.id}/roles`.
pub async fn list(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(guild_id): Path<String>,
) -> Result<Json<Value>, DiscordError> {
    let guild = guild_state(&bridge, &application, &guild_id).await?;
    Ok(Json(Value::Array(roles(&bridge, &guild).await?)))
}

/// Applies Discord's role fields to `nexus.role` content.
fn apply(content: &mut Map<String, Value>, body: &Map<String, Value>, everyone: bool) -> Result<(), DiscordError> {
    for (field, value) in body {
        match (field.as_str(), value) {
            ("name", Value::String(name)) if !everyone && (1..=100).contains(&name.chars().count()) => {
                content.insert("name".to_owned(), value.clone());
            }
            ("permissions", Value::String(bits)) if bits.parse::<u64>().is_ok() => {
                content.insert("permissions".to_owned(), json!(bits.parse::<u64>().unwrap_or(0).to_string()));
            }
            ("color", Value::Number(colour)) if !everyone && colour.as_u64().is_some_and(|c| c <= 0xFF_FFFF) => {
                content.insert("colours".to_owned(), json!({"primary": colour}));
            }
            ("colors", Value::Object(colours)) if !everyone => {
                let mut nexus = Map::new();
                for (discord, ours) in
                    [("primary_color", "primary"), ("secondary_color", "secondary"), ("tertiary_color", "tertiary")]
                {
                    match colours.get(discord) {
                        Some(Value::Number(c)) if c.as_u64().is_some_and(|c| c <= 0xFF_FFFF) => {
                            nexus.insert(ours.to_owned(), Value::Number(c.clone()));
                        }
                        None | Some(Value::Null) => {}
                        Some(_) => return Err(DiscordError::invalid_form("colors", "Invalid colour.")),
                    }
                }
                if nexus.contains_key("tertiary") && !nexus.contains_key("secondary") {
                    return Err(DiscordError::invalid_form("colors", "A tertiary colour needs a secondary one."));
                }
                nexus.entry("primary").or_insert(json!(0));
                content.insert("colours".to_owned(), Value::Object(nexus));
            }
            ("hoist" | "mentionable", Value::Bool(_)) if !everyone => {
                content.insert(field.clone(), value.clone());
            }
            (_, Value::Null) => {}
            // Icons and the rest Discord defines change nothing here.
            ("icon" | "unicode_emoji", _) => {}
            (field, _) => return Err(DiscordError::invalid_form(field, "Invalid value.")),
        }
    }
    Ok(())
}

/// The role as REST returns it, read back after a change.
async fn role_after(bridge: &Bridge, application_bot: &str, guild: &Guild, id: u64) -> Result<Value, DiscordError> {
    let state = bridge.homeserver.state(As::Bot(application_bot), &guild.space).await?;
    let fresh = Guild { space: guild.space.clone(), id: guild.id, state };
    let id = id.to_string();
    roles(bridge, &fresh).await?.into_iter().find(|r| r["id"] == id.as_str()).ok_or_else(unknown_role)
}

/// `POST /guilds/{guild.id}/roles`: a new role just above @everyone, with
/// @everyone's permissions unless given.
pub async fn create(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path(guild_id): Path<String>,
    DiscordJson(body): DiscordJson<Map<String, Value>>,
) -> Result<Json<Value>, DiscordError> {
    let guild = guild_state(&bridge, &application, &guild_id).await?;
    let everyone = shapes::state(&guild.state, "nexus.role", "everyone");
    let mut content = Map::new();
    content.insert("name".to_owned(), json!("new role"));
    content.insert("position".to_owned(), json!(1));
    content.insert("permissions".to_owned(), everyone.map_or(json!("0"), |e| e["permissions"].clone()));
    apply(&mut content, &body, false)?;
    let key: String = (0..12).map(|_| format!("{:x}", rand::random::<u8>() % 16)).collect();
    let bot = application.bot_user_id.as_str();
    bridge.homeserver.set_state(As::Bot(bot), &guild.space, "nexus.role", &key, &Value::Object(content)).await?;
    let id = bridge.role_snowflake(&guild.space, guild.id, &key).await?;
    Ok(Json(role_after(&bridge, bot, &guild, id).await?))
}

/// `PATCH /guilds/{guild.id}/roles/{role.id}`.
pub async fn modify(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((guild_id, role)): Path<(String, String)>,
    DiscordJson(body): DiscordJson<Map<String, Value>>,
) -> Result<Json<Value>, DiscordError> {
    let guild = guild_state(&bridge, &application, &guild_id).await?;
    let id = snowflake::parse(&role).ok_or_else(unknown_role)?;
    let key = bridge.role_key(&guild.space, guild.id, id).await?.ok_or_else(unknown_role)?;
    let mut content = shapes::state(&guild.state, "nexus.role", &key)
        .and_then(Value::as_object)
        .filter(|c| !c.is_empty())
        .cloned()
        .ok_or_else(unknown_role)?;
    apply(&mut content, &body, key == "everyone")?;
    let bot = application.bot_user_id.as_str();
    bridge.homeserver.set_state(As::Bot(bot), &guild.space, "nexus.role", &key, &Value::Object(content)).await?;
    Ok(Json(role_after(&bridge, bot, &guild, id).await?))
}

/// `DELETE /guilds/{guild.id}/roles/{role.id}`: the role's state becomes
/// `{}` (§6.1); @everyone cannot go.
pub async fn delete(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    Path((guild_id, role)): Path<(String, String)>,
) -> Result<StatusCode, DiscordError> {
    let guild = guild_state(&bridge, &application, &guild_id).await?;
    let id = snowflake::parse(&role).ok_or_else(unknown_role)?;
    let key = bridge.role_key(&guild.space, guild.id, id).await?.ok_or_else(unknown_role)?;
    if key == "everyone" {
        return Err(DiscordError::new(StatusCode::BAD_REQUEST, 50028, "Invalid Role"));
    }
    if shapes::state(&guild.state, "nexus.role", &key).is_none_or(|c| c.as_object().is_none_or(|c| c.is_empty())) {
        return Err(unknown_role());
    }
    let bot = application.bot_user_id.as_str();
    bridge.homeserver.set_state(As::Bot(bot), &guild.space, "nexus.role", &key, &json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}
