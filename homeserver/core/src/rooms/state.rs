//! Room state: the current state of each room, and its past states as a
//! chain of snapshots.
//!
//! Each state event makes a new snapshot holding only its change against
//! the previous one; every `CHECKPOINT_EVERY`th snapshot is a full copy,
//! or in a big state every (entries / `DELTAS_PER_ENTRY`)th. Reading any
//! past state therefore reads at most a sixteenth more than the state, and
//! storage grows with the number of state events (a full copy costs ~16
//! entries per state event before it), never with a full copy per event
//! — nor with the room's size per event, as a fixed interval would make
//! it when each of a big room's joins adds an entry.

use std::collections::BTreeMap;
use std::sync::Arc;

use nexus_storage::catalog::{ROOM_STATE, STATE_SNAPSHOTS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, Store, WriteBatch};
use ruma::{OwnedEventId, RoomId};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::values::{decode, encode};

/// `(event type, state key)` → event id.
pub type StateIds = BTreeMap<(String, String), OwnedEventId>;

const CHECKPOINT_EVERY: u64 = 64;
const DELTAS_PER_ENTRY: u64 = 16;

/// Whether snapshot `id` of a state with about `entries` entries is stored
/// as a full copy.
pub fn is_checkpoint(id: u64, entries: u64) -> bool {
    id.is_multiple_of(CHECKPOINT_EVERY.max(entries / DELTAS_PER_ENTRY))
}

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    parent: Option<u64>,
    /// A full copy: `changes` is the whole state and the walk stops here.
    full: bool,
    changes: Vec<(String, String, OwnedEventId)>,
}

pub struct RoomState {
    store: Arc<dyn Store>,
}

fn state_key(room_id: &RoomId, kind: &str, state_key: &str) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).str(kind).str(state_key).build()
}

fn snapshot_key(room_id: &RoomId, snapshot: u64) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).u64(snapshot).build()
}

impl RoomState {
    pub fn new(store: Arc<dyn Store>) -> Self {
        RoomState { store }
    }

    pub async fn get(&self, room_id: &RoomId, kind: &str, key: &str) -> Result<Option<OwnedEventId>> {
        let bytes = self.store.get(&ROOM_STATE, &state_key(room_id, kind, key)).await?;
        bytes.map(|b| decode(&ROOM_STATE, &b)).transpose()
    }

    /// The whole current state (its size is the room's state, not history).
    pub async fn current(&self, room_id: &RoomId) -> Result<StateIds> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).build();
        let entries = self.store.scan_prefix(&ROOM_STATE, &prefix, Direction::Forward, usize::MAX).await?;
        let mut state = StateIds::new();
        for (key, value) in entries {
            let mut reader = KeyReader::new(&key[prefix.len()..]);
            let corrupt = |e| nexus_storage::Error::corrupt(ROOM_STATE.name, e);
            let kind = reader.str().map_err(corrupt)?;
            let state_key = reader.str().map_err(corrupt)?;
            state.insert((kind, state_key), decode(&ROOM_STATE, &value)?);
        }
        Ok(state)
    }

    /// All state events of one type in the current state (e.g. members).
    pub async fn current_of_type(&self, room_id: &RoomId, kind: &str) -> Result<Vec<(String, OwnedEventId)>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).str(kind).build();
        let entries = self.store.scan_prefix(&ROOM_STATE, &prefix, Direction::Forward, usize::MAX).await?;
        entries
            .into_iter()
            .map(|(key, value)| {
                let state_key = KeyReader::new(&key[prefix.len()..])
                    .str()
                    .map_err(|e| nexus_storage::Error::corrupt(ROOM_STATE.name, e))?;
                Ok((state_key, decode(&ROOM_STATE, &value)?))
            })
            .collect()
    }

    /// The snapshot a snapshot is a delta against, if any.
    pub async fn parent_of(&self, room_id: &RoomId, snapshot: u64) -> Result<Option<u64>> {
        let Some(bytes) = self.store.get(&STATE_SNAPSHOTS, &snapshot_key(room_id, snapshot)).await? else {
            return Ok(None);
        };
        let snap: Snapshot = decode(&STATE_SNAPSHOTS, &bytes)?;
        Ok(if snap.full { None } else { snap.parent })
    }

    /// The state as of a snapshot.
    pub async fn at(&self, room_id: &RoomId, snapshot: u64) -> Result<StateIds> {
        let mut state = StateIds::new();
        let mut next = Some(snapshot);
        while let Some(id) = next {
            let Some(bytes) = self.store.get(&STATE_SNAPSHOTS, &snapshot_key(room_id, id)).await? else {
                return Err(
                    nexus_storage::Error::corrupt(STATE_SNAPSHOTS.name, format!("missing snapshot {id}")).into()
                );
            };
            let snap: Snapshot = decode(&STATE_SNAPSHOTS, &bytes)?;
            // Walking backwards: the first value seen for a key is the latest.
            for (kind, key, event_id) in snap.changes {
                state.entry((kind, key)).or_insert(event_id);
            }
            next = if snap.full { None } else { snap.parent };
        }
        Ok(state)
    }

    /// Adds a state change to `batch`: the current state, and snapshot
    /// `snapshot` (child of `parent`): a full copy of `full_state` (the
    /// whole state after the change) when given, else the change alone.
    pub fn apply(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        parent: Option<u64>,
        snapshot: u64,
        change: (&str, &str, &OwnedEventId),
        full_state: Option<&StateIds>,
    ) {
        let (kind, key, event_id) = change;
        self.set_current(batch, room_id, kind, key, event_id);
        let changes = vec![(kind.to_owned(), key.to_owned(), event_id.clone())];
        self.put_snapshot(batch, room_id, snapshot, parent, changes, full_state);
    }

    /// Adds one entry of the current state to `batch`.
    pub fn set_current(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        kind: &str,
        key: &str,
        event_id: &OwnedEventId,
    ) {
        batch.put(&ROOM_STATE, state_key(room_id, kind, key), encode(event_id));
    }

    /// Adds `missing` to every full snapshot in `snapshots` where its key
    /// is unset (deltas inherit it from their parents): completing a
    /// partial state, whose omitted entries are older than anything set.
    pub async fn fill_in(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        snapshots: std::ops::Range<u64>,
        missing: &StateIds,
    ) -> Result<()> {
        if missing.is_empty() {
            return Ok(());
        }
        for id in snapshots {
            let key = snapshot_key(room_id, id);
            let Some(bytes) = self.store.get(&STATE_SNAPSHOTS, &key).await? else { continue };
            let mut snap: Snapshot = decode(&STATE_SNAPSHOTS, &bytes)?;
            if !snap.full {
                continue;
            }
            let set: std::collections::BTreeSet<(String, String)> =
                snap.changes.iter().map(|(kind, key, _)| (kind.clone(), key.clone())).collect();
            for ((kind, state_key), event_id) in missing {
                if !set.contains(&(kind.clone(), state_key.clone())) {
                    snap.changes.push((kind.clone(), state_key.clone(), event_id.clone()));
                }
            }
            batch.put(&STATE_SNAPSHOTS, key, encode(&snap));
        }
        Ok(())
    }

    /// Adds snapshot `snapshot` to `batch`: a full copy of `full_state`
    /// when given (a walk back stops there), else `changes` against
    /// `parent`.
    pub fn put_snapshot(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        snapshot: u64,
        parent: Option<u64>,
        changes: Vec<(String, String, OwnedEventId)>,
        full_state: Option<&StateIds>,
    ) {
        let snapshot_value = match full_state {
            Some(state) => {
                let changes = state.iter().map(|((k, s), e)| (k.clone(), s.clone(), e.clone())).collect();
                Snapshot { parent, full: true, changes }
            }
            None => Snapshot { parent, full: false, changes },
        };
        batch.put(&STATE_SNAPSHOTS, snapshot_key(room_id, snapshot), encode(&snapshot_value));
    }
}

