//! Current state as plain JSON, for the layers above the Matrix core that
//! interpret state of their own (`crate::guilds`, the spaces hierarchy).

use ruma::{OwnedUserId, RoomId, UserId};
use serde_json::Value;

use super::{Rooms, versions};
use crate::Result;

/// Who created a room and whether the room version makes them all-powerful.
#[derive(Debug, Clone)]
pub struct Creators {
    pub users: Vec<OwnedUserId>,
    /// Room version 12 and later: creators have infinite power.
    pub privileged: bool,
}

impl Rooms {
    /// The content of a current state event (`None` when absent).
    pub async fn state_json(&self, room_id: &RoomId, kind: &str, key: &str) -> Result<Option<Value>> {
        let content = self.current_state_content(room_id, kind, key).await?;
        Ok(content.map(|c| Value::from(ruma::CanonicalJsonValue::Object(c))))
    }

    /// The content of a stored event (`None` when this server lacks it).
    pub async fn event_content(&self, event_id: &ruma::EventId) -> Result<Option<Value>> {
        let Some(stored) = self.timeline.get(event_id).await? else { return Ok(None) };
        Ok(stored.object()?.remove("content").map(Value::from))
    }

    /// Every current state event of one type: `(state_key, content)`.
    pub async fn state_json_of_type(&self, room_id: &RoomId, kind: &str) -> Result<Vec<(String, Value)>> {
        let mut out = Vec::new();
        for (key, event_id) in self.state.current_of_type(room_id, kind).await? {
            let Some(stored) = self.timeline.get(&event_id).await? else { continue };
            let content = stored.object()?.remove("content").map(Value::from).unwrap_or(Value::Null);
            out.push((key, content));
        }
        Ok(out)
    }

    /// Every current state event of one type, whole (sender included).
    pub async fn state_events_of_type(&self, room_id: &RoomId, kind: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for (_, event_id) in self.state.current_of_type(room_id, kind).await? {
            if let Some(stored) = self.timeline.get(&event_id).await? {
                out.push(Value::Object(stored.object()?.into_iter().map(|(k, v)| (k, Value::from(v))).collect()));
            }
        }
        Ok(out)
    }

    /// The room's creators (the create event's sender and, from v12, its
    /// `additional_creators`).
    pub async fn creators(&self, room_id: &RoomId) -> Result<Creators> {
        let rules = self.rules_of(room_id).await?;
        let Some(create) = self.state_pdu(room_id, "m.room.create", "", &rules).await? else {
            return Ok(Creators { users: Vec::new(), privileged: false });
        };
        let privileged = rules.authorization.explicitly_privilege_room_creators;
        let mut users = vec![create.sender.clone()];
        if privileged && let Some(extra) = create.content_json().get("additional_creators").and_then(Value::as_array) {
            users.extend(extra.iter().filter_map(Value::as_str).filter_map(|u| UserId::parse(u).ok()));
        }
        Ok(Creators { users, privileged })
    }

    /// Whether the room is a space (`m.room.create` `type` is `m.space`).
    pub async fn is_space(&self, room_id: &RoomId) -> Result<bool> {
        let Some(version) = self.version(room_id).await? else { return Ok(false) };
        let rules = versions::rules(&version)?;
        let create = self.state_pdu(room_id, "m.room.create", "", &rules).await?;
        Ok(create.is_some_and(|c| c.content_json().get("type").and_then(Value::as_str) == Some("m.space")))
    }
}
