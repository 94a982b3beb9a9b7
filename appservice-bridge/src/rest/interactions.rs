//! Answering interactions, authenticated by the interaction's token alone
//! (as on Discord): the callback (`POST /interactions/{id}/{token}/callback`,
//! `with_response` as asked), then followups and the `@original` answer
//! through the interaction's webhook (`/webhooks/{application}/{token}`).
//!
//! An answer is the bot's message in the channel, a reply to the command
//! line that invoked it; an EPHEMERAL answer goes to the bot's direct room
//! with the invoker instead, since a Matrix room has no per-reader messages.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::form::MessageForm;
use super::messages::{message_event, redact};
use super::outgoing::{EPHEMERAL, MessageBody, Uploaded};
use super::{DiscordError, DiscordJson};
use crate::Bridge;
use crate::interactions::{Answer, Interaction};
use crate::matrix::{As, enc};
use crate::snowflake;

fn unknown_interaction() -> DiscordError {
    DiscordError::new(StatusCode::NOT_FOUND, 10062, "Unknown interaction")
}

fn unknown_webhook() -> DiscordError {
    DiscordError::new(StatusCode::NOT_FOUND, 10015, "Unknown Webhook")
}

/// Response types (Discord's values) an application command may get.
const CHANNEL_MESSAGE_WITH_SOURCE: u64 = 4;
const DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: u64 = 5;

#[derive(Deserialize)]
pub struct Callback {
    #[serde(rename = "type")]
    kind: u64,
    #[serde(default)]
    data: Option<Value>,
}

fn message_body(data: Option<Value>) -> Result<MessageBody, DiscordError> {
    serde_json::from_value(data.unwrap_or_else(|| json!({})))
        .map_err(|e| DiscordError::invalid_form("data", &e.to_string()))
}

