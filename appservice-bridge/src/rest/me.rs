//! Who the bot is, and where its gateway is.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::{Bot, DiscordError, DiscordJson};
use crate::Bridge;
use crate::shapes;
use crate::snowflake::{self, Kind};

/// `GET /users/@me`.
pub async fn user(State(bridge): State<Arc<Bridge>>, Bot(application): Bot) -> Result<Json<Value>, DiscordError> {
    let id = bridge.snowflakes.of(Kind::User, &application.bot_user_id).await?;
    let mut user = shapes::user(id, &application.bot_user_id, Some(&application.name), true);
    user["verified"] = json!(true);
    user["mfa_enabled"] = json!(false);
    user["locale"] = json!("en-US");
    Ok(Json(user))
}

/// `GET /oauth2/applications/@me`.
pub async fn application(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
) -> Result<Json<Value>, DiscordError> {
    let bot_id = bridge.snowflakes.of(Kind::User, &application.bot_user_id).await?;
    let owner_id = bridge.snowflakes.of(Kind::User, &application.owner).await?;
    Ok(Json(json!({
        "id": application.id.to_string(),
        "name": application.name,
        "description": application.description,
        "icon": null,
        "bot_public": false,
        "bot_require_code_grant": false,
        "owner": shapes::user(owner_id, &application.owner, None, false),
        "team": null,
        "verify_key": "",
        "flags": application.flags(),
        "bot": shapes::user(bot_id, &application.bot_user_id, Some(&application.name), true),
        "rpc_origins": [],
        "tags": [],
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "summary": "",
        "hook": true,
    })))
}

/// The gateway's URL as this request reached the bridge (no query string:
/// discord.js appends its own).
pub fn gateway_url(headers: &HeaderMap) -> String {
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    let secure = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https");
    format!("{}://{host}/gateway", if secure { "wss" } else { "ws" })
}

/// `GET /gateway`.
pub async fn gateway(headers: HeaderMap) -> Json<Value> {
    Json(json!({ "url": gateway_url(&headers) }))
}

/// `GET /gateway/bot`: one shard is enough for any bot here.
pub async fn gateway_bot(Bot(_): Bot, headers: HeaderMap) -> Json<Value> {
    Json(json!({
        "url": gateway_url(&headers),
        "shards": 1,
        "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 86_400_000, "max_concurrency": 1},
    }))
}

#[derive(serde::Deserialize)]
pub struct OpenDm {
    /// A snowflake, as a string or a number.
    recipient_id: Value,
}

/// `POST /users/@me/channels`: the DM channel with a person, opened (their
/// invite sent) if there is none yet.
pub async fn open_dm(
    State(bridge): State<Arc<Bridge>>,
    Bot(application): Bot,
    DiscordJson(body): DiscordJson<OpenDm>,
) -> Result<Json<Value>, DiscordError> {
    let id = snowflake::from_json(&body.recipient_id).ok_or_else(DiscordError::unknown_user)?;
    let person = bridge.snowflakes.matrix_id(Kind::User, id).await?.ok_or_else(DiscordError::unknown_user)?;
    if person == application.bot_user_id || bridge.is_bot(&person) {
        return Err(DiscordError::new(axum::http::StatusCode::BAD_REQUEST, 50007, "Cannot send messages to this user"));
    }
    let room = bridge.dm_room(&application.bot_user_id, &person).await?;
    Ok(Json(bridge.dm_channel(&room, &person).await?))
}
