//! Purging a room (the admin API's room deletion with `purge`): every
//! entry this service keeps about the room goes — its events, timeline
//! and time indexes, state and snapshots, memberships on both sides,
//! aliases, relations, threads, polls, directory listing, partial-state
//! record, head and record. Each map is emptied a chunk at a time, so memory stays flat
//! and a purge cut short by a crash finishes when run again. Events the
//! room fetched only as other events' auth chain (outliers, never in its
//! timeline) are not found this way and stay.

use nexus_storage::catalog::{
    ALIASES_BY_ROOM, ANNOTATIONS, EVENTS, PARTIAL_STATE_ROOMS, POLL_ENDS, POLL_VOTES, POLLS, PUBLIC_ROOMS, RELATIONS,
    REMOTE_INVITES, ROOM_ALIASES, ROOM_BUMPS, ROOM_EVENT_TIMES, ROOM_HEADS, ROOM_MEMBERS, ROOM_STATE, ROOM_TIMELINE,
    ROOMS, STATE_SNAPSHOTS, THREAD_ACTIVITY, THREADS, USER_ROOMS,
};
use nexus_storage::codec::KeyBuilder;
use nexus_storage::{Direction, WriteBatch};
use ruma::{OwnedEventId, OwnedUserId, RoomId};

use super::Rooms;
use crate::Result;
use crate::values::{decode, delete_prefix};

/// Timeline entries whose events are deleted per batch.
const EVENTS_CHUNK: usize = 500;

impl Rooms {
    /// Deletes everything about a room; the users who had a membership in
    /// it (whose own per-room data other services may purge too).
    pub async fn purge(&self, room_id: &RoomId) -> Result<Vec<OwnedUserId>> {
        let _guard = self.store.lock(&super::room_lock(room_id)).await?;
        // The record first: from here on the room is unknown to every
        // request (reads outside the room's lock included), rather than
        // known with its state half gone. The head goes last, marking a
        // purge cut short as unfinished.
        let mut batch = WriteBatch::new();
        for map in [&PUBLIC_ROOMS, &ROOM_BUMPS, &PARTIAL_STATE_ROOMS, &ROOMS] {
            batch.delete(map, room_id.as_str().as_bytes());
        }
        self.store.write(batch).await?;
        let prefix = KeyBuilder::new().str(room_id.as_str()).build();
        let members: Vec<OwnedUserId> =
            self.membership.members(room_id).await?.into_iter().map(|(user, _)| user).collect();
        for user in &members {
            let key = KeyBuilder::new().str(user.as_str()).str(room_id.as_str()).build();
            let mut batch = WriteBatch::new();
            batch.delete(&USER_ROOMS, key.clone());
            batch.delete(&REMOTE_INVITES, key);
            self.store.write(batch).await?;
        }
        self.changes.purge_room(room_id, &members).await?;
        self.purge_events(&prefix).await?;
        for alias in self.aliases.of_room(room_id).await? {
            self.store.delete(&ROOM_ALIASES, alias.as_str().as_bytes()).await?;
        }
        for map in [
            &ROOM_MEMBERS,
            &ROOM_STATE,
            &STATE_SNAPSHOTS,
            &ALIASES_BY_ROOM,
            &RELATIONS,
            &ANNOTATIONS,
            &THREADS,
            &THREAD_ACTIVITY,
            &POLLS,
            &POLL_VOTES,
            &POLL_ENDS,
            &ROOM_EVENT_TIMES,
        ] {
            delete_prefix(self.store.as_ref(), map, &prefix).await?;
        }
        self.store.delete(&ROOM_HEADS, room_id.as_str().as_bytes()).await?;
        tracing::info!(%room_id, members = members.len(), "purged");
        Ok(members)
    }

    /// Whether a purge of the room began and did not finish (its record is
    /// gone, its head is not).
    pub async fn purge_unfinished(&self, room_id: &RoomId) -> Result<bool> {
        let key = room_id.as_str().as_bytes();
        Ok(self.store.get(&ROOMS, key).await?.is_none() && self.store.get(&ROOM_HEADS, key).await?.is_some())
    }

    /// The room's events and its timeline, a chunk at a time.
    async fn purge_events(&self, prefix: &[u8]) -> Result<()> {
        loop {
            let entries = self.store.scan_prefix(&ROOM_TIMELINE, prefix, Direction::Forward, EVENTS_CHUNK).await?;
            if entries.is_empty() {
                return Ok(());
            }
            let mut batch = WriteBatch::new();
            for (key, value) in &entries {
                let event_id: OwnedEventId = decode(&ROOM_TIMELINE, value)?;
                self.timeline.forget(&event_id);
                batch.delete(&EVENTS, event_id.as_str().as_bytes());
                batch.delete(&ROOM_TIMELINE, key.clone());
            }
            self.store.write(batch).await?;
        }
    }
}

impl Rooms {
    /// The media a room's unencrypted messages refer to (`url`, and the
    /// thumbnail's), as mxc URIs, each once — the admin API's room media.
    /// Walks the whole timeline: an admin's question, not a hot path.
    pub async fn media_in_room(&self, room_id: &RoomId) -> Result<Vec<String>> {
        let mut found = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut from = Some(0);
        while let Some(position) = from {
            let page = self.timeline.page(room_id, Some(position), Direction::Forward, EVENTS_CHUNK).await?;
            from = (page.len() == EVENTS_CHUNK).then(|| page.last().map_or(position, |(o, _)| o + 1));
            for (_, event_id) in page {
                let Some(stored) = self.timeline.get(&event_id).await? else { continue };
                let event = serde_json::Value::from(ruma::CanonicalJsonValue::Object(stored.object()?));
                if !matches!(event["type"].as_str(), Some("m.room.message" | "m.sticker")) {
                    continue;
                }
                let content = &event["content"];
                for url in [&content["url"], &content["info"]["thumbnail_url"]] {
                    if let Some(url) = url.as_str().filter(|u| u.starts_with("mxc://"))
                        && seen.insert(url.to_owned())
                    {
                        found.push(url.to_owned());
                    }
                }
            }
        }
        Ok(found)
    }
}
