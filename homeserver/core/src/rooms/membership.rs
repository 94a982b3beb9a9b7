//! Who is in which room: the membership indexes, kept in step with the
//! `m.room.member` state so that "my rooms" and "its members" are a prefix
//! scan, not a walk over state.
//!
//! Every event of a room reads its members (who gets it, who is notified,
//! which servers), so a big room's list is kept in memory. Each change to
//! a room's members writes a new random version beside them in the same
//! batch; the cached list is used while the stored version matches, so it
//! is never stale — in a cluster too, where another process wrote it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use nexus_storage::catalog::{ROOM_MEMBERS, USER_ROOMS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, Store, WriteBatch};
use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomId, OwnedServerName, OwnedUserId, RoomId, ServerName, UserId};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::values::{corrupt, decode, encode};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UserRoom {
    membership: MembershipState,
    #[serde(default)]
    forgotten: bool,
}

pub struct Membership {
    store: Arc<dyn Store>,
    server_name: OwnedServerName,
    /// Big rooms' members, with the version they were read at.
    cached: Mutex<HashMap<OwnedRoomId, Cached>>,
}

/// A room's members, and what its events need from them.
#[derive(Debug, Default)]
pub struct RoomMembers {
    /// Every user with a membership, and which.
    pub all: Vec<(OwnedUserId, MembershipState)>,
    pub joined_count: usize,
    /// The joined members on this server.
    pub local_joined: Vec<OwnedUserId>,
    /// The servers with joined members.
    pub joined_servers: BTreeSet<OwnedServerName>,
}

impl RoomMembers {
    fn new(all: Vec<(OwnedUserId, MembershipState)>, local: &ServerName) -> Self {
        let joined = || all.iter().filter(|(_, m)| *m == MembershipState::Join).map(|(u, _)| u);
        RoomMembers {
            joined_count: joined().count(),
            local_joined: joined().filter(|u| u.server_name() == local).cloned().collect(),
            joined_servers: joined().map(|u| u.server_name().to_owned()).collect(),
            all,
        }
    }
}

/// A room's members as read at a version (none: never changed since
/// versions were written).
type Cached = (Option<u64>, Arc<RoomMembers>);

/// Rooms with fewer members are read from the store each time.
const CACHED_FROM: usize = 100;
/// At most this many rooms' members are kept.
const CACHED_ROOMS: usize = 256;

fn member_key(room_id: &RoomId, user_id: &UserId) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).str(user_id.as_str()).build()
}

/// Where a room's members' version is kept: an empty user, sorting first.
fn version_key(room_id: &RoomId) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).str("").build()
}

fn user_room_key(user_id: &UserId, room_id: &RoomId) -> Vec<u8> {
    KeyBuilder::new().str(user_id.as_str()).str(room_id.as_str()).build()
}

impl Membership {
    pub fn new(store: Arc<dyn Store>, server_name: OwnedServerName) -> Self {
        Membership { store, server_name, cached: Mutex::new(HashMap::new()) }
    }

    pub async fn of(&self, room_id: &RoomId, user_id: &UserId) -> Result<Option<MembershipState>> {
        let bytes = self.store.get(&ROOM_MEMBERS, &member_key(room_id, user_id)).await?;
        bytes.map(|b| decode(&ROOM_MEMBERS, &b)).transpose()
    }

    pub async fn is_joined(&self, room_id: &RoomId, user_id: &UserId) -> Result<bool> {
        Ok(self.of(room_id, user_id).await? == Some(MembershipState::Join))
    }

    /// Adds a membership change to `batch`. A new membership un-forgets.
    pub fn set(&self, batch: &mut WriteBatch, room_id: &RoomId, user_id: &UserId, membership: &MembershipState) {
        batch.put(&ROOM_MEMBERS, member_key(room_id, user_id), encode(membership));
        batch.put(&ROOM_MEMBERS, version_key(room_id), encode(&rand::random::<u64>()));
        let record = UserRoom { membership: membership.clone(), forgotten: false };
        batch.put(&USER_ROOMS, user_room_key(user_id, room_id), encode(&record));
    }

    pub async fn members(&self, room_id: &RoomId) -> Result<Vec<(OwnedUserId, MembershipState)>> {
        Ok(self.room_members(room_id).await?.all.clone())
    }

