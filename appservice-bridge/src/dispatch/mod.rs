//! From Matrix to bots: READY and GUILD_CREATE when a bot identifies, and
//! the dispatches each Matrix event the appservice receives turns into
//! (`messages.rs`: messages and reactions; `guild.rs`: members, roles,
//! bans, channel and guild changes).

mod guild;
mod messages;

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::Bridge;
use crate::applications::intents;
use crate::gateway::Session;
use crate::matrix::As;
use crate::shapes;
use crate::snowflake::Kind;

impl Bridge {
    /// READY, then one GUILD_CREATE per guild (discord.js waits for them).
    pub(crate) async fn ready(&self, session: &Arc<Session>, resume_url: &str) -> anyhow::Result<()> {
        let application = &session.application;
        let bot_id = self.snowflakes.of(Kind::User, &application.bot_user_id).await?;
        let guilds = self.guilds_of(&application.bot_user_id, session.has_intent(intents::GUILD_PRESENCES)).await?;
        let unavailable: Vec<Value> =
            guilds.iter().map(|g| json!({"id": g.guild_id.to_string(), "unavailable": true})).collect();
        let mut user = shapes::user(bot_id, &application.bot_user_id, Some(&application.name), true);
        user["verified"] = json!(true);
        user["mfa_enabled"] = json!(false);
        session.dispatch(
            "READY",
            json!({
                "v": 10,
                "user": user,
                "guilds": unavailable,
                "session_id": session.id,
                "session_type": "normal",
                "resume_gateway_url": resume_url,
                "application": {"id": application.id.to_string(), "flags": application.flags()},
                "private_channels": [], "relationships": [], "presences": [], "user_settings": {},
                "guild_join_requests": [], "geo_ordered_rtc_regions": [], "_trace": ["nexus-bridge"],
            }),
        );
        self.watch_dms(session).await?;
        for guild in guilds {
            for room in &guild.channel_rooms {
                session.add_channel(room, Some(guild.guild_id));
            }
            session.add_channel(&guild.space_id, Some(guild.guild_id));
            if session.has_intent(intents::GUILDS) {
                session.dispatch("GUILD_CREATE", guild.payload_for(session.intents));
            }
        }
        Ok(())
    }

    /// One event of a transaction.
    pub(crate) async fn on_event(&self, event: &Value) -> anyhow::Result<()> {
        let (Some(room_id), Some(kind)) = (event["room_id"].as_str(), event["type"].as_str()) else { return Ok(()) };
        match kind {
            "m.room.message" if event["content"]["m.relates_to"]["rel_type"] == "m.replace" => {
                self.on_edit(room_id, event).await
            }
            "m.room.message" => self.on_message(room_id, event).await,
            "m.reaction" => self.on_reaction(room_id, event).await,
            "m.room.redaction" => self.on_redaction(room_id, event).await,
            "m.space.parent" => {
                self.forget_guild(room_id);
                Ok(())
            }
            "m.room.member" => {
                self.on_membership(room_id, event).await?;
                self.on_guild_state(room_id, event).await
            }
            "nexus.role"
            | "nexus.member"
            | "nexus.server"
            | "nexus.channel"
            | "nexus.channel.overwrites"
            | "nexus.thread"
            | "m.room.name"
            | "m.room.topic"
            | "m.space.child" => self.on_guild_state(room_id, event).await,
            _ => Ok(()),
        }
    }

    /// A bot joining a space gets its GUILD_CREATE; joining a channel of a
    /// guild it is in, its CHANNEL_CREATE.
    async fn on_membership(&self, room_id: &str, event: &Value) -> anyhow::Result<()> {
        let Some(user_id) = event["state_key"].as_str().filter(|u| self.is_bot(u)) else { return Ok(()) };
        self.note_membership(user_id, room_id, event["content"]["membership"] == "join");
        if event["content"]["membership"] == "invite" {
            return self.on_dm_invite(room_id, event).await;
        }
        if event["content"]["membership"] != "join" {
            return Ok(());
        }
        let sessions: Vec<Arc<Session>> = self.sessions_of_bot(user_id).await?;
        if sessions.is_empty() || sessions.iter().all(|s| s.channel(room_id).is_some()) {
            return Ok(());
        }
        let events = self.homeserver.state(As::Bot(user_id), room_id).await?;
        if shapes::is_guild(&events) {
            let joined: HashSet<String> = self.homeserver.joined_rooms(user_id).await?.into_iter().collect();
            let presences = sessions.iter().any(|s| s.has_intent(intents::GUILD_PRESENCES));
            let guild = self.guild_view(user_id, room_id, &events, &joined, presences).await?;
            for session in sessions {
                session.add_channel(room_id, Some(guild.guild_id));
                for room in &guild.channel_rooms {
                    session.add_channel(room, Some(guild.guild_id));
                }
                if session.has_intent(intents::GUILDS) {
                    session.dispatch("GUILD_CREATE", guild.payload_for(session.intents));
                }
            }
        } else if let Some(space) = shapes::parent_space(&events) {
            let Some(guild_id) = self.snowflakes.existing(Kind::Room, &space).await? else { return Ok(()) };
            let channel = shapes::channel(&self.snowflakes, guild_id, room_id, &events, 0).await?;
            for session in sessions.into_iter().filter(|s| s.channel(&space).is_some()) {
                session.add_channel(room_id, Some(guild_id));
                if session.has_intent(intents::GUILDS) {
                    session.dispatch("CHANNEL_CREATE", channel.clone());
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn sessions_of_bot(&self, bot_user_id: &str) -> anyhow::Result<Vec<Arc<Session>>> {
        Ok(self.application_of_bot(bot_user_id).map(|id| self.sessions.of_application(id)).unwrap_or_default())
    }

    /// The application id in a bot user's id.
    pub(crate) fn application_of_bot(&self, user_id: &str) -> Option<u64> {
        let localpart = user_id.strip_prefix(&format!("@{}bot_", self.config.user_prefix))?;
        localpart.split(':').next()?.parse().ok()
    }
}
