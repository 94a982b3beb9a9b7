//! State changes in a guild's space and channels: members joining, changing
//! and leaving (GUILD_MEMBER_*, privileged), bans (GUILD_BAN_*), roles
//! (GUILD_ROLE_*), the guild itself (GUILD_UPDATE) and its channels
//! (CHANNEL_UPDATE, CHANNEL_DELETE). What changed is told apart by the
//! event's `unsigned.prev_content` (what it replaced).

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::Bridge;
use crate::applications::intents;
use crate::gateway::Session;
use crate::matrix::As;
use crate::shapes;
use crate::snowflake::Kind;

type Watching = Vec<(Arc<Session>, Option<u64>)>;

/// Sends `data` to the sessions that asked for `intent`.
fn tell(watching: &Watching, intent: u64, event: &str, data: &Value) {
    for (session, _) in watching.iter().filter(|(s, _)| s.has_intent(intent)) {
        session.dispatch(event, data.clone());
    }
}

fn prev_membership(event: &Value) -> &str {
    event["unsigned"]["prev_content"]["membership"].as_str().unwrap_or("leave")
}

impl Bridge {
    /// Answers REQUEST_GUILD_MEMBERS (op 8) with one GUILD_MEMBERS_CHUNK:
    /// the members whose name starts with `query` (all for `""`, which
    /// needs GUILD_MEMBERS), or those of `user_ids`.
    pub(crate) async fn guild_members_chunk(&self, session: &Arc<Session>, request: &Value) -> anyhow::Result<()> {
        let Some(guild) = crate::snowflake::from_json(&request["guild_id"]) else { return Ok(()) };
        let Some(space) = self.snowflakes.matrix_id(Kind::Room, guild).await? else { return Ok(()) };
        if session.channel(&space).is_none() {
            return Ok(());
        }
        let limit = request["limit"].as_u64().filter(|l| *l > 0).unwrap_or(u64::MAX) as usize;
        let wanted: Option<Vec<u64>> = request["user_ids"]
            .as_array()
            .map(|ids| ids.iter().filter_map(crate::snowflake::from_json).collect())
            .or_else(|| crate::snowflake::from_json(&request["user_ids"]).map(|id| vec![id]));
        let query = request["query"].as_str().unwrap_or_default().to_lowercase();
        let everyone_allowed = session.has_intent(intents::GUILD_MEMBERS);
        let state = self.homeserver.state(As::Bot(&session.application.bot_user_id), &space).await?;
        let mut members = Vec::new();
        let mut found = Vec::new();
        for user in crate::members::joined(&state) {
            if members.len() == limit {
                break;
            }
            let id = self.snowflakes.of(Kind::User, user).await?;
            let Some(member) = self.member(&space, guild, &state, user).await? else { continue };
            let matches = match &wanted {
                Some(ids) => ids.contains(&id),
                None if query.is_empty() => everyone_allowed,
                None => {
                    ["username", "global_name"].iter().any(|field| {
                        member["user"][field].as_str().is_some_and(|name| name.to_lowercase().starts_with(&query))
                    }) || member["nick"].as_str().is_some_and(|nick| nick.to_lowercase().starts_with(&query))
                }
            };
            if matches {
                found.push(id);
                members.push(member);
            }
        }
        let not_found: Vec<String> =
            wanted.unwrap_or_default().into_iter().filter(|id| !found.contains(id)).map(|id| id.to_string()).collect();
        let mut chunk = json!({
            "guild_id": guild.to_string(),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": not_found,
        });
        if let Some(nonce) = request.get("nonce").filter(|n| n.is_string()) {
            chunk["nonce"] = nonce.clone();
        }
        session.dispatch("GUILD_MEMBERS_CHUNK", chunk);
        Ok(())
    }

    /// A state event in a room some session sees as part of a guild.
    pub(super) async fn on_guild_state(&self, room_id: &str, event: &Value) -> anyhow::Result<()> {
        let watching = self.sessions.watching(room_id);
        let Some(guild) = watching.iter().find_map(|(_, g)| *g) else { return Ok(()) };
        // Any watching bot can read the room.
        let bot = watching[0].0.application.bot_user_id.clone();
        let kind = event["type"].as_str().unwrap_or_default();
        if self.snowflakes.existing(Kind::Room, room_id).await? != Some(guild) {
            if kind == "nexus.thread"
                && let Some(root) = event["state_key"].as_str()
            {
                let thread = self.thread_channel(&bot, Some(guild), room_id, root).await?;
                let live = |c: &Value| c.as_object().is_some_and(|c| !c.is_empty());
                let created = !live(&event["unsigned"]["prev_content"]);
                let mut data = thread;
                if created {
                    data["newly_created"] = json!(true);
                }
                tell(&watching, intents::GUILDS, if created { "THREAD_CREATE" } else { "THREAD_UPDATE" }, &data);
            } else if matches!(kind, "m.room.name" | "m.room.topic" | "nexus.channel" | "nexus.channel.overwrites") {
                let state = self.homeserver.state(As::Bot(&bot), room_id).await?;
                let channel = shapes::channel(&self.snowflakes, guild, room_id, &state, 0).await?;
                tell(&watching, intents::GUILDS, "CHANNEL_UPDATE", &channel);
            }
            return Ok(());
        }
        match kind {
            "m.room.member" => self.on_guild_membership(room_id, guild, event, &watching, &bot).await,
            "nexus.member" => {
                let Some(user) = event["state_key"].as_str().and_then(|k| k.strip_prefix('_')) else { return Ok(()) };
                self.member_update(room_id, guild, user, &watching, &bot).await
            }
            "nexus.role" => self.on_role(room_id, guild, event, &watching).await,
            "m.room.name" | "m.room.topic" | "nexus.server" => {
                let state = self.homeserver.state(As::Bot(&bot), room_id).await?;
                let joined: HashSet<String> = self.homeserver.joined_rooms(&bot).await?.into_iter().collect();
                let mut guild = self.guild_view(&bot, room_id, &state, &joined, false).await?.payload;
                if let Some(object) = guild.as_object_mut() {
                    for gateway_only in ["channels", "threads", "members", "presences", "voice_states"] {
                        object.remove(gateway_only);
                    }
                }
                tell(&watching, intents::GUILDS, "GUILD_UPDATE", &guild);
                Ok(())
            }
            "m.space.child" => self.on_child_change(guild, event, &watching, &bot).await,
            _ => Ok(()),
        }
    }

