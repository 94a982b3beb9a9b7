//! Account data (spec: "Client config"): per-user JSON, global or per room,
//! including room tags (`m.tag`) and read markers (`m.fully_read`).

use std::sync::Arc;

use nexus_storage::catalog::ACCOUNT_DATA;
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, Store, WriteBatch};
use ruma::{RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::changes::{Change, Changes};
use crate::stream::Stream;
use crate::values::{corrupt, decode, encode};
use crate::{Error, Result};

/// Account data values are capped, as every event is (spec: 64 KiB).
const MAX_CONTENT_BYTES: usize = 65_536;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    content: Map<String, Value>,
    stream_ordering: u64,
}

pub struct AccountData {
    store: Arc<dyn Store>,
    stream: Arc<Stream>,
    changes: Arc<Changes>,
}

fn key(user: &UserId, room: Option<&RoomId>, kind: &str) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(room.map_or("", RoomId::as_str)).str(kind).build()
}

impl AccountData {
    /// Forgets a user's account data in a purged room.
    pub async fn purge_room(&self, user: &UserId, room_id: &RoomId) -> Result<()> {
        let prefix = KeyBuilder::new().str(user.as_str()).str(room_id.as_str()).build();
        crate::values::delete_prefix(self.store.as_ref(), &ACCOUNT_DATA, &prefix).await.map(drop)
    }

    pub fn new(store: Arc<dyn Store>, stream: Arc<Stream>, changes: Arc<Changes>) -> Self {
        AccountData { store, stream, changes }
    }

    pub async fn get(&self, user: &UserId, room: Option<&RoomId>, kind: &str) -> Result<Option<Map<String, Value>>> {
        let bytes = self.store.get(&ACCOUNT_DATA, &key(user, room, kind)).await?;
        Ok(bytes.map(|b| decode::<Entry>(&ACCOUNT_DATA, &b)).transpose()?.map(|e| e.content))
    }

    /// All of a user's account data: `(room, type, content)`, global
    /// entries with no room (a personal data export).
    pub async fn all_of(&self, user: &UserId) -> Result<Vec<(Option<String>, String, Map<String, Value>)>> {
        let prefix = KeyBuilder::new().str(user.as_str()).build();
        let rows = self.store.scan_prefix(&ACCOUNT_DATA, &prefix, Direction::Forward, usize::MAX).await?;
        let mut all = Vec::with_capacity(rows.len());
        for (key, value) in rows {
            let mut reader = KeyReader::new(&key[prefix.len()..]);
            let room = reader.str().map_err(|e| corrupt(&ACCOUNT_DATA, e))?;
            let kind = reader.str().map_err(|e| corrupt(&ACCOUNT_DATA, e))?;
            let entry: Entry = decode(&ACCOUNT_DATA, &value)?;
            all.push(((!room.is_empty()).then_some(room), kind, entry.content));
        }
        Ok(all)
    }

    /// All of a user's account data as `{global: {type: content}, rooms:
    /// {roomId: {type: content}}}` (the admin API's and an export's shape).
    pub async fn grouped(&self, user: &UserId) -> Result<Value> {
        let mut global = Map::new();
        let mut rooms: Map<String, Value> = Map::new();
        for (room, kind, content) in self.all_of(user).await? {
            match room {
                None => {
                    global.insert(kind, Value::Object(content));
                }
                Some(room) => {
                    let entry = rooms.entry(room).or_insert_with(|| Value::Object(Map::new()));
                    entry[kind] = Value::Object(content);
                }
            }
        }
        Ok(serde_json::json!({ "global": global, "rooms": rooms }))
    }

    /// Whether `user` ignores `other` (`m.ignored_user_list`).
    pub async fn ignores(&self, user: &UserId, other: &str) -> Result<bool> {
        let list = self.get(user, None, "m.ignored_user_list").await?;
        Ok(list
            .is_some_and(|c| c.get("ignored_users").and_then(Value::as_object).is_some_and(|m| m.contains_key(other))))
    }

    /// Sets account data for a client. The types the server controls
    /// (`m.fully_read`, `m.push_rules`) are refused (spec: 405 M_BAD_JSON).
    pub async fn set(
        &self,
        user: &UserId,
        room: Option<&RoomId>,
        kind: &str,
        content: Map<String, Value>,
    ) -> Result<()> {
        if matches!(kind, "m.fully_read" | "m.push_rules") {
            return Err(Error::ServerControlled(format!("{kind} cannot be set through this API")));
        }
        self.set_unchecked(user, room, kind, content).await
    }

    /// Sets one type of account data; an empty object is how the spec
    /// "deletes" it.
    pub(crate) async fn set_unchecked(
        &self,
        user: &UserId,
        room: Option<&RoomId>,
        kind: &str,
        content: Map<String, Value>,
    ) -> Result<()> {
        if kind.is_empty() || kind.len() > 255 {
            return Err(Error::InvalidParam("account data types are 1 to 255 bytes".to_owned()));
        }
        if encode(&content).len() > MAX_CONTENT_BYTES {
            return Err(Error::TooLarge(format!("account data is limited to {MAX_CONTENT_BYTES} bytes")));
        }
        let reservation = self.stream.reserve().await?;
        let mut batch = WriteBatch::new();
        let entry = Entry { content, stream_ordering: reservation.ordering };
        batch.put(&ACCOUNT_DATA, key(user, room, kind), encode(&entry));
        self.changes.record(&mut batch, [user], reservation.ordering, &Change::AccountData(room.map(RoomId::to_owned)));
        self.store.write(batch).await?;
        drop(reservation);
        self.changes.wake([user]);
        Ok(())
    }

    /// `(type, content)` of a user's account data in one scope (global or
    /// a room) changed after `since` (all of it for `None`).
    pub async fn changed(
        &self,
        user: &UserId,
        room: Option<&RoomId>,
        since: Option<u64>,
    ) -> Result<Vec<(String, Map<String, Value>)>> {
        let prefix = KeyBuilder::new().str(user.as_str()).str(room.map_or("", RoomId::as_str)).build();
        let entries = self.store.scan_prefix(&ACCOUNT_DATA, &prefix, Direction::Forward, usize::MAX).await?;
        let mut changed = Vec::new();
        for (k, v) in entries {
            let entry: Entry = decode(&ACCOUNT_DATA, &v)?;
            if since.is_some_and(|s| entry.stream_ordering <= s) {
                continue;
            }
            let kind = KeyReader::new(&k[prefix.len()..]).str().map_err(|e| corrupt(&ACCOUNT_DATA, e))?;
            changed.push((kind, entry.content));
        }
        Ok(changed)
    }
}