/// `POST /interactions/{interaction.id}/{interaction.token}/callback`.
pub async fn callback(
    State(bridge): State<Arc<Bridge>>,
    Path((id, token)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    DiscordJson(body): DiscordJson<Callback>,
) -> Result<Response, DiscordError> {
    let mut interaction = bridge.interaction(&token).await?.ok_or_else(unknown_interaction)?;
    if snowflake::parse(&id) != Some(interaction.id) {
        return Err(unknown_interaction());
    }
    if interaction.answer != Answer::None {
        return Err(DiscordError::new(StatusCode::BAD_REQUEST, 40060, "Interaction has already been acknowledged."));
    }
    let message = match body.kind {
        CHANNEL_MESSAGE_WITH_SOURCE => {
            let message = message_body(body.data)?;
            Some(bridge.answer(&mut interaction, &message, &[]).await?)
        }
        DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE => {
            let flags = body.data.as_ref().and_then(|d| d["flags"].as_u64()).unwrap_or(0);
            interaction.ephemeral = flags & EPHEMERAL != 0;
            interaction.answer = Answer::Deferred;
            if !interaction.ephemeral {
                // Discord shows "… is thinking"; Matrix shows the bot typing.
                let bot = interaction.bot_user_id.as_str();
                let path = format!("/_matrix/client/v3/rooms/{}/typing/{}", enc(&interaction.room_id), enc(bot));
                let typing = json!({"typing": true, "timeout": 30_000});
                bridge.homeserver.call(As::Bot(bot), reqwest::Method::PUT, &path, Some(&typing)).await?;
            }
            None
        }
        _ => {
            return Err(DiscordError::invalid_form(
                "type",
                "This response type is not valid for an application command.",
            ));
        }
    };
    bridge.save_interaction(&token, &interaction).await?;
    if !query.get("with_response").is_some_and(|w| matches!(w.as_str(), "true" | "True" | "1")) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut resource = json!({"type": body.kind});
    if let Some(message) = &message {
        resource["message"] = message.clone();
    }
    Ok(Json(json!({
        "interaction": {
            "id": interaction.id.to_string(),
            "type": 2,
            "activity_instance_id": null,
            "response_message_id": message.as_ref().map(|m| m["id"].clone()),
            "response_message_loading": interaction.answer == Answer::Deferred,
            "response_message_ephemeral": interaction.ephemeral,
        },
        "resource": resource,
    }))
    .into_response())
}

impl Bridge {
    /// Posts an answer to `interaction`: the original one if it has none
    /// yet, else a followup. The message as REST returns it.
    async fn answer(
        &self,
        interaction: &mut Interaction,
        body: &MessageBody,
        files: &[Uploaded],
    ) -> Result<Value, DiscordError> {
        let bot = interaction.bot_user_id.clone();
        let first = interaction.original.is_none();
        let ephemeral = body.ephemeral() || (first && interaction.ephemeral);
        let room =
            if ephemeral { self.dm_room(&bot, &interaction.user_id).await? } else { interaction.room_id.clone() };
        let reply_to = (!ephemeral).then_some(interaction.command_event_id.as_str());
        let mut content = body.matrix_content_with(reply_to, EPHEMERAL, files)?;
        content["nexus.interaction"] = json!({"name": interaction.command_name, "user_id": interaction.user_id});
        let mut message = self.post_message(&bot, &room, &content).await?;
        self.post_parts(&bot, &room, &message, files, &Value::Null).await?;
        let user = self.author(&interaction.user_id).await?;
        message["application_id"] = json!(interaction.application_id.to_string());
        message["webhook_id"] = json!(interaction.application_id.to_string());
        message["interaction_metadata"] = json!({
            "id": interaction.id.to_string(), "type": 2, "name": interaction.command_name, "user": user,
            "authorizing_integration_owners": {},
        });
        if ephemeral {
            message["flags"] = json!(EPHEMERAL);
        }
        if first && interaction.answer == Answer::Deferred && !interaction.ephemeral {
            // The answer ends the "thinking" the deferral started; left on,
            // the bot would look busy for half a minute more, and a second
            // deferral meanwhile would show nothing new.
            let path = format!("/_matrix/client/v3/rooms/{}/typing/{}", enc(&interaction.room_id), enc(&bot));
            self.homeserver.call(As::Bot(&bot), reqwest::Method::PUT, &path, Some(&json!({"typing": false}))).await?;
        }
        if first {
            let event_id = self.snowflakes.matrix_id(snowflake::Kind::Event, id_of(&message)).await?;
            interaction.original = event_id.map(|e| (e, room));
            interaction.answer = Answer::Replied;
        }
        Ok(message)
    }

    /// A message of an interaction's webhook: `@original` or one of its
    /// followups (a message of the bot in the channel or the DM room).
    async fn webhook_message(
        &self,
        interaction: &Interaction,
        message_id: &str,
    ) -> Result<(String, Value), DiscordError> {
        let bot = interaction.bot_user_id.as_str();
        if message_id == "@original" {
            let Some((event_id, room)) = &interaction.original else { return Err(DiscordError::unknown_message()) };
            let event = self.homeserver.event(As::Bot(bot), room, event_id).await?;
            return Ok((room.clone(), event));
        }
        let mut rooms = vec![interaction.room_id.clone()];
        if let Some((_, room)) = &interaction.original {
            rooms.push(room.clone());
        }
        for room in rooms {
            if let Ok(event) = message_event(self, bot, &room, message_id).await
                && event["sender"] == bot
            {
                return Ok((room, event));
            }
        }
        Err(DiscordError::unknown_message())
    }
}

fn id_of(message: &Value) -> u64 {
    message["id"].as_str().and_then(snowflake::parse).unwrap_or(0)
}

/// The interaction a webhook path names.
async fn webhook(bridge: &Bridge, application_id: &str, token: &str) -> Result<Interaction, DiscordError> {
    let interaction = bridge.interaction(token).await?.ok_or_else(unknown_webhook)?;
    if snowflake::parse(application_id) != Some(interaction.application_id) {
        return Err(unknown_webhook());
    }
    Ok(interaction)
}

/// `POST /webhooks/{application.id}/{interaction.token}`: a followup (the
/// answer itself after a deferral).
pub async fn followup(
    State(bridge): State<Arc<Bridge>>,
    Path((application_id, token)): Path<(String, String)>,
    form: MessageForm,
) -> Result<Json<Value>, DiscordError> {
    let mut interaction = webhook(&bridge, &application_id, &token).await?;
    if interaction.answer == Answer::None {
        return Err(unknown_webhook());
    }
    let (body, files) = bridge.upload_files(&interaction.bot_user_id.clone(), form).await?;
    let message = bridge.answer(&mut interaction, &body, &files).await?;
    bridge.save_interaction(&token, &interaction).await?;
    Ok(Json(message))
}

/// `GET /webhooks/{application.id}/{interaction.token}/messages/{id}` (also
/// a channel webhook's own messages, by its id and token).
pub async fn get_message(
    State(bridge): State<Arc<Bridge>>,
    Path((application_id, token, message_id)): Path<(String, String, String)>,
) -> Result<Json<Value>, DiscordError> {
    if let Some((hook, event)) = super::webhooks::own_message(&bridge, &application_id, &token, &message_id).await? {
        let guild = super::messages::guild_of(&bridge, &hook.user_id, &hook.room_id).await?;
        return Ok(Json(super::messages::rest_message(&bridge, guild, &event).await?));
    }
    let interaction = webhook(&bridge, &application_id, &token).await?;
    let (room, event) = bridge.webhook_message(&interaction, &message_id).await?;
    let bot = interaction.bot_user_id.as_str();
    let guild = super::messages::guild_of(&bridge, bot, &room).await?;
    let sender = event["sender"].as_str().unwrap_or_default();
    let author = bridge.author(sender).await?;
    Ok(Json(crate::shapes::message(&bridge.snowflakes, &event, guild, author, true).await?))
}

/// `PATCH …/messages/{id}`: edits an answer; editing `@original` after a
/// deferral posts the answer.
pub async fn edit_message(
    State(bridge): State<Arc<Bridge>>,
    Path((application_id, token, message_id)): Path<(String, String, String)>,
    DiscordJson(body): DiscordJson<MessageBody>,
) -> Result<Json<Value>, DiscordError> {
    if let Some((hook, event)) = super::webhooks::own_message(&bridge, &application_id, &token, &message_id).await? {
        return Ok(Json(bridge.replace_message(&hook.user_id, &hook.room_id, &event, &body, 0).await?));
    }
    let mut interaction = webhook(&bridge, &application_id, &token).await?;
    if message_id == "@original" && interaction.answer == Answer::Deferred && interaction.original.is_none() {
        let message = bridge.answer(&mut interaction, &body, &[]).await?;
        bridge.save_interaction(&token, &interaction).await?;
        return Ok(Json(message));
    }
    let (room, event) = bridge.webhook_message(&interaction, &message_id).await?;
    Ok(Json(bridge.replace_message(&interaction.bot_user_id, &room, &event, &body, EPHEMERAL).await?))
}

/// `DELETE …/messages/{id}`: a redaction.
pub async fn delete_message(
    State(bridge): State<Arc<Bridge>>,
    Path((application_id, token, message_id)): Path<(String, String, String)>,
) -> Result<StatusCode, DiscordError> {
    if let Some((hook, event)) = super::webhooks::own_message(&bridge, &application_id, &token, &message_id).await? {
        redact(&bridge, &hook.user_id, &hook.room_id, event["event_id"].as_str().unwrap_or_default()).await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    let interaction = webhook(&bridge, &application_id, &token).await?;
    let (room, event) = bridge.webhook_message(&interaction, &message_id).await?;
    redact(&bridge, &interaction.bot_user_id, &room, event["event_id"].as_str().unwrap_or_default()).await?;
    Ok(StatusCode::NO_CONTENT)
}
