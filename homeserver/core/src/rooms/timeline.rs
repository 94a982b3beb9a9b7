//! The timeline: every event this server holds, and each room's events in
//! stream order (the order this server received them, which sync and
//! pagination use).

use std::ops::Bound;
use std::sync::Arc;

use nexus_storage::catalog::{EVENT_TRANSACTIONS, EVENTS, ROOM_BUMPS, ROOM_EVENT_TIMES, ROOM_TIMELINE};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, Store, WriteBatch};
use ruma::canonical_json::CanonicalJsonObject;
use ruma::{DeviceId, EventId, OwnedEventId, OwnedRoomId, RoomId};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::values::{decode, encode};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The PDU's canonical JSON, as signed; redacted in place once redacted.
    pub json: String,
    pub room_id: OwnedRoomId,
    pub stream_ordering: u64,
    /// The room's state snapshot right after this event.
    pub state_snapshot: u64,
    pub reference_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_by: Option<OwnedEventId>,
    /// The device and transaction id the sender used, echoed to that
    /// device as `unsigned.transaction_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<(String, String)>,
    /// Known only as part of a room's state or auth chain (from another
    /// server), or soft-failed: not in the timeline, and its
    /// `stream_ordering` and `state_snapshot` mean nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outlier: bool,
    /// The state event this one replaced (same type and state key, in the
    /// state before it), served as `unsigned.replaces_state` and
    /// `prev_content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces_state: Option<OwnedEventId>,
}

impl StoredEvent {
    pub fn object(&self) -> Result<CanonicalJsonObject> {
        serde_json::from_str(&self.json).map_err(|e| nexus_storage::Error::corrupt(EVENTS.name, e).into())
    }
}

/// The event types that move a room up a sliding sync list (`bump_stamp`),
/// as the clients and Synapse use them: not profile changes or reactions.
pub const BUMP_TYPES: [&str; 7] = [
    "m.room.create",
    "m.room.message",
    "m.room.encrypted",
    "m.sticker",
    "m.call.invite",
    "m.poll.start",
    "m.beacon_info",
];

pub struct Timeline {
    store: Arc<dyn Store>,
    /// Recently read events. Events never change once stored, except when
    /// redacted, and a redaction forgets the cached copy once it commits.
    /// (Several workers on one database will need the bus to forget
    /// redacted events in each other's caches.)
    cache: std::sync::Mutex<std::collections::HashMap<OwnedEventId, StoredEvent>>,
}

/// Cached events; past this the cache starts over (cheaper than an LRU).
const CACHE_ENTRIES: usize = 20_000;

fn timeline_key(room_id: &RoomId, stream_ordering: u64) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).u64(stream_ordering).build()
}

fn transaction_key(localpart: &str, device_id: &DeviceId, txn_id: &str) -> Vec<u8> {
    KeyBuilder::new().str(localpart).str(device_id.as_str()).str(txn_id).build()
}

