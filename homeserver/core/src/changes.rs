//! The change feed: for each user, what changed for them at which stream
//! ordering. Writers add entries in the same batch as the change, so an
//! incremental sync reads exactly its user's changes since its token —
//! its cost follows what changed, not how many rooms the user is in.
//!
//! A large room (`LARGE_ROOM` local members) would make every one of its
//! events cost an entry per member. From then on its events and receipts
//! are recorded once, in the room's own feed, which its members' syncs
//! read beside theirs (`USER_LARGE_ROOMS` lists them), and they wake on
//! the room's topic. A member whose own membership changes is still told
//! in their feed, so a sync always finds the rooms it joined or left.

use std::sync::Arc;

use nexus_storage::catalog::{LARGE_ROOMS, ROOM_CHANGES, USER_CHANGES, USER_LARGE_ROOMS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Bus, Direction, KeyRange, Store, Subscriptions, WriteBatch};
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::stream::Stream;
use crate::values::{corrupt, decode, encode};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// An event (timeline, state or membership) in a room.
    Room(OwnedRoomId),
    /// Receipts in a room.
    Receipt(OwnedRoomId),
    /// The user's account data; per room when a room is named.
    AccountData(Option<OwnedRoomId>),
    /// The presence of a user who shares a room with this one.
    Presence(ruma::OwnedUserId),
    /// The devices or cross-signing keys of a user who shares a room.
    DeviceList(ruma::OwnedUserId),
    /// A to-device message for one of the user's devices.
    ToDevice,
}

pub struct Changes {
    store: Arc<dyn Store>,
    stream: Arc<Stream>,
}

/// Local joined members from which a room's changes are recorded once for
/// the room rather than once per member.
pub const LARGE_ROOM: usize = 500;

fn key(user: &UserId, ordering: u64) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).u64(ordering).build()
}

fn room_key(room: &RoomId, ordering: u64) -> Vec<u8> {
    KeyBuilder::new().str(room.as_str()).u64(ordering).build()
}

fn user_room_key(user: &UserId, room: &RoomId) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(room.as_str()).build()
}

/// The bus topic a large room's members wait on.
fn room_topic(room: &RoomId) -> String {
    format!("room:{room}")
}

/// Whose waiting syncs a recorded change wakes (see [`Changes::wake_topics`]).
#[derive(Debug, Default)]
pub struct Topics(Vec<String>);

impl Changes {
    pub fn new(store: Arc<dyn Store>, stream: Arc<Stream>) -> Self {
        Changes { store, stream }
    }

