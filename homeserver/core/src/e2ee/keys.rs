//! Device keys, one-time and fallback keys, cross-signing keys and their
//! signatures (spec: "Key management API", "Cross-signing").

use std::collections::BTreeSet;
use std::sync::Arc;

use nexus_storage::catalog::{
    CROSS_SIGNING_KEYS, DEVICE_KEYS, FALLBACK_KEYS, ONE_TIME_KEY_ORDER, ONE_TIME_KEYS, STREAM_ORDERING,
};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, Store, WriteBatch};
use ruma::{DeviceId, OwnedServerName, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{ed25519_key, verify_signature};
use crate::changes::{Change, Changes};
use crate::devices::Devices;
use crate::federation::outbox::{Item, Outbox};
use crate::rooms::Rooms;
use crate::stream::{Reservation, Stream};
use crate::values::{corrupt, decode, encode};
use crate::{Error, Result};

pub const MASTER: &str = "master";
pub const SELF_SIGNING: &str = "self_signing";
pub const USER_SIGNING: &str = "user_signing";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FallbackKey {
    key_id: String,
    key: Value,
    used: bool,
}

pub struct Keys {
    store: Arc<dyn Store>,
    server_name: OwnedServerName,
    stream: Arc<Stream>,
    changes: Arc<Changes>,
    rooms: Arc<Rooms>,
    devices: Arc<Devices>,
    outbox: Arc<Outbox>,
    /// Set once at start: device list changes for MSC3202 appservices.
    appservices: std::sync::OnceLock<Arc<crate::appservice::Appservices>>,
}

/// A pending device-list change: commit the batch, then call `finish`.
pub struct DeviceListChange {
    reservation: Reservation,
    audience: Vec<OwnedUserId>,
    servers: Vec<OwnedServerName>,
    outbox: Arc<Outbox>,
    /// The appservices whose queues the change joined.
    appservices: Option<(Arc<crate::appservice::Appservices>, Vec<String>)>,
}

impl DeviceListChange {
    pub fn finish(self, changes: &Changes) {
        drop(self.reservation);
        changes.wake(self.audience.iter().map(AsRef::as_ref));
        self.outbox.wake(&self.servers);
        if let Some((appservices, ids)) = &self.appservices {
            appservices.wake(ids);
        }
    }
}

fn device_key(user: &UserId, device: &str) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(device).build()
}

fn object(value: Value, what: &str) -> Result<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Error::BadJson(format!("{what} must be an object"))),
    }
}

impl Keys {
    pub fn new(
        store: Arc<dyn Store>,
        server_name: OwnedServerName,
        stream: Arc<Stream>,
        changes: Arc<Changes>,
        rooms: Arc<Rooms>,
        devices: Arc<Devices>,
        outbox: Arc<Outbox>,
    ) -> Self {
        Keys { store, server_name, stream, changes, rooms, devices, outbox, appservices: std::sync::OnceLock::new() }
    }

    /// Installs the application services (once; later calls are ignored).
    pub fn set_appservices(&self, appservices: Arc<crate::appservice::Appservices>) {
        let _ = self.appservices.set(appservices);
    }

    /// Adds the change of `user`'s device list to the queues of the
    /// MSC3202 appservices it concerns.
    async fn device_list_for_appservices(
        &self,
        batch: &mut WriteBatch,
        user: &UserId,
        audience: &[OwnedUserId],
    ) -> Result<Option<(Arc<crate::appservice::Appservices>, Vec<String>)>> {
        let Some(appservices) = self.appservices.get() else { return Ok(None) };
        let ids = appservices.device_list_changed(batch, user, audience).await?;
        Ok(Some((appservices.clone(), ids)))
    }

    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Adds "`user`'s devices changed" for everyone sharing a room to
    /// `batch`.
    pub async fn device_list_changed(&self, batch: &mut WriteBatch, user: &UserId) -> Result<DeviceListChange> {
        let reservation = self.stream.reserve().await?;
        let audience: Vec<OwnedUserId> = self.rooms.shared_audience(user).await?.into_iter().collect();
        self.changes.record(
            batch,
            audience.iter().map(AsRef::as_ref),
            reservation.ordering,
            &Change::DeviceList(user.to_owned()),
        );
        // Other servers sharing a room learn it too; they ask for the
        // user's keys again (`/user/keys/query`, `/user/devices`).
        let mut servers: Vec<OwnedServerName> = audience
            .iter()
            .map(|u| u.server_name().to_owned())
            .filter(|s| *s != self.server_name)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if user.server_name() != self.server_name {
            servers.clear();
        }
        if !servers.is_empty() {
            let edu = json!({
                "edu_type": "m.device_list_update",
                "content": {
                    "user_id": user,
                    "device_id": "",
                    "stream_id": reservation.ordering,
                    "prev_id": [],
                },
            });
            self.outbox.enqueue(batch, &servers, reservation.ordering, &Item::Edu(edu));
        }
        let appservices = self.device_list_for_appservices(batch, user, &audience).await?;
        Ok(DeviceListChange { reservation, audience, servers, outbox: self.outbox.clone(), appservices })
    }

