//! The durable per-appservice queue. What an appservice must receive is
//! written in the same batch as the change that caused it, so an
//! acknowledged event reaches the appservice even across a `kill -9`. The
//! sender moves up to a transaction's worth of items into the one
//! transaction in flight (in one batch), and that transaction is resent
//! unchanged — same id, same body — until the appservice answers 200.

use std::sync::Arc;

use nexus_storage::catalog::{APPSERVICE_QUEUE, APPSERVICE_SEQUENCE, APPSERVICE_TRANSACTIONS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, Store, WriteBatch};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Result;
use crate::values::{corrupt, decode, encode};

/// Spec-less but conventional limits (Synapse sends at most 100 events and
/// 100 ephemeral events per transaction).
const EVENTS_PER_TRANSACTION: usize = 100;
const EPHEMERAL_PER_TRANSACTION: usize = 100;
const TO_DEVICE_PER_TRANSACTION: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "body")]
pub enum Item {
    /// A room event in the client format.
    Event(Value),
    /// Typing, receipts, presence (MSC2409).
    Ephemeral(Value),
    /// A to-device message for one of the appservice's users (MSC2409).
    ToDevice(Value),
    /// MSC3202: this user's device list changed.
    DeviceListChanged(String),
    /// MSC3202: the appservice's users no longer share a room with this user.
    DeviceListLeft(String),
}

/// The transaction in flight.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transaction {
    pub txn_id: String,
    pub body: Value,
}

/// A transaction built but not yet in flight.
pub struct Pending {
    appservice: String,
    pub transaction: Transaction,
    batch: WriteBatch,
}

pub struct Queue {
    store: Arc<dyn Store>,
}

fn item_key(appservice: &str, sequence: u64) -> Vec<u8> {
    KeyBuilder::new().str(appservice).u64(sequence).build()
}

impl Queue {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Queue { store }
    }

    /// A fresh sequence number: items are sent in the order they got one.
    pub async fn next_sequence(&self) -> Result<u64> {
        Ok(self.store.next(&APPSERVICE_SEQUENCE).await?)
    }

    pub fn enqueue(&self, batch: &mut WriteBatch, appservice: &str, sequence: u64, item: &Item) {
        batch.put(&APPSERVICE_QUEUE, item_key(appservice, sequence), encode(item));
    }

    pub async fn write(&self, batch: WriteBatch) -> Result<()> {
        Ok(self.store.write(batch).await?)
    }

    pub async fn in_flight(&self, appservice: &str) -> Result<Option<Transaction>> {
        let bytes = self.store.get(&APPSERVICE_TRANSACTIONS, appservice.as_bytes()).await?;
        bytes.map(|b| decode(&APPSERVICE_TRANSACTIONS, &b)).transpose()
    }

    /// The oldest waiting items as the next transaction, with the batch
    /// that makes it the one in flight (and takes the items off the queue);
    /// none when nothing waits. The caller may add to the body before
    /// [`Self::commit`].
    pub async fn next_transaction(&self, appservice: &str) -> Result<Option<Pending>> {
        let prefix = KeyBuilder::new().str(appservice).build();
        let limit = EVENTS_PER_TRANSACTION + EPHEMERAL_PER_TRANSACTION + TO_DEVICE_PER_TRANSACTION;
        let rows = self.store.scan_prefix(&APPSERVICE_QUEUE, &prefix, Direction::Forward, limit).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let (mut events, mut ephemeral, mut to_device) = (Vec::new(), Vec::new(), Vec::new());
        let mut device_lists_changed = std::collections::BTreeSet::new();
        let mut device_lists_left = std::collections::BTreeSet::new();
        let mut batch = WriteBatch::new();
        let mut last = 0;
        for (key, value) in rows {
            let mut reader = KeyReader::new(&key);
            reader.str().map_err(|e| corrupt(&APPSERVICE_QUEUE, e))?;
            let sequence = reader.u64().map_err(|e| corrupt(&APPSERVICE_QUEUE, e))?;
            // Keep each list within its limit; what does not fit waits for
            // the next transaction (in order, since the scan restarts at the
            // oldest remaining item). Device list changes are a set.
            let (list, cap, body) = match decode(&APPSERVICE_QUEUE, &value)? {
                Item::Event(v) => (&mut events, EVENTS_PER_TRANSACTION, v),
                Item::Ephemeral(v) => (&mut ephemeral, EPHEMERAL_PER_TRANSACTION, v),
                Item::ToDevice(v) => (&mut to_device, TO_DEVICE_PER_TRANSACTION, v),
                // The later of a change and a departure wins.
                Item::DeviceListChanged(user) => {
                    device_lists_left.remove(&user);
                    device_lists_changed.insert(user);
                    batch.delete(&APPSERVICE_QUEUE, key);
                    last = sequence;
                    continue;
                }
                Item::DeviceListLeft(user) => {
                    device_lists_changed.remove(&user);
                    device_lists_left.insert(user);
                    batch.delete(&APPSERVICE_QUEUE, key);
                    last = sequence;
                    continue;
                }
            };
            if list.len() >= cap {
                break;
            }
            list.push(body);
            batch.delete(&APPSERVICE_QUEUE, key);
            last = sequence;
        }
        let mut body = json!({ "events": events });
        // Stable and unstable names: matrix-appservice and matrix-bot-sdk
        // read only the unstable ones, newer bridges the stable ones.
        if !ephemeral.is_empty() {
            body["ephemeral"] = json!(ephemeral);
            body["de.sorunome.msc2409.ephemeral"] = json!(ephemeral);
        }
        if !to_device.is_empty() {
            body["to_device"] = json!(to_device);
            body["de.sorunome.msc2409.to_device"] = json!(to_device);
        }
        if !device_lists_changed.is_empty() || !device_lists_left.is_empty() {
            let lists = json!({ "changed": device_lists_changed, "left": device_lists_left });
            body["device_lists"] = lists.clone();
            body["org.matrix.msc3202.device_lists"] = lists;
        }
        // The last item's sequence is unique across this appservice's
        // transactions, and it only grows.
        let transaction = Transaction { txn_id: last.to_string(), body };
        Ok(Some(Pending { appservice: appservice.to_owned(), transaction, batch }))
    }

    /// Makes `pending` the transaction in flight, atomically with taking
    /// its items off the queue.
    pub async fn commit(&self, pending: Pending) -> Result<Transaction> {
        let Pending { appservice, transaction, mut batch } = pending;
        batch.put(&APPSERVICE_TRANSACTIONS, appservice.as_bytes(), encode(&transaction));
        self.store.write(batch).await?;
        Ok(transaction)
    }

    /// The appservice acknowledged the transaction in flight.
    pub async fn finish(&self, appservice: &str) -> Result<()> {
        Ok(self.store.delete(&APPSERVICE_TRANSACTIONS, appservice.as_bytes()).await?)
    }
}
