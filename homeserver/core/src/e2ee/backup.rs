//! Server-side key backups (spec: "Server-side key backups"): versions
//! holding encrypted room keys the server cannot read.

use std::sync::Arc;

use nexus_storage::catalog::{BACKUP_KEYS, BACKUP_VERSIONS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, Store, WriteBatch};
use ruma::{RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::values::{corrupt, decode, encode};
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Version {
    algorithm: String,
    auth_data: Value,
    etag: u64,
    count: u64,
    deleted: bool,
}

pub struct KeyBackup {
    store: Arc<dyn Store>,
}

fn version_key(user: &UserId, version: u64) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).u64(version).build()
}

fn parse_version(raw: &str) -> Result<u64> {
    raw.parse().map_err(|_| Error::NotFound(format!("no backup version {raw:?}")))
}

/// Which of two backups of one session to keep (spec: "Storing keys"):
/// verified beats unverified, then the lower first message index, then the
/// lower forwarded count.
fn better(new: &Value, old: &Value) -> bool {
    let verified = |v: &Value| v.get("is_verified").and_then(Value::as_bool).unwrap_or(false);
    let index = |v: &Value| v.get("first_message_index").and_then(Value::as_u64).unwrap_or(u64::MAX);
    let forwarded = |v: &Value| v.get("forwarded_count").and_then(Value::as_u64).unwrap_or(u64::MAX);
    (!verified(new), index(new), forwarded(new)) < (!verified(old), index(old), forwarded(old))
}

/// The backup algorithms of the spec ("Server-side key backups"); a backup
/// in another one could not be read by any client, and the spec's answers
/// name only these.
const ALGORITHMS: &[&str] = &["m.megolm_backup.v1.curve25519-aes-sha2"];

fn check_version(algorithm: &str, auth_data: &Value) -> Result<()> {
    if !ALGORITHMS.contains(&algorithm) {
        return Err(Error::InvalidParam(format!("unknown backup algorithm {algorithm:?}")));
    }
    if !auth_data.is_object() {
        return Err(Error::BadJson("auth_data must be an object".to_owned()));
    }
    Ok(())
}

impl KeyBackup {
    pub fn new(store: Arc<dyn Store>) -> Self {
        KeyBackup { store }
    }

    fn lock(user: &UserId) -> Vec<u8> {
        format!("backup:{user}").into_bytes()
    }

    async fn latest(&self, user: &UserId) -> Result<Option<(u64, Version)>> {
        let prefix = KeyBuilder::new().str(user.as_str()).build();
        let entries = self.store.scan_prefix(&BACKUP_VERSIONS, &prefix, Direction::Backward, 1).await?;
        let Some((k, v)) = entries.into_iter().next() else { return Ok(None) };
        let number = KeyReader::new(&k[prefix.len()..]).u64().map_err(|e| corrupt(&BACKUP_VERSIONS, e))?;
        let version: Version = decode(&BACKUP_VERSIONS, &v)?;
        Ok((!version.deleted).then_some((number, version)))
    }

    async fn version(&self, user: &UserId, number: u64) -> Result<Version> {
        let bytes = self.store.get(&BACKUP_VERSIONS, &version_key(user, number)).await?;
        let version: Option<Version> = bytes.map(|b| decode(&BACKUP_VERSIONS, &b)).transpose()?;
        version.filter(|v| !v.deleted).ok_or_else(|| Error::NotFound(format!("no backup version {number}")))
    }

    fn describe(number: u64, version: &Version) -> Value {
        json!({
            "algorithm": version.algorithm,
            "auth_data": version.auth_data,
            "version": number.to_string(),
            "etag": version.etag.to_string(),
            "count": version.count,
        })
    }

    /// `POST /room_keys/version`.
    pub async fn create_version(&self, user: &UserId, algorithm: String, auth_data: Value) -> Result<String> {
        check_version(&algorithm, &auth_data)?;
        let _guard = self.store.lock(&Self::lock(user)).await?;
        let prefix = KeyBuilder::new().str(user.as_str()).build();
        let last = self.store.scan_prefix(&BACKUP_VERSIONS, &prefix, Direction::Backward, 1).await?;
        let next = match last.into_iter().next() {
            Some((k, _)) => KeyReader::new(&k[prefix.len()..]).u64().map_err(|e| corrupt(&BACKUP_VERSIONS, e))? + 1,
            None => 1,
        };
        let version = Version { algorithm, auth_data, etag: 0, count: 0, deleted: false };
        self.store.put(&BACKUP_VERSIONS, &version_key(user, next), &encode(&version)).await?;
        Ok(next.to_string())
    }

    /// `GET /room_keys/version[/{version}]`.
    pub async fn describe_version(&self, user: &UserId, version: Option<&str>) -> Result<Value> {
        match version {
            Some(raw) => {
                let number = parse_version(raw)?;
                Ok(Self::describe(number, &self.version(user, number).await?))
            }
            None => {
                let (number, version) =
                    self.latest(user).await?.ok_or_else(|| Error::NotFound("no backup exists".to_owned()))?;
                Ok(Self::describe(number, &version))
            }
        }
    }