    /// Another server says one of its users' devices changed: the local
    /// users sharing a room with them see it in their syncs.
    pub async fn remote_device_list_changed(&self, user: &UserId) -> Result<()> {
        let mut batch = WriteBatch::new();
        let reservation = self.stream.reserve().await?;
        let audience: Vec<OwnedUserId> = self
            .rooms
            .shared_audience(user)
            .await?
            .into_iter()
            .filter(|u| u.server_name() == self.server_name)
            .collect();
        self.changes.record(
            &mut batch,
            audience.iter().map(AsRef::as_ref),
            reservation.ordering,
            &Change::DeviceList(user.to_owned()),
        );
        let appservices = self.device_list_for_appservices(&mut batch, user, &audience).await?;
        self.store.write(batch).await?;
        drop(reservation);
        self.changes.wake(audience.iter().map(AsRef::as_ref));
        if let Some((appservices, ids)) = appservices {
            appservices.wake(&ids);
        }
        Ok(())
    }

    /// `GET /keys/changes`: users whose device lists changed between two
    /// stream positions, and users who stopped sharing any room with
    /// `user` in that window.
    pub async fn changes_between(
        &self,
        user: &UserId,
        from: u64,
        to: u64,
    ) -> Result<(Vec<OwnedUserId>, Vec<OwnedUserId>)> {
        let mut changed = BTreeSet::new();
        let mut rooms = BTreeSet::new();
        for (_, change) in self.changes.since(user, from, to).await? {
            match change {
                Change::DeviceList(other) => {
                    changed.insert(other);
                }
                Change::Room(room) => {
                    rooms.insert(room);
                }
                _ => {}
            }
        }
        let mut left = BTreeSet::new();
        for room in rooms {
            for (ordering, event_id) in
                self.rooms.timeline.page(&room, Some(from.saturating_add(1)), Direction::Forward, 1000).await?
            {
                if ordering > to {
                    break;
                }
                let Some(stored) = self.rooms.timeline.get(&event_id).await? else { continue };
                let object = stored.object()?;
                if object.get("type").and_then(|t| t.as_str()) != Some("m.room.member") {
                    continue;
                }
                let Some(target) = object.get("state_key").and_then(|k| k.as_str()).and_then(|k| UserId::parse(k).ok())
                else {
                    continue;
                };
                let membership = object.get("content").and_then(|c| c.as_object()).and_then(|c| c.get("membership"));
                match membership.and_then(|m| m.as_str()) {
                    Some("join") if target != user => {
                        changed.insert(target);
                    }
                    Some("leave" | "ban") if target != user && !self.rooms.share_a_room(user, &target).await? => {
                        left.insert(target);
                    }
                    _ => {}
                }
            }
        }
        Ok((changed.into_iter().collect(), left.into_iter().collect()))
    }

