//! Presence both ways: a bot's PRESENCE_UPDATE (op 3) is its Matrix user's
//! presence (`online`; `idle` and `dnd` are `unavailable`; `invisible` is
//! `offline`; its first activity is the status message), and a member's
//! Matrix presence reaches the bots with GUILD_PRESENCES in each guild they
//! share as PRESENCE_UPDATE.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use crate::Bridge;
use crate::applications::intents;
use crate::gateway::Session;
use crate::matrix::{As, enc};
use crate::snowflake::Kind;

/// Discord's status for a Matrix presence.
fn discord_status(presence: &str) -> &'static str {
    match presence {
        "online" => "online",
        "unavailable" => "idle",
        _ => "offline",
    }
}

impl Bridge {
    /// Op 3 from a bot.
    pub(crate) async fn bot_presence(&self, session: &Arc<Session>, update: &Value) -> anyhow::Result<()> {
        let presence = match update["status"].as_str() {
            Some("online") => "online",
            Some("idle" | "dnd") => "unavailable",
            Some("invisible" | "offline") => "offline",
            _ => return Ok(()),
        };
        let activity = &update["activities"][0];
        let status_msg = activity["state"].as_str().or(activity["name"].as_str());
        let bot = session.application.bot_user_id.as_str();
        let mut body = json!({"presence": presence});
        if let Some(message) = status_msg {
            body["status_msg"] = json!(message);
        }
        let path = format!("/_matrix/client/v3/presence/{}/status", enc(bot));
        self.homeserver.call(As::Bot(bot), Method::PUT, &path, Some(&body)).await.map(drop)
    }

    /// An `m.presence` the homeserver sent (MSC2409).
    pub(crate) async fn on_presence(&self, event: &Value) -> anyhow::Result<()> {
        let Some(user) = event["sender"].as_str() else { return Ok(()) };
        let content = &event["content"];
        let status = discord_status(content["presence"].as_str().unwrap_or("offline"));
        let activities = match content["status_msg"].as_str().filter(|m| !m.is_empty()) {
            Some(message) => json!([{"type": 4, "name": "Custom Status", "state": message}]),
            None => json!([]),
        };
        let user_id = self.snowflakes.of(Kind::User, user).await?.to_string();
        for session in self.sessions.with_intent(intents::GUILD_PRESENCES) {
            if session.application.bot_user_id == user {
                continue;
            }
            for guild in session.guilds() {
                let Some(space) = self.snowflakes.matrix_id(Kind::Room, guild).await? else { continue };
                let path = format!("/_matrix/client/v3/rooms/{}/state/m.room.member/{}", enc(&space), enc(user));
                let bot = session.application.bot_user_id.as_str();
                let member = self.homeserver.call(As::Bot(bot), Method::GET, &path, None).await.unwrap_or(Value::Null);
                if member["membership"] != "join" {
                    continue;
                }
                session.dispatch(
                    "PRESENCE_UPDATE",
                    json!({
                        "user": {"id": user_id},
                        "guild_id": guild.to_string(),
                        "status": status,
                        "activities": activities,
                        "client_status": if status == "offline" { json!({}) } else { json!({"desktop": status}) },
                    }),
                );
            }
        }
        Ok(())
    }
}