    /// The room's members, from memory when their version is unchanged.
    pub async fn room_members(&self, room_id: &RoomId) -> Result<Arc<RoomMembers>> {
        let version = self.store.get(&ROOM_MEMBERS, &version_key(room_id)).await?;
        let version: Option<u64> = version.map(|v| decode(&ROOM_MEMBERS, &v)).transpose()?;
        if let Some((cached_version, members)) = self.cached.lock().expect("members cache poisoned").get(room_id)
            && *cached_version == version
        {
            return Ok(members.clone());
        }
        let prefix = KeyBuilder::new().str(room_id.as_str()).build();
        let entries = self.store.scan_prefix(&ROOM_MEMBERS, &prefix, Direction::Forward, usize::MAX).await?;
        let mut all = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let user = KeyReader::new(&key[prefix.len()..]).str().map_err(|e| corrupt(&ROOM_MEMBERS, e))?;
            if user.is_empty() {
                continue; // the version
            }
            let user = OwnedUserId::try_from(user).map_err(|e| corrupt(&ROOM_MEMBERS, e))?;
            all.push((user, decode(&ROOM_MEMBERS, &value)?));
        }
        let members = Arc::new(RoomMembers::new(all, &self.server_name));
        // Read after the version: a change in between is cached under the
        // older version, so it is read again next time, never kept stale.
        if members.all.len() >= CACHED_FROM {
            let mut cached = self.cached.lock().expect("members cache poisoned");
            if cached.len() >= CACHED_ROOMS && !cached.contains_key(room_id) {
                let evicted = cached.keys().next().cloned();
                if let Some(evicted) = evicted {
                    cached.remove(&evicted);
                }
            }
            cached.insert(room_id.to_owned(), (version, members.clone()));
        }
        Ok(members)
    }

    /// The rooms a user is in with `membership`, forgotten ones left out.
    pub async fn rooms_of(&self, user_id: &UserId, membership: &MembershipState) -> Result<Vec<OwnedRoomId>> {
        let prefix = KeyBuilder::new().str(user_id.as_str()).build();
        let entries = self.store.scan_prefix(&USER_ROOMS, &prefix, Direction::Forward, usize::MAX).await?;
        let mut rooms = Vec::new();
        for (key, value) in entries {
            let record: UserRoom = decode(&USER_ROOMS, &value)?;
            if &record.membership == membership && !record.forgotten {
                let room = KeyReader::new(&key[prefix.len()..]).str().map_err(|e| corrupt(&USER_ROOMS, e))?;
                rooms.push(OwnedRoomId::try_from(room).map_err(|e| corrupt(&USER_ROOMS, e))?);
            }
        }
        Ok(rooms)
    }

    /// Whether the user forgot the room (and so may no longer read it).
    pub async fn is_forgotten(&self, room_id: &RoomId, user_id: &UserId) -> Result<bool> {
        let Some(bytes) = self.store.get(&USER_ROOMS, &user_room_key(user_id, room_id)).await? else {
            return Ok(false);
        };
        Ok(decode::<UserRoom>(&USER_ROOMS, &bytes)?.forgotten)
    }

    /// `POST /forget`: only a room the user has left (or was kicked or
    /// banned from) can be forgotten.
    pub async fn forget(&self, room_id: &RoomId, user_id: &UserId) -> Result<bool> {
        let key = user_room_key(user_id, room_id);
        let Some(bytes) = self.store.get(&USER_ROOMS, &key).await? else { return Ok(true) };
        let mut record: UserRoom = decode(&USER_ROOMS, &bytes)?;
        if matches!(record.membership, MembershipState::Join | MembershipState::Invite | MembershipState::Knock) {
            return Ok(false);
        }
        record.forgotten = true;
        self.store.put(&USER_ROOMS, &key, &encode(&record)).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use nexus_storage::backend::{Backend, StoreOptions};
    use nexus_storage::catalog::NEXUS;
    use ruma::{owned_server_name, room_id};

    use super::*;

    #[tokio::test]
    async fn a_cached_member_list_follows_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            backend: Backend::RocksDb { path: dir.path().to_owned() },
            sync_writes: false,
            cluster: None,
        };
        let store = nexus_storage::open(&options, NEXUS).await.unwrap();
        let membership = Membership::new(store.clone(), owned_server_name!("here"));
        let room = room_id!("!r:here");
        let mut batch = WriteBatch::new();
        for i in 0..CACHED_FROM {
            let server = if i % 2 == 0 { "here" } else { "there" };
            let user = OwnedUserId::try_from(format!("@u{i}:{server}")).unwrap();
            membership.set(&mut batch, room, &user, &MembershipState::Join);
        }
        store.write(batch).await.unwrap();
        let first = membership.room_members(room).await.unwrap();
        assert_eq!((first.joined_count, first.local_joined.len(), first.joined_servers.len()), (CACHED_FROM, 50, 2));
        assert!(Arc::ptr_eq(&first, &membership.room_members(room).await.unwrap()), "kept in memory");

        // A second handle on the store (another process) changes it.
        let other = Membership::new(store.clone(), owned_server_name!("here"));
        let mut batch = WriteBatch::new();
        other.set(&mut batch, room, ruma::user_id!("@u0:here"), &MembershipState::Leave);
        store.write(batch).await.unwrap();
        let after = membership.room_members(room).await.unwrap();
        assert_eq!((after.joined_count, after.local_joined.len()), (CACHED_FROM - 1, 49));
        assert_eq!(membership.members(room).await.unwrap().len(), CACHED_FROM, "the version is no member");
    }
}