#[cfg(test)]
mod tests {
    use nexus_storage::backend::{Backend, StoreOptions};
    use nexus_storage::catalog::NEXUS;
    use ruma::room_id;

    use super::*;

    fn id(name: &str) -> OwnedEventId {
        OwnedEventId::try_from(format!("${name}")).unwrap()
    }

    fn entry(kind: &str, key: &str, event: &str) -> ((String, String), OwnedEventId) {
        ((kind.to_owned(), key.to_owned()), id(event))
    }

    /// Completing a partial state adds the omitted entries to every
    /// snapshot since — full copies and the deltas that read through them
    /// — and never overrides what a snapshot set itself.
    #[test]
    fn a_big_state_is_copied_less_often() {
        let copies = |entries: u64| (1..=10_000).filter(|id| is_checkpoint(*id, entries)).count();
        assert_eq!(copies(10), 156, "every 64th");
        assert_eq!(copies(16_000), 10, "every 1,000th: ~16 entries written per state change");
    }

    #[tokio::test]
    async fn fill_in_adds_only_what_is_unset() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            backend: Backend::RocksDb { path: dir.path().to_owned() },
            sync_writes: false,
            cluster: None,
        };
        let store = nexus_storage::open(&options, NEXUS).await.unwrap();
        let state = RoomState::new(store.clone());
        let room = room_id!("!r:example.org");
        let partial: StateIds = [entry("m.room.create", "", "create"), entry("m.room.member", "@j:x", "join")].into();
        let mut batch = WriteBatch::new();
        // 63: the partial state before the join (a full copy); 64 a
        // checkpoint after a newer member event of @b; 65 a delta on it.
        state.put_snapshot(&mut batch, room, 63, None, Vec::new(), Some(&partial));
        let mut at_64 = partial.clone();
        at_64.insert(("m.room.member".to_owned(), "@b:y".to_owned()), id("b-leaves"));
        state.put_snapshot(&mut batch, room, 64, Some(63), Vec::new(), Some(&at_64));
        let topic = entry("m.room.topic", "", "topic");
        state.put_snapshot(
            &mut batch,
            room,
            65,
            Some(64),
            vec![(topic.0.0.clone(), topic.0.1.clone(), topic.1.clone())],
            None,
        );
        store.write(batch).await.unwrap();

        let missing: StateIds =
            [entry("m.room.member", "@a:y", "a-joins"), entry("m.room.member", "@b:y", "b-joins")].into();
        let mut batch = WriteBatch::new();
        state.fill_in(&mut batch, room, 63..66, &missing).await.unwrap();
        store.write(batch).await.unwrap();

        let before = state.at(room, 63).await.unwrap();
        assert_eq!(before.get(&("m.room.member".to_owned(), "@a:y".to_owned())), Some(&id("a-joins")));
        assert_eq!(before.get(&("m.room.member".to_owned(), "@b:y".to_owned())), Some(&id("b-joins")));
        for snapshot in [64, 65] {
            let after = state.at(room, snapshot).await.unwrap();
            assert_eq!(after.get(&("m.room.member".to_owned(), "@a:y".to_owned())), Some(&id("a-joins")));
            // The newer event the snapshot holds stays.
            assert_eq!(after.get(&("m.room.member".to_owned(), "@b:y".to_owned())), Some(&id("b-leaves")));
        }
        assert_eq!(state.at(room, 65).await.unwrap().get(&topic.0), Some(&topic.1));
    }
}
