//! Presence (spec: "Presence"): online, unavailable or offline, with a
//! status message. Changes reach the users who share a room, through the
//! change feed; activity itself (every sync) stays in memory, so a busy
//! client costs no writes.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nexus_storage::catalog::PRESENCE;
use nexus_storage::{Store, WriteBatch};
use ruma::{OwnedServerName, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::changes::{Change, Changes};
use crate::federation::outbox::{Item, Outbox};
use crate::rooms::Rooms;
use crate::settings::PresenceSettings;
use crate::stream::Stream;
use crate::values::{decode, encode, now_ms};
use crate::{Error, Result};

pub const STATES: [&str; 3] = ["online", "unavailable", "offline"];

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Status {
    presence: String,
    status_msg: Option<String>,
    last_active_ts: u64,
    stream_ordering: u64,
}

pub struct Presence {
    store: Arc<dyn Store>,
    stream: Arc<Stream>,
    changes: Arc<Changes>,
    rooms: Arc<Rooms>,
    settings: PresenceSettings,
    outbox: Arc<Outbox>,
    /// Last activity seen, newer than what is stored.
    active: Mutex<HashMap<OwnedUserId, u64>>,
    /// Set once at start: presence for the appservices that asked for
    /// ephemeral events (MSC2409).
    appservices: std::sync::OnceLock<Arc<crate::appservice::Appservices>>,
    /// In a cluster: each user's last activity as every process saw it, so
    /// a process the user's client stopped reaching does not mark them
    /// offline while they are active through another.
    shared_activity: std::sync::OnceLock<nexus_storage::redis_channel::RedisKeys>,
}

/// How stale the shared copy of a user's activity may get (one write per
/// user per this interval, not one per request), at most: a third of the
/// offline delay, which is also the copy's lifetime.
const SHARE_ACTIVITY_EVERY_MS: u64 = 10_000;

fn activity_key(user: &UserId) -> String {
    format!("nexus:presence:active:{user}")
}

impl Presence {
    pub fn new(
        store: Arc<dyn Store>,
        stream: Arc<Stream>,
        changes: Arc<Changes>,
        rooms: Arc<Rooms>,
        settings: PresenceSettings,
        outbox: Arc<Outbox>,
    ) -> Self {
        Presence {
            store,
            stream,
            changes,
            rooms,
            settings,
            outbox,
            active: Mutex::new(HashMap::new()),
            appservices: std::sync::OnceLock::new(),
            shared_activity: std::sync::OnceLock::new(),
        }
    }

    /// In a cluster: shares activity through these keys.
    pub fn share_activity(&self, keys: nexus_storage::redis_channel::RedisKeys) {
        let _ = self.shared_activity.set(keys);
    }

    /// Records activity now, locally and (at most every
    /// [`SHARE_ACTIVITY_EVERY_MS`]) for the other processes.
    async fn note_active(&self, user: &UserId, now: u64) -> Result<()> {
        let before = self.active.lock().expect("presence poisoned").insert(user.to_owned(), now);
        let ttl = Duration::from_secs(self.settings.offline_after_secs.max(1));
        let every = SHARE_ACTIVITY_EVERY_MS.min(u64::try_from(ttl.as_millis() / 3).unwrap_or(u64::MAX));
        if let Some(keys) = self.shared_activity.get()
            && before.is_none_or(|then| then + every <= now)
        {
            keys.set_for(&activity_key(user), now, ttl).await?;
        }
        Ok(())
    }

    /// Installs the application services (once; later calls are ignored).
    pub fn set_appservices(&self, appservices: Arc<crate::appservice::Appservices>) {
        let _ = self.appservices.set(appservices);
    }

    /// Adds a presence change to the queues of the appservices it
    /// concerns; returns their ids, to wake after the batch is written.
    async fn for_appservices(
        &self,
        batch: &mut WriteBatch,
        user: &UserId,
        status: &Status,
        local_audience: &[&UserId],
    ) -> Result<Vec<String>> {
        let Some(appservices) = self.appservices.get() else { return Ok(Vec::new()) };
        let mut content = json!({
            "presence": status.presence,
            "last_active_ago": now_ms().saturating_sub(status.last_active_ts),
            "currently_active": status.presence == "online",
        });
        if let Some(msg) = &status.status_msg {
            content["status_msg"] = json!(msg);
        }
        let event = json!({ "type": "m.presence", "sender": user, "content": content });
        appservices.presence(batch, user, local_audience, &event).await
    }

    fn wake_appservices(&self, ids: &[String]) {
        if let Some(appservices) = self.appservices.get() {
            appservices.wake(ids);
        }
    }

    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    fn check_enabled(&self) -> Result<()> {
        if self.settings.enabled {
            Ok(())
        } else {
            Err(Error::Forbidden("presence is disabled on this server".to_owned()))
        }
    }

    async fn stored(&self, user: &UserId) -> Result<Option<Status>> {
        let bytes = self.store.get(&PRESENCE, user.as_str().as_bytes()).await?;
        bytes.map(|b| decode(&PRESENCE, &b)).transpose()
    }

    async fn audience(&self, user: &UserId) -> Result<BTreeSet<OwnedUserId>> {
        self.rooms.shared_audience(user).await
    }

    /// `PUT /presence/{userId}/status`, or a sync's `set_presence`.
    pub async fn set(&self, user: &UserId, presence: &str, status_msg: Option<Option<String>>) -> Result<()> {
        self.check_enabled()?;
        if !STATES.contains(&presence) {
            return Err(Error::InvalidParam(format!("presence must be one of {STATES:?}")));
        }
        let now = now_ms();
        self.note_active(user, now).await?;
        let previous = self.stored(user).await?;
        let status_msg = match status_msg {
            Some(msg) => msg,
            None => previous.as_ref().and_then(|p| p.status_msg.clone()),
        };
        if previous.as_ref().is_some_and(|p| p.presence == presence && p.status_msg == status_msg) {
            return Ok(());
        }
        let reservation = self.stream.reserve().await?;
        let status = Status {
            presence: presence.to_owned(),
            status_msg,
            last_active_ts: now,
            stream_ordering: reservation.ordering,
        };
        let audience = self.audience(user).await?;
        let mut batch = WriteBatch::new();
        batch.put(&PRESENCE, user.as_str().as_bytes(), encode(&status));
        let local: Vec<&UserId> = audience.iter().map(AsRef::as_ref).filter(|u: &&UserId| self.is_local(u)).collect();
        self.changes.record(
            &mut batch,
            local.iter().copied(),
            reservation.ordering,
            &Change::Presence(user.to_owned()),
        );
        // Servers sharing a room with the user hear of it too.
        let servers: Vec<OwnedServerName> = audience
            .iter()
            .map(|u| u.server_name().to_owned())
            .filter(|s| *s != *self.rooms.server_name())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if self.is_local(user) && !servers.is_empty() {
            let mut entry = json!({
                "user_id": user,
                "presence": presence,
                "last_active_ago": 0,
                "currently_active": presence == "online",
            });
            if let Some(msg) = &status.status_msg {
                entry["status_msg"] = json!(msg);
            }
            let edu = json!({ "edu_type": "m.presence", "content": { "push": [entry] } });
            self.outbox.enqueue(&mut batch, &servers, reservation.ordering, &Item::Edu(edu));
        }
        let for_appservices = self.for_appservices(&mut batch, user, &status, &local).await?;
        self.store.write(batch).await?;
        drop(reservation);
        self.changes.wake(local.iter().copied());
        self.outbox.wake(&servers);
        self.wake_appservices(&for_appservices);
        Ok(())
    }

    fn is_local(&self, user: &UserId) -> bool {
        user.server_name() == self.rooms.server_name()
    }

    /// An `m.presence` EDU from another server: its users' presence, for
    /// the local users who share a room with them.
    pub async fn receive_remote(&self, origin: &ruma::ServerName, content: &Value) -> Result<()> {
        if !self.settings.enabled {
            return Ok(());
        }
        for entry in content.get("push").and_then(Value::as_array).into_iter().flatten() {
            let Some(user) = entry.get("user_id").and_then(Value::as_str).and_then(|u| UserId::parse(u).ok()) else {
                continue;
            };
            let presence = entry.get("presence").and_then(Value::as_str).unwrap_or_default();
            if user.server_name() != origin || !STATES.contains(&presence) {
                continue;
            }
            let ago = entry.get("last_active_ago").and_then(Value::as_u64).unwrap_or(0);
            let reservation = self.stream.reserve().await?;
            let status = Status {
                presence: presence.to_owned(),
                status_msg: entry.get("status_msg").and_then(Value::as_str).map(str::to_owned),
                last_active_ts: now_ms().saturating_sub(ago),
                stream_ordering: reservation.ordering,
            };
            let audience = self.audience(&user).await?;
            let local: Vec<&UserId> =
                audience.iter().map(AsRef::as_ref).filter(|u: &&UserId| self.is_local(u)).collect();
            if local.is_empty() {
                continue;
            }
            let mut batch = WriteBatch::new();
            batch.put(&PRESENCE, user.as_str().as_bytes(), encode(&status));
            self.changes.record(
                &mut batch,
                local.iter().copied(),
                reservation.ordering,
                &Change::Presence(user.clone()),
            );
            let for_appservices = self.for_appservices(&mut batch, &user, &status, &local).await?;
            self.store.write(batch).await?;
            drop(reservation);
            self.changes.wake(local.iter().copied());
            self.wake_appservices(&for_appservices);
        }
        Ok(())
    }

    /// A sync's `set_presence` (default `online`): activity, and a change of
    /// state when it differs.
    pub async fn touch(&self, user: &UserId, presence: Option<&str>) -> Result<()> {
        if !self.settings.enabled {
            return Ok(());
        }
        self.set(user, presence.unwrap_or("online"), None).await
    }

    /// The `m.presence` content of a user.
    pub async fn content(&self, user: &UserId) -> Result<Value> {
        let stored = self.stored(user).await?;
        let last_active = self.active.lock().expect("presence poisoned").get(user).copied();
        let presence = stored.as_ref().map_or("offline", |s| s.presence.as_str());
        let last_active = last_active.or(stored.as_ref().map(|s| s.last_active_ts));
        let mut content = json!({ "presence": presence });
        if let Some(ts) = last_active {
            let ago = now_ms().saturating_sub(ts);
            content["last_active_ago"] = json!(ago);
            content["currently_active"] = json!(presence == "online" && ago < 60_000);
        }
        if let Some(msg) = stored.and_then(|s| s.status_msg) {
            content["status_msg"] = json!(msg);
        }
        Ok(content)
    }

    /// `GET /presence/{userId}/status`: for users who share a room (or
    /// oneself).
    pub async fn get(&self, viewer: &UserId, user: &UserId) -> Result<Value> {
        self.check_enabled()?;
        if viewer != user && !self.audience(viewer).await?.contains(user) {
            return Err(Error::Forbidden("you share no room with this user".to_owned()));
        }
        self.content(user).await
    }

    /// Presence events for a sync: the users named (changed), or, for an
    /// initial sync, everyone sharing a room.
    pub async fn events(&self, viewer: &UserId, changed: Option<BTreeSet<OwnedUserId>>) -> Result<Vec<Value>> {
        if !self.settings.enabled {
            return Ok(Vec::new());
        }
        let users = match changed {
            Some(users) => users,
            None => self.audience(viewer).await?,
        };
        let mut events = Vec::with_capacity(users.len());
        for user in users {
            if self.stored(&user).await?.is_some() {
                events.push(json!({ "type": "m.presence", "sender": user, "content": self.content(&user).await? }));
            }
        }
        Ok(events)
    }

    /// Takes offline the users whose clients stopped syncing.
    pub async fn expire(&self) -> Result<()> {
        let cutoff = now_ms().saturating_sub(Duration::from_secs(self.settings.offline_after_secs).as_millis() as u64);
        let idle: Vec<OwnedUserId> = {
            let mut active = self.active.lock().expect("presence poisoned");
            let idle: Vec<OwnedUserId> =
                active.iter().filter(|(_, ts)| **ts < cutoff).map(|(u, _)| u.clone()).collect();
            for user in &idle {
                active.remove(user);
            }
            idle
        };
        for user in idle {
            if let Some(keys) = self.shared_activity.get()
                && let Some(seen) = keys.get(&activity_key(&user)).await?
                && seen >= cutoff
            {
                // Active through another process of the cluster.
                self.active.lock().expect("presence poisoned").insert(user, seen);
                continue;
            }
            if self.stored(&user).await?.is_some_and(|s| s.presence != "offline") {
                self.set(&user, "offline", None).await?;
                self.active.lock().expect("presence poisoned").remove(&user);
            }
        }
        Ok(())
    }
}
