//! Reading for search: which rooms a user may search, and each hit (and the
//! events around it) through the same history visibility rules as every
//! other read path. The index finds candidates; only what passes here is
//! shown.

use std::collections::HashMap;

use nexus_storage::Direction;
use ruma::events::room::member::MembershipState;
use ruma::{DeviceId, EventId, OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::{Value, json};

use super::Rooms;
use super::read::{RoomEventFilter, ViewerNow, token};
use super::timeline::StoredEvent;
use crate::Result;

/// One user's reading during one search: what they may see of each room,
/// worked out once per room.
pub struct SearchReader {
    viewer: OwnedUserId,
    device: OwnedDeviceId,
    rooms: HashMap<OwnedRoomId, RoomView>,
}

struct RoomView {
    now: ViewerNow,
    visibility: HashMap<u64, (String, Option<String>)>,
}

/// A visible hit: the event in client format and where it sits.
pub struct SearchHit {
    pub event: Value,
    pub stored: StoredEvent,
}

/// The events around a hit (spec: `event_context`).
pub struct SearchContext {
    pub start: String,
    pub end: String,
    pub events_before: Vec<Value>,
    pub events_after: Vec<Value>,
}

impl SearchReader {
    pub fn new(viewer: &UserId, device: &DeviceId) -> Self {
        SearchReader { viewer: viewer.to_owned(), device: device.to_owned(), rooms: HashMap::new() }
    }

    pub fn viewer(&self) -> &UserId {
        &self.viewer
    }
}

impl Rooms {
    /// The rooms a user's search looks in: those they are joined to, and
    /// those they left or were banned from and have not forgotten (where
    /// they still find what they could read while in them).
    pub async fn searchable_rooms(&self, user: &UserId) -> Result<Vec<OwnedRoomId>> {
        let mut rooms = Vec::new();
        for membership in [MembershipState::Join, MembershipState::Leave, MembershipState::Ban] {
            rooms.extend(self.membership.rooms_of(user, &membership).await?);
        }
        Ok(rooms)
    }

    /// Whether a room's new events are ciphertext to this server.
    pub async fn is_encrypted(&self, room_id: &RoomId) -> Result<bool> {
        Ok(self.state.get(room_id, "m.room.encryption", "").await?.is_some())
    }

    /// The events pinned in a room now.
    pub async fn pinned_events(&self, room_id: &RoomId) -> Result<Vec<OwnedEventId>> {
        let content = self.current_state_content(room_id, "m.room.pinned_events", "").await?;
        let pinned = content.and_then(|c| match c.get("pinned") {
            Some(ruma::CanonicalJsonValue::Array(ids)) => Some(ids.clone()),
            _ => None,
        });
        Ok(pinned
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str())
            .filter_map(|id| EventId::parse(id).ok())
            .collect())
    }

    /// A room's current name (`m.room.name`), if it has one.
    pub async fn room_name(&self, room_id: &RoomId) -> Result<Option<String>> {
        let content = self.current_state_content(room_id, "m.room.name", "").await?;
        Ok(content.and_then(|c| c.get("name").and_then(|n| n.as_str()).map(str::to_owned)))
    }

    /// A room's children (`m.space.child` with `via`): a Nexus server's
    /// channels.
    pub async fn space_children(&self, space: &RoomId) -> Result<Vec<OwnedRoomId>> {
        let mut children = Vec::new();
        for (key, event_id) in self.state.current_of_type(space, "m.space.child").await? {
            let Some(stored) = self.timeline.get(&event_id).await? else { continue };
            let content = Value::from(stored.object()?.remove("content").unwrap_or(ruma::CanonicalJsonValue::Null));
            let live = content.get("via").and_then(Value::as_array).is_some_and(|via| !via.is_empty());
            if live && let Ok(room) = OwnedRoomId::try_from(key) {
                children.push(room);
            }
        }
        Ok(children)
    }

    async fn view<'r>(&self, reader: &'r mut SearchReader, room_id: &RoomId) -> Result<&'r mut RoomView> {
        if !reader.rooms.contains_key(room_id) {
            let now = self.viewer_now(&reader.viewer, room_id).await?;
            reader.rooms.insert(room_id.to_owned(), RoomView { now, visibility: HashMap::new() });
        }
        Ok(reader.rooms.get_mut(room_id).expect("just inserted"))
    }

    /// The hit in client format, if the reader may see it.
    pub async fn search_hit(
        &self,
        reader: &mut SearchReader,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<Option<SearchHit>> {
        let Some(stored) = self.timeline.get(event_id).await?.filter(|e| e.room_id == room_id && !e.outlier) else {
            return Ok(None);
        };
        if stored.redacted_by.is_some() {
            return Ok(None);
        }
        let viewer = reader.viewer.clone();
        let view = self.view(reader, room_id).await?;
        if !self.can_see(&viewer, room_id, &stored, &view.now, &mut view.visibility).await? {
            return Ok(None);
        }
        let event = self.format(event_id, &stored, (&viewer, &reader.device)).await?;
        Ok(Some(SearchHit { event, stored }))
    }

    /// Up to `before` and `after` visible events around a hit.
    pub async fn search_context(
        &self,
        reader: &mut SearchReader,
        room_id: &RoomId,
        hit: &StoredEvent,
        (before, after): (usize, usize),
    ) -> Result<SearchContext> {
        let (viewer, device) = (reader.viewer.clone(), reader.device.clone());
        let view = self.view(reader, room_id).await?;
        let everything = RoomEventFilter::default();
        let position = hit.stream_ordering;
        let (events_before, start) = if before == 0 {
            (Vec::new(), position)
        } else {
            let from = (position, Direction::Backward);
            let walk = self
                .walk(&viewer, &device, room_id, from, before, None, &everything, &view.now, &mut view.visibility)
                .await?;
            (walk.events, walk.position)
        };
        let (events_after, end) = if after == 0 {
            (Vec::new(), position + 1)
        } else {
            let from = (position + 1, Direction::Forward);
            let walk = self
                .walk(&viewer, &device, room_id, from, after, None, &everything, &view.now, &mut view.visibility)
                .await?;
            (walk.events, walk.position)
        };
        Ok(SearchContext { start: token(start), end: token(end), events_before, events_after })
    }

    /// `displayname` and `avatar_url` of a member as the room knows them now.
    pub async fn member_profile_in(&self, room_id: &RoomId, user: &UserId) -> Result<Value> {
        let content = self.current_state_content(room_id, "m.room.member", user.as_str()).await?;
        let mut profile = serde_json::Map::new();
        if let Some(content) = content {
            for key in ["displayname", "avatar_url"] {
                if let Some(ruma::CanonicalJsonValue::String(v)) = content.get(key) {
                    profile.insert(key.to_owned(), json!(v));
                }
            }
        }
        Ok(Value::Object(profile))
    }
}