    /// `POST /keys/upload`: returns the one-time key counts.
    pub async fn upload(
        &self,
        user: &UserId,
        device: &DeviceId,
        device_keys: Option<Value>,
        one_time_keys: Map<String, Value>,
        fallback_keys: Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        let mut batch = WriteBatch::new();
        let mut list_change = None;
        if let Some(keys) = device_keys {
            let keys = object(keys, "device_keys")?;
            if keys.get("user_id").and_then(Value::as_str) != Some(user.as_str())
                || keys.get("device_id").and_then(Value::as_str) != Some(device.as_str())
            {
                return Err(Error::InvalidParam("device_keys must be for this user and device".to_owned()));
            }
            let signing_key_id = format!("ed25519:{device}");
            let signing_key = keys
                .get("keys")
                .and_then(|k| k.get(&signing_key_id))
                .and_then(Value::as_str)
                .ok_or_else(|| Error::InvalidParam(format!("device_keys has no {signing_key_id} key")))?;
            verify_signature(&keys, user.as_str(), &signing_key_id, signing_key)?;
            let stored = self.store.get(&DEVICE_KEYS, &device_key(user, device.as_str())).await?;
            let unchanged = stored
                .map(|b| decode::<Map<String, Value>>(&DEVICE_KEYS, &b))
                .transpose()?
                .is_some_and(|old| old.get("keys") == keys.get("keys"));
            if !unchanged {
                batch.put(&DEVICE_KEYS, device_key(user, device.as_str()), encode(&keys));
                list_change = Some(self.device_list_changed(&mut batch, user).await?);
            }
        }
        // Claims hand keys out in upload order: each key gets a sequence
        // number, unique across uploads.
        if one_time_keys.len() > 10_000 {
            return Err(Error::InvalidParam("at most 10000 one-time keys per upload".to_owned()));
        }
        let base = if one_time_keys.is_empty() { 0 } else { self.store.next(&STREAM_ORDERING).await? * 10_000 };
        for (sequence, (id, key)) in one_time_keys.into_iter().enumerate() {
            let (algorithm, key_id) = id
                .split_once(':')
                .ok_or_else(|| Error::InvalidParam(format!("one-time key id {id:?} has no algorithm")))?;
            let map_key = KeyBuilder::new().str(user.as_str()).str(device.as_str()).str(algorithm).str(key_id).build();
            if let Some(existing) = self.store.get(&ONE_TIME_KEYS, &map_key).await?
                && decode::<Value>(&ONE_TIME_KEYS, &existing)? != key
            {
                return Err(Error::InvalidParam(format!("one-time key {id} was already uploaded with another value")));
            }
            if self.store.get(&ONE_TIME_KEYS, &map_key).await?.is_none() {
                let order_key = KeyBuilder::new()
                    .str(user.as_str())
                    .str(device.as_str())
                    .str(algorithm)
                    .u64(base + sequence as u64)
                    .build();
                batch.put(&ONE_TIME_KEY_ORDER, order_key, encode(&key_id));
            }
            batch.put(&ONE_TIME_KEYS, map_key, encode(&key));
        }
        for (id, key) in fallback_keys {
            let (algorithm, key_id) = id
                .split_once(':')
                .ok_or_else(|| Error::InvalidParam(format!("fallback key id {id:?} has no algorithm")))?;
            let fallback = FallbackKey { key_id: key_id.to_owned(), key, used: false };
            batch.put(
                &FALLBACK_KEYS,
                KeyBuilder::new().str(user.as_str()).str(device.as_str()).str(algorithm).build(),
                encode(&fallback),
            );
        }
        self.store.write(batch).await?;
        if let Some(change) = list_change {
            change.finish(&self.changes);
        }
        self.one_time_key_counts(user, device).await
    }

    /// `device_one_time_keys_count`: unclaimed one-time keys by algorithm.
    pub async fn one_time_key_counts(&self, user: &UserId, device: &DeviceId) -> Result<Map<String, Value>> {
        let prefix = device_key(user, device.as_str());
        let entries = self.store.scan_prefix(&ONE_TIME_KEYS, &prefix, Direction::Forward, usize::MAX).await?;
        let mut counts: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
        for (k, _) in entries {
            let algorithm = KeyReader::new(&k[prefix.len()..]).str().map_err(|e| corrupt(&ONE_TIME_KEYS, e))?;
            *counts.entry(algorithm).or_default() += 1;
        }
        // Clients expect signed_curve25519 to be listed even at zero.
        counts.entry("signed_curve25519".to_owned()).or_default();
        Ok(counts.into_iter().map(|(k, v)| (k, json!(v))).collect())
    }

