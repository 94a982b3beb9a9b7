//! REST v10: Discord's routes, Discord's errors (`{code, message}` with
//! Discord's status codes), `Authorization: Bot <token>`.

mod channels;
mod commands;
mod form;
mod guilds;
mod interactions;
mod me;
mod members;
mod messages;
mod outgoing;
mod pins;
mod portal;
mod rate_limits;
mod reactions;
mod roles;
mod threads;
mod webhooks;

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::Bridge;
use crate::applications::Application;
use crate::matrix::MatrixError;

pub use me::gateway_url;
pub(crate) use messages::is_message;
pub use portal::portal_router;

/// Discord's REST routes, to be nested under `/api/v10` (and `/api`).
pub fn router(limits: Arc<rate_limits::RateLimits>) -> Router<Arc<Bridge>> {
    Router::new()
        .route("/users/@me", get(me::user))
        .route("/users/@me/guilds", get(guilds::my_guilds))
        .route("/guilds/{guild_id}", get(guilds::get_guild))
        .route("/guilds/{guild_id}/channels", get(guilds::channels))
        .route("/guilds/{guild_id}/members", get(members::list))
        .route("/guilds/{guild_id}/members/{user_id}", get(members::get).patch(members::modify).delete(members::kick))
        .route(
            "/guilds/{guild_id}/members/{user_id}/roles/{role_id}",
            put(members::add_role).delete(members::remove_role),
        )
        .route("/guilds/{guild_id}/bans", get(members::bans))
        .route("/guilds/{guild_id}/bans/{user_id}", get(members::get_ban).put(members::ban).delete(members::unban))
        .route("/guilds/{guild_id}/roles", get(roles::list).post(roles::create))
        .route("/guilds/{guild_id}/roles/{role_id}", axum::routing::patch(roles::modify).delete(roles::delete))
        .route("/oauth2/applications/@me", get(me::application))
        .route("/applications/@me", get(me::application))
        .route("/gateway", get(me::gateway))
        .route("/gateway/bot", get(me::gateway_bot))
        .route("/channels/{channel_id}", get(channels::get_channel).patch(threads::modify))
        .route("/channels/{channel_id}/threads", post(threads::start_without_message))
        .route("/channels/{channel_id}/messages/{message_id}/threads", post(threads::start_from_message))
        .route("/channels/{channel_id}/thread-members/@me", put(threads::join_or_leave).delete(threads::join_or_leave))
        .route("/guilds/{guild_id}/threads/active", get(threads::active))
        .route(
            "/channels/{channel_id}/messages",
            get(messages::history)
                .post(messages::create_message)
                .layer(axum::extract::DefaultBodyLimit::max(form::MAX_BODY)),
        )
        .route(
            "/channels/{channel_id}/messages/{message_id}",
            get(messages::get_message).patch(messages::edit_message).delete(messages::delete_message),
        )
        .route(
            "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}",
            put(reactions::add).delete(reactions::remove_one),
        )
        .route(
            "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}",
            get(reactions::users).delete(reactions::remove_emoji),
        )
        .route("/channels/{channel_id}/messages/{message_id}/reactions", axum::routing::delete(reactions::remove_every))
        .route("/channels/{channel_id}/messages/bulk-delete", post(messages::bulk_delete))
        .route("/channels/{channel_id}/messages/pins", get(pins::list))
        .route("/channels/{channel_id}/messages/pins/{message_id}", put(pins::pin).delete(pins::unpin))
        .route("/channels/{channel_id}/pins", get(pins::list_old))
        .route("/channels/{channel_id}/pins/{message_id}", put(pins::pin).delete(pins::unpin))
        .route("/channels/{channel_id}/typing", post(channels::typing))
        .route("/users/@me/channels", post(me::open_dm))
        .route(
            "/applications/{application_id}/commands",
            get(commands::global_list).post(commands::global_create).put(commands::global_overwrite),
        )
        .route(
            "/applications/{application_id}/commands/{command_id}",
            get(commands::global_get).patch(commands::global_edit).delete(commands::global_delete),
        )
        .route(
            "/applications/{application_id}/guilds/{guild_id}/commands",
            get(commands::guild_list).post(commands::guild_create).put(commands::guild_overwrite),
        )
        .route(
            "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
            get(commands::guild_get).patch(commands::guild_edit).delete(commands::guild_delete),
        )
        .route("/interactions/{interaction_id}/{token}/callback", post(interactions::callback))
        .route("/channels/{channel_id}/webhooks", get(webhooks::of_channel).post(webhooks::create))
        .route("/guilds/{guild_id}/webhooks", get(webhooks::of_guild))
        .route("/webhooks/{webhook_id}", get(webhooks::get).patch(webhooks::modify).delete(webhooks::delete))
        .route(
            "/webhooks/{webhook_id}/{token}",
            get(webhooks::get_with_token)
                .patch(webhooks::modify_with_token)
                .delete(webhooks::delete_with_token)
                .post(webhooks::execute)
                .layer(axum::extract::DefaultBodyLimit::max(form::MAX_BODY)),
        )
        .route(
            "/webhooks/{application_id}/{token}/messages/{message_id}",
            get(interactions::get_message).patch(interactions::edit_message).delete(interactions::delete_message),
        )
        .fallback(|| async { DiscordError::new(StatusCode::NOT_FOUND, 0, "404: Not Found") })
        .layer(axum::middleware::from_fn_with_state(limits, rate_limits::limit))
}

