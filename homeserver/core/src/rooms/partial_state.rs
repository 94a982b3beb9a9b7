//! Partial-state joins (spec: `send_join`'s `omit_members`; MSC3706 and
//! MSC3902), the joining side: a join to a room new to this server whose
//! resident left the member events out is placed at once — the joiner
//! reads and sends straight away — and the room is recorded as having
//! partial state until the full state before the join is fetched
//! (`GET /state` at the join, from the resident or another server in the
//! room) and filled in.
//!
//! While a room's state is partial:
//! - an incoming event is authorised against the state before it with its
//!   own auth events filling what is missing (the members this server does
//!   not know yet), and is not soft-failed against the current state;
//! - events go to the servers the resident named as in the room, besides
//!   those of the members this server knows;
//! - reads that need every member (`/members`, `/joined_members`) wait for
//!   the full state;
//! - this server answers no other server's join, nor state requests, for
//!   that room (its answer would be wrong).
//!
//! Filling in only ever adds: the omitted events were the members before
//! the join, so a key already set in a snapshot or the current state (by
//! the join or anything since) is newer and stays. The record is deleted
//! in the batch that fills the state in, and resyncs resume after a
//! restart from the record.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nexus_storage::catalog::PARTIAL_STATE_ROOMS;
use nexus_storage::{Direction, Store, WriteBatch};
use ruma::room_version_rules::RoomVersionRules;
use ruma::{OwnedEventId, OwnedRoomId, OwnedServerName, RoomId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

use super::incoming::encode_path;
use super::pdu::Pdu;
use super::state::StateIds;
use super::{Rooms, room_lock};
use crate::values::{decode, encode};
use crate::{Error, Result};

/// How long a read that needs the full state re-checks between wake-ups
/// (another process of a cluster may complete it).
const RECHECK: Duration = Duration::from_secs(1);

/// The longest pause between rounds of asking every server for the state.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A room this server joined with partial state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartialJoin {
    pub join_event_id: OwnedEventId,
    /// The snapshot holding the (partial) state before the join.
    pub before_snapshot: u64,
    /// Where to fetch the full state: the resident that answered the
    /// join first, then the servers it named as in the room.
    pub servers: Vec<OwnedServerName>,
}

/// The rooms with partial state, and the queue of their resyncs.
pub struct PartialStates {
    store: Arc<dyn Store>,
    completed: Notify,
    queue: mpsc::UnboundedSender<OwnedRoomId>,
    /// Taken by the one task that runs the resyncs.
    pending: Mutex<Option<mpsc::UnboundedReceiver<OwnedRoomId>>>,
}

impl PartialStates {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        PartialStates { store, completed: Notify::new(), queue, pending: Mutex::new(Some(pending)) }
    }

    pub async fn get(&self, room_id: &RoomId) -> Result<Option<PartialJoin>> {
        let bytes = self.store.get(&PARTIAL_STATE_ROOMS, room_id.as_str().as_bytes()).await?;
        bytes.map(|b| decode(&PARTIAL_STATE_ROOMS, &b)).transpose()
    }

    pub async fn is_partial(&self, room_id: &RoomId) -> Result<bool> {
        Ok(self.store.get(&PARTIAL_STATE_ROOMS, room_id.as_str().as_bytes()).await?.is_some())
    }

    /// Every room whose state is partial.
    pub async fn rooms(&self) -> Result<Vec<OwnedRoomId>> {
        let entries = self.store.scan_prefix(&PARTIAL_STATE_ROOMS, b"", Direction::Forward, usize::MAX).await?;
        Ok(entries
            .into_iter()
            .filter_map(|(key, _)| String::from_utf8(key).ok().and_then(|k| OwnedRoomId::try_from(k).ok()))
            .collect())
    }

    fn put(&self, batch: &mut WriteBatch, room_id: &RoomId, join: &PartialJoin) {
        batch.put(&PARTIAL_STATE_ROOMS, room_id.as_str().as_bytes(), encode(join));
    }

    /// Asks the resync task to complete a room's state.
    fn enqueue(&self, room_id: &RoomId) {
        let _ = self.queue.send(room_id.to_owned());
    }
}

/// The state before an event with `auth_events` filling the keys it lacks:
/// what a partial-state room authorises an incoming event against.
pub(super) fn with_auth_events(state: &StateIds, auth_events: &[&Pdu]) -> StateIds {
    let mut filled = state.clone();
    for event in auth_events {
        if let Some(key) = &event.state_key {
            filled.entry((event.kind.to_string(), key.clone())).or_insert_with(|| event.event_id.clone());
        }
    }
    filled
}

impl Rooms {
    /// Records, in the join's batch, that the room's state is partial.
    pub(super) fn record_partial_join(&self, batch: &mut WriteBatch, room_id: &RoomId, join: &PartialJoin) {
        self.partial_states.put(batch, room_id, join);
    }

    /// Starts completing a room's state (after the join is written).
    pub(super) fn start_resync(&self, room_id: &RoomId) {
        self.partial_states.enqueue(room_id);
    }

    /// Whether the room's state is partial (joined with members omitted and
    /// not completed yet).
    pub async fn has_partial_state(&self, room_id: &RoomId) -> Result<bool> {
        self.partial_states.is_partial(room_id).await
    }

    /// Waits until the room's state is complete.
    pub async fn await_full_state(&self, room_id: &RoomId) -> Result<()> {
        loop {
            let completed = self.partial_states.completed.notified();
            if !self.partial_states.is_partial(room_id).await? {
                return Ok(());
            }
            let _ = tokio::time::timeout(RECHECK, completed).await;
        }
    }