    /// `device_unused_fallback_key_types`.
    pub async fn unused_fallback_types(&self, user: &UserId, device: &DeviceId) -> Result<Vec<String>> {
        let prefix = device_key(user, device.as_str());
        let entries = self.store.scan_prefix(&FALLBACK_KEYS, &prefix, Direction::Forward, usize::MAX).await?;
        let mut types = Vec::new();
        for (k, v) in entries {
            if !decode::<FallbackKey>(&FALLBACK_KEYS, &v)?.used {
                types.push(KeyReader::new(&k[prefix.len()..]).str().map_err(|e| corrupt(&FALLBACK_KEYS, e))?);
            }
        }
        Ok(types)
    }

    /// `POST /keys/claim`: a one-time key per requested device, else its
    /// fallback key.
    pub async fn claim(&self, requested: &Map<String, Value>) -> Result<(Value, Value)> {
        let mut claimed = Map::new();
        let mut failures = Map::new();
        for (user, devices) in requested {
            let Ok(user_id) = UserId::parse(user) else { continue };
            if user_id.server_name() != self.server_name {
                failures.insert(user_id.server_name().to_string(), json!({}));
                continue;
            }
            let _guard = self.store.lock(format!("one_time_keys:{user}").as_bytes()).await?;
            let mut for_user = Map::new();
            for (device, algorithm) in devices.as_object().into_iter().flatten() {
                let Some(algorithm) = algorithm.as_str() else { continue };
                let prefix = KeyBuilder::new().str(user).str(device).str(algorithm).build();
                let first = self.store.scan_prefix(&ONE_TIME_KEY_ORDER, &prefix, Direction::Forward, 1).await?;
                if let Some((order_key, key_id)) = first.into_iter().next() {
                    let key_id: String = decode(&ONE_TIME_KEY_ORDER, &key_id)?;
                    let k = KeyBuilder::new().str(user).str(device).str(algorithm).str(&key_id).build();
                    let v = self.store.get(&ONE_TIME_KEYS, &k).await?.unwrap_or_default();
                    let mut batch = WriteBatch::new();
                    batch.delete(&ONE_TIME_KEYS, k).delete(&ONE_TIME_KEY_ORDER, order_key);
                    self.store.write(batch).await?;
                    for_user.insert(
                        device.clone(),
                        json!({ format!("{algorithm}:{key_id}"): decode::<Value>(&ONE_TIME_KEYS, &v)? }),
                    );
                    continue;
                }
                let fallback_key = KeyBuilder::new().str(user).str(device).str(algorithm).build();
                if let Some(bytes) = self.store.get(&FALLBACK_KEYS, &fallback_key).await? {
                    let mut fallback: FallbackKey = decode(&FALLBACK_KEYS, &bytes)?;
                    for_user
                        .insert(device.clone(), json!({ format!("{algorithm}:{}", fallback.key_id): fallback.key }));
                    if !fallback.used {
                        fallback.used = true;
                        self.store.put(&FALLBACK_KEYS, &fallback_key, &encode(&fallback)).await?;
                    }
                }
            }
            claimed.insert(user.clone(), Value::Object(for_user));
        }
        Ok((Value::Object(claimed), Value::Object(failures)))
    }

    async fn cross_signing_key(&self, user: &UserId, usage: &str) -> Result<Option<Map<String, Value>>> {
        let key = KeyBuilder::new().str(user.as_str()).str(usage).build();
        let bytes = self.store.get(&CROSS_SIGNING_KEYS, &key).await?;
        bytes.map(|b| decode(&CROSS_SIGNING_KEYS, &b)).transpose()
    }

    /// Keeps the owner's signatures, and others' only for the one who made
    /// them (spec: user-signing signatures are visible to their signer).
    fn visible_to(mut keys: Map<String, Value>, owner: &UserId, viewer: &UserId) -> Map<String, Value> {
        if let Some(Value::Object(signatures)) = keys.get_mut("signatures") {
            signatures.retain(|signer, _| signer == owner.as_str() || signer == viewer.as_str());
        }
        keys
    }