    async fn on_guild_membership(
        &self,
        space: &str,
        guild: u64,
        event: &Value,
        watching: &Watching,
        bot: &str,
    ) -> anyhow::Result<()> {
        let Some(user) = event["state_key"].as_str() else { return Ok(()) };
        let (now, before) = (event["content"]["membership"].as_str().unwrap_or_default(), prev_membership(event));
        let guild_id = guild.to_string();
        // The bots' own arrivals are their GUILD_CREATE.
        let others: Watching = watching.iter().filter(|(s, _)| s.application.bot_user_id != user).cloned().collect();
        match (before, now) {
            ("join", "join") => return self.member_update(space, guild, user, &others, bot).await,
            (_, "join") => {
                let state = self.homeserver.state(As::Bot(bot), space).await?;
                if let Some(mut member) = self.member(space, guild, &state, user).await? {
                    member["guild_id"] = json!(guild_id);
                    tell(&others, intents::GUILD_MEMBERS, "GUILD_MEMBER_ADD", &member);
                }
            }
            ("join", "leave" | "ban") => {
                let data = json!({"guild_id": guild_id, "user": self.author(user).await?});
                tell(&others, intents::GUILD_MEMBERS, "GUILD_MEMBER_REMOVE", &data);
            }
            _ => {}
        }
        if now == "ban" && before != "ban" {
            let data = json!({"guild_id": guild_id, "user": self.author(user).await?});
            tell(&others, intents::GUILD_MODERATION, "GUILD_BAN_ADD", &data);
        } else if before == "ban" && now != "ban" {
            let data = json!({"guild_id": guild_id, "user": self.author(user).await?});
            tell(&others, intents::GUILD_MODERATION, "GUILD_BAN_REMOVE", &data);
        }
        Ok(())
    }

    async fn member_update(
        &self,
        space: &str,
        guild: u64,
        user: &str,
        watching: &Watching,
        bot: &str,
    ) -> anyhow::Result<()> {
        let state = self.homeserver.state(As::Bot(bot), space).await?;
        if let Some(mut member) = self.member(space, guild, &state, user).await? {
            member["guild_id"] = json!(guild.to_string());
            tell(watching, intents::GUILD_MEMBERS, "GUILD_MEMBER_UPDATE", &member);
        }
        Ok(())
    }

    async fn on_role(&self, space: &str, guild: u64, event: &Value, watching: &Watching) -> anyhow::Result<()> {
        let Some(key) = event["state_key"].as_str() else { return Ok(()) };
        let id = self.role_snowflake(space, guild, key).await?;
        let live = |content: &Value| content.as_object().is_some_and(|c| !c.is_empty());
        let (now, before) = (&event["content"], &event["unsigned"]["prev_content"]);
        let guild_id = guild.to_string();
        let (name, data) = match (live(before), live(now)) {
            (_, true) => {
                let role = shapes::role(id, key, now.as_object().expect("live content is an object"));
                let name = if live(before) { "GUILD_ROLE_UPDATE" } else { "GUILD_ROLE_CREATE" };
                (name, json!({"guild_id": guild_id, "role": role}))
            }
            (true, false) => ("GUILD_ROLE_DELETE", json!({"guild_id": guild_id, "role_id": id.to_string()})),
            (false, false) => return Ok(()),
        };
        tell(watching, intents::GUILDS, name, &data);
        Ok(())
    }

    /// A channel unlinked from the space (`m.space.child` emptied).
    async fn on_child_change(&self, guild: u64, event: &Value, watching: &Watching, bot: &str) -> anyhow::Result<()> {
        let Some(child) = event["state_key"].as_str() else { return Ok(()) };
        if event["content"]["via"].as_array().is_some_and(|via| !via.is_empty()) {
            // A new channel reaches a bot when it joins it (CHANNEL_CREATE).
            return Ok(());
        }
        let seeing: Watching = watching.iter().filter(|(s, _)| s.channel(child).is_some()).cloned().collect();
        if seeing.is_empty() {
            return Ok(());
        }
        let state = self.homeserver.state(As::Bot(bot), child).await.unwrap_or_default();
        let channel = shapes::channel(&self.snowflakes, guild, child, &state, 0).await?;
        for (session, _) in &seeing {
            session.remove_channel(child);
        }
        tell(&seeing, intents::GUILDS, "CHANNEL_DELETE", &channel);
        Ok(())
    }
}
