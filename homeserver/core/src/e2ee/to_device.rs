//! Send-to-device messages (spec: "Send-to-Device messaging"): stored per
//! device until a sync acknowledges them by passing their position.

use std::sync::Arc;

use nexus_storage::catalog::{TO_DEVICE, TO_DEVICE_TXNS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, Store, WriteBatch};
use ruma::{DeviceId, OwnedServerName, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::changes::{Change, Changes};
use crate::devices::Devices;
use crate::federation::outbox::{Item, Outbox};
use crate::stream::Stream;
use crate::values::{corrupt, decode, encode};
use crate::{Error, Result};

/// At most this many messages per sync (spec: servers may limit).
pub const PER_SYNC: usize = 100;
/// Content size cap per message, as for events.
const MAX_MESSAGE_BYTES: usize = 65_536;

#[derive(Debug, Serialize, Deserialize)]
struct Message {
    sender: OwnedUserId,
    kind: String,
    content: Value,
}

pub struct ToDevice {
    store: Arc<dyn Store>,
    server_name: OwnedServerName,
    stream: Arc<Stream>,
    changes: Arc<Changes>,
    devices: Arc<Devices>,
    outbox: Arc<Outbox>,
    /// Set once at start: messages for the users of an appservice with
    /// MSC3202 also join its queue (MSC2409 `to_device`).
    appservices: std::sync::OnceLock<Arc<crate::appservice::Appservices>>,
}

fn inbox_key(user: &UserId, device: &str, ordering: u64) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(device).u64(ordering).build()
}

impl ToDevice {
    pub fn new(
        store: Arc<dyn Store>,
        server_name: OwnedServerName,
        stream: Arc<Stream>,
        changes: Arc<Changes>,
        devices: Arc<Devices>,
        outbox: Arc<Outbox>,
    ) -> Self {
        ToDevice { store, server_name, stream, changes, devices, outbox, appservices: std::sync::OnceLock::new() }
    }

    /// Installs the application services (once; later calls are ignored).
    pub fn set_appservices(&self, appservices: Arc<crate::appservice::Appservices>) {
        let _ = self.appservices.set(appservices);
    }

    /// Adds a message for `user`'s `device` to the queues of the
    /// appservices that receive their users' to-device messages; returns
    /// their ids, to wake after the batch is written.
    async fn for_appservices(
        &self,
        batch: &mut WriteBatch,
        user: &UserId,
        device: &str,
        message: &Message,
    ) -> Result<Vec<String>> {
        let Some(appservices) = self.appservices.get() else { return Ok(Vec::new()) };
        let event = json!({
            "type": message.kind,
            "sender": message.sender,
            "to_user_id": user,
            "to_device_id": device,
            "content": message.content,
        });
        appservices.to_device(batch, user, &event).await
    }

    /// `PUT /sendToDevice/{eventType}/{txnId}`: idempotent per device and
    /// transaction id; `*` addresses every device of a user.
    pub async fn send(
        &self,
        sender: &UserId,
        sender_device: &DeviceId,
        kind: &str,
        txn_id: &str,
        messages: &Map<String, Value>,
    ) -> Result<()> {
        let txn_key = KeyBuilder::new().str(sender.as_str()).str(sender_device.as_str()).str(kind).str(txn_id).build();
        let _guard = self.store.lock(&txn_key).await?;
        if self.store.get(&TO_DEVICE_TXNS, &txn_key).await?.is_some() {
            return Ok(());
        }
        let reservation = self.stream.reserve().await?;
        let mut batch = WriteBatch::new();
        let mut recipients: Vec<OwnedUserId> = Vec::new();
        let mut appservices_woken = Vec::new();
        // Messages for other servers' users, per server: one durable
        // `m.direct_to_device` EDU each.
        let mut remote: std::collections::BTreeMap<OwnedServerName, Map<String, Value>> = Default::default();
        for (user, by_device) in messages {
            let user_id =
                UserId::parse(user).map_err(|e| Error::InvalidParam(format!("{user} is not a user id: {e}")))?;
            if user_id.server_name() != self.server_name {
                remote.entry(user_id.server_name().to_owned()).or_default().insert(user.clone(), by_device.clone());
                continue;
            }
            let by_device = by_device
                .as_object()
                .ok_or_else(|| Error::BadJson("messages must map devices to contents".to_owned()))?;
            for (device, content) in by_device {
                if serde_json::to_vec(content).map_or(0, |b| b.len()) > MAX_MESSAGE_BYTES {
                    return Err(Error::TooLarge(format!(
                        "to-device messages are limited to {MAX_MESSAGE_BYTES} bytes"
                    )));
                }
                let targets = self.targets(&user_id, device).await?;
                let message = Message { sender: sender.to_owned(), kind: kind.to_owned(), content: content.clone() };
                for target in targets {
                    batch.put(&TO_DEVICE, inbox_key(&user_id, &target, reservation.ordering), encode(&message));
                    appservices_woken.extend(self.for_appservices(&mut batch, &user_id, &target, &message).await?);
                }
            }
            recipients.push(user_id);
        }
        batch.put(&TO_DEVICE_TXNS, txn_key, Vec::new());
        self.changes.record(&mut batch, recipients.iter().map(AsRef::as_ref), reservation.ordering, &Change::ToDevice);
        let servers: Vec<OwnedServerName> = remote.keys().cloned().collect();
        for (server, messages) in remote {
            let edu = json!({
                "edu_type": "m.direct_to_device",
                "content": {
                    "sender": sender,
                    "type": kind,
                    "message_id": format!("{}-{txn_id}", sender_device),
                    "messages": messages,
                },
            });
            self.outbox.enqueue(&mut batch, std::slice::from_ref(&server), reservation.ordering, &Item::Edu(edu));
        }
        self.store.write(batch).await?;
        drop(reservation);
        self.changes.wake(recipients.iter().map(AsRef::as_ref));
        self.outbox.wake(&servers);
        if let Some(appservices) = self.appservices.get() {
            appservices.wake(&appservices_woken);
        }
        Ok(())
    }