    /// `POST /keys/query` for this server's users.
    pub async fn query(&self, viewer: &UserId, requested: &Map<String, Value>) -> Result<Value> {
        let mut device_keys = Map::new();
        let mut master_keys = Map::new();
        let mut self_signing_keys = Map::new();
        let mut user_signing_keys = Map::new();
        let mut failures = Map::new();
        for (user, wanted) in requested {
            let Ok(user_id) = UserId::parse(user) else { continue };
            if user_id.server_name() != self.server_name {
                failures.insert(user_id.server_name().to_string(), json!({}));
                continue;
            }
            let wanted = wanted
                .as_array()
                .ok_or_else(|| Error::BadJson("device_keys maps users to lists of devices".to_owned()))?;
            let wanted: BTreeSet<&str> = wanted.iter().filter_map(Value::as_str).collect();
            let prefix = KeyBuilder::new().str(user).build();
            let entries = self.store.scan_prefix(&DEVICE_KEYS, &prefix, Direction::Forward, usize::MAX).await?;
            let mut devices = Map::new();
            for (k, v) in entries {
                let device = KeyReader::new(&k[prefix.len()..]).str().map_err(|e| corrupt(&DEVICE_KEYS, e))?;
                if !wanted.is_empty() && !wanted.contains(device.as_str()) {
                    continue;
                }
                let mut keys: Map<String, Value> = decode(&DEVICE_KEYS, &v)?;
                let name =
                    self.devices.get(user_id.localpart(), device.as_str().into()).await?.and_then(|d| d.display_name);
                let mut unsigned = Map::new();
                if let Some(name) = name {
                    unsigned.insert("device_display_name".to_owned(), json!(name));
                }
                keys.insert("unsigned".to_owned(), Value::Object(unsigned));
                devices.insert(device, Value::Object(keys));
            }
            device_keys.insert(user.clone(), Value::Object(devices));
            if let Some(master) = self.cross_signing_key(&user_id, MASTER).await? {
                master_keys.insert(user.clone(), Value::Object(Self::visible_to(master, &user_id, viewer)));
            }
            if let Some(self_signing) = self.cross_signing_key(&user_id, SELF_SIGNING).await? {
                self_signing_keys.insert(user.clone(), Value::Object(self_signing));
            }
            if user_id == viewer
                && let Some(user_signing) = self.cross_signing_key(&user_id, USER_SIGNING).await?
            {
                user_signing_keys.insert(user.clone(), Value::Object(user_signing));
            }
        }
        Ok(json!({
            "device_keys": device_keys,
            "master_keys": master_keys,
            "self_signing_keys": self_signing_keys,
            "user_signing_keys": user_signing_keys,
            "failures": failures,
        }))
    }

