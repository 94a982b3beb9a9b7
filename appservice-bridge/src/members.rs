//! Guild members and roles as Discord shows them, from the space's state:
//! a member is a joined `m.room.member` of the space plus its `nexus.member`
//! (roles, nickname, timeout); a role is a `nexus.role` whose snowflake
//! names `{space}|{role id}` (@everyone's is the guild's own id).

use serde_json::{Value, json};

use crate::Bridge;
use crate::shapes;
use crate::snowflake::Kind;

/// The `nexus.member` state key of a user.
pub fn member_key(user_id: &str) -> String {
    format!("_{user_id}")
}

/// A user's membership in a space's state (`join`, `ban`, …).
pub fn membership<'a>(state: &'a [Value], user_id: &str) -> Option<&'a str> {
    shapes::state(state, "m.room.member", user_id).and_then(|c| c["membership"].as_str())
}

/// The joined members of a space, by user id.
pub fn joined(state: &[Value]) -> Vec<&str> {
    state
        .iter()
        .filter(|e| e["type"] == "m.room.member" && e["content"]["membership"] == "join")
        .filter_map(|e| e["state_key"].as_str())
        .collect()
}

impl Bridge {
    /// The snowflake of a server role (`everyone` is the guild's).
    pub async fn role_snowflake(&self, space_id: &str, guild_id: u64, role: &str) -> anyhow::Result<u64> {
        if role == "everyone" {
            return Ok(guild_id);
        }
        self.snowflakes.of(Kind::Role, &format!("{space_id}|{role}")).await
    }

    /// The role id a role snowflake names in this space.
    pub async fn role_key(&self, space_id: &str, guild_id: u64, snowflake: u64) -> anyhow::Result<Option<String>> {
        if snowflake == guild_id {
            return Ok(Some("everyone".to_owned()));
        }
        let Some(named) = self.snowflakes.matrix_id(Kind::Role, snowflake).await? else { return Ok(None) };
        Ok(named.strip_prefix(&format!("{space_id}|")).map(str::to_owned))
    }

    /// A member of a space in Discord's shape, if joined.
    pub async fn member(
        &self,
        space_id: &str,
        guild_id: u64,
        state: &[Value],
        user_id: &str,
    ) -> anyhow::Result<Option<Value>> {
        let Some(event) = state.iter().find(|e| {
            e["type"] == "m.room.member" && e["state_key"] == user_id && e["content"]["membership"] == "join"
        }) else {
            return Ok(None);
        };
        let nexus = shapes::state(state, "nexus.member", &member_key(user_id)).cloned().unwrap_or(Value::Null);
        let displayname = event["content"]["displayname"].as_str();
        let mut user = self.author(user_id).await?;
        if !self.is_bot(user_id)
            && let Some(name) = displayname
        {
            user["global_name"] = json!(name);
        }
        let mut roles = Vec::new();
        for role in nexus["roles"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            // Deleted roles held by members are ignored (§6.1).
            if shapes::state(state, "nexus.role", role).is_some_and(|c| c.as_object().is_some_and(|c| !c.is_empty())) {
                roles.push(self.role_snowflake(space_id, guild_id, role).await?.to_string());
            }
        }
        let timeout = nexus["communication_disabled_until"]
            .as_u64()
            .filter(|until| *until > crate::snowflake::now_ms())
            .map(shapes::timestamp);
        Ok(Some(json!({
            "user": user,
            "nick": nexus["nick"].as_str(),
            "avatar": null,
            "roles": roles,
            "joined_at": shapes::timestamp(event["origin_server_ts"].as_u64().unwrap_or(0)),
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
            "communication_disabled_until": timeout,
        })))
    }
}
