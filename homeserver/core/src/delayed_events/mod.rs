//! Delayed events (MSC4140): an event a user schedules now and the server
//! sends later, unless it is cancelled, restarted or sent early first.
//! MatrixRTC clients use it as a dead man's switch: they schedule their own
//! "left the call" membership with a short delay and keep restarting it;
//! when the client vanishes, the restarts stop and the server sends it.
//!
//! The store holds each delayed event (`delayed_events`) and each user's
//! list (`delayed_events_by_user`); [`pending::Pending`] indexes the
//! scheduled ones in memory for the one timer task ([`DelayedEvents::run`]).
//! Firing goes through the ordinary send path with a transaction id derived
//! from the delay id, so an event sent just before a crash is not sent
//! twice when the timer fires again after the restart.

mod pending;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nexus_storage::catalog::{DELAYED_EVENTS, DELAYED_EVENTS_BY_USER};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, Store, WriteBatch};
use ruma::{CanonicalJsonObject, OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};

use self::pending::{Pending, StateSlot};
use crate::rate_limits::{Rule, TokenBuckets};
use crate::rooms::pdu::Pdu;
use crate::rooms::{NewEvent, Rooms, StateObserver};
use crate::settings::DelayedEventSettings;
use crate::values::{ALPHANUMERIC, decode, encode, now_ms, random_string};
use crate::{Error, Result};

/// Finalised delayed events kept per user for `GET /delayed_events`; older
/// ones are forgotten when another is finalised.
const FINALISED_KEPT: usize = 50;
const FINALISED_RETENTION_MS: u64 = 7 * 24 * 3600 * 1000;

/// A delayed event as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DelayedEvent {
    pub delay_id: String,
    pub user_id: OwnedUserId,
    pub device_id: Option<OwnedDeviceId>,
    pub room_id: OwnedRoomId,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_key: Option<String>,
    pub content: CanonicalJsonObject,
    pub delay_ms: u64,
    /// When it is due; a restart moves it to now + delay.
    pub due_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalised: Option<Finalised>,
}

/// How a delayed event ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finalised {
    pub outcome: Outcome,
    pub reason: Reason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<OwnedEventId>,
    /// The send failed: the error a client would have had (errcode, error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<(String, String)>,
    pub at_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Send,
    Cancel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// Its owner (or whoever holds its id) asked.
    Action,
    /// Its delay ran out.
    Delay,
    /// Sending it failed.
    Error,
}

/// What a management request asks (`cancel`, `restart`, `send`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Cancel,
    Restart,
    Send,
}

impl std::str::FromStr for Action {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cancel" => Ok(Action::Cancel),
            "restart" => Ok(Action::Restart),
            "send" => Ok(Action::Send),
            other => Err(Error::InvalidParam(format!("action must be cancel, restart or send, not {other:?}"))),
        }
    }
}

/// Who asks to manage a delayed event: a user, or (on the unauthenticated
/// form, where the delay id is the capability) an address.
pub enum Manager<'a> {
    User(&'a UserId),
    Address(Option<IpAddr>),
    /// This server, for the owner (a delegated delayed leave): ownership
    /// checked, no rate limit.
    OnBehalfOf(&'a UserId),
}

/// A user's delayed events, as `GET /delayed_events` lists them.
pub struct Listing {
    pub scheduled: Vec<DelayedEvent>,
    pub finalised: Vec<DelayedEvent>,
}

pub struct DelayedEvents {
    store: Arc<dyn Store>,
    rooms: Arc<Rooms>,
    settings: DelayedEventSettings,
    pending: Mutex<Pending>,
    /// Told when the earliest due time may have moved.
    wake: Notify,
    /// Ids claimed because someone else wrote their state; the timer task
    /// records them as cancelled.
    superseded: mpsc::UnboundedSender<String>,
    superseded_rx: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    management: TokenBuckets<String>,
}

fn record_key(delay_id: &str) -> Vec<u8> {
    delay_id.as_bytes().to_vec()
}

fn by_user_key(user: &UserId, delay_id: &str) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(delay_id).build()
}

fn slot_of(event: &DelayedEvent) -> Option<StateSlot> {
    event.state_key.as_ref().map(|key| (event.room_id.clone(), event.kind.clone(), key.clone()))
}

fn not_found() -> Error {
    Error::NotFound("no scheduled delayed event has this id".to_owned())
}

