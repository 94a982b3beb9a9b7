//! Rooms as a server admin lists them (the admin API): every room this
//! server holds, and one room's facts from its current state — name,
//! alias, members, version, creator, encryption, rules. Read when asked:
//! an admin's listing, not a hot path.

use nexus_storage::catalog::{ROOM_BLOCKS, ROOMS};
use nexus_storage::{Direction, KeyRange};
use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomId, RoomId};
use serde_json::Value;

use super::Rooms;
use crate::Result;

/// One room's facts.
#[derive(Debug, Clone)]
pub struct RoomOverview {
    pub room_id: OwnedRoomId,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub avatar: Option<String>,
    pub canonical_alias: Option<String>,
    pub joined_members: usize,
    pub joined_local_members: usize,
    pub version: String,
    pub creator: Option<String>,
    pub encryption: Option<String>,
    pub federatable: bool,
    pub public: bool,
    pub join_rules: Option<String>,
    pub guest_access: Option<String>,
    pub history_visibility: Option<String>,
    pub state_events: usize,
    pub room_type: Option<String>,
    pub tombstone: Option<String>,
}

impl Rooms {
    /// Every room this server holds.
    pub async fn all_rooms(&self) -> Result<Vec<OwnedRoomId>> {
        let rows = self.store.scan(&ROOMS, KeyRange::all(), Direction::Forward, usize::MAX).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, _)| String::from_utf8(key).ok().and_then(|id| OwnedRoomId::try_from(id).ok()))
            .collect())
    }

    async fn field(&self, room_id: &RoomId, kind: &str, field: &str) -> Result<Option<String>> {
        let content = self.state_json(room_id, kind, "").await?;
        Ok(content.and_then(|c| c.get(field).and_then(Value::as_str).map(str::to_owned)))
    }

    /// One room's facts, or `None` for a room this server does not hold.
    pub async fn overview(&self, room_id: &RoomId) -> Result<Option<RoomOverview>> {
        let Some(version) = self.version(room_id).await? else { return Ok(None) };
        let members = self.membership.members(room_id).await?;
        let joined: Vec<_> = members.iter().filter(|(_, m)| *m == MembershipState::Join).collect();
        let local = joined.iter().filter(|(user, _)| user.server_name() == self.server_name()).count();
        let create = match self.state.get(room_id, "m.room.create", "").await? {
            Some(event_id) => self.timeline.get(&event_id).await?.map(|e| e.object()).transpose()?,
            None => None,
        };
        let create_content = create.as_ref().and_then(|c| c.get("content")).map(|c| Value::from(c.clone()));
        let creator = create.as_ref().and_then(|c| c.get("sender")).and_then(|s| s.as_str()).map(str::to_owned);
        let state_events = self.state.current(room_id).await?.len();
        Ok(Some(RoomOverview {
            room_id: room_id.to_owned(),
            name: self.field(room_id, "m.room.name", "name").await?,
            topic: self.field(room_id, "m.room.topic", "topic").await?,
            avatar: self.field(room_id, "m.room.avatar", "url").await?,
            canonical_alias: self.field(room_id, "m.room.canonical_alias", "alias").await?,
            joined_members: joined.len(),
            joined_local_members: local,
            version: version.to_string(),
            creator,
            encryption: self.field(room_id, "m.room.encryption", "algorithm").await?,
            federatable: create_content.as_ref().and_then(|c| c["m.federate"].as_bool()).unwrap_or(true),
            public: self.is_published(room_id).await?,
            join_rules: self.field(room_id, "m.room.join_rules", "join_rule").await?,
            guest_access: self.field(room_id, "m.room.guest_access", "guest_access").await?,
            history_visibility: self.field(room_id, "m.room.history_visibility", "history_visibility").await?,
            state_events,
            room_type: create_content.as_ref().and_then(|c| c["type"].as_str().map(str::to_owned)),
            tombstone: self.field(room_id, "m.room.tombstone", "replacement_room").await?,
        }))
    }
}

impl Rooms {
    /// The room's whole current state as client events (the admin API's
    /// room state: an admin reads it whatever their membership).
    pub async fn current_state_events(&self, room_id: &RoomId) -> Result<Vec<Value>> {
        let mut events = Vec::new();
        for event_id in self.state.current(room_id).await?.into_values() {
            let Some(stored) = self.timeline.get(&event_id).await? else { continue };
            events.push(super::client_format::client_event(&stored.object()?, &event_id, &stored, None, None));
        }
        Ok(events)
    }
}

impl Rooms {
    /// Blocks a room (the admin API): this server's users may no longer
    /// join it, knock on it or be invited to it.
    pub async fn block(&self, room_id: &RoomId, by: &ruma::UserId) -> Result<()> {
        Ok(self.store.put(&ROOM_BLOCKS, room_id.as_str().as_bytes(), by.as_str().as_bytes()).await?)
    }

    pub async fn unblock(&self, room_id: &RoomId) -> Result<()> {
        Ok(self.store.delete(&ROOM_BLOCKS, room_id.as_str().as_bytes()).await?)
    }

    /// Who blocked a room, if it is blocked.
    pub async fn blocker(&self, room_id: &RoomId) -> Result<Option<String>> {
        let found = self.store.get(&ROOM_BLOCKS, room_id.as_str().as_bytes()).await?;
        Ok(found.and_then(|by| String::from_utf8(by).ok()))
    }

    /// Refuses membership changes into a blocked room.
    pub(super) async fn refuse_if_blocked(&self, room_id: &RoomId) -> Result<()> {
        if self.blocker(room_id).await?.is_some() {
            return Err(crate::Error::Forbidden("This room has been blocked on this server".to_owned()));
        }
        Ok(())
    }
}