pub use rate_limits::RateLimits;

/// An error in Discord's shape.
#[derive(Debug)]
pub struct DiscordError {
    status: StatusCode,
    code: u32,
    message: String,
}

impl DiscordError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> DiscordError {
        DiscordError { status, code, message: message.into() }
    }

    pub fn unauthorized() -> DiscordError {
        DiscordError::new(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized")
    }

    pub fn unknown_channel() -> DiscordError {
        DiscordError::new(StatusCode::NOT_FOUND, 10003, "Unknown Channel")
    }

    pub fn unknown_user() -> DiscordError {
        DiscordError::new(StatusCode::NOT_FOUND, 10013, "Unknown User")
    }

    /// An action that does not apply to this kind of channel (a thread).
    pub fn wrong_channel_type() -> DiscordError {
        DiscordError::new(StatusCode::BAD_REQUEST, 50024, "Cannot execute action on this channel type")
    }

    pub fn unknown_message() -> DiscordError {
        DiscordError::new(StatusCode::NOT_FOUND, 10008, "Unknown Message")
    }

    pub fn missing_permissions() -> DiscordError {
        DiscordError::new(StatusCode::FORBIDDEN, 50013, "Missing Permissions")
    }

    pub fn invalid_form(field: &str, problem: &str) -> DiscordError {
        DiscordError::new(StatusCode::BAD_REQUEST, 50035, format!("Invalid Form Body: {field}: {problem}"))
    }
}

impl IntoResponse for DiscordError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"code": self.code, "message": self.message}))).into_response()
    }
}

/// Anything else that went wrong: the homeserver's refusals keep their
/// meaning (403 → Missing Permissions, 404 → Unknown Channel), the rest is
/// a 500 in Discord's shape, logged.
impl From<anyhow::Error> for DiscordError {
    fn from(error: anyhow::Error) -> DiscordError {
        if let Some(matrix) = error.downcast_ref::<MatrixError>() {
            match matrix.status {
                403 => return DiscordError::missing_permissions(),
                404 => return DiscordError::unknown_channel(),
                413 => return DiscordError::new(StatusCode::PAYLOAD_TOO_LARGE, 40005, "Request entity too large"),
                429 => return DiscordError::new(StatusCode::TOO_MANY_REQUESTS, 0, "You are being rate limited."),
                _ => {}
            }
        }
        tracing::warn!(error = %error, "bot API: request failed");
        DiscordError::new(StatusCode::INTERNAL_SERVER_ERROR, 0, "500: Internal Server Error")
    }
}

/// A `limit` query parameter: `default` when absent, else 1–`max`.
pub fn query_limit(
    query: &std::collections::HashMap<String, String>,
    default: usize,
    max: usize,
) -> Result<usize, DiscordError> {
    match query.get("limit") {
        None => Ok(default),
        Some(limit) => limit
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or_else(|| DiscordError::invalid_form("limit", &format!("Must be between 1 and {max}."))),
    }
}

/// The application whose bot token authorises the request.
pub struct Bot(pub Application);

impl FromRequestParts<Arc<Bridge>> for Bot {
    type Rejection = DiscordError;

    async fn from_request_parts(parts: &mut Parts, bridge: &Arc<Bridge>) -> Result<Bot, DiscordError> {
        let header = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let Some(token) = header.strip_prefix("Bot ") else { return Err(DiscordError::unauthorized()) };
        match bridge.applications.by_token(token.trim()).await? {
            Some(application) => Ok(Bot(application)),
            None => Err(DiscordError::unauthorized()),
        }
    }
}

/// A JSON body; anything else is Discord's 400 (50109 invalid JSON, or
/// 50035 for a body of the wrong shape).
pub struct DiscordJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for DiscordJson<T> {
    type Rejection = DiscordError;

    async fn from_request(request: Request, state: &S) -> Result<Self, DiscordError> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| DiscordError::new(StatusCode::PAYLOAD_TOO_LARGE, 40005, "Request entity too large"))?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| {
            DiscordError::new(StatusCode::BAD_REQUEST, 50109, "The request body contains invalid JSON.")
        })?;
        serde_json::from_value(value).map(DiscordJson).map_err(|e| DiscordError::invalid_form("body", &e.to_string()))
    }
}
