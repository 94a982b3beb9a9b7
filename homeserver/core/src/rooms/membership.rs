//! Who is in which room: the membership indexes, kept in step with the
//! `m.room.member` state so that "my rooms" and "its members" are a prefix
//! scan, not a walk over state.

use std::sync::Arc;

use nexus_storage::catalog::{ROOM_MEMBERS, USER_ROOMS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, Store, WriteBatch};
use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
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
}

fn member_key(room_id: &RoomId, user_id: &UserId) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).str(user_id.as_str()).build()
}

fn user_room_key(user_id: &UserId, room_id: &RoomId) -> Vec<u8> {
    KeyBuilder::new().str(user_id.as_str()).str(room_id.as_str()).build()
}

impl Membership {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Membership { store }
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
        let record = UserRoom { membership: membership.clone(), forgotten: false };
        batch.put(&USER_ROOMS, user_room_key(user_id, room_id), encode(&record));
    }

    pub async fn members(&self, room_id: &RoomId) -> Result<Vec<(OwnedUserId, MembershipState)>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).build();
        let entries = self.store.scan_prefix(&ROOM_MEMBERS, &prefix, Direction::Forward, usize::MAX).await?;
        entries
            .into_iter()
            .map(|(key, value)| {
                let user = KeyReader::new(&key[prefix.len()..]).str().map_err(|e| corrupt(&ROOM_MEMBERS, e))?;
                let user = OwnedUserId::try_from(user).map_err(|e| corrupt(&ROOM_MEMBERS, e))?;
                Ok((user, decode(&ROOM_MEMBERS, &value)?))
            })
            .collect()
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
