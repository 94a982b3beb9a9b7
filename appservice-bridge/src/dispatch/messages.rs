//! Messages, edits, reactions, deletions and typing: MESSAGE_*,
//! MESSAGE_REACTION_* and TYPING_START, and slash commands.

use serde_json::{Value, json};

use crate::Bridge;
use crate::applications::intents;
use crate::shapes;
use crate::snowflake::Kind;
use crate::store::REACTIONS;

/// A reaction the bridge saw, kept until it is redacted.
#[derive(serde::Serialize, serde::Deserialize)]
struct SeenReaction {
    room_id: String,
    message_id: u64,
    emoji: String,
    user_id: String,
}

impl Bridge {
    /// An ephemeral event of a transaction (MSC2409): typing or presence.
    pub(crate) async fn on_ephemeral(&self, event: &Value) -> anyhow::Result<()> {
        if event["type"] == "m.presence" {
            return self.on_presence(event).await;
        }
        let Some(room_id) = event["room_id"].as_str().filter(|_| event["type"] == "m.typing") else { return Ok(()) };
        let now: Vec<String> = event["content"]["user_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect();
        let before = self.typing.lock().unwrap().insert(room_id.to_owned(), now.clone()).unwrap_or_default();
        let started: Vec<&String> = now.iter().filter(|u| !before.contains(u)).collect();
        let watching = self.sessions.watching(room_id);
        if started.is_empty() || watching.is_empty() {
            return Ok(());
        }
        let channel_id = self.snowflakes.of(Kind::Room, room_id).await?.to_string();
        let seconds = crate::snowflake::now_ms() / 1000;
        for user in started {
            let author = self.author(user).await?;
            for (session, guild) in &watching {
                if !session.has_intent(intents::GUILD_MESSAGE_TYPING) || *user == session.application.bot_user_id {
                    continue;
                }
                let mut data = json!({
                    "channel_id": channel_id, "user_id": author["id"], "timestamp": seconds,
                });
                if let Some(guild) = guild {
                    data["guild_id"] = json!(guild.to_string());
                    data["member"] = json!({
                        "user": author, "roles": [], "joined_at": shapes::timestamp(0),
                        "deaf": false, "mute": false, "flags": 0, "nick": null,
                    });
                }
                session.dispatch("TYPING_START", data);
            }
        }
        Ok(())
    }

    /// An `m.replace` edit: MESSAGE_UPDATE of the original message.
    pub(super) async fn on_edit(&self, room_id: &str, event: &Value) -> anyhow::Result<()> {
        let watching = self.sessions.watching(room_id);
        let Some(original) = event["content"]["m.relates_to"]["event_id"].as_str() else { return Ok(()) };
        let Some(id) = self.snowflakes.existing(Kind::Event, original).await? else { return Ok(()) };
        let Some(new_content) = event["content"].get("m.new_content") else { return Ok(()) };
        if watching.is_empty() {
            return Ok(());
        }
        let replaced = json!({
            "event_id": original,
            "room_id": room_id,
            "sender": event["sender"],
            "origin_server_ts": crate::snowflake::timestamp_ms(id),
            "content": new_content,
        });
        let sender = event["sender"].as_str().unwrap_or_default();
        let author = self.author(sender).await?;
        let edited_at = shapes::timestamp(event["origin_server_ts"].as_u64().unwrap_or(0));
        for (session, guild) in watching {
            if !session.has_intent(intents::GUILD_MESSAGES) {
                continue;
            }
            let readable = session.has_intent(intents::MESSAGE_CONTENT) || sender == session.application.bot_user_id;
            let mut message = shapes::message(&self.snowflakes, &replaced, guild, author.clone(), readable).await?;
            message["edited_timestamp"] = json!(edited_at);
            session.dispatch("MESSAGE_UPDATE", message);
        }
        Ok(())
    }

    /// An `m.reaction`: MESSAGE_REACTION_ADD, and remembered for its removal.
    pub(super) async fn on_reaction(&self, room_id: &str, event: &Value) -> anyhow::Result<()> {
        let relation = &event["content"]["m.relates_to"];
        let (Some(target), Some(key), Some(reaction_id)) =
            (relation["event_id"].as_str(), relation["key"].as_str(), event["event_id"].as_str())
        else {
            return Ok(());
        };
        let Some(message_id) = self.snowflakes.existing(Kind::Event, target).await? else { return Ok(()) };
        let sender = event["sender"].as_str().unwrap_or_default();
        let seen =
            SeenReaction { room_id: room_id.to_owned(), message_id, emoji: key.to_owned(), user_id: sender.to_owned() };
        self.store.put(&REACTIONS, reaction_id.as_bytes(), &serde_json::to_vec(&seen)?).await?;
        self.dispatch_reaction("MESSAGE_REACTION_ADD", &seen).await
    }

    /// A redaction: a reaction removed, or a message deleted.
    pub(super) async fn on_redaction(&self, room_id: &str, event: &Value) -> anyhow::Result<()> {
        // `redacts` moved into the content in room version 11.
        let Some(redacts) = event["content"]["redacts"].as_str().or_else(|| event["redacts"].as_str()) else {
            return Ok(());
        };
        if let Some(seen) = self.store.get(&REACTIONS, redacts.as_bytes()).await? {
            self.store.delete(&REACTIONS, redacts.as_bytes()).await?;
            let seen: SeenReaction = serde_json::from_slice(&seen)?;
            return self.dispatch_reaction("MESSAGE_REACTION_REMOVE", &seen).await;
        }
        let Some(message_id) = self.snowflakes.existing(Kind::Event, redacts).await? else { return Ok(()) };
        let channel_id = self.snowflakes.of(Kind::Room, room_id).await?;
        for (session, guild) in self.sessions.watching(room_id) {
            if session.has_intent(intents::GUILD_MESSAGES) {
                let mut data = json!({"id": message_id.to_string(), "channel_id": channel_id.to_string()});
                if let Some(guild) = guild {
                    data["guild_id"] = json!(guild.to_string());
                }
                session.dispatch("MESSAGE_DELETE", data);
            }
        }
        Ok(())
    }

    async fn dispatch_reaction(&self, kind: &str, seen: &SeenReaction) -> anyhow::Result<()> {
        let watching = self.sessions.watching(&seen.room_id);
        if watching.is_empty() {
            return Ok(());
        }
        let channel_id = self.snowflakes.of(Kind::Room, &seen.room_id).await?;
        let user_id = self.snowflakes.of(Kind::User, &seen.user_id).await?;
        for (session, guild) in watching {
            if !session.has_intent(intents::GUILD_MESSAGE_REACTIONS) {
                continue;
            }
            let mut data = json!({
                "user_id": user_id.to_string(),
                "channel_id": channel_id.to_string(),
                "message_id": seen.message_id.to_string(),
                "emoji": {"id": null, "name": seen.emoji},
                "burst": false,
                "type": 0,
            });
            if let Some(guild) = guild {
                data["guild_id"] = json!(guild.to_string());
            }
            session.dispatch(kind, data);
        }
        Ok(())
    }

    pub(super) async fn on_message(&self, room_id: &str, event: &Value) -> anyhow::Result<()> {
        let watching = self.sessions.watching(room_id);
        if watching.is_empty() || !crate::rest::is_message(event) {
            return Ok(());
        }
        // The first reply of a thread nobody named (a plain Matrix thread)
        // tells the bots of the thread first.
        if let Some(root) = crate::threads::thread_root(&event["content"])
            && self.snowflakes.existing(Kind::Thread, &crate::threads::thread_key(room_id, root)).await?.is_none()
        {
            let bot = watching[0].0.application.bot_user_id.clone();
            let guild = watching[0].1;
            let mut thread = self.thread_channel(&bot, guild, room_id, root).await?;
            thread["newly_created"] = json!(true);
            for (session, _) in watching.iter().filter(|(s, _)| s.has_intent(intents::GUILDS)) {
                session.dispatch("THREAD_CREATE", thread.clone());
            }
        }
        let sender = event["sender"].as_str().unwrap_or_default();
        let author = self.author(sender).await?;
        for (session, guild) in &watching {
            let guild = *guild;
            let wanted = if guild.is_some() { intents::GUILD_MESSAGES } else { intents::DIRECT_MESSAGES };
            if !session.has_intent(wanted) {
                continue;
            }
            // Without MESSAGE_CONTENT a bot reads only its own messages and
            // those that mention it (Discord's rule).
            let bot = &session.application.bot_user_id;
            let mentioned = event["content"]["m.mentions"]["user_ids"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|id| id == bot.as_str()));
            let readable =
                session.has_intent(intents::MESSAGE_CONTENT) || sender == bot || mentioned || guild.is_none();
            let mut message = shapes::message(&self.snowflakes, event, guild, author.clone(), readable).await?;
            if readable {
                self.finish_message(&mut message, event).await?;
            }
            session.dispatch("MESSAGE_CREATE", message);
        }
        self.on_command_line(room_id, event, &watching).await
    }
}
