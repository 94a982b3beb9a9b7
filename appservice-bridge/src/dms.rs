//! Direct messages: a DM channel is a direct Matrix room (`is_direct`)
//! between a bot and one person. The bot makes one on first need (a bot
//! opening a DM, or an ephemeral interaction answer), or joins one a person
//! invites it to; either way it is remembered per (bot, person).

use std::sync::Arc;

use nexus_storage::{Direction, KeyRange};
use reqwest::Method;
use serde_json::{Value, json};

use crate::Bridge;
use crate::gateway::Session;
use crate::matrix::As;
use crate::snowflake::Kind;
use crate::store::DM_ROOMS;

fn key(bot: &str, person: &str) -> Vec<u8> {
    [bot.as_bytes(), &[0], person.as_bytes()].concat()
}

impl Bridge {
    /// The DM room between `bot` and `person`, made (and the person
    /// invited) if there is none yet.
    pub async fn dm_room(&self, bot: &str, person: &str) -> anyhow::Result<String> {
        if let Some(room) = self.store.get(&DM_ROOMS, &key(bot, person)).await? {
            return Ok(String::from_utf8(room)?);
        }
        let body = json!({"preset": "trusted_private_chat", "is_direct": true, "invite": [person]});
        let made =
            self.homeserver.call(As::Bot(bot), Method::POST, "/_matrix/client/v3/createRoom", Some(&body)).await?;
        let room = made["room_id"].as_str().ok_or_else(|| anyhow::anyhow!("createRoom without room_id"))?.to_owned();
        self.remember_dm(bot, person, &room).await?;
        Ok(room)
    }

    async fn remember_dm(&self, bot: &str, person: &str, room: &str) -> anyhow::Result<()> {
        self.store.put(&DM_ROOMS, &key(bot, person), room.as_bytes()).await?;
        for session in self.sessions_of_bot(bot).await? {
            session.add_channel(room, None);
        }
        Ok(())
    }

    /// Every DM room of a bot, with the person in it.
    pub async fn dm_rooms_of(&self, bot: &str) -> anyhow::Result<Vec<(String, String)>> {
        let prefix = [bot.as_bytes(), &[0]].concat();
        let rows = self.store.scan(&DM_ROOMS, KeyRange::prefix(&prefix), Direction::Forward, 10_000).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, room)| {
                let person = String::from_utf8(key[prefix.len()..].to_vec()).ok()?;
                Some((person, String::from_utf8(room).ok()?))
            })
            .collect())
    }

    /// The person of a DM room of `bot`, if `room` is one.
    pub async fn dm_person(&self, bot: &str, room: &str) -> anyhow::Result<Option<String>> {
        Ok(self.dm_rooms_of(bot).await?.into_iter().find(|(_, r)| r == room).map(|(person, _)| person))
    }

    /// A person invited a bot to a direct room: the bot joins, and the room
    /// is its DM channel with them.
    pub(crate) async fn on_dm_invite(&self, room_id: &str, event: &Value) -> anyhow::Result<()> {
        let (Some(bot), Some(person)) = (event["state_key"].as_str(), event["sender"].as_str()) else { return Ok(()) };
        if event["content"]["is_direct"] != true || self.is_bot(person) {
            return Ok(());
        }
        self.homeserver.join(As::Bot(bot), room_id).await?;
        self.remember_dm(bot, person, room_id).await
    }

    /// A DM channel (type 1) in Discord's shape.
    pub async fn dm_channel(&self, room_id: &str, person: &str) -> anyhow::Result<Value> {
        let id = self.snowflakes.of(Kind::Room, room_id).await?;
        Ok(json!({
            "id": id.to_string(),
            "type": 1,
            "last_message_id": null,
            "flags": 0,
            "recipients": [self.author(person).await?],
        }))
    }

    /// Tells a new session of its DM channels.
    pub(crate) async fn watch_dms(&self, session: &Arc<Session>) -> anyhow::Result<()> {
        for (_, room) in self.dm_rooms_of(&session.application.bot_user_id).await? {
            session.add_channel(&room, None);
        }
        Ok(())
    }
}
