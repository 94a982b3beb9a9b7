//! A sliding sync connection's persisted state. Each response hands out a
//! `pos` and stores, under it, what the client then has; a request names
//! the `pos` it continues from. Resending a `pos` (after a cancelled
//! request) starts from the same stored state, so nothing is skipped.
//! Using `pos` N drops the states before N: the client has moved past them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use nexus_storage::catalog::SLIDING_SYNC_CONNECTIONS;
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, Store, WriteBatch};
use ruma::{DeviceId, OwnedRoomId, UserId};
use serde::{Deserialize, Serialize};

use super::rooms::Facts;
use crate::values::{corrupt, decode, encode, now_ms};
use crate::{Error, Result};

/// What one response left the client with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Connection {
    /// When the response was made (milliseconds since the epoch).
    pub created_ms: u64,
    /// Chosen at random when the connection starts (a request without
    /// `pos`), part of every `pos` it hands out: a `pos` of an earlier
    /// start of the same `conn_id` never names a state of a later one.
    #[serde(default)]
    pub generation: u64,
    /// Room data was delivered up to this stream ordering; `None` before
    /// the first response.
    pub stream: Option<u64>,
    /// The typing serial at that response.
    #[serde(default)]
    pub typing: u64,
    /// Each list's `count` as last sent.
    #[serde(default)]
    pub lists: BTreeMap<String, u64>,
    /// Distinct `required_state` configurations, referenced by index.
    #[serde(default)]
    pub configs: Vec<Vec<(String, String)>>,
    /// The rooms the client holds, and how they were sent.
    #[serde(default)]
    pub rooms: BTreeMap<OwnedRoomId, RoomSent>,
    /// Every room the lists may show, with what they sort and filter by,
    /// as of `stream`: the next request reads only the rooms the change
    /// feed names since then. `None` when the request had no lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<BTreeMap<OwnedRoomId, Facts>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoomSent {
    pub timeline_limit: u64,
    /// Index into [`Connection::configs`].
    pub config: usize,
    /// Members sent for `$LAZY`.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub lazy_members: BTreeSet<String>,
    /// `(notification_count, highlight_count)` as last sent.
    pub counts: (u64, u64),
    /// The user's membership as last sent.
    pub membership: String,
}

impl Connection {
    pub fn config(&self, index: usize) -> &[(String, String)] {
        self.configs.get(index).map(Vec::as_slice).unwrap_or_default()
    }

    /// The index of `config`, added when new.
    pub fn config_index(&mut self, config: &[(String, String)]) -> usize {
        if let Some(i) = self.configs.iter().position(|c| c == config) {
            return i;
        }
        self.configs.push(config.to_vec());
        self.configs.len() - 1
    }

    /// Drops configurations no room uses any more.
    pub fn compact(&mut self) {
        let used: BTreeSet<usize> = self.rooms.values().map(|r| r.config).collect();
        let mut remap = BTreeMap::new();
        let mut kept = Vec::new();
        for (i, config) in std::mem::take(&mut self.configs).into_iter().enumerate() {
            if used.contains(&i) {
                remap.insert(i, kept.len());
                kept.push(config);
            }
        }
        self.configs = kept;
        for room in self.rooms.values_mut() {
            room.config = remap[&room.config];
        }
    }
}

pub struct Connections {
    store: Arc<dyn Store>,
    idle_ms: u64,
}

fn prefix(user: &UserId, device: &DeviceId, conn_id: &str) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(device.as_str()).str(conn_id).build()
}

fn generation_prefix(user: &UserId, device: &DeviceId, conn_id: &str, generation: u64) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(device.as_str()).str(conn_id).u64(generation).build()
}

fn key(user: &UserId, device: &DeviceId, conn_id: &str, generation: u64, pos: u64) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(device.as_str()).str(conn_id).u64(generation).u64(pos).build()
}

fn lock_name(user: &UserId, device: &DeviceId, conn_id: &str) -> Vec<u8> {
    [b"sliding_sync:".as_slice(), &prefix(user, device, conn_id)].concat()
}

/// `pos` as handed out: `<number>_<generation>`.
fn parse_pos(pos: &str) -> Option<(u64, u64)> {
    let (number, generation) = pos.split_once('_')?;
    Some((number.parse().ok()?, generation.parse().ok()?))
}