    /// The devices a message addressed to `device` reaches (`*`: all of
    /// the user's).
    async fn targets(&self, user: &UserId, device: &str) -> Result<Vec<String>> {
        if device != "*" {
            return Ok(vec![device.to_owned()]);
        }
        let devices = self.devices.list(user.localpart()).await?;
        Ok(devices.into_iter().filter_map(|d| d.device_id.map(|id| id.to_string())).collect())
    }

    /// An `m.direct_to_device` EDU from another server: its messages go to
    /// this server's users' inboxes.
    pub async fn deliver_remote(&self, origin: &ruma::ServerName, content: &Value) -> Result<()> {
        let sender = content.get("sender").and_then(Value::as_str).and_then(|s| UserId::parse(s).ok());
        let Some(sender) = sender.filter(|s| s.server_name() == origin) else {
            return Err(Error::Forbidden("to-device messages from a user of another server".to_owned()));
        };
        let kind = content.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
        let messages = content.get("messages").and_then(Value::as_object).cloned().unwrap_or_default();
        let reservation = self.stream.reserve().await?;
        let mut batch = WriteBatch::new();
        let mut recipients = Vec::new();
        let mut appservices_woken = Vec::new();
        for (user, by_device) in &messages {
            let Ok(user_id) = UserId::parse(user) else { continue };
            if user_id.server_name() != self.server_name {
                continue;
            }
            for (device, message) in by_device.as_object().into_iter().flatten() {
                let targets = self.targets(&user_id, device).await?;
                let message = Message { sender: sender.clone(), kind: kind.clone(), content: message.clone() };
                for target in targets {
                    batch.put(&TO_DEVICE, inbox_key(&user_id, &target, reservation.ordering), encode(&message));
                    appservices_woken.extend(self.for_appservices(&mut batch, &user_id, &target, &message).await?);
                }
            }
            recipients.push(user_id);
        }
        self.changes.record(&mut batch, recipients.iter().map(AsRef::as_ref), reservation.ordering, &Change::ToDevice);
        self.store.write(batch).await?;
        drop(reservation);
        self.changes.wake(recipients.iter().map(AsRef::as_ref));
        if let Some(appservices) = self.appservices.get() {
            appservices.wake(&appservices_woken);
        }
        Ok(())
    }

    /// Drops the messages a device's sync acknowledged (those at or before
    /// its `since` position), then returns the next ones up to `upto`, at
    /// most [`PER_SYNC`], with the position of the last one returned.
    pub async fn for_sync(
        &self,
        user: &UserId,
        device: &DeviceId,
        since: Option<u64>,
        upto: u64,
    ) -> Result<(Vec<Value>, Option<u64>)> {
        self.for_sync_limited(user, device, since, upto, PER_SYNC).await
    }

    /// [`Self::for_sync`] with at most `limit` messages.
    pub async fn for_sync_limited(
        &self,
        user: &UserId,
        device: &DeviceId,
        since: Option<u64>,
        upto: u64,
        limit: usize,
    ) -> Result<(Vec<Value>, Option<u64>)> {
        let prefix = KeyBuilder::new().str(user.as_str()).str(device.as_str()).build();
        if let Some(since) = since {
            let acknowledged = KeyRange::between(&prefix, &inbox_key(user, device.as_str(), since.saturating_add(1)));
            let old = self.store.scan(&TO_DEVICE, acknowledged, Direction::Forward, usize::MAX).await?;
            if !old.is_empty() {
                let mut batch = WriteBatch::new();
                for (k, _) in old {
                    batch.delete(&TO_DEVICE, k);
                }
                self.store.write(batch).await?;
            }
        }
        let pending = KeyRange::between(&prefix, &inbox_key(user, device.as_str(), upto.saturating_add(1)));
        let entries = self.store.scan(&TO_DEVICE, pending, Direction::Forward, limit).await?;
        let full = entries.len() == limit;
        let mut events = Vec::with_capacity(entries.len());
        let mut last = None;
        for (k, v) in entries {
            last = Some(KeyReader::new(&k[prefix.len()..]).u64().map_err(|e| corrupt(&TO_DEVICE, e))?);
            let message: Message = decode(&TO_DEVICE, &v)?;
            events.push(json!({ "sender": message.sender, "type": message.kind, "content": message.content }));
        }
        Ok((events, if full { last } else { None }))
    }

    /// Adds the removal of a deleted device's inbox to `batch`.
    pub async fn remove_device(&self, batch: &mut WriteBatch, user: &UserId, device: &DeviceId) -> Result<()> {
        let prefix = KeyBuilder::new().str(user.as_str()).str(device.as_str()).build();
        for (k, _) in self.store.scan_prefix(&TO_DEVICE, &prefix, Direction::Forward, usize::MAX).await? {
            batch.delete(&TO_DEVICE, k);
        }
        Ok(())
    }
}
