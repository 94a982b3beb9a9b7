//! Who is in which room: the membership indexes, kept in step with the
//! `m.room.member` state so that "my rooms" and "its members" are a prefix
//! scan, not a walk over state.
//!
//! Every event of a room reads its members (who gets it, who is notified,
//! which servers), so a big room's list is kept in memory. Each batch that
//! changes a room's members also writes a new random version beside them,
//! naming the version it follows and (when few) its changes. The cached
//! list is used while the stored version is the one it was read at, or
//! brought forward by the changes when it is the one before; otherwise it
//! is read again. So it is never stale, in a cluster too, and a join to a
//! big room costs the join, not a read of every member.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use nexus_storage::catalog::{ROOM_MEMBERS, USER_ROOMS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, Store, WriteBatch, WriteOp};
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

/// The version of a room's members, written with each change to them.
#[derive(Debug, Serialize, Deserialize)]
struct Version {
    id: u64,
    /// The version the batch that wrote this one followed.
    previous: Option<u64>,
    /// What that batch changed; `None` when too many to keep here.
    changes: Option<Vec<(OwnedUserId, MembershipState)>>,
}

/// A batch changing more members than this leaves them out of its version.
const CHANGES_KEPT: usize = 64;

pub struct Membership {
    store: Arc<dyn Store>,
    server_name: OwnedServerName,
    /// Big rooms' members, with the version they were read at.
    cached: Mutex<HashMap<OwnedRoomId, Cached>>,
}

/// A room's members, and what its events need from them.
#[derive(Debug, Default, Clone)]
pub struct RoomMembers {
    /// Every user with a membership, and which.
    all: BTreeMap<OwnedUserId, MembershipState>,
    pub joined_count: usize,
    /// The joined members on this server.
    local_joined: Vec<OwnedUserId>,
    /// Where each is in `local_joined`.
    local_index: HashMap<OwnedUserId, usize>,
    /// The servers with joined members, and how many each.
    joined_servers: BTreeMap<OwnedServerName, usize>,
}

impl RoomMembers {
    fn new(all: Vec<(OwnedUserId, MembershipState)>, local: &ServerName) -> Self {
        let mut members = RoomMembers::default();
        for (user, membership) in all {
            members.apply(&user, &membership, local);
        }
        members
    }

    /// Sets one user's membership.
    fn apply(&mut self, user: &UserId, membership: &MembershipState, local: &ServerName) {
        let was_joined = self.all.insert(user.to_owned(), membership.clone()) == Some(MembershipState::Join);
        let joined = *membership == MembershipState::Join;
        if was_joined == joined {
            return;
        }
        let server = user.server_name();
        if joined {
            self.joined_count += 1;
            *self.joined_servers.entry(server.to_owned()).or_default() += 1;
            if server == local {
                self.local_index.insert(user.to_owned(), self.local_joined.len());
                self.local_joined.push(user.to_owned());
            }
        } else {
            self.joined_count -= 1;
            if let Some(count) = self.joined_servers.get_mut(server) {
                *count -= 1;
                if *count == 0 {
                    self.joined_servers.remove(server);
                }
            }
            if let Some(at) = self.local_index.remove(user) {
                self.local_joined.swap_remove(at);
                if let Some(moved) = self.local_joined.get(at) {
                    self.local_index.insert(moved.clone(), at);
                }
            }
        }
    }

    /// Every user with a membership, and which.
    pub fn all(&self) -> impl Iterator<Item = (&OwnedUserId, &MembershipState)> {
        self.all.iter()
    }

    /// The joined members on this server.
    pub fn local_joined(&self) -> &[OwnedUserId] {
        &self.local_joined
    }

    pub fn is_local_joined(&self, user: &UserId) -> bool {
        self.local_index.contains_key(user)
    }

    /// The servers with joined members.
    pub fn joined_servers(&self) -> impl Iterator<Item = &OwnedServerName> {
        self.joined_servers.keys()
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

fn user_room_key(user_id: &UserId, room_id: &RoomId) -> Vec<u8> {
    KeyBuilder::new().str(user_id.as_str()).str(room_id.as_str()).build()
}

/// Where a room's members' version is kept: an empty user, sorting first.
fn version_key(room_id: &RoomId) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).str("").build()
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

    /// Adds a membership change to `batch`, with the members' new version.
    /// A new membership un-forgets.
    pub async fn set(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        user_id: &UserId,
        membership: &MembershipState,
    ) -> Result<()> {
        batch.put(&ROOM_MEMBERS, member_key(room_id, user_id), encode(membership));
        let key = version_key(room_id);
        // A version this batch already writes is replaced: the batch moves
        // the members from the version before it.
        let pending = batch.ops().iter().rev().find_map(|op| match op {
            WriteOp::Put { map, key: k, value } if map.name == ROOM_MEMBERS.name && *k == key => Some(value.clone()),
            _ => None,
        });
        let mut version = match pending {
            Some(bytes) => decode::<Version>(&ROOM_MEMBERS, &bytes)?,
            None => {
                let stored = self.version(room_id).await?;
                Version { id: 0, previous: stored.map(|v| v.id), changes: Some(Vec::new()) }
            }
        };
        version.id = rand::random();
        if let Some(changes) = &mut version.changes {
            changes.push((user_id.to_owned(), membership.clone()));
            if changes.len() > CHANGES_KEPT {
                version.changes = None;
            }
        }
        batch.put(&ROOM_MEMBERS, key, encode(&version));
        let record = UserRoom { membership: membership.clone(), forgotten: false };
        batch.put(&USER_ROOMS, user_room_key(user_id, room_id), encode(&record));
        Ok(())
    }