fn unknown_pos() -> Error {
    Error::UnknownPos("unknown or expired pos; start over without one".to_owned())
}

impl Connections {
    pub fn new(store: Arc<dyn Store>, idle_ms: u64) -> Self {
        Connections { store, idle_ms }
    }

    /// The state stored under `pos`, or `M_UNKNOWN_POS`.
    pub async fn load(&self, user: &UserId, device: &DeviceId, conn_id: &str, pos: &str) -> Result<(u64, Connection)> {
        let Some((number, generation)) = parse_pos(pos) else { return Err(unknown_pos()) };
        let stored = self.store.get(&SLIDING_SYNC_CONNECTIONS, &key(user, device, conn_id, generation, number)).await?;
        let Some(bytes) = stored else { return Err(unknown_pos()) };
        let connection: Connection = decode(&SLIDING_SYNC_CONNECTIONS, &bytes)?;
        if now_ms().saturating_sub(connection.created_ms) > self.idle_ms {
            self.forget(user, device, conn_id).await?;
            return Err(unknown_pos());
        }
        Ok((number, connection))
    }

    /// Forgets a connection (a request without `pos` starts it over).
    pub async fn forget(&self, user: &UserId, device: &DeviceId, conn_id: &str) -> Result<()> {
        let _guard = self.store.lock(&lock_name(user, device, conn_id)).await?;
        let entries = self
            .store
            .scan_prefix(&SLIDING_SYNC_CONNECTIONS, &prefix(user, device, conn_id), Direction::Forward, usize::MAX)
            .await?;
        if entries.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        for (k, _) in entries {
            batch.delete(&SLIDING_SYNC_CONNECTIONS, k);
        }
        Ok(self.store.write(batch).await?)
    }

    /// Stores `connection` under a new `pos` of its generation and drops
    /// the states before `used` (the `pos` the request continued from).
    /// Returns the new `pos`.
    pub async fn save(
        &self,
        user: &UserId,
        device: &DeviceId,
        conn_id: &str,
        used: Option<u64>,
        connection: &Connection,
    ) -> Result<String> {
        let generation = connection.generation;
        let prefix = generation_prefix(user, device, conn_id, generation);
        let _guard = self.store.lock(&lock_name(user, device, conn_id)).await?;
        // The connection started over (a request without `pos`) while this
        // request ran: its state is gone, and so is the position it continued.
        if let Some(used) = used
            && self.store.get(&SLIDING_SYNC_CONNECTIONS, &key(user, device, conn_id, generation, used)).await?.is_none()
        {
            return Err(unknown_pos());
        }
        let newest = self.store.scan_prefix(&SLIDING_SYNC_CONNECTIONS, &prefix, Direction::Backward, 1).await?;
        let last = match newest.first() {
            Some((k, _)) => {
                KeyReader::new(&k[prefix.len()..]).u64().map_err(|e| corrupt(&SLIDING_SYNC_CONNECTIONS, e))?
            }
            None => 0,
        };
        let pos = last + 1;
        let mut batch = WriteBatch::new();
        if let Some(used) = used {
            let old = KeyRange::between(&prefix, &key(user, device, conn_id, generation, used));
            for (k, _) in self.store.scan(&SLIDING_SYNC_CONNECTIONS, old, Direction::Forward, usize::MAX).await? {
                batch.delete(&SLIDING_SYNC_CONNECTIONS, k);
            }
        }
        batch.put(&SLIDING_SYNC_CONNECTIONS, key(user, device, conn_id, generation, pos), encode(connection));
        self.store.write(batch).await?;
        Ok(format!("{pos}_{generation}"))
    }

    /// Drops every connection state older than the idle period.
    pub async fn expire(&self) -> Result<usize> {
        let now = now_ms();
        let entries =
            self.store.scan(&SLIDING_SYNC_CONNECTIONS, KeyRange::all(), Direction::Forward, usize::MAX).await?;
        let mut batch = WriteBatch::new();
        let mut dropped = 0;
        for (k, v) in entries {
            let connection: Connection = decode(&SLIDING_SYNC_CONNECTIONS, &v)?;
            if now.saturating_sub(connection.created_ms) > self.idle_ms {
                batch.delete(&SLIDING_SYNC_CONNECTIONS, k);
                dropped += 1;
            }
        }
        if !batch.is_empty() {
            self.store.write(batch).await?;
        }
        Ok(dropped)
    }
}
