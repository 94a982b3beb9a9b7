//! Typing notifications (spec: "Typing notifications"): in memory only —
//! they expire within seconds and are worthless after a restart. In a
//! cluster each change is also announced to the other processes
//! ([`crate::typing_relay`]), which apply it to their own copy.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};

/// Longest a client may ask to be shown typing.
const MAX_TIMEOUT: Duration = Duration::from_secs(120);
/// How many changes are remembered for incremental syncs; a sync older
/// than that gets the rooms' current typing state.
const LOG_LENGTH: usize = 10_000;

#[derive(Default)]
struct State {
    rooms: HashMap<OwnedRoomId, HashMap<OwnedUserId, Instant>>,
    /// Microseconds since the epoch of the last change (or one more than
    /// the last): comparable between the processes of a cluster, so a
    /// client's token from one process means the same on another.
    serial: u64,
    /// `(serial, room)` of recent changes, oldest first.
    log: VecDeque<(u64, OwnedRoomId)>,
    /// The log holds every change with a serial above this (serials are
    /// not consecutive: the log's first entry says nothing about what was
    /// dropped before it).
    logged_after: u64,
}

#[derive(Default)]
pub struct Typing {
    state: Mutex<State>,
    relay: std::sync::OnceLock<std::sync::Arc<crate::typing_relay::TypingRelay>>,
}

impl State {
    fn bump(&mut self, room_id: &RoomId) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.serial = (self.serial + 1).max(u64::try_from(now.as_micros()).unwrap_or(u64::MAX));
        self.log.push_back((self.serial, room_id.to_owned()));
        if self.log.len() > LOG_LENGTH
            && let Some((dropped, _)) = self.log.pop_front()
        {
            self.logged_after = dropped;
        }
    }
}

impl Typing {
    /// Sets or clears a user's typing; returns whether anything changed
    /// (so that the room's members need waking).
    pub fn set(&self, room_id: &RoomId, user: &UserId, typing: Option<Duration>) -> bool {
        let changed = self.apply(room_id, user, typing);
        if changed && let Some(relay) = self.relay.get() {
            relay.announce(room_id, user, typing);
        }
        changed
    }

    /// In a cluster: announces every change to the other processes.
    pub fn set_relay(&self, relay: std::sync::Arc<crate::typing_relay::TypingRelay>) {
        let _ = self.relay.set(relay);
    }

    pub fn relay(&self) -> Option<&std::sync::Arc<crate::typing_relay::TypingRelay>> {
        self.relay.get()
    }

    /// [`Typing::set`] without announcing (a change another process
    /// announced).
    pub fn apply(&self, room_id: &RoomId, user: &UserId, typing: Option<Duration>) -> bool {
        let mut state = self.state.lock().expect("typing poisoned");
        let room = state.rooms.entry(room_id.to_owned()).or_default();
        let changed = match typing {
            Some(timeout) => room.insert(user.to_owned(), Instant::now() + timeout.min(MAX_TIMEOUT)).is_none(),
            None => room.remove(user).is_some(),
        };
        if room.is_empty() {
            state.rooms.remove(room_id);
        }
        if changed {
            state.bump(room_id);
        }
        changed
    }

    /// Drops expired entries; returns the rooms that changed.
    pub fn expire(&self) -> Vec<OwnedRoomId> {
        let now = Instant::now();
        let mut state = self.state.lock().expect("typing poisoned");
        let mut changed = Vec::new();
        for (room_id, users) in state.rooms.iter_mut() {
            let before = users.len();
            users.retain(|_, until| *until > now);
            if users.len() != before {
                changed.push(room_id.clone());
            }
        }
        state.rooms.retain(|_, users| !users.is_empty());
        for room_id in &changed {
            state.bump(room_id);
        }
        changed
    }

    pub fn serial(&self) -> u64 {
        self.state.lock().expect("typing poisoned").serial
    }

    /// Who is typing in a room now.
    pub fn typing_in(&self, room_id: &RoomId) -> Vec<OwnedUserId> {
        let now = Instant::now();
        let state = self.state.lock().expect("typing poisoned");
        let mut users: Vec<OwnedUserId> = state
            .rooms
            .get(room_id)
            .map(|users| users.iter().filter(|(_, until)| **until > now).map(|(u, _)| u.clone()).collect())
            .unwrap_or_default();
        users.sort();
        users
    }

    /// Rooms whose typing changed after serial `since`; `None` when the log
    /// no longer reaches back that far (then every room counts as changed).
    pub fn changed_since(&self, since: u64) -> Option<Vec<OwnedRoomId>> {
        let state = self.state.lock().expect("typing poisoned");
        if since >= state.serial {
            return Some(Vec::new());
        }
        if since < state.logged_after {
            return None;
        }
        let mut rooms: Vec<OwnedRoomId> =
            state.log.iter().filter(|(s, _)| *s > since).map(|(_, r)| r.clone()).collect();
        rooms.sort();
        rooms.dedup();
        Some(rooms)
    }
}

#[cfg(test)]
mod tests {
    use ruma::{room_id, user_id};

    use super::*;

    #[test]
    fn typing_starts_stops_and_is_logged_for_incremental_syncs() {
        let typing = Typing::default();
        let room = room_id!("!r:x");
        let start = typing.serial();
        assert!(typing.set(room, user_id!("@a:x"), Some(Duration::from_secs(30))));
        assert_eq!(typing.typing_in(room), vec![user_id!("@a:x").to_owned()]);
        assert_eq!(typing.changed_since(start), Some(vec![room.to_owned()]));
        assert_eq!(typing.changed_since(typing.serial()), Some(vec![]));
        assert!(typing.set(room, user_id!("@a:x"), None));
        assert!(typing.typing_in(room).is_empty());
        assert!(!typing.set(room, user_id!("@a:x"), None), "stopping twice changes nothing");
    }

    #[test]
    fn a_sync_older_than_the_log_counts_every_room_as_changed() {
        let typing = Typing::default();
        let start = typing.serial();
        let room = room_id!("!r:x");
        for _ in 0..=LOG_LENGTH / 2 {
            typing.set(room, user_id!("@a:x"), Some(Duration::from_secs(30)));
            typing.set(room, user_id!("@a:x"), None);
        }
        assert_eq!(typing.changed_since(start), None, "the oldest changes were dropped");
        let recent = typing.serial();
        typing.set(room_id!("!s:x"), user_id!("@a:x"), Some(Duration::from_secs(30)));
        assert_eq!(typing.changed_since(recent), Some(vec![room_id!("!s:x").to_owned()]));
        assert!(typing.serial() > recent, "serials grow");
    }

    #[test]
    fn typing_expires() {
        let typing = Typing::default();
        let room = room_id!("!r:x");
        typing.set(room, user_id!("@a:x"), Some(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(typing.expire(), vec![room.to_owned()]);
        assert!(typing.typing_in(room).is_empty());
    }
}