impl Timeline {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Timeline { store, cache: Default::default() }
    }

    pub async fn get(&self, event_id: &EventId) -> Result<Option<StoredEvent>> {
        // In a cluster another process may redact the event: no cache.
        let cached = self.store.cluster().is_none();
        if cached && let Some(event) = self.cache.lock().expect("event cache poisoned").get(event_id) {
            return Ok(Some(event.clone()));
        }
        let bytes = self.store.get(&EVENTS, event_id.as_str().as_bytes()).await?;
        let event: Option<StoredEvent> = bytes.map(|b| decode(&EVENTS, &b)).transpose()?;
        if cached && let Some(event) = &event {
            let mut cache = self.cache.lock().expect("event cache poisoned");
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(event_id.to_owned(), event.clone());
        }
        Ok(event)
    }

    /// Drops a cached event whose stored copy changed (after the change
    /// committed).
    pub fn forget(&self, event_id: &EventId) {
        self.cache.lock().expect("event cache poisoned").remove(event_id);
    }

    /// Adds an event to `batch`: stored, and placed in its room's timeline
    /// and time index.
    pub fn append(&self, batch: &mut WriteBatch, event_id: &EventId, event: &StoredEvent, origin_server_ts: u64) {
        batch.put(&EVENTS, event_id.as_str().as_bytes(), encode(event));
        batch.put(&ROOM_TIMELINE, timeline_key(&event.room_id, event.stream_ordering), encode(&event_id));
        let time_key =
            KeyBuilder::new().str(event.room_id.as_str()).u64(origin_server_ts).u64(event.stream_ordering).build();
        batch.put(&ROOM_EVENT_TIMES, time_key, encode(&event_id));
    }

    /// Records a live event (never a backfilled one) that moves its room
    /// up a sliding sync list, when its type is one of [`BUMP_TYPES`].
    /// Live orderings only grow within a room, so the newest write wins.
    pub fn bump(&self, batch: &mut WriteBatch, room_id: &RoomId, stream_ordering: u64, kind: &str) {
        if BUMP_TYPES.contains(&kind) {
            batch.put(&ROOM_BUMPS, room_id.as_str().as_bytes(), encode(&stream_ordering));
        }
    }

    /// The stream ordering of the room's newest [`BUMP_TYPES`] event, when
    /// recorded (rooms from before the index have none).
    pub async fn latest_bump(&self, room_id: &RoomId) -> Result<Option<u64>> {
        let bytes = self.store.get(&ROOM_BUMPS, room_id.as_str().as_bytes()).await?;
        bytes.map(|b| decode(&ROOM_BUMPS, &b)).transpose()
    }

    /// Events by `origin_server_ts`, from `ts` on in `direction` (inclusive),
    /// as `(ts, event id)`.
    pub async fn by_time(
        &self,
        room_id: &RoomId,
        ts: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<(u64, OwnedEventId)>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).build();
        let mut range = KeyRange::prefix(&prefix);
        match direction {
            Direction::Forward => {
                range.start = Bound::Included(KeyBuilder::new().str(room_id.as_str()).u64(ts).build())
            }
            Direction::Backward => {
                range.end = Bound::Excluded(KeyBuilder::new().str(room_id.as_str()).u64(ts.saturating_add(1)).build())
            }
        }
        let entries = self.store.scan(&ROOM_EVENT_TIMES, range, direction, limit).await?;
        entries
            .into_iter()
            .map(|(key, value)| {
                let ts = KeyReader::new(&key[prefix.len()..])
                    .u64()
                    .map_err(|e| nexus_storage::Error::corrupt(ROOM_EVENT_TIMES.name, e))?;
                Ok((ts, decode(&ROOM_EVENT_TIMES, &value)?))
            })
            .collect()
    }

    /// Adds the replacement of a stored event (its redaction) to `batch`.
    pub fn replace(&self, batch: &mut WriteBatch, event_id: &EventId, event: &StoredEvent) {
        batch.put(&EVENTS, event_id.as_str().as_bytes(), encode(event));
    }

    pub async fn transaction(
        &self,
        localpart: &str,
        device_id: &DeviceId,
        txn_id: &str,
    ) -> Result<Option<OwnedEventId>> {
        let bytes = self.store.get(&EVENT_TRANSACTIONS, &transaction_key(localpart, device_id, txn_id)).await?;
        bytes.map(|b| decode(&EVENT_TRANSACTIONS, &b)).transpose()
    }

    pub fn record_transaction(
        &self,
        batch: &mut WriteBatch,
        localpart: &str,
        device_id: &DeviceId,
        txn_id: &str,
        event_id: &EventId,
    ) {
        batch.put(&EVENT_TRANSACTIONS, transaction_key(localpart, device_id, txn_id), encode(&event_id));
    }

    /// Up to `limit` of a room's events from position `from` on, in
    /// `direction`. A position sits just before the event with that stream
    /// ordering: backwards yields orderings `< from`, forwards `>= from`.
    pub async fn page(
        &self,
        room_id: &RoomId,
        from: Option<u64>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<(u64, OwnedEventId)>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).build();
        let mut range = KeyRange::prefix(&prefix);
        if let Some(from) = from {
            match direction {
                Direction::Forward => range.start = Bound::Included(timeline_key(room_id, from)),
                Direction::Backward => range.end = Bound::Excluded(timeline_key(room_id, from)),
            }
        }
        let entries = self.store.scan(&ROOM_TIMELINE, range, direction, limit).await?;
        entries
            .into_iter()
            .map(|(key, value)| {
                let ordering = KeyReader::new(&key[prefix.len()..])
                    .u64()
                    .map_err(|e| nexus_storage::Error::corrupt(ROOM_TIMELINE.name, e))?;
                Ok((ordering, decode(&ROOM_TIMELINE, &value)?))
            })
            .collect()
    }
}