impl DelayedEvents {
    /// The service, with every scheduled delayed event loaded from the
    /// store (those due while the server was down fire at once).
    pub async fn start(store: Arc<dyn Store>, rooms: Arc<Rooms>, settings: DelayedEventSettings) -> Result<Arc<Self>> {
        let mut pending = Pending::default();
        for (_, bytes) in store.scan(&DELAYED_EVENTS, KeyRange::all(), Direction::Forward, usize::MAX).await? {
            let event: DelayedEvent = decode(&DELAYED_EVENTS, &bytes)?;
            if event.finalised.is_none() {
                pending.insert(event.delay_id.clone(), event.user_id.clone(), event.due_ms, slot_of(&event));
            }
        }
        let (superseded, superseded_rx) = mpsc::unbounded_channel();
        let service = Arc::new(DelayedEvents {
            store,
            rooms: rooms.clone(),
            settings,
            pending: Mutex::new(pending),
            wake: Notify::new(),
            superseded,
            superseded_rx: Mutex::new(Some(superseded_rx)),
            management: TokenBuckets::default(),
        });
        let observer: Arc<dyn StateObserver> = service.clone();
        rooms.observe_state(Arc::downgrade(&observer));
        Ok(service)
    }

    /// In a cluster: one management allowance per user across every process.
    pub fn share_limits(&self, keys: nexus_storage::redis_channel::RedisKeys) {
        self.management.share(keys, "delayed_events");
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().expect("delayed events index poisoned")
    }

    /// Schedules `event` (from `PUT /send` or `PUT /state` with
    /// `org.matrix.msc4140.delay`) to be sent by `user` after `delay`.
    pub async fn schedule(
        &self,
        user: &UserId,
        device: &OwnedDeviceId,
        room_id: &RoomId,
        event: NewEvent,
        delay: Duration,
    ) -> Result<String> {
        let max_delay = Duration::from_millis(self.settings.max_delay_ms);
        if delay > max_delay {
            return Err(Error::MaxDelayExceeded { max_delay });
        }
        if !self.rooms.membership.is_joined(room_id, user).await? {
            return Err(Error::Forbidden("you are not in this room".to_owned()));
        }
        let owner = user.to_owned();
        {
            let pending = self.pending();
            if pending.count_for(&owner) >= self.settings.max_per_user {
                let earliest = pending.earliest_for(&owner).unwrap_or_else(now_ms);
                let retry_after = Duration::from_millis(earliest.saturating_sub(now_ms()).max(1));
                return Err(Error::LimitExceeded { retry_after });
            }
        }
        let delay_ms = delay.as_millis() as u64;
        let record = DelayedEvent {
            delay_id: format!("syd_{}", random_string(ALPHANUMERIC, 24)),
            user_id: owner.clone(),
            device_id: Some(device.clone()),
            room_id: room_id.to_owned(),
            kind: event.kind,
            state_key: event.state_key,
            content: event.content,
            delay_ms,
            due_ms: now_ms() + delay_ms,
            finalised: None,
        };
        let mut batch = WriteBatch::new();
        batch.put(&DELAYED_EVENTS, record_key(&record.delay_id), encode(&record));
        batch.put(&DELAYED_EVENTS_BY_USER, by_user_key(user, &record.delay_id), Vec::new());
        self.store.write(batch).await?;
        self.pending().insert(record.delay_id.clone(), owner, record.due_ms, slot_of(&record));
        self.wake.notify_one();
        Ok(record.delay_id)
    }

