//! What waits to be sent to other servers. PDUs and durable EDUs are
//! written in the same batch as the change that caused them, keyed by
//! destination and a stream ordering, so nothing acknowledged to a client is
//! lost before another server has it, and each destination receives in
//! order. Ephemeral EDUs (typing) only live in memory.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use nexus_storage::catalog::FEDERATION_OUTBOX;
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, Store, WriteBatch};
use ruma::{OwnedServerName, ServerName};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;

use crate::Result;
use crate::stream::Stream;
use crate::values::{decode, encode};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Item {
    Pdu(Value),
    Edu(Value),
}

/// The bus topic on which the process running the senders hears that
/// another process of the cluster queued work.
pub const OUTBOX_TOPIC: &str = "\u{1}federation-outbox";

/// Typing notifications kept per destination while it is unreachable.
const MAX_EPHEMERAL: usize = 100;

pub struct Outbox {
    store: Arc<dyn Store>,
    stream: Arc<Stream>,
    /// One wake-up per destination with a sender task.
    wakers: Mutex<HashMap<OwnedServerName, Arc<Notify>>>,
    ephemeral: Mutex<HashMap<OwnedServerName, VecDeque<Value>>>,
    /// Destinations written to since the sender last looked (a set: in a
    /// cluster, a process whose senders do not run keeps adding).
    pending: Mutex<BTreeSet<OwnedServerName>>,
    /// Wakes the sender's dispatcher.
    pub(super) dispatch: Notify,
}

fn item_key(destination: &ServerName, sequence: u64) -> Vec<u8> {
    KeyBuilder::new().str(destination.as_str()).u64(sequence).build()
}

impl Outbox {
    pub fn new(store: Arc<dyn Store>, stream: Arc<Stream>) -> Self {
        Outbox {
            store,
            stream,
            wakers: Mutex::default(),
            ephemeral: Mutex::default(),
            pending: Mutex::default(),
            dispatch: Notify::new(),
        }
    }

    /// Adds an item for each destination to `batch`; call [`Outbox::wake`]
    /// once the batch is written.
    pub fn enqueue(&self, batch: &mut WriteBatch, destinations: &[OwnedServerName], sequence: u64, item: &Item) {
        let bytes = encode(item);
        for destination in destinations {
            batch.put(&FEDERATION_OUTBOX, item_key(destination, sequence), bytes.clone());
        }
    }

    /// Stores an EDU for each destination on its own (not part of a
    /// larger change) and wakes their senders.
    pub async fn send_durable(&self, destinations: &[OwnedServerName], edu: Value) -> Result<()> {
        if destinations.is_empty() {
            return Ok(());
        }
        let reservation = self.stream.reserve().await?;
        let mut batch = WriteBatch::new();
        self.enqueue(&mut batch, destinations, reservation.ordering, &Item::Edu(edu));
        self.store.write(batch).await?;
        drop(reservation);
        self.wake(destinations);
        Ok(())
    }

    /// A typing notification: sent once if the destination is up, never
    /// stored.
    pub fn enqueue_ephemeral(&self, destinations: &[OwnedServerName], edu: Value) {
        let mut ephemeral = self.ephemeral.lock().expect("outbox poisoned");
        for destination in destinations {
            let queue = ephemeral.entry(destination.clone()).or_default();
            if queue.len() >= MAX_EPHEMERAL {
                queue.pop_front();
            }
            queue.push_back(edu.clone());
        }
        drop(ephemeral);
        self.wake(destinations);
    }

    /// Tells the senders of `destinations` that there is work (in a
    /// cluster, the process that runs them may be another).
    pub fn wake(&self, destinations: &[OwnedServerName]) {
        if destinations.is_empty() {
            return;
        }
        self.stream.wake_others(&[OUTBOX_TOPIC]);
        self.wake_here(destinations);
    }