    /// `PUT /room_keys/version/{version}`: new auth data, same algorithm.
    pub async fn update_version(
        &self,
        user: &UserId,
        raw: &str,
        algorithm: &str,
        auth_data: Value,
        body_version: Option<&str>,
    ) -> Result<()> {
        check_version(algorithm, &auth_data)?;
        if body_version.is_some_and(|v| v != raw) {
            return Err(Error::InvalidParam("the version in the body must match the path".to_owned()));
        }
        let number = parse_version(raw)?;
        let _guard = self.store.lock(&Self::lock(user)).await?;
        let mut version = self.version(user, number).await?;
        if version.algorithm != algorithm {
            return Err(Error::InvalidParam("a backup's algorithm cannot change".to_owned()));
        }
        version.auth_data = auth_data;
        Ok(self.store.put(&BACKUP_VERSIONS, &version_key(user, number), &encode(&version)).await?)
    }

    /// `DELETE /room_keys/version/{version}`: the version and its keys.
    pub async fn delete_version(&self, user: &UserId, raw: &str) -> Result<()> {
        let number = parse_version(raw)?;
        let _guard = self.store.lock(&Self::lock(user)).await?;
        let mut version = self.version(user, number).await?;
        version.deleted = true;
        let mut batch = WriteBatch::new();
        batch.put(&BACKUP_VERSIONS, version_key(user, number), encode(&version));
        let prefix = version_key(user, number);
        for (k, _) in self.store.scan_prefix(&BACKUP_KEYS, &prefix, Direction::Forward, usize::MAX).await? {
            batch.delete(&BACKUP_KEYS, k);
        }
        Ok(self.store.write(batch).await?)
    }

    /// `PUT /room_keys/keys…`: `sessions` is `[(room, session, data)]`.
    /// Only the current version accepts keys.
    pub async fn put_keys(&self, user: &UserId, raw: &str, sessions: Vec<(String, String, Value)>) -> Result<Value> {
        let number = parse_version(raw)?;
        let _guard = self.store.lock(&Self::lock(user)).await?;
        let current = self.latest(user).await?;
        match &current {
            Some((latest, _)) if *latest == number => {}
            _ => return Err(Error::WrongRoomKeysVersion { current: current.map(|(n, _)| n.to_string()) }),
        }
        let mut version = self.version(user, number).await?;
        let mut batch = WriteBatch::new();
        let mut changed = false;
        for (room, session, data) in sessions {
            if RoomId::parse(&room).is_err() {
                return Err(Error::InvalidParam(format!("{room} is not a room id")));
            }
            let key = KeyBuilder::new().str(user.as_str()).u64(number).str(&room).str(&session).build();
            match self.store.get(&BACKUP_KEYS, &key).await? {
                Some(old) if !better(&data, &decode::<Value>(&BACKUP_KEYS, &old)?) => continue,
                Some(_) => {}
                None => version.count += 1,
            }
            batch.put(&BACKUP_KEYS, key, encode(&data));
            changed = true;
        }
        if changed {
            version.etag += 1;
            batch.put(&BACKUP_VERSIONS, version_key(user, number), encode(&version));
            self.store.write(batch).await?;
        }
        Ok(json!({ "etag": version.etag.to_string(), "count": version.count }))
    }

    /// `GET /room_keys/keys…`, as `{rooms: {room: {sessions: {id: data}}}}`.
    pub async fn get_keys(&self, user: &UserId, raw: &str, room: Option<&str>, session: Option<&str>) -> Result<Value> {
        let number = parse_version(raw)?;
        self.version(user, number).await?;
        let mut prefix = KeyBuilder::new().str(user.as_str()).u64(number);
        if let Some(room) = room {
            prefix = prefix.str(room);
            if let Some(session) = session {
                prefix = prefix.str(session);
            }
        }
        let prefix = prefix.build();
        let base = KeyBuilder::new().str(user.as_str()).u64(number).build();
        let mut rooms: Map<String, Value> = Map::new();
        for (k, v) in self.store.scan_prefix(&BACKUP_KEYS, &prefix, Direction::Forward, usize::MAX).await? {
            let mut reader = KeyReader::new(&k[base.len()..]);
            let room_id = reader.str().map_err(|e| corrupt(&BACKUP_KEYS, e))?;
            let session_id = reader.str().map_err(|e| corrupt(&BACKUP_KEYS, e))?;
            let sessions = rooms.entry(room_id).or_insert_with(|| json!({ "sessions": {} }));
            sessions["sessions"][session_id] = decode(&BACKUP_KEYS, &v)?;
        }
        Ok(json!({ "rooms": rooms }))
    }

    /// `DELETE /room_keys/keys…`.
    pub async fn delete_keys(
        &self,
        user: &UserId,
        raw: &str,
        room: Option<&str>,
        session: Option<&str>,
    ) -> Result<Value> {
        let number = parse_version(raw)?;
        let _guard = self.store.lock(&Self::lock(user)).await?;
        let mut version = self.version(user, number).await?;
        let mut prefix = KeyBuilder::new().str(user.as_str()).u64(number);
        if let Some(room) = room {
            prefix = prefix.str(room);
            if let Some(session) = session {
                prefix = prefix.str(session);
            }
        }
        let doomed = self.store.scan_prefix(&BACKUP_KEYS, &prefix.build(), Direction::Forward, usize::MAX).await?;
        if !doomed.is_empty() {
            let mut batch = WriteBatch::new();
            version.count = version.count.saturating_sub(doomed.len() as u64);
            version.etag += 1;
            for (k, _) in doomed {
                batch.delete(&BACKUP_KEYS, k);
            }
            batch.put(&BACKUP_VERSIONS, version_key(user, number), encode(&version));
            self.store.write(batch).await?;
        }
        Ok(json!({ "etag": version.etag.to_string(), "count": version.count }))
    }
}