    /// Cancels, restarts or sends a scheduled delayed event. Unknown ids,
    /// finalised ones and (for a user) other users' ones are all
    /// `M_NOT_FOUND`: an id reveals nothing.
    pub async fn act(&self, manager: Manager<'_>, delay_id: &str, action: Action) -> Result<()> {
        let rule = Rule::new(self.settings.management_per_second, self.settings.management_burst);
        let limit_key = match &manager {
            Manager::User(user) => Some(user.to_string()),
            Manager::Address(ip) => Some(ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())),
            Manager::OnBehalfOf(_) => None,
        };
        if let Some(limit_key) = limit_key {
            self.management.take_now(limit_key, rule).await?;
        }
        {
            let pending = self.pending();
            let owner = pending.owner(delay_id).ok_or_else(not_found)?;
            if let Manager::User(user) | Manager::OnBehalfOf(user) = manager
                && owner != user
            {
                return Err(not_found());
            }
        }
        match action {
            Action::Restart => self.restart(delay_id).await,
            Action::Cancel => {
                self.pending().remove(delay_id).ok_or_else(not_found)?;
                self.wake.notify_one();
                self.finalise(delay_id, Outcome::Cancel, Reason::Action, None).await
            }
            Action::Send => {
                self.pending().remove(delay_id).ok_or_else(not_found)?;
                self.wake.notify_one();
                self.fire(delay_id, Reason::Action).await
            }
        }
    }

    async fn restart(&self, delay_id: &str) -> Result<()> {
        let _lock = self.store.lock(format!("delayed_event:{delay_id}").as_bytes()).await?;
        let mut record = self.load(delay_id).await?.ok_or_else(not_found)?;
        if record.finalised.is_some() {
            return Err(not_found());
        }
        record.due_ms = now_ms() + record.delay_ms;
        // The index first: a claim made meanwhile wins, and the restart
        // is then refused rather than reviving a finished event. In a
        // cluster the event may have been scheduled by another process:
        // this one adopts it (the store's due time is what counts).
        let clustered = self.store.cluster().is_some();
        if !self.pending().reschedule(delay_id, record.due_ms) {
            if !clustered {
                return Err(not_found());
            }
            self.pending().insert(delay_id.to_owned(), record.user_id.clone(), record.due_ms, slot_of(&record));
        }
        self.store.put(&DELAYED_EVENTS, &record_key(delay_id), &encode(&record)).await?;
        self.wake.notify_one();
        Ok(())
    }

    async fn load(&self, delay_id: &str) -> Result<Option<DelayedEvent>> {
        let bytes = self.store.get(&DELAYED_EVENTS, &record_key(delay_id)).await?;
        bytes.map(|b| decode(&DELAYED_EVENTS, &b)).transpose()
    }

    /// Sends a claimed delayed event as its owner and records the outcome.
    async fn fire(&self, delay_id: &str, reason: Reason) -> Result<()> {
        let Some(record) = self.load(delay_id).await? else { return Ok(()) };
        if record.finalised.is_some() {
            return Ok(());
        }
        if reason == Reason::Delay && record.due_ms > now_ms() {
            // Restarted on another process of the cluster since this one
            // timed it: wait for the stored due time.
            self.pending().insert(delay_id.to_owned(), record.user_id.clone(), record.due_ms, slot_of(&record));
            self.wake.notify_one();
            return Ok(());
        }
        let device = record.device_id.clone().unwrap_or_else(|| OwnedDeviceId::from("DELAYED"));
        let event = NewEvent {
            kind: record.kind.clone(),
            state_key: record.state_key.clone(),
            content: record.content.clone(),
            redacts: None,
            transaction: Some((device, format!("org.matrix.msc4140.delayed/{delay_id}"))),
            origin_server_ts: None,
        };
        match self.rooms.send(&record.room_id, &record.user_id, event).await {
            Ok(event_id) => self.finalise(delay_id, Outcome::Send, reason, Some(Ok(event_id))).await,
            Err(error) => {
                tracing::info!(delay_id, error = %error, "a delayed event could not be sent");
                let failure = (errcode_of(&error).to_owned(), error.to_string());
                self.finalise(delay_id, Outcome::Send, Reason::Error, Some(Err(failure))).await?;
                // An explicit send reports the failure; a timer has no one
                // to tell.
                if reason == Reason::Action { Err(error) } else { Ok(()) }
            }
        }
    }

    async fn finalise(
        &self,
        delay_id: &str,
        outcome: Outcome,
        reason: Reason,
        sent: Option<std::result::Result<OwnedEventId, (String, String)>>,
    ) -> Result<()> {
        let _lock = self.store.lock(format!("delayed_event:{delay_id}").as_bytes()).await?;
        let Some(mut record) = self.load(delay_id).await? else { return Ok(()) };
        let (event_id, error) = match sent {
            Some(Ok(event_id)) => (Some(event_id), None),
            Some(Err(failure)) => (None, Some(failure)),
            None => (None, None),
        };
        record.finalised = Some(Finalised { outcome, reason, event_id, error, at_ms: now_ms() });
        let mut batch = WriteBatch::new();
        batch.put(&DELAYED_EVENTS, record_key(delay_id), encode(&record));
        self.forget_old_finalised(&mut batch, &record.user_id, delay_id).await?;
        self.store.write(batch).await?;
        Ok(())
    }

    /// Keeps a user's finalised delayed events to the newest
    /// [`FINALISED_KEPT`] within [`FINALISED_RETENTION_MS`].
    async fn forget_old_finalised(&self, batch: &mut WriteBatch, user: &UserId, keep: &str) -> Result<()> {
        let mut finalised: Vec<(u64, String)> = Vec::new();
        for event in self.events_of(user).await? {
            if let Some(done) = &event.finalised
                && event.delay_id != keep
            {
                finalised.push((done.at_ms, event.delay_id));
            }
        }
        finalised.sort_unstable_by(|a, b| b.cmp(a));
        let cutoff = now_ms().saturating_sub(FINALISED_RETENTION_MS);
        for (index, (at_ms, delay_id)) in finalised.into_iter().enumerate() {
            if index + 1 >= FINALISED_KEPT || at_ms < cutoff {
                batch.delete(&DELAYED_EVENTS, record_key(&delay_id));
                batch.delete(&DELAYED_EVENTS_BY_USER, by_user_key(user, &delay_id));
            }
        }
        Ok(())
    }

    async fn events_of(&self, user: &UserId) -> Result<Vec<DelayedEvent>> {
        let prefix = KeyBuilder::new().str(user.as_str()).build();
        let keys = self.store.scan_prefix(&DELAYED_EVENTS_BY_USER, &prefix, Direction::Forward, usize::MAX).await?;
        let mut events = Vec::with_capacity(keys.len());
        for (key, _) in keys {
            let mut reader = KeyReader::new(&key);
            let Ok(delay_id) = reader.str().and_then(|_| reader.str()) else { continue };
            if let Some(event) = self.load(&delay_id).await? {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// `GET /delayed_events`: the user's scheduled ones by due time, and
    /// the finalised ones by when they ended; `delay_ids` narrows both.
    pub async fn list(&self, user: &UserId, delay_ids: &[String]) -> Result<Listing> {
        let mut scheduled = Vec::new();
        let mut finalised = Vec::new();
        for event in self.events_of(user).await? {
            if !delay_ids.is_empty() && !delay_ids.contains(&event.delay_id) {
                continue;
            }
            if event.finalised.is_some() { finalised.push(event) } else { scheduled.push(event) }
        }
        scheduled.sort_by_key(|e| e.due_ms);
        finalised.sort_by_key(|e| e.finalised.as_ref().map_or(0, |f| f.at_ms));
        Ok(Listing { scheduled, finalised })
    }

    /// How many delayed events are scheduled (for benchmarks and metrics).
    pub fn scheduled_count(&self) -> usize {
        self.pending().len()
    }

    /// The timer: sends each delayed event when it is due, and records the
    /// ones superseded by someone else's state. Runs until the process ends.
    pub async fn run(self: Arc<Self>) {
        let Some(mut superseded) = self.superseded_rx.lock().expect("poisoned").take() else { return };
        loop {
            let next_due = self.pending().next_due();
            let wait =
                next_due.map_or(Duration::from_secs(3600), |due| Duration::from_millis(due.saturating_sub(now_ms())));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => continue,
                Some(delay_id) = superseded.recv() => {
                    if let Err(e) = self.finalise(&delay_id, Outcome::Cancel, Reason::Action, None).await {
                        tracing::warn!(delay_id, error = %e, "could not record a superseded delayed event");
                    }
                    continue;
                }
            }
            let due = self.pending().take_due(now_ms());
            for delay_id in due {
                if let Err(e) = self.fire(&delay_id, Reason::Delay).await {
                    // Recorded as failed where possible; otherwise it is
                    // scheduled in the store and fires again after a restart.
                    tracing::warn!(delay_id, error = %e, "a delayed event could not be finalised");
                }
            }
        }
    }
}

/// The errcode a client would get for `error`, for a failed send's record.
fn errcode_of(error: &Error) -> &'static str {
    match error {
        Error::Forbidden(_) => "M_FORBIDDEN",
        Error::NotFound(_) => "M_NOT_FOUND",
        Error::BadJson(_) => "M_BAD_JSON",
        Error::LimitExceeded { .. } => "M_LIMIT_EXCEEDED",
        _ => "M_UNKNOWN",
    }
}

impl StateObserver for DelayedEvents {
    fn state_written(&self, room_id: &RoomId, pdu: &Pdu) {
        let Some(state_key) = &pdu.state_key else { return };
        let slot: StateSlot = (room_id.to_owned(), pdu.kind.to_string(), state_key.clone());
        let superseded = {
            let mut pending = self.pending();
            if !pending.has_slot(&slot) {
                return;
            }
            pending.take_superseded(&slot, &pdu.sender)
        };
        for delay_id in superseded {
            let _ = self.superseded.send(delay_id);
        }
    }
}