    fn wake_here(&self, destinations: &[OwnedServerName]) {
        let wakers = self.wakers.lock().expect("outbox poisoned");
        let mut new = Vec::new();
        for destination in destinations {
            match wakers.get(destination) {
                Some(notify) => notify.notify_one(),
                None => new.push(destination.clone()),
            }
        }
        drop(wakers);
        if !new.is_empty() {
            self.pending.lock().expect("outbox poisoned").extend(new);
            self.dispatch.notify_one();
        }
    }

    /// Wakes the sender of every destination with stored items, starting
    /// the ones not running (another process of the cluster queued them).
    pub(super) async fn wake_stored(&self) -> Result<()> {
        let destinations = self.destinations().await?;
        self.wake_here(&destinations);
        Ok(())
    }

    /// Registers a sender task for `destination`; `None` if one exists.
    pub(super) fn claim(&self, destination: &ServerName) -> Option<Arc<Notify>> {
        let mut wakers = self.wakers.lock().expect("outbox poisoned");
        if wakers.contains_key(destination) {
            return None;
        }
        let notify = Arc::new(Notify::new());
        wakers.insert(destination.to_owned(), notify.clone());
        Some(notify)
    }

    pub(super) fn take_pending(&self) -> BTreeSet<OwnedServerName> {
        std::mem::take(&mut *self.pending.lock().expect("outbox poisoned"))
    }

    pub(super) fn stream(&self) -> &Stream {
        &self.stream
    }

    /// Every destination with stored items (at start-up).
    pub(super) async fn destinations(&self) -> Result<Vec<OwnedServerName>> {
        let mut found = Vec::new();
        let mut range = KeyRange::all();
        loop {
            let entries = self.store.scan(&FEDERATION_OUTBOX, range.clone(), Direction::Forward, 1).await?;
            let Some((key, _)) = entries.into_iter().next() else { break };
            let destination =
                KeyReader::new(&key).str().map_err(|e| nexus_storage::Error::corrupt(FEDERATION_OUTBOX.name, e))?;
            let Ok(name) = OwnedServerName::try_from(destination.as_str()) else { break };
            // Skip past every key of this destination.
            range.start = std::ops::Bound::Included(KeyBuilder::new().str(&destination).u64(u64::MAX).build());
            found.push(name);
        }
        Ok(found)
    }

    /// The oldest stored items for a destination: `(sequence, item)`.
    pub(super) async fn peek(&self, destination: &ServerName, limit: usize) -> Result<Vec<(u64, Item)>> {
        let prefix = KeyBuilder::new().str(destination.as_str()).build();
        let entries = self.store.scan_prefix(&FEDERATION_OUTBOX, &prefix, Direction::Forward, limit).await?;
        entries
            .into_iter()
            .map(|(key, value)| {
                let sequence = KeyReader::new(&key[prefix.len()..])
                    .u64()
                    .map_err(|e| nexus_storage::Error::corrupt(FEDERATION_OUTBOX.name, e))?;
                Ok((sequence, decode(&FEDERATION_OUTBOX, &value)?))
            })
            .collect()
    }

    pub(super) fn take_ephemeral(&self, destination: &ServerName) -> Vec<Value> {
        let mut ephemeral = self.ephemeral.lock().expect("outbox poisoned");
        ephemeral.remove(destination).map(Vec::from).unwrap_or_default()
    }

    /// Forgets items the destination has acknowledged.
    pub(super) async fn remove(&self, destination: &ServerName, sequences: &[u64]) -> Result<()> {
        let mut batch = WriteBatch::new();
        for sequence in sequences {
            batch.delete(&FEDERATION_OUTBOX, item_key(destination, *sequence));
        }
        Ok(self.store.write(batch).await?)
    }
}

/// Groups destinations for logging.
pub fn describe(destinations: &[OwnedServerName]) -> String {
    let names: BTreeMap<&str, ()> = destinations.iter().map(|d| (d.as_str(), ())).collect();
    names.keys().copied().collect::<Vec<_>>().join(", ")
}
