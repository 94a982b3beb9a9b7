//! Threads: a Discord thread is a Matrix thread (a root event and its
//! `m.thread` replies) in a channel's room, named and archived by its
//! `nexus.thread` state (extensions-spec §10). Its snowflake names
//! `{root}|{room}`; messages in it carry the thread's id as `channel_id`.

use serde_json::{Value, json};

use crate::Bridge;
use crate::matrix::As;
use crate::shapes;
use crate::snowflake::Kind;

/// Discord's thread channel types.
pub const PUBLIC_THREAD: u64 = 11;
pub const PRIVATE_THREAD: u64 = 12;

/// The Matrix name of a thread's snowflake.
pub fn thread_key(room_id: &str, root: &str) -> String {
    format!("{root}|{room_id}")
}

/// `(room, root)` of a thread's Matrix name.
pub fn split_key(key: &str) -> Option<(&str, &str)> {
    let (root, room) = key.split_once('|')?;
    Some((room, root))
}

/// The thread root a Matrix event is in, if it is a thread reply.
pub fn thread_root(content: &Value) -> Option<&str> {
    let relation = &content["m.relates_to"];
    (relation["rel_type"] == "m.thread").then(|| relation["event_id"].as_str()).flatten()
}

impl Bridge {
    /// The `(room, root)` a thread snowflake names.
    pub async fn thread_of(&self, snowflake: u64) -> anyhow::Result<Option<(String, String)>> {
        let Some(key) = self.snowflakes.matrix_id(Kind::Thread, snowflake).await? else { return Ok(None) };
        Ok(split_key(&key).map(|(room, root)| (room.to_owned(), root.to_owned())))
    }

    /// A thread in Discord's channel shape, from its `nexus.thread` (absent
    /// for a plain Matrix thread: unnamed, public, never archived).
    pub async fn thread_channel(
        &self,
        bot: &str,
        guild: Option<u64>,
        room_id: &str,
        root: &str,
    ) -> anyhow::Result<Value> {
        let id = self.snowflakes.of(Kind::Thread, &thread_key(room_id, root)).await?;
        let parent = self.snowflakes.of(Kind::Room, room_id).await?;
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/nexus.thread/{}",
            crate::matrix::enc(room_id),
            crate::matrix::enc(root)
        );
        let state = self.homeserver.call(As::Bot(bot), reqwest::Method::GET, &path, None).await.unwrap_or(Value::Null);
        let root_event = self.homeserver.event(As::Bot(bot), room_id, root).await.unwrap_or(Value::Null);
        let owner = root_event["sender"].as_str().unwrap_or_default();
        let owner_id = if owner.is_empty() {
            Value::Null
        } else {
            json!(self.snowflakes.of(Kind::User, owner).await?.to_string())
        };
        let created = root_event["origin_server_ts"].as_u64().unwrap_or(0);
        let fallback_name: String =
            root_event["content"]["body"].as_str().unwrap_or("thread").chars().take(100).collect();
        let mut thread = json!({
            "id": id.to_string(),
            "type": if state["private"] == true { PRIVATE_THREAD } else { PUBLIC_THREAD },
            "parent_id": parent.to_string(),
            "owner_id": owner_id,
            "name": state["name"].as_str().map_or(fallback_name, str::to_owned),
            "last_message_id": null,
            "message_count": 0,
            "member_count": 0,
            "rate_limit_per_user": 0,
            "flags": 0,
            "total_message_sent": 0,
            "applied_tags": state["applied_tags"].as_array().cloned().unwrap_or_default(),
            "thread_metadata": {
                "archived": state["archived"].as_bool().unwrap_or(false),
                "locked": state["locked"].as_bool().unwrap_or(false),
                "auto_archive_duration": state["auto_archive_duration"].as_u64().unwrap_or(10080),
                "archive_timestamp": shapes::timestamp(state["archive_timestamp"].as_u64().unwrap_or(created)),
                "invitable": state["invitable"].as_bool().unwrap_or(true),
                "create_timestamp": shapes::timestamp(created),
            },
        });
        if let Some(guild) = guild {
            thread["guild_id"] = json!(guild.to_string());
        }
        Ok(thread)
    }
}