    /// The servers a partial-state room's events go to besides those of
    /// the members this server knows.
    pub(super) async fn partial_state_servers(&self, room_id: &RoomId) -> Result<Vec<OwnedServerName>> {
        Ok(self.partial_states.get(room_id).await?.map(|join| join.servers).unwrap_or_default())
    }

    /// Refuses what would answer another server from a partial state.
    pub(super) async fn refuse_if_partial(&self, room_id: &RoomId) -> Result<()> {
        if self.partial_states.is_partial(room_id).await? {
            return Err(Error::NotFound(format!(
                "this server is still fetching the state of {room_id}; ask another server in the room"
            )));
        }
        Ok(())
    }

    /// Runs the resyncs: every room recorded as partial, then each room
    /// joined with partial state from now on. Runs until the process ends.
    pub async fn run_resyncs(self: Arc<Self>) {
        let pending = self.partial_states.pending.lock().expect("partial states poisoned").take();
        let Some(mut pending) = pending else { return };
        match self.partial_states.rooms().await {
            Ok(rooms) => {
                for room_id in rooms {
                    tracing::info!(%room_id, "resuming the fetch of a partial-state room's state");
                    tokio::spawn(self.clone().resync(room_id));
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list the partial-state rooms"),
        }
        while let Some(room_id) = pending.recv().await {
            tokio::spawn(self.clone().resync(room_id));
        }
    }

    /// Fetches a partial-state room's full state, asking each server in
    /// turn and pausing (longer each round) when none answered.
    async fn resync(self: Arc<Self>, room_id: OwnedRoomId) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let join = match self.partial_states.get(&room_id).await {
                Ok(Some(join)) => join,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(%room_id, error = %e, "could not read a partial-state record");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            for server in &join.servers {
                let started = std::time::Instant::now();
                match self.fetch_and_complete(&room_id, &join, server).await {
                    Ok(added) => {
                        tracing::info!(
                            %room_id, %server, added, ms = started.elapsed().as_millis() as u64,
                            "completed a partial-state room's state"
                        );
                        return;
                    }
                    Err(e) => tracing::info!(%room_id, %server, error = %e, "could not fetch the room's full state"),
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Fetches the state before the join from `server` and fills it in;
    /// returns how many state entries were added.
    async fn fetch_and_complete(
        &self,
        room_id: &RoomId,
        join: &PartialJoin,
        server: &OwnedServerName,
    ) -> Result<usize> {
        let rules = self.rules_of(room_id).await?;
        let path = format!(
            "/_matrix/federation/v1/state/{}?event_id={}",
            encode_path(room_id.as_str()),
            encode_path(join.join_event_id.as_str())
        );
        let response = self.federation.get(server, &path).await.map_err(Error::from)?;
        let mut state_ids = Vec::new();
        let mut fresh = Vec::new();
        for (field, is_state) in [("auth_chain", false), ("pdus", true)] {
            for raw in response.get(field).and_then(Value::as_array).into_iter().flatten() {
                let raw = serde_json::value::to_raw_value(raw).map_err(|e| Error::Internal(e.to_string()))?;
                // What this server already holds was checked when it came.
                if let Some(id) = super::event_id_of(&rules, &raw)
                    && self.timeline.get(&id).await?.is_some()
                {
                    if is_state {
                        state_ids.push(id);
                    }
                    continue;
                }
                match self.check_remote_pdu(&rules, &raw).await {
                    Ok(event) if event.pdu.room_id.as_deref().is_none_or(|r| r == room_id) => {
                        if is_state {
                            state_ids.push(event.event_id.clone());
                        }
                        fresh.push(event);
                    }
                    Ok(event) => tracing::info!(event_id = %event.event_id, "a state event of another room; ignored"),
                    Err(e) => tracing::info!(%room_id, error = %e, "a state event failed its checks"),
                }
            }
        }
        self.store_checked_outliers(room_id, &rules, fresh).await?;
        let mut full = StateIds::new();
        for id in state_ids {
            // Only events that passed their auth checks were stored.
            if let Some((pdu, _)) = self.pdu(&id, &rules).await?
                && let Some(key) = pdu.state_key
            {
                full.insert((pdu.kind.to_string(), key), id);
            }
        }
        if !full.contains_key(&("m.room.create".to_owned(), String::new())) {
            return Err(Error::Remote(format!("{server} sent a state without the create event")));
        }
        self.complete_partial_state(room_id, &rules, join, full).await
    }

    /// Fills the full state before the join into every snapshot since it
    /// and into the current state, and deletes the record — one batch.
    async fn complete_partial_state(
        &self,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        join: &PartialJoin,
        full: StateIds,
    ) -> Result<usize> {
        let _guard = self.store.lock(&room_lock(room_id)).await?;
        if !self.partial_states.is_partial(room_id).await? {
            return Ok(0);
        }
        let partial = self.state.at(room_id, join.before_snapshot).await?;
        let missing: StateIds =
            full.into_iter().filter(|(key, id)| !partial.contains_key(key) && *id != join.join_event_id).collect();
        let mut batch = WriteBatch::new();
        let head = self.head(room_id).await?;
        self.state.fill_in(&mut batch, room_id, join.before_snapshot..head.next_snapshot, &missing).await?;
        let current = self.state.current(room_id).await?;
        for ((kind, key), id) in &missing {
            if current.contains_key(&(kind.clone(), key.clone())) {
                continue;
            }
            self.state.set_current(&mut batch, room_id, kind, key, id);
            if kind == "m.room.member"
                && let Some((member, _)) = self.pdu(id, rules).await?
            {
                self.apply_membership(&mut batch, room_id, &member, key).await?;
            }
        }
        batch.delete(&PARTIAL_STATE_ROOMS, room_id.as_str().as_bytes());
        self.store.write(batch).await?;
        drop(_guard);
        self.partial_states.completed.notify_waiters();
        Ok(missing.len())
    }
}
