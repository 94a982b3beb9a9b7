//! Slash commands from Matrix: a person typing `/name args` in a channel
//! where a connected bot registered the command `name` becomes an
//! INTERACTION_CREATE (type 2, application command) for that bot, with its
//! options filled in from the command's schema. The interaction's token
//! then lets the bot answer (`rest::interactions`) for 15 minutes.

pub mod options;

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::Bridge;
use crate::gateway::Session;
use crate::matrix::{As, enc};
use crate::shapes;
use crate::snowflake::{Kind, now_ms};
use crate::store::INTERACTIONS;
use options::{Filled, Reference};

/// How long an interaction's token may be used (Discord's 15 minutes).
pub const TOKEN_LIFETIME_MS: u64 = 15 * 60 * 1000;

/// How far an interaction has been answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    None,
    /// "Thinking…": the first followup or edit of `@original` is the answer.
    Deferred,
    Replied,
}

/// One interaction, kept by its token's hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Interaction {
    pub id: u64,
    pub application_id: u64,
    pub bot_user_id: String,
    /// The channel it was invoked in, and its guild.
    pub room_id: String,
    pub guild_id: Option<u64>,
    /// Who invoked it, and their command message.
    pub user_id: String,
    pub command_event_id: String,
    pub command_name: String,
    pub created_ms: u64,
    pub answer: Answer,
    /// Answers flagged EPHEMERAL go to a direct room with the invoker.
    pub ephemeral: bool,
    /// The original response's event and the room it is in.
    pub original: Option<(String, String)>,
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Bridge {
    /// The interaction an unexpired token names.
    pub async fn interaction(&self, token: &str) -> anyhow::Result<Option<Interaction>> {
        let Some(value) = self.store.get(&INTERACTIONS, &token_hash(token)).await? else { return Ok(None) };
        let interaction: Interaction = serde_json::from_slice(&value)?;
        if now_ms().saturating_sub(interaction.created_ms) > TOKEN_LIFETIME_MS {
            self.store.delete(&INTERACTIONS, &token_hash(token)).await?;
            return Ok(None);
        }
        Ok(Some(interaction))
    }

    pub async fn save_interaction(&self, token: &str, interaction: &Interaction) -> anyhow::Result<()> {
        Ok(self.store.put(&INTERACTIONS, &token_hash(token), &serde_json::to_vec(interaction)?).await?)
    }

    /// A message that may invoke a command of a bot watching the room.
    pub(crate) async fn on_command_line(
        &self,
        room_id: &str,
        event: &Value,
        watching: &[(Arc<Session>, Option<u64>)],
    ) -> anyhow::Result<()> {
        let body = event["content"]["body"].as_str().unwrap_or_default();
        let Some((name, args)) = options::invocation(body) else { return Ok(()) };
        let sender = event["sender"].as_str().unwrap_or_default();
        // One session per application answers (a bot may hold several).
        let mut per_application: HashMap<u64, (&Arc<Session>, Option<u64>)> = HashMap::new();
        for (session, guild) in watching {
            if session.application.bot_user_id != sender {
                per_application.entry(session.application.id).or_insert((session, *guild));
            }
        }
        for (application, (session, guild)) in per_application {
            let Some(command) = self.commands.find(application, guild, name).await? else { continue };
            let mentions: Vec<String> = event["content"]["m.mentions"]["user_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect();
            let schema = command["options"].as_array().cloned().unwrap_or_default();
            match options::fill(&schema, args, &mentions) {
                Ok(filled) => self.invoke(session, guild, room_id, event, &command, filled).await?,
                Err(problem) => {
                    // What Discord's client would have said before sending.
                    let bot = session.application.bot_user_id.as_str();
                    let notice = json!({
                        "msgtype": "m.notice",
                        "body": format!("/{name}: {problem}"),
                        "m.relates_to": {"m.in_reply_to": {"event_id": event["event_id"]}},
                        "m.mentions": {"user_ids": [sender]},
                    });
                    let txn = format!("usage-{}", event["event_id"].as_str().unwrap_or_default());
                    self.homeserver.send(As::Bot(bot), room_id, &txn, "m.room.message", &notice).await?;
                }
            }
        }
        Ok(())
    }

    async fn invoke(
        &self,
        session: &Arc<Session>,
        guild: Option<u64>,
        room_id: &str,
        event: &Value,
        command: &Value,
        filled: Vec<Filled>,
    ) -> anyhow::Result<()> {
        let application = &session.application;
        let bot = application.bot_user_id.as_str();
        let sender = event["sender"].as_str().unwrap_or_default();
        let mut resolved = Resolved::default();
        let options = self.option_json(bot, guild, &filled, &mut resolved).await?;
        let id = self.snowflakes.fresh(Kind::Interaction).await?;
        let mut secret = [0u8; 48];
        rand::thread_rng().fill_bytes(&mut secret);
        let token = format!("aW50ZXJhY3Rpb246{}", URL_SAFE_NO_PAD.encode(secret));
        let interaction = Interaction {
            id,
            application_id: application.id,
            bot_user_id: bot.to_owned(),
            room_id: room_id.to_owned(),
            guild_id: guild,
            user_id: sender.to_owned(),
            command_event_id: event["event_id"].as_str().unwrap_or_default().to_owned(),
            command_name: command["name"].as_str().unwrap_or_default().to_owned(),
            created_ms: now_ms(),
            answer: Answer::None,
            ephemeral: false,
            original: None,
        };
        self.save_interaction(&token, &interaction).await?;

        let channel_id = self.snowflakes.of(Kind::Room, room_id).await?;
        let events = self.homeserver.state(As::Bot(bot), room_id).await?;
        let channel = shapes::channel(&self.snowflakes, guild.unwrap_or(0), room_id, &events, 0).await?;
        let author = self.author(sender).await?;
        let mut data = json!({"id": command["id"], "name": command["name"], "type": 1, "options": options});
        if !resolved.is_empty() {
            data["resolved"] = resolved.into_json();
        }
        let mut payload = json!({
            "id": id.to_string(),
            "application_id": application.id.to_string(),
            "type": 2,
            "data": data,
            "channel_id": channel_id.to_string(),
            "channel": channel,
            "token": token,
            "version": 1,
            "app_permissions": self.permissions_in(bot, room_id, bot).await?,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 100 * 1024 * 1024,
        });
        match guild {
            Some(guild) => {
                data_guild(&mut payload, guild, command);
                payload["member"] = json!({
                    "user": author,
                    "roles": [],
                    "joined_at": shapes::timestamp(0),
                    "nick": null, "avatar": null, "deaf": false, "mute": false, "flags": 0, "pending": false,
                    "permissions": self.permissions_in(bot, room_id, sender).await?,
                });
                payload["authorizing_integration_owners"] = json!({"0": guild.to_string()});
                payload["context"] = json!(0);
            }
            None => {
                payload["user"] = author;
                payload["authorizing_integration_owners"] = json!({"0": "0"});
                payload["context"] = json!(1);
            }
        }
        session.dispatch("INTERACTION_CREATE", payload);
        Ok(())
    }

    /// A user's permissions in a room as Discord's bit string, from the
    /// homeserver's permission endpoint ("0" on a homeserver without one).
    pub(crate) async fn permissions_in(&self, bot: &str, room_id: &str, user_id: &str) -> anyhow::Result<String> {
        let path = format!("/_nexus/client/v1/rooms/{}/permissions?user_id={}", enc(room_id), enc(user_id));
        match self.homeserver.call(As::Bot(bot), reqwest::Method::GET, &path, None).await {
            Ok(answer) => Ok(answer["permissions"].as_str().unwrap_or("0").to_owned()),
            Err(e) if e.downcast_ref::<crate::matrix::MatrixError>().is_some() => Ok("0".to_owned()),
            Err(e) => Err(e),
        }
    }

    /// Filled options as the interaction's `data.options`, references
    /// resolved to snowflakes (and described in `resolved`).
    async fn option_json(
        &self,
        bot: &str,
        guild: Option<u64>,
        filled: &[Filled],
        resolved: &mut Resolved,
    ) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::with_capacity(filled.len());
        for option in filled {
            let mut json = json!({"name": option.name, "type": option.kind});
            if !option.options.is_empty() || option.value.is_none() && option.reference.is_none() {
                json["options"] =
                    Value::Array(Box::pin(self.option_json(bot, guild, &option.options, resolved)).await?);
            }
            if let Some(value) = &option.value {
                json["value"] = value.clone();
            }
            if let Some(reference) = &option.reference {
                json["value"] = json!(self.resolve(bot, guild, reference, resolved).await?);
            }
            out.push(json);
        }
        Ok(out)
    }

    async fn resolve(
        &self,
        bot: &str,
        guild: Option<u64>,
        reference: &Reference,
        resolved: &mut Resolved,
    ) -> anyhow::Result<String> {
        match reference {
            Reference::User(user_id) => {
                let user = self.author(user_id).await?;
                let id = user["id"].as_str().unwrap_or_default().to_owned();
                if guild.is_some() {
                    resolved.members.insert(
                        id.clone(),
                        json!({
                            "roles": [], "joined_at": shapes::timestamp(0), "nick": null, "avatar": null,
                            "flags": 0, "pending": false, "permissions": "0",
                        }),
                    );
                }
                resolved.users.insert(id.clone(), user);
                Ok(id)
            }
            Reference::Channel(room) => {
                let room_id = if room.starts_with('#') {
                    let path = format!("/_matrix/client/v3/directory/room/{}", enc(room));
                    match self.homeserver.call(As::Bot(bot), reqwest::Method::GET, &path, None).await {
                        Ok(answer) => answer["room_id"].as_str().unwrap_or(room).to_owned(),
                        Err(_) => room.clone(),
                    }
                } else {
                    room.clone()
                };
                let id = self.snowflakes.of(Kind::Room, &room_id).await?.to_string();
                let state = self.homeserver.state(As::Bot(bot), &room_id).await.unwrap_or_default();
                let name = shapes::state(&state, "m.room.name", "").and_then(|c| c["name"].as_str()).unwrap_or(room);
                resolved.channels.insert(
                    id.clone(),
                    json!({
                        "id": id, "name": name, "type": shapes::channel_type(&state), "permissions": "0",
                    }),
                );
                Ok(id)
            }
            Reference::Role(name) => {
                let Some(guild) = guild else { return Ok(String::new()) };
                let Some(space) = self.snowflakes.matrix_id(Kind::Room, guild).await? else { return Ok(String::new()) };
                let state = self.homeserver.state(As::Bot(bot), &space).await?;
                let roles = shapes::roles(&self.snowflakes, &space, guild, &state).await?;
                let wanted = name.to_lowercase();
                let role = roles
                    .into_iter()
                    .find(|r| r["name"].as_str().is_some_and(|n| n.trim_start_matches('@').to_lowercase() == wanted));
                let Some(role) = role else { return Ok(String::new()) };
                let id = role["id"].as_str().unwrap_or_default().to_owned();
                resolved.roles.insert(id.clone(), role);
                Ok(id)
            }
        }
    }
}

fn data_guild(payload: &mut Value, guild: u64, command: &Value) {
    payload["guild_id"] = json!(guild.to_string());
    payload["guild_locale"] = json!("en-US");
    payload["guild"] = json!({"id": guild.to_string(), "locale": "en-US", "features": []});
    if let Some(command_guild) = command.get("guild_id") {
        payload["data"]["guild_id"] = command_guild.clone();
    }
}

/// `data.resolved`: what the options' snowflakes name.
#[derive(Default)]
struct Resolved {
    users: Map<String, Value>,
    members: Map<String, Value>,
    channels: Map<String, Value>,
    roles: Map<String, Value>,
}

impl Resolved {
    fn is_empty(&self) -> bool {
        self.users.is_empty() && self.channels.is_empty() && self.roles.is_empty()
    }

    fn into_json(self) -> Value {
        let mut out = Map::new();
        for (field, map) in
            [("users", self.users), ("members", self.members), ("channels", self.channels), ("roles", self.roles)]
        {
            if !map.is_empty() {
                out.insert(field.to_owned(), Value::Object(map));
            }
        }
        Value::Object(out)
    }
}
