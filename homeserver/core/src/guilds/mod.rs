//! Nexus servers: the Discord-style layer of `extensions-spec/` run by the
//! homeserver. A server is a space holding `nexus.server`, roles and member
//! entries; its channels are child rooms with `nexus.channel` and
//! overwrites. This service
//!
//! * judges local users' events in those rooms before they are built
//!   (`gate`: §14 update rules, §16 Nexus-enforced permissions);
//! * keeps every room's power levels compiled from that state (`recompile`);
//! * offers the operations Nexus clients and bots use (`manage`: servers,
//!   channels, roles, member roles, timeouts, effective permissions), and
//!   Discord-style invite codes (`invites`);
//! * runs threads (`threads`: archival on time, revival, locked and private
//!   threads), scheduled events (`scheduled_events`: statuses on time,
//!   RSVPs) and pins (`pins`), with the durable `timers` behind them.
//!
//! It reads rooms through `crate::rooms` and changes them only by sending
//! events as users; it owns the maps of its jobs, timeouts, invite codes,
//! timers and RSVPs.

pub mod audit_log;
pub mod channels;
mod context;
mod effective;
pub mod emoji;
mod gate;
pub mod invites;
pub mod manage;
mod member_purge;
pub mod notification_levels;
mod pins;
mod poll_limits;
mod recompile;
mod scheduled_events;
mod slowmode;
mod threads;
mod timers;
mod views;
mod visibility;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use nexus_storage::{Store, WriteBatch};
use ruma::{OwnedRoomId, RoomId, UserId};

pub use context::{Channel, Scope, Server};
pub use views::InvitePreview;

use crate::Result;
use crate::rooms::pdu::Pdu;
use crate::rooms::{NewEvent, RoomPolicy, Rooms};
use crate::values::now_ms;

pub struct Guilds {
    store: Arc<dyn Store>,
    rooms: Arc<Rooms>,
    profiles: Arc<crate::profiles::Profiles>,
    settings: crate::settings::GuildSettings,
    slowmode: slowmode::LastPosts,
    jobs_waiting: tokio::sync::Notify,
    /// Spaces' server state, dropped whenever an event changes it, so the
    /// gate reads a server once rather than per message.
    servers: Mutex<HashMap<OwnedRoomId, Arc<Server>>>,
    /// Bumped on every drop from `servers`: a load that raced a change is
    /// not cached.
    servers_generation: AtomicU64,
}

/// Spaces kept in memory before the cache starts over.
const CACHED_SERVERS: usize = 4096;

impl Guilds {
    pub fn new(
        store: Arc<dyn Store>,
        rooms: Arc<Rooms>,
        profiles: Arc<crate::profiles::Profiles>,
        settings: crate::settings::GuildSettings,
    ) -> Arc<Self> {
        let guilds = Arc::new(Guilds {
            store,
            rooms: rooms.clone(),
            profiles,
            settings,
            slowmode: slowmode::LastPosts::default(),
            jobs_waiting: tokio::sync::Notify::new(),
            servers: Mutex::new(HashMap::new()),
            servers_generation: AtomicU64::new(0),
        });
        let weak: std::sync::Weak<dyn RoomPolicy> = Arc::downgrade(&guilds) as std::sync::Weak<dyn RoomPolicy>;
        rooms.set_policy(weak);
        guilds
    }

    /// Background work: the recompiler, ending timeouts on time, and the
    /// timers of threads and scheduled events (`timers`).
    pub async fn run(self: Arc<Self>) {
        tokio::spawn(self.clone().run_recompiler());
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        // After a slow round, one tick, not a burst of the missed ones.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.expire_timeouts().await {
                tracing::warn!(error = %e, "could not end timeouts");
            }
            if let Err(e) = self.run_due_timers().await {
                tracing::warn!(error = %e, "could not run thread and scheduled event timers");
            }
        }
    }

    fn cached_server(&self, space: &RoomId) -> Option<Arc<Server>> {
        // In a cluster another process may change the server's roles.
        if self.store.cluster().is_some() {
            return None;
        }
        self.servers.lock().expect("server cache poisoned").get(space).cloned()
    }

    fn cache_server(&self, server: Arc<Server>, generation: u64) {
        if self.store.cluster().is_some() {
            return;
        }
        let mut servers = self.servers.lock().expect("server cache poisoned");
        if self.servers_generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if servers.len() >= CACHED_SERVERS {
            servers.clear();
        }
        servers.insert(server.space.clone(), server);
    }

    fn forget_server(&self, space: &RoomId) {
        let mut servers = self.servers.lock().expect("server cache poisoned");
        self.servers_generation.fetch_add(1, Ordering::SeqCst);
        servers.remove(space);
    }
}

#[async_trait]
impl RoomPolicy for Guilds {
    async fn check(&self, room_id: &RoomId, sender: &UserId, event: &NewEvent) -> Result<()> {
        self.check_local(room_id, sender, event).await
    }

    async fn judge_remote(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        pdu: &Pdu,
        state_before: &crate::rooms::state::StateIds,
    ) -> Result<()> {
        self.judge_remote_state(batch, room_id, pdu, state_before).await
    }

    async fn history_floor(&self, room_id: &RoomId, viewer: &UserId, joined_at: u64) -> Result<Option<u64>> {
        self.history_floor_of(room_id, viewer, joined_at).await
    }

    fn persisting(&self, batch: &mut WriteBatch, room_id: &RoomId, pdu: &Pdu) {
        if pdu.sender.server_name() == self.rooms.server_name() && pdu.kind.to_string().starts_with("nexus.") {
            self.clear_override(batch, room_id, pdu);
        }
        self.record_inputs(batch, room_id, pdu);
        self.record_audit(batch, room_id, pdu);
        self.record_thread_activity(batch, room_id, pdu);
        self.record_scheduled_event(batch, room_id, pdu);
        notification_levels::record_inputs(batch, self.rooms.server_name(), room_id, pdu);
    }

    async fn hides_thread(&self, room_id: &RoomId, viewer: &UserId, root: &ruma::EventId) -> Result<bool> {
        self.thread_hidden_from(room_id, viewer, root).await
    }

    fn persisted(&self, room_id: &RoomId, pdu: &Pdu) {
        let kind = pdu.kind.to_string();
        if pdu.state_key.is_some() && kind.starts_with("nexus.") {
            self.forget_server(room_id);
        }
        if pdu.state_key.is_none() && gate::is_post(&kind) && pdu.sender.server_name() == self.rooms.server_name() {
            self.slowmode.record(room_id, &pdu.sender, now_ms());
        }
        if pdu.state_key.is_some() {
            self.jobs_waiting.notify_one();
        }
    }
}
