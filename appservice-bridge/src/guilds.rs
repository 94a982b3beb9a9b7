//! The guilds a bot is in: the spaces its Matrix user has joined, each with
//! the child rooms it has joined as channels, read from Matrix state when
//! the bot identifies (and when it joins a space later).

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::Bridge;
use crate::matrix::As;
use crate::shapes;
use crate::snowflake::Kind;

/// One guild as the gateway's GUILD_CREATE gives it, with its channels'
/// Matrix room ids.
pub struct GuildView {
    pub space_id: String,
    pub guild_id: u64,
    pub payload: Value,
    pub channel_rooms: Vec<String>,
    /// Every member, when the guild is not large.
    pub members: Vec<Value>,
}

/// Members above which a guild is "large" (Discord's default threshold).
const LARGE_THRESHOLD: usize = 50;

impl GuildView {
    /// GUILD_CREATE for a session: with GUILD_PRESENCES a small guild comes
    /// with all its members (so discord.py does not chunk it).
    pub fn payload_for(&self, intents: u64) -> Value {
        let mut payload = self.payload.clone();
        if intents & crate::applications::intents::GUILD_PRESENCES != 0 && !self.members.is_empty() {
            payload["members"] = Value::Array(self.members.clone());
        }
        payload
    }
}

impl Bridge {
    /// Every guild of a bot.
    /// `with_members`: list every member of small guilds (for sessions with
    /// GUILD_PRESENCES).
    pub async fn guilds_of(&self, bot_user_id: &str, with_members: bool) -> anyhow::Result<Vec<GuildView>> {
        let joined: HashSet<String> = self.homeserver.joined_rooms(bot_user_id).await?.into_iter().collect();
        // Every joined room's state is read once: the spaces' children are
        // among them.
        let mut states = HashMap::with_capacity(joined.len());
        for room_id in &joined {
            states.insert(room_id.clone(), self.homeserver.state(As::Bot(bot_user_id), room_id).await?);
        }
        let mut guilds = Vec::new();
        for (room_id, events) in &states {
            if shapes::is_guild(events) {
                guilds.push(self.guild_view_with(bot_user_id, room_id, events, &joined, &states, with_members).await?);
            }
        }
        Ok(guilds)
    }

    /// One guild, from its space's state.
    pub async fn guild_view(
        &self,
        bot_user_id: &str,
        space_id: &str,
        events: &[Value],
        joined: &HashSet<String>,
        with_members: bool,
    ) -> anyhow::Result<GuildView> {
        self.guild_view_with(bot_user_id, space_id, events, joined, &HashMap::new(), with_members).await
    }

    /// The same, with the state of rooms already read (`known`).
    async fn guild_view_with(
        &self,
        bot_user_id: &str,
        space_id: &str,
        events: &[Value],
        joined: &HashSet<String>,
        known: &HashMap<String, Vec<Value>>,
        with_members: bool,
    ) -> anyhow::Result<GuildView> {
        let guild_id = self.snowflakes.of(Kind::Room, space_id).await?;
        let mut channels = Vec::new();
        let mut channel_rooms = Vec::new();
        for (position, child) in shapes::children(events).into_iter().enumerate() {
            if !joined.contains(&child) {
                continue;
            }
            let child_state = match known.get(&child) {
                Some(state) => state.clone(),
                None => self.homeserver.state(As::Bot(bot_user_id), &child).await?,
            };
            if shapes::is_guild(&child_state) {
                continue;
            }
            channels.push(shapes::channel(&self.snowflakes, guild_id, &child, &child_state, position).await?);
            channel_rooms.push(child);
        }
        let members: Vec<&Value> =
            events.iter().filter(|e| e["type"] == "m.room.member" && e["content"]["membership"] == "join").collect();
        let owner = shapes::state(events, "nexus.server", "")
            .and_then(|c| c["owner"].as_str())
            .or_else(|| shapes::state(events, "m.room.create", "").and_then(|c| c["creator"].as_str()))
            .map(str::to_owned);
        let owner_id = match owner {
            Some(owner) => Some(self.snowflakes.of(Kind::User, &owner).await?.to_string()),
            None => None,
        };
        let bot_id = self.snowflakes.of(Kind::User, bot_user_id).await?;
        let bot_joined_at = events
            .iter()
            .find(|e| e["type"] == "m.room.member" && e["state_key"] == bot_user_id)
            .and_then(|e| e["origin_server_ts"].as_u64())
            .unwrap_or_else(crate::snowflake::now_ms);
        // The bot's own member, with the roles it holds.
        let bot_member = match self.member(space_id, guild_id, events, bot_user_id).await? {
            Some(member) => member,
            None => json!({
                "user": shapes::user(bot_id, bot_user_id, None, true),
                "roles": [], "joined_at": shapes::timestamp(bot_joined_at),
                "deaf": false, "mute": false, "flags": 0, "nick": null,
            }),
        };
        // A small guild's whole member list, for bots with GUILD_PRESENCES
        // (Discord sends it to them instead of chunking).
        let mut everyone = Vec::new();
        if with_members && members.len() <= LARGE_THRESHOLD {
            for user in crate::members::joined(events) {
                everyone.extend(self.member(space_id, guild_id, events, user).await?);
            }
        }
        let name = shapes::state(events, "m.room.name", "").and_then(|c| c["name"].as_str()).unwrap_or("server");
        let description = shapes::state(events, "m.room.topic", "").and_then(|c| c["topic"].as_str());
        let payload = json!({
            "id": guild_id.to_string(),
            "name": name,
            "description": description,
            "icon": null, "splash": null, "banner": null, "discovery_splash": null,
            "owner_id": owner_id,
            "roles": shapes::roles(&self.snowflakes, space_id, guild_id, events).await?,
            "emojis": [], "stickers": [], "features": [],
            "channels": channels,
            "threads": self.active_threads(bot_user_id, space_id, guild_id).await?,
            "members": [bot_member],
            "member_count": members.len(),
            "large": members.len() > LARGE_THRESHOLD,
            "joined_at": shapes::timestamp(bot_joined_at),
            "unavailable": false,
            "presences": [], "voice_states": [], "stage_instances": [], "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "mfa_level": 0, "nsfw_level": 0, "premium_tier": 0, "premium_subscription_count": 0,
            "preferred_locale": "en-US", "afk_timeout": 300, "afk_channel_id": null,
            "system_channel_id": null, "system_channel_flags": 0, "rules_channel_id": null,
            "public_updates_channel_id": null, "safety_alerts_channel_id": null,
            "vanity_url_code": null, "max_members": 500000, "premium_progress_bar_enabled": false,
            "application_id": null,
        });
        Ok(GuildView { space_id: space_id.to_owned(), guild_id, payload, channel_rooms, members: everyone })
    }
}
