//! The search feed: what the index still has to look at, kept in the store.
//!
//! An event that can change the index (a message, an edit, a redaction, a
//! room's name or topic …) is added in the same batch that persists it, so
//! an acknowledged event is never missed; the indexer deletes items only
//! after the index has committed them, so a crash (kill -9 included) costs
//! at most doing some again — and the index replaces documents by event id,
//! so doing one again never indexes it twice.

use std::sync::Arc;

use nexus_storage::catalog::SEARCH_FEED;
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, Store, WriteBatch};
use ruma::{EventId, OwnedEventId, OwnedRoomId};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::Result;
use crate::values::{corrupt, decode, encode};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum FeedItem {
    Event(OwnedEventId),
    PurgeRoom(OwnedRoomId),
}

/// The event types whose arrival can change what search finds.
pub fn concerns(kind: &str) -> bool {
    super::documents::INDEXED_TYPES.contains(&kind) || kind == "m.room.redaction"
}

pub struct Feed {
    store: Arc<dyn Store>,
    wake: Notify,
}

impl Feed {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Feed { store, wake: Notify::new() }
    }

    /// Adds an event persisted in `batch` at `ordering`.
    pub fn enqueue_event(&self, batch: &mut WriteBatch, ordering: u64, kind: &str, event_id: &EventId) {
        if concerns(kind) {
            self.put(batch, ordering, &FeedItem::Event(event_id.to_owned()));
        }
    }

    pub(super) fn put(&self, batch: &mut WriteBatch, key: u64, item: &FeedItem) {
        batch.put(&SEARCH_FEED, KeyBuilder::new().u64(key).build(), encode(item));
    }

    /// Tells the indexer there is work (after the batch is written).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(super) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// The oldest `limit` items.
    pub(super) async fn oldest(&self, limit: usize) -> Result<Vec<(u64, FeedItem)>> {
        let entries = self.store.scan(&SEARCH_FEED, KeyRange::all(), Direction::Forward, limit).await?;
        entries
            .into_iter()
            .map(|(key, value)| {
                let ordering = KeyReader::new(&key).u64().map_err(|e| corrupt(&SEARCH_FEED, e))?;
                Ok((ordering, decode(&SEARCH_FEED, &value)?))
            })
            .collect()
    }

    pub(super) async fn write(&self, batch: WriteBatch) -> Result<()> {
        Ok(self.store.write(batch).await?)
    }

    /// Forgets items the index has committed.
    pub(super) async fn done(&self, keys: &[u64]) -> Result<()> {
        let mut batch = WriteBatch::new();
        for key in keys {
            batch.delete(&SEARCH_FEED, KeyBuilder::new().u64(*key).build());
        }
        Ok(self.store.write(batch).await?)
    }
}
