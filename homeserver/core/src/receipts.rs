//! Receipts (spec: "Receipts"): public `m.read`, `m.read.private` seen only
//! by their owner, each optionally per thread.

use std::collections::BTreeMap;
use std::sync::Arc;

use nexus_storage::catalog::RECEIPTS;
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, Store, WriteBatch};
use ruma::{OwnedEventId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Result;
use crate::changes::{Change, Changes};
use crate::stream::Stream;
use crate::values::{corrupt, decode, encode, now_ms};

pub const READ: &str = "m.read";
pub const READ_PRIVATE: &str = "m.read.private";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Receipt {
    event_id: OwnedEventId,
    ts: u64,
    stream_ordering: u64,
}

pub struct Receipts {
    store: Arc<dyn Store>,
    stream: Arc<Stream>,
    changes: Arc<Changes>,
}

impl Receipts {
    /// Forgets a purged room's receipts.
    pub async fn purge_room(&self, room_id: &RoomId) -> Result<()> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).build();
        crate::values::delete_prefix(self.store.as_ref(), &RECEIPTS, &prefix).await.map(drop)
    }

    pub fn new(store: Arc<dyn Store>, stream: Arc<Stream>, changes: Arc<Changes>) -> Self {
        Receipts { store, stream, changes }
    }

    /// Records a receipt; `members` are the room's local joined members,
    /// whose syncs see a public receipt (a private one only its owner's).
    /// The caller checked the event is in the room and visible.
    pub async fn set(
        &self,
        room_id: &RoomId,
        user: &UserId,
        kind: &str,
        thread_id: Option<&str>,
        event_id: &OwnedEventId,
        members: &[OwnedUserId],
    ) -> Result<()> {
        let reservation = self.stream.reserve().await?;
        let key =
            KeyBuilder::new().str(room_id.as_str()).str(kind).str(user.as_str()).str(thread_id.unwrap_or("")).build();
        let receipt = Receipt { event_id: event_id.clone(), ts: now_ms(), stream_ordering: reservation.ordering };
        let mut batch = WriteBatch::new();
        batch.put(&RECEIPTS, key, encode(&receipt));
        let change = Change::Receipt(room_id.to_owned());
        if kind == READ_PRIVATE {
            self.changes.record(&mut batch, [user], reservation.ordering, &change);
            self.store.write(batch).await?;
            drop(reservation);
            self.changes.wake([user]);
        } else {
            let topics =
                self.changes.record_in_room(&mut batch, room_id, members, &[], reservation.ordering, &change).await?;
            self.store.write(batch).await?;
            drop(reservation);
            self.changes.wake_topics(&topics);
        }
        Ok(())
    }

    /// The room's `m.receipt` ephemeral event content for `viewer`: receipts
    /// newer than `since` (all for `None`), private ones only their own.
    pub async fn for_sync(&self, room_id: &RoomId, viewer: &UserId, since: Option<u64>) -> Result<Option<Value>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).build();
        let entries = self.store.scan_prefix(&RECEIPTS, &prefix, Direction::Forward, usize::MAX).await?;
        let mut content: BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>> = BTreeMap::new();
        for (k, v) in entries {
            let receipt: Receipt = decode(&RECEIPTS, &v)?;
            if since.is_some_and(|s| receipt.stream_ordering <= s) {
                continue;
            }
            let mut reader = KeyReader::new(&k[prefix.len()..]);
            let kind = reader.str().map_err(|e| corrupt(&RECEIPTS, e))?;
            let user = reader.str().map_err(|e| corrupt(&RECEIPTS, e))?;
            let thread = reader.str().map_err(|e| corrupt(&RECEIPTS, e))?;
            if kind == READ_PRIVATE && user != viewer.as_str() {
                continue;
            }
            let mut entry = json!({ "ts": receipt.ts });
            if !thread.is_empty() {
                entry["thread_id"] = json!(thread);
            }
            content.entry(receipt.event_id.to_string()).or_default().entry(kind).or_default().insert(user, entry);
        }
        Ok((!content.is_empty()).then(|| json!({ "type": "m.receipt", "content": content })))
    }
}