    async fn version(&self, room_id: &RoomId) -> Result<Option<Version>> {
        let bytes = self.store.get(&ROOM_MEMBERS, &version_key(room_id)).await?;
        bytes.map(|b| decode(&ROOM_MEMBERS, &b)).transpose()
    }

    pub async fn members(&self, room_id: &RoomId) -> Result<Vec<(OwnedUserId, MembershipState)>> {
        Ok(self.room_members(room_id).await?.all().map(|(u, m)| (u.clone(), m.clone())).collect())
    }

    /// The room's members, from memory when their version allows.
    pub async fn room_members(&self, room_id: &RoomId) -> Result<Arc<RoomMembers>> {
        let version = self.version(room_id).await?;
        let id = version.as_ref().map(|v| v.id);
        {
            let mut cached = self.cached.lock().expect("members cache poisoned");
            if let Some((cached_id, members)) = cached.get(room_id) {
                if *cached_id == id {
                    return Ok(members.clone());
                }
                // One batch on from the cached version: its changes bring
                // the list forward.
                if let Some(Version { id, previous: Some(previous), changes: Some(changes) }) = &version
                    && *cached_id == Some(*previous)
                    && let Some((_, members)) = cached.remove(room_id)
                {
                    let mut members = Arc::unwrap_or_clone(members);
                    for (user, membership) in changes {
                        members.apply(user, membership, &self.server_name);
                    }
                    let members = Arc::new(members);
                    cached.insert(room_id.to_owned(), (Some(*id), members.clone()));
                    return Ok(members);
                }
            }
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
            cached.insert(room_id.to_owned(), (id, members.clone()));
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
    use ruma::{owned_server_name, room_id};

    use super::*;

    #[tokio::test]
    async fn a_cached_member_list_follows_every_change() {
        let (store, _dir) = crate::testing::temp_store().await;
        let membership = Membership::new(store.clone(), owned_server_name!("here"));
        let room = room_id!("!r:here");
        let mut batch = WriteBatch::new();
        for i in 0..CACHED_FROM {
            let server = if i % 2 == 0 { "here" } else { "there" };
            let user = OwnedUserId::try_from(format!("@u{i}:{server}")).unwrap();
            membership.set(&mut batch, room, &user, &MembershipState::Join).await.unwrap();
        }
        store.write(batch).await.unwrap();
        let first = membership.room_members(room).await.unwrap();
        assert_eq!((first.joined_count, first.local_joined.len(), first.joined_servers.len()), (CACHED_FROM, 50, 2));
        assert_eq!(first.all().count(), CACHED_FROM);
        assert!(Arc::ptr_eq(&first, &membership.room_members(room).await.unwrap()), "kept in memory");

        // A second handle on the store (another process) changes it.
        let other = Membership::new(store.clone(), owned_server_name!("here"));
        let mut batch = WriteBatch::new();
        other.set(&mut batch, room, ruma::user_id!("@u0:here"), &MembershipState::Leave).await.unwrap();
        other.set(&mut batch, room, ruma::user_id!("@new:here"), &MembershipState::Join).await.unwrap();
        store.write(batch).await.unwrap();
        let after = membership.room_members(room).await.unwrap();
        assert_eq!((after.joined_count, after.local_joined.len()), (CACHED_FROM, 50));
        assert!(
            after.local_joined().iter().any(|u| u == "@new:here")
                && !after.local_joined().iter().any(|u| u == "@u0:here")
        );
        assert_eq!(membership.members(room).await.unwrap().len(), CACHED_FROM + 1, "the version is no member");
        assert!(Arc::ptr_eq(&after, &membership.room_members(room).await.unwrap()));

        // Two batches on: read again, the same.
        for user in ["@a:there", "@b:there"] {
            let mut batch = WriteBatch::new();
            other.set(&mut batch, room, ruma::user_id!("@u2:here"), &MembershipState::Ban).await.unwrap();
            other.set(&mut batch, room, &OwnedUserId::try_from(user).unwrap(), &MembershipState::Join).await.unwrap();
            store.write(batch).await.unwrap();
        }
        let later = membership.room_members(room).await.unwrap();
        assert_eq!(
            (later.joined_count, later.local_joined.len(), later.joined_servers.len()),
            (CACHED_FROM + 1, 49, 2)
        );
    }
}