    /// Whether an upload would change nothing: the same keys again need no
    /// re-authentication (spec: idempotent uploads).
    pub async fn cross_signing_unchanged(&self, user: &UserId, uploads: [(&str, Option<&Value>); 3]) -> Result<bool> {
        for (usage, uploaded) in uploads {
            let Some(uploaded) = uploaded else { continue };
            let stored = self.cross_signing_key(user, usage).await?;
            let same = stored.is_some_and(|s| s.get("keys") == uploaded.get("keys"));
            if !same {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether the user already has a master key (the first cross-signing
    /// upload needs no user-interactive auth).
    pub async fn has_master_key(&self, user: &UserId) -> Result<bool> {
        Ok(self.cross_signing_key(user, MASTER).await?.is_some())
    }

    /// `POST /keys/device_signing/upload` (after UIA): the user's
    /// cross-signing keys, each checked for owner and usage, and the
    /// self-signing and user-signing keys checked against the master key.
    pub async fn upload_cross_signing(
        &self,
        user: &UserId,
        master: Option<Value>,
        self_signing: Option<Value>,
        user_signing: Option<Value>,
    ) -> Result<()> {
        let _guard = self.store.lock(format!("cross_signing:{user}").as_bytes()).await?;
        let master = master.map(|m| object(m, "master_key")).transpose()?;
        let effective_master = match &master {
            Some(master) => Some(master.clone()),
            None => self.cross_signing_key(user, MASTER).await?,
        };
        let mut batch = WriteBatch::new();
        for (usage, key) in
            [(MASTER, master.map(Value::Object)), (SELF_SIGNING, self_signing), (USER_SIGNING, user_signing)]
        {
            let Some(key) = key else { continue };
            let key = object(key, usage)?;
            if key.get("user_id").and_then(Value::as_str) != Some(user.as_str()) {
                return Err(Error::InvalidParam(format!("the {usage} key must belong to you")));
            }
            let usages: Vec<&str> =
                key.get("usage").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
            if usages != [usage] {
                return Err(Error::InvalidParam(format!("the {usage} key's usage must be [{usage:?}]")));
            }
            let (key_id, _) =
                ed25519_key(&key).ok_or_else(|| Error::InvalidParam(format!("the {usage} key has no ed25519 key")))?;
            // A cross-signing key may not share an id with a device (spec).
            let public_part = key_id.strip_prefix("ed25519:").unwrap_or(&key_id);
            if self.devices.get(user.localpart(), public_part.into()).await?.is_some() {
                return Err(Error::Forbidden(format!("the {usage} key's id is one of your device ids")));
            }
            if usage != MASTER {
                let master = effective_master
                    .as_ref()
                    .ok_or_else(|| Error::MissingParam("no master signing key is available".to_owned()))?;
                let (master_id, master_key) = ed25519_key(master)
                    .ok_or_else(|| Error::InvalidParam("the master key has no ed25519 key".to_owned()))?;
                verify_signature(&key, user.as_str(), &master_id, &master_key)?;
            }
            batch.put(&CROSS_SIGNING_KEYS, KeyBuilder::new().str(user.as_str()).str(usage).build(), encode(&key));
        }
        let change = self.device_list_changed(&mut batch, user).await?;
        self.store.write(batch).await?;
        change.finish(&self.changes);
        Ok(())
    }

    /// `POST /keys/signatures/upload`: signatures by the uploader on their
    /// own devices and cross-signing keys (with their self-signing or
    /// master key) or on other users' master keys (with their user-signing
    /// key). Each is verified; failures are reported per key.
    pub async fn upload_signatures(&self, signer: &UserId, signed: &Map<String, Value>) -> Result<Value> {
        let mut failures = Map::new();
        let master = self.cross_signing_key(signer, MASTER).await?;
        let self_signing = self.cross_signing_key(signer, SELF_SIGNING).await?;
        let user_signing = self.cross_signing_key(signer, USER_SIGNING).await?;
        for (target_user, objects) in signed {
            let Ok(target) = UserId::parse(target_user) else { continue };
            for (target_key_id, object) in objects.as_object().into_iter().flatten() {
                let result = self
                    .apply_signature(signer, &target, target_key_id, object, (&master, &self_signing, &user_signing))
                    .await;
                if let Err(e) = result {
                    let (errcode, error) = match &e {
                        Error::InvalidSignature(m) => ("M_INVALID_SIGNATURE", m.clone()),
                        Error::NotFound(m) => ("M_NOT_FOUND", m.clone()),
                        other => ("M_INVALID_PARAM", other.to_string()),
                    };
                    failures
                        .entry(target_user.clone())
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .expect("inserted as an object")
                        .insert(target_key_id.clone(), json!({ "errcode": errcode, "error": error }));
                }
            }
        }
        Ok(json!({ "failures": failures }))
    }

    #[allow(clippy::type_complexity)]
    async fn apply_signature(
        &self,
        signer: &UserId,
        target: &UserId,
        target_key_id: &str,
        object: &Value,
        (master, self_signing, user_signing): (
            &Option<Map<String, Value>>,
            &Option<Map<String, Value>>,
            &Option<Map<String, Value>>,
        ),
    ) -> Result<()> {
        let object = object.as_object().ok_or_else(|| Error::BadJson("signed objects must be objects".to_owned()))?;
        let _guard = self.store.lock(format!("cross_signing:{target}").as_bytes()).await?;
        // Which stored object is being signed, and with which of the
        // signer's keys it must be signed.
        let own_master_id = master.as_ref().and_then(ed25519_key).map(|(id, _)| id);
        let (map, key, signing) = if target != signer {
            let target_master = self
                .cross_signing_key(target, MASTER)
                .await?
                .ok_or_else(|| Error::NotFound("no such key".to_owned()))?;
            let (id, _) = ed25519_key(&target_master).ok_or_else(|| Error::NotFound("no such key".to_owned()))?;
            if id.strip_prefix("ed25519:") != Some(target_key_id) {
                return Err(Error::InvalidParam("other users' master keys are the only keys you may sign".to_owned()));
            }
            (&CROSS_SIGNING_KEYS, KeyBuilder::new().str(target.as_str()).str(MASTER).build(), user_signing)
        } else if own_master_id.as_deref().and_then(|id| id.strip_prefix("ed25519:")) == Some(target_key_id) {
            // A device signing its own user's master key.
            (&CROSS_SIGNING_KEYS, KeyBuilder::new().str(target.as_str()).str(MASTER).build(), &None)
        } else {
            (&DEVICE_KEYS, device_key(target, target_key_id), self_signing)
        };
        let stored = self.store.get(map, &key).await?.ok_or_else(|| Error::NotFound("no such key".to_owned()))?;
        let mut stored: Map<String, Value> = decode(map, &stored)?;
        let new_signatures = object
            .get("signatures")
            .and_then(|s| s.get(signer.as_str()))
            .and_then(Value::as_object)
            .ok_or_else(|| Error::InvalidParam("no signature by you".to_owned()))?;
        for (sig_key_id, signature) in new_signatures {
            let public = match signing {
                Some(signing_key) => ed25519_key(signing_key).filter(|(id, _)| id == sig_key_id).map(|(_, k)| k),
                // A master key signed by one of the user's devices.
                None => {
                    let device = sig_key_id.strip_prefix("ed25519:").unwrap_or_default();
                    let device_keys = self.store.get(&DEVICE_KEYS, &device_key(signer, device)).await?;
                    device_keys
                        .map(|b| decode::<Map<String, Value>>(&DEVICE_KEYS, &b))
                        .transpose()?
                        .and_then(|d| d.get("keys")?.get(sig_key_id)?.as_str().map(str::to_owned))
                }
            };
            let public = public.ok_or_else(|| {
                Error::InvalidSignature(format!("{sig_key_id} is not a key of yours that may sign this"))
            })?;
            // The signature must cover the stored object as it is.
            let mut candidate = stored.clone();
            candidate.remove("unsigned");
            let mut sigs = Map::new();
            sigs.insert(sig_key_id.clone(), signature.clone());
            let mut all = Map::new();
            all.insert(signer.to_string(), Value::Object(sigs));
            candidate.insert("signatures".to_owned(), Value::Object(all));
            verify_signature(&candidate, signer.as_str(), sig_key_id, &public)?;
            let signatures = stored.entry("signatures").or_insert_with(|| json!({}));
            let by_signer = signatures
                .as_object_mut()
                .ok_or_else(|| Error::Internal("stored signatures are not an object".to_owned()))?
                .entry(signer.to_string())
                .or_insert_with(|| json!({}));
            if let Some(by_signer) = by_signer.as_object_mut() {
                by_signer.insert(sig_key_id.clone(), signature.clone());
            }
        }
        let mut batch = WriteBatch::new();
        batch.put(map, key, encode(&stored));
        let change = self.device_list_changed(&mut batch, target).await?;
        self.store.write(batch).await?;
        change.finish(&self.changes);
        Ok(())
    }

    /// Adds the removal of devices' keys to `batch` (devices deleted or
    /// logged out).
    pub async fn remove_devices(
        &self,
        batch: &mut WriteBatch,
        user: &UserId,
        devices: &[&DeviceId],
    ) -> Result<Option<DeviceListChange>> {
        if devices.is_empty() {
            return Ok(None);
        }
        for device in devices {
            batch.delete(&DEVICE_KEYS, device_key(user, device.as_str()));
            for map in [&ONE_TIME_KEYS, &ONE_TIME_KEY_ORDER, &FALLBACK_KEYS] {
                let prefix = device_key(user, device.as_str());
                for (k, _) in self.store.scan_prefix(map, &prefix, Direction::Forward, usize::MAX).await? {
                    batch.delete(map, k);
                }
            }
        }
        Ok(Some(self.device_list_changed(batch, user).await?))
    }
}
