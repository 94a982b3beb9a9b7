//! The change feed: for each user, what changed for them at which stream
//! ordering. Writers add entries in the same batch as the change, so an
//! incremental sync reads exactly its user's changes since its token —
//! its cost follows what changed, not how many rooms the user is in.

use std::sync::Arc;

use nexus_storage::catalog::USER_CHANGES;
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Bus, Direction, KeyRange, Store, WriteBatch};
use ruma::{OwnedRoomId, UserId};
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

fn key(user: &UserId, ordering: u64) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).u64(ordering).build()
}

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

    /// The user's changes with `since < ordering <= until`, oldest first.
    pub async fn since(&self, user: &UserId, since: u64, until: u64) -> Result<Vec<(u64, Change)>> {
        let range = KeyRange::between(&key(user, since.saturating_add(1)), &key(user, until.saturating_add(1)));
        let entries = self.store.scan(&USER_CHANGES, range, Direction::Forward, usize::MAX).await?;
        let prefix_len = KeyBuilder::new().str(user.as_str()).build().len();
        entries
            .into_iter()
            .map(|(k, v)| {
                let ordering = KeyReader::new(&k[prefix_len..]).u64().map_err(|e| corrupt(&USER_CHANGES, e))?;
                Ok((ordering, decode(&USER_CHANGES, &v)?))
            })
            .collect()
    }
}
