//! §14 step 3: a `nexus.*` state event that breaks the update rules stays
//! in the room (Matrix accepted it; refusing it would split the room), but
//! Nexus ignores it — the key's effective content is what it was before.
//!
//! Local users' events never break the rules (the gate refuses them), so
//! only events from other servers are judged here, as they are placed.
//! When one fails, `guild_overrides` records which earlier event stays in
//! force for that key; a later valid event clears it. Reading a server's
//! state goes through [`Guilds::effective_of_type`] and
//! [`Guilds::effective`], which apply the overrides (one prefix scan,
//! usually empty).

use nexus_storage::catalog::GUILD_OVERRIDES;
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, WriteBatch};
use ruma::{OwnedEventId, RoomId};
use serde_json::Value;

use super::Guilds;
use crate::rooms::pdu::Pdu;
use crate::rooms::state::StateIds;
use crate::values::{decode, encode};
use crate::{Error, Result};

fn override_key(room: &RoomId, kind: &str, key: &str) -> Vec<u8> {
    KeyBuilder::new().str(room.as_str()).str(kind).str(key).build()
}

impl Guilds {
    /// Judges another server's `nexus.*` state event under the state before
    /// it, and records an override when it breaks the rules.
    pub(super) async fn judge_remote_state(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        pdu: &Pdu,
        state_before: &StateIds,
    ) -> Result<()> {
        let kind = pdu.kind.to_string();
        let Some(state_key) = pdu.state_key.as_deref() else { return Ok(()) };
        if !kind.starts_with("nexus.") {
            return Ok(());
        }
        let scope = self.scope(room_id).await?;
        let content = pdu.content_json();
        let at = u64::from(pdu.origin_server_ts.get());
        let key = override_key(room_id, &kind, state_key);
        match self.judge_nexus_state(scope.as_ref(), room_id, &pdu.sender, &kind, Some(state_key), &content, at).await {
            Ok(()) => {
                batch.delete(&GUILD_OVERRIDES, key);
            }
            Err(Error::BadJson(reason) | Error::Forbidden(reason)) => {
                // The key's effective event stays what it was: an earlier
                // override, or the event current before this one.
                let earlier: Option<Option<OwnedEventId>> = match self.store.get(&GUILD_OVERRIDES, &key).await? {
                    Some(bytes) => Some(decode(&GUILD_OVERRIDES, &bytes)?),
                    None => None,
                };
                let effective =
                    earlier.unwrap_or_else(|| state_before.get(&(kind.clone(), state_key.to_owned())).cloned());
                tracing::info!(%room_id, event_id = %pdu.event_id, %reason, "a nexus.* event breaks the update rules and is ignored");
                batch.put(&GUILD_OVERRIDES, key, encode(&effective));
            }
            Err(other) => return Err(other),
        }
        Ok(())
    }

    /// A local user's `nexus.*` event passed the gate: it is in force.
    pub(super) fn clear_override(&self, batch: &mut WriteBatch, room_id: &RoomId, pdu: &Pdu) {
        if let Some(state_key) = pdu.state_key.as_deref() {
            batch.delete(&GUILD_OVERRIDES, override_key(room_id, &pdu.kind.to_string(), state_key));
        }
    }

    async fn overrides(&self, room: &RoomId, kind: &str) -> Result<Vec<(String, Option<OwnedEventId>)>> {
        let prefix = KeyBuilder::new().str(room.as_str()).str(kind).build();
        let entries = self.store.scan_prefix(&GUILD_OVERRIDES, &prefix, Direction::Forward, usize::MAX).await?;
        entries
            .into_iter()
            .map(|(key, value)| {
                let state_key = KeyReader::new(&key[prefix.len()..])
                    .str()
                    .map_err(|e| nexus_storage::Error::corrupt(GUILD_OVERRIDES.name, e))?;
                Ok((state_key, decode(&GUILD_OVERRIDES, &value)?))
            })
            .collect()
    }

    async fn content_of(&self, event: Option<OwnedEventId>) -> Result<Option<Value>> {
        match event {
            Some(id) => self.rooms.event_content(&id).await,
            None => Ok(None),
        }
    }

    /// The effective `(state_key, content)` of every `kind` state event.
    pub(super) async fn effective_of_type(&self, room: &RoomId, kind: &str) -> Result<Vec<(String, Value)>> {
        let mut state = self.rooms.state_json_of_type(room, kind).await?;
        for (state_key, event) in self.overrides(room, kind).await? {
            state.retain(|(k, _)| *k != state_key);
            if let Some(content) = self.content_of(event).await? {
                state.push((state_key, content));
            }
        }
        Ok(state)
    }

    /// The event in force for one `nexus.*` state key (§14 step 3).
    pub(super) async fn effective_event(&self, room: &RoomId, kind: &str, key: &str) -> Result<Option<OwnedEventId>> {
        match self.store.get(&GUILD_OVERRIDES, &override_key(room, kind, key)).await? {
            Some(bytes) => decode(&GUILD_OVERRIDES, &bytes),
            None => self.rooms.state.get(room, kind, key).await,
        }
    }

    /// The effective content of one `nexus.*` state key.
    pub(super) async fn effective(&self, room: &RoomId, kind: &str, key: &str) -> Result<Option<Value>> {
        match self.store.get(&GUILD_OVERRIDES, &override_key(room, kind, key)).await? {
            Some(bytes) => self.content_of(decode(&GUILD_OVERRIDES, &bytes)?).await,
            None => self.rooms.state_json(room, kind, key).await,
        }
    }
}