    /// Adds `change` for each user to `batch`.
    pub fn record<'a>(
        &self,
        batch: &mut WriteBatch,
        users: impl IntoIterator<Item = &'a UserId>,
        ordering: u64,
        change: &Change,
    ) {
        let value = encode(change);
        for user in users {
            batch.put(&USER_CHANGES, key(user, ordering), value.clone());
        }
    }

    /// Records a change in a room for the local users it concerns:
    /// `members` (the room's local joined members before the change) and
    /// `concerned` (anyone it is about, e.g. a membership change's target,
    /// always told in their own feed; with whether they are joined after
    /// it). A room reaching `LARGE_ROOM` members switches to its own feed
    /// here, for good.
    pub async fn record_in_room(
        &self,
        batch: &mut WriteBatch,
        room: &RoomId,
        members: &[OwnedUserId],
        concerned: &[(&UserId, bool)],
        ordering: u64,
        change: &Change,
    ) -> Result<Topics> {
        let large = self.is_large(room).await?;
        if !large && members.len() < LARGE_ROOM {
            let mut users: Vec<&UserId> = members.iter().map(AsRef::as_ref).collect();
            users.extend(concerned.iter().map(|(user, _)| *user).filter(|c| !members.iter().any(|m| m == c)));
            self.record(batch, users.iter().copied(), ordering, change);
            return Ok(Topics(users.iter().map(|u| u.as_str().to_owned()).collect()));
        }
        if !large {
            batch.put(&LARGE_ROOMS, room.as_str().as_bytes(), encode(&ordering));
            for member in members {
                if !concerned.iter().any(|(user, _)| user == member) {
                    batch.put(&USER_LARGE_ROOMS, user_room_key(member, room), encode(&()));
                }
            }
            // The change's own users as it leaves them (their membership
            // was noted before the room was large).
            for (user, joined) in concerned {
                if *joined {
                    batch.put(&USER_LARGE_ROOMS, user_room_key(user, room), encode(&()));
                } else {
                    batch.delete(&USER_LARGE_ROOMS, user_room_key(user, room));
                }
            }
        }
        batch.put(&ROOM_CHANGES, room_key(room, ordering), encode(change));
        self.record(batch, concerned.iter().map(|(user, _)| *user), ordering, change);
        let mut topics = vec![room_topic(room)];
        topics.extend(concerned.iter().map(|(user, _)| user.as_str().to_owned()));
        Ok(Topics(topics))
    }

    /// Keeps the list of a local user's large rooms in step with their
    /// membership: call with each membership change of a local user.
    pub async fn note_membership(
        &self,
        batch: &mut WriteBatch,
        room: &RoomId,
        user: &UserId,
        joined: bool,
    ) -> Result<()> {
        if self.is_large(room).await? {
            if joined {
                batch.put(&USER_LARGE_ROOMS, user_room_key(user, room), encode(&()));
            } else {
                batch.delete(&USER_LARGE_ROOMS, user_room_key(user, room));
            }
        }
        Ok(())
    }

    async fn is_large(&self, room: &RoomId) -> Result<bool> {
        Ok(self.store.get(&LARGE_ROOMS, room.as_str().as_bytes()).await?.is_some())
    }

    /// The large rooms the user is joined to.
    async fn large_rooms_of(&self, user: &UserId) -> Result<Vec<OwnedRoomId>> {
        let prefix = KeyBuilder::new().str(user.as_str()).build();
        let entries = self.store.scan_prefix(&USER_LARGE_ROOMS, &prefix, Direction::Forward, usize::MAX).await?;
        entries
            .into_iter()
            .map(|(k, _)| {
                let room = KeyReader::new(&k[prefix.len()..]).str().map_err(|e| corrupt(&USER_LARGE_ROOMS, e))?;
                OwnedRoomId::try_from(room).map_err(|e| corrupt(&USER_LARGE_ROOMS, e))
            })
            .collect()
    }

    /// Subscribes to what wakes the user's syncs: their own topic and
    /// their large rooms'. Subscribe before looking for changes.
    pub async fn subscribe(&self, user: &UserId) -> Result<Subscriptions> {
        let mut topics = vec![user.as_str().to_owned()];
        topics.extend(self.large_rooms_of(user).await?.iter().map(|r| room_topic(r)));
        Ok(self.stream.bus().subscribe_all(topics.iter().map(String::as_str)))
    }

    /// Wakes the syncs a recorded change concerns; call after the batch
    /// committed.
    pub fn wake_topics(&self, topics: &Topics) {
        let woken = self.stream.wake(topics.0.iter().map(String::as_str));
        metrics::counter!(crate::metric_names::BUS_WAKEUPS).increment(woken as u64);
    }

    /// Forgets a purged room's feed, and the room in its members' lists.
    pub async fn purge_room(&self, room: &RoomId, members: &[OwnedUserId]) -> Result<()> {
        let prefix = KeyBuilder::new().str(room.as_str()).build();
        crate::values::delete_prefix(self.store.as_ref(), &ROOM_CHANGES, &prefix).await?;
        let mut batch = WriteBatch::new();
        for member in members {
            batch.delete(&USER_LARGE_ROOMS, user_room_key(member, room));
        }
        batch.delete(&LARGE_ROOMS, room.as_str().as_bytes());
        Ok(self.store.write(batch).await?)
    }

    /// Wakes the users' waiting syncs (in every process of a cluster)
    /// once the stream's position covers the write; call after the batch
    /// committed.
    pub fn wake<'a>(&self, users: impl IntoIterator<Item = &'a UserId>) {
        let woken = self.stream.wake(users.into_iter().map(UserId::as_str));
        metrics::counter!(crate::metric_names::BUS_WAKEUPS).increment(woken as u64);
    }

    pub fn bus(&self) -> &Bus {
        self.stream.bus()
    }

    /// The user's changes with `since < ordering <= until`, oldest first:
    /// their own feed's and their large rooms'.
    pub async fn since(&self, user: &UserId, since: u64, until: u64) -> Result<Vec<(u64, Change)>> {
        let mut changes = self.feed_since(&USER_CHANGES, user.as_str(), since, until).await?;
        for room in self.large_rooms_of(user).await? {
            changes.extend(self.feed_since(&ROOM_CHANGES, room.as_str(), since, until).await?);
        }
        changes.sort_by_key(|(ordering, _)| *ordering);
        Ok(changes)
    }

    async fn feed_since(
        &self,
        map: &'static nexus_storage::MapDef,
        owner: &str,
        since: u64,
        until: u64,
    ) -> Result<Vec<(u64, Change)>> {
        let at = |ordering: u64| KeyBuilder::new().str(owner).u64(ordering).build();
        let range = KeyRange::between(&at(since.saturating_add(1)), &at(until.saturating_add(1)));
        let entries = self.store.scan(map, range, Direction::Forward, usize::MAX).await?;
        let prefix_len = KeyBuilder::new().str(owner).build().len();
        entries
            .into_iter()
            .map(|(k, v)| {
                let ordering = KeyReader::new(&k[prefix_len..]).u64().map_err(|e| corrupt(map, e))?;
                Ok((ordering, decode(map, &v)?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ruma::{owned_room_id, user_id};

    use super::*;

    async fn changes() -> (Changes, Arc<dyn Store>, tempfile::TempDir) {
        let (store, dir) = crate::testing::temp_store().await;
        let stream = Stream::start(store.clone()).await.unwrap();
        (Changes::new(store.clone(), stream), store, dir)
    }

    fn members(n: usize) -> Vec<OwnedUserId> {
        (0..n).map(|i| OwnedUserId::try_from(format!("@m{i}:x")).unwrap()).collect()
    }

    #[tokio::test]
    async fn a_large_room_is_recorded_once_and_read_by_its_members() {
        let (changes, store, _dir) = changes().await;
        let room = owned_room_id!("!big:x");
        let change = Change::Room(room.clone());
        let small = members(LARGE_ROOM - 1);
        let mut batch = WriteBatch::new();
        changes.record_in_room(&mut batch, &room, &small, &[], 1, &change).await.unwrap();
        store.write(batch).await.unwrap();
        assert!(!changes.is_large(&room).await.unwrap(), "below the size, each member has an entry");
        assert_eq!(changes.since(&small[3], 0, 10).await.unwrap(), vec![(1, change.clone())]);

        let large = members(LARGE_ROOM);
        let outsider = user_id!("@outsider:x");
        let mut batch = WriteBatch::new();
        let topics = changes.record_in_room(&mut batch, &room, &large, &[(outsider, false)], 2, &change).await.unwrap();
        store.write(batch).await.unwrap();
        assert_eq!(topics.0, vec!["room:!big:x".to_owned(), "@outsider:x".to_owned()]);
        assert!(changes.is_large(&room).await.unwrap());
        let last = &large[LARGE_ROOM - 1];
        assert_eq!(changes.since(last, 0, 10).await.unwrap(), vec![(2, change.clone())]);
        assert_eq!(changes.since(&large[3], 0, 10).await.unwrap(), vec![(1, change.clone()), (2, change.clone())]);
        assert_eq!(changes.since(outsider, 0, 10).await.unwrap(), vec![(2, change.clone())], "told in their own feed");
        assert!(changes.since(&large[3], 2, 10).await.unwrap().is_empty());

        // From now on only the room's feed grows; a member who leaves stops reading it.
        let mut batch = WriteBatch::new();
        changes.note_membership(&mut batch, &room, &large[3], false).await.unwrap();
        changes.record_in_room(&mut batch, &room, &large[3..], &[(&large[3], false)], 3, &change).await.unwrap();
        store.write(batch).await.unwrap();
        let mut batch = WriteBatch::new();
        changes.record_in_room(&mut batch, &room, &large[4..], &[], 4, &change).await.unwrap();
        store.write(batch).await.unwrap();
        assert_eq!(changes.since(&large[3], 2, 10).await.unwrap(), vec![(3, change.clone())]);
        assert_eq!(changes.since(&large[4], 2, 10).await.unwrap(), vec![(3, change.clone()), (4, change.clone())]);
        let user_entries = store.scan(&USER_CHANGES, KeyRange::all(), Direction::Forward, usize::MAX).await.unwrap();
        assert_eq!(user_entries.len(), LARGE_ROOM - 1 + 2, "one per member while small, then the concerned only");

        // A member's sync is woken by the room's topic.
        let subscriptions = changes.subscribe(&large[4]).await.unwrap();
        let armed = subscriptions.armed();
        changes.wake_topics(&Topics(vec!["room:!big:x".to_owned()]));
        tokio::time::timeout(Duration::from_secs(1), armed).await.expect("woken by the room");
    }
}
