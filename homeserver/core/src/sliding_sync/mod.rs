//! Simplified sliding sync (MSC4186 as ruma's `sync_events::v5`, Synapse
//! and matrix-sdk speak it): lists of the user's rooms by recency with
//! exact counts, room subscriptions, and the to-device, e2ee, account
//! data, receipts and typing extensions.
//!
//! A connection (user, device, `conn_id`) keeps, per `pos`, what the
//! client holds ([`connection::Connection`]), so a later request sends
//! only rooms that changed (read from the change feed since that
//! position), or whose configuration grew. Every event goes through the
//! rooms service's visibility checks (`Rooms::timeline_since`), and state
//! is the current state for joined rooms, the state at the user's
//! membership event otherwise.

mod connection;
pub mod request;
mod rooms;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nexus_storage::Store;
use ruma::{DeviceId, OwnedRoomId, UserId};
use serde_json::{Map, Value, json};

use crate::account_data::AccountData;
use crate::changes::{Change, Changes};
use crate::e2ee::E2ee;
use crate::e2ee::to_device::PER_SYNC;
use crate::push::Push;
use crate::receipts::Receipts;
use crate::rooms::Rooms;
use crate::stream::Stream;
use crate::typing::Typing;
use crate::{Error, Result};
pub use connection::Connection;
use connection::Connections;
pub use request::Request;

/// The longest a long-poll waits, whatever the client asks.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

pub struct SlidingSync {
    connections: Connections,
    rooms: Arc<Rooms>,
    changes: Arc<Changes>,
    stream: Arc<Stream>,
    typing: Arc<Typing>,
    receipts: Arc<Receipts>,
    account_data: Arc<AccountData>,
    push: Arc<Push>,
    e2ee: Arc<E2ee>,
}

/// What the change feed says changed since the connection's position.
#[derive(Default)]
struct Feed {
    rooms: BTreeSet<OwnedRoomId>,
    receipts: BTreeSet<OwnedRoomId>,
    global_account_data: bool,
    room_account_data: BTreeSet<OwnedRoomId>,
}

/// One pass over the user's data: the body, whether it carries anything a
/// long-poll should return for, and the connection state it leaves.
struct Pass {
    body: Map<String, Value>,
    has_content: bool,
    connection: Connection,
}

/// The services a pass reads.
pub struct Parts {
    pub rooms: Arc<Rooms>,
    pub changes: Arc<Changes>,
    pub stream: Arc<Stream>,
    pub typing: Arc<Typing>,
    pub receipts: Arc<Receipts>,
    pub account_data: Arc<AccountData>,
    pub push: Arc<Push>,
    pub e2ee: Arc<E2ee>,
}

impl SlidingSync {
    pub fn new(store: Arc<dyn Store>, parts: Parts, idle: Duration) -> Self {
        let Parts { rooms, changes, stream, typing, receipts, account_data, push, e2ee } = parts;
        SlidingSync {
            connections: Connections::new(store, u64::try_from(idle.as_millis()).unwrap_or(u64::MAX)),
            rooms,
            changes,
            stream,
            typing,
            receipts,
            account_data,
            push,
            e2ee,
        }
    }

    /// Answers one request. `pos` continues a connection (unknown, expired
    /// or another device's: `M_UNKNOWN_POS`); without it the connection
    /// starts over and the answer comes at once. Otherwise the request
    /// waits up to `timeout` for something to send.
    pub async fn sync(
        &self,
        user: &UserId,
        device: &DeviceId,
        pos: Option<&str>,
        timeout: Duration,
        request: Request,
    ) -> Result<Value> {
        request.validate()?;
        if let Some(since) = &request.extensions.to_device.since
            && since.parse::<u64>().is_err()
        {
            return Err(Error::InvalidParam(format!("to_device since {since:?} is not a token of this server")));
        }
        let conn_id = request.conn_id.clone().unwrap_or_default();
        let (used, previous) = match pos {
            Some(pos) => {
                let (number, connection) = self.connections.load(user, device, &conn_id, pos).await?;
                (Some(number), connection)
            }
            None => {
                self.connections.forget(user, device, &conn_id).await?;
                (None, Connection { generation: rand::random::<u64>() >> 1, ..Connection::default() })
            }
        };
        let deadline = Instant::now() + timeout.min(MAX_TIMEOUT);
        let subscriptions = self.changes.subscribe(user).await?;
        self.stream.catch_up().await?;
        let pass = loop {
            // Armed before looking, so a change landing between the look
            // and the wait still wakes us.
            let woken = subscriptions.armed();
            let pass = self.pass(user, device, &previous, &request).await?;
            let now = Instant::now();
            if pass.has_content || used.is_none() || now >= deadline {
                break pass;
            }
            if tokio::time::timeout(deadline - now, woken).await.is_err() {
                break self.pass(user, device, &previous, &request).await?;
            }
        };
        let mut connection = pass.connection;
        connection.generation = previous.generation;
        connection.created_ms = crate::values::now_ms();
        connection.compact();
        let pos = self.connections.save(user, device, &conn_id, used, &connection).await?;
        let mut body = pass.body;
        body.insert("pos".to_owned(), json!(pos));
        if let Some(txn_id) = request.txn_id {
            body.insert("txn_id".to_owned(), json!(txn_id));
        }
        Ok(Value::Object(body))
    }

    /// Forgets connections idle past the configured period.
    pub async fn expire(&self) -> Result<usize> {
        self.connections.expire().await
    }

    async fn feed(&self, user: &UserId, since: u64, upto: u64) -> Result<Feed> {
        let mut feed = Feed::default();
        for (_, change) in self.changes.since(user, since, upto).await? {
            match change {
                Change::Room(room) => {
                    feed.rooms.insert(room);
                }
                Change::Receipt(room) => {
                    feed.receipts.insert(room);
                }
                Change::AccountData(None) => feed.global_account_data = true,
                Change::AccountData(Some(room)) => {
                    feed.room_account_data.insert(room);
                }
                Change::Presence(_) | Change::DeviceList(_) | Change::ToDevice => {}
            }
        }
        Ok(feed)
    }

    async fn pass(&self, user: &UserId, device: &DeviceId, previous: &Connection, request: &Request) -> Result<Pass> {
        let upto = self.stream.current();
        let typing_serial = self.typing.serial();
        let since = previous.stream;
        let feed = match since {
            Some(since) => self.feed(user, since, upto).await?,
            None => Feed::default(),
        };
        let mut connection = Connection { stream: Some(upto), typing: typing_serial, ..Connection::default() };
        connection.configs = previous.configs.clone();

        let shown = self.shown_rooms(user, since, upto, request, previous, &feed, &mut connection).await?;
        let mut has_content = connection.lists != previous.lists;
        let mut lists = Map::new();
        for (name, count) in &connection.lists {
            lists.insert(name.clone(), json!({ "count": count }));
        }

        let mut rooms_out = Map::new();
        let mut newly_sent: BTreeSet<OwnedRoomId> = BTreeSet::new();
        for (room_id, room) in &shown {
            let sent = previous.rooms.get(room_id);
            let built = self.room(user, device, room_id, room, sent, previous, since, upto, &feed).await?;
            if sent.is_none() {
                newly_sent.insert(room_id.clone());
            }
            let (entry, record) = match built {
                // What the client holds stays as it was sent.
                rooms::Built::Unchanged => (None, sent.cloned().expect("unchanged rooms were sent before")),
                rooms::Built::Sent(entry, mut record) => {
                    record.config = connection.config_index(&room.config.required_state);
                    (Some(entry), record)
                }
            };
            if let Some(entry) = entry {
                rooms_out.insert(room_id.to_string(), Value::Object(entry));
            }
            connection.rooms.insert(room_id.clone(), record);
        }
        has_content |= !rooms_out.is_empty();

        let mut body = Map::new();
        body.insert("lists".to_owned(), Value::Object(lists));
        body.insert("rooms".to_owned(), Value::Object(rooms_out));
        let extensions = self
            .extensions(user, device, request, &shown, &newly_sent, previous, upto, &feed, &mut has_content)
            .await?;
        body.insert("extensions".to_owned(), Value::Object(extensions));
        Ok(Pass { body, has_content, connection })
    }

    #[allow(clippy::too_many_arguments)]
    async fn extensions(
        &self,
        user: &UserId,
        device: &DeviceId,
        request: &Request,
        shown: &BTreeMap<OwnedRoomId, rooms::Shown>,
        newly_sent: &BTreeSet<OwnedRoomId>,
        previous: &Connection,
        upto: u64,
        feed: &Feed,
        has_content: &mut bool,
    ) -> Result<Map<String, Value>> {
        let since = previous.stream;
        let config = &request.extensions;
        let mut out = Map::new();

        if config.to_device.enabled == Some(true) {
            let to_device_since = config.to_device.since.as_deref().map(str::parse::<u64>).transpose().ok().flatten();
            let limit = config.to_device.limit.map_or(PER_SYNC, |l| usize::try_from(l).unwrap_or(PER_SYNC));
            let (events, cut) = self
                .e2ee
                .to_device
                .for_sync_limited(user, device, to_device_since, upto, limit.clamp(1, PER_SYNC))
                .await?;
            let next = cut.unwrap_or(upto);
            *has_content |= !events.is_empty();
            out.insert("to_device".to_owned(), json!({ "next_batch": next.to_string(), "events": events }));
        }

        if config.e2ee.enabled == Some(true) {
            let mut e2ee = Map::new();
            if let Some(since) = since {
                let (changed, left) = self.e2ee.keys.changes_between(user, since, upto).await?;
                *has_content |= !changed.is_empty() || !left.is_empty();
                e2ee.insert("device_lists".to_owned(), json!({ "changed": changed, "left": left }));
            }
            e2ee.insert(
                "device_one_time_keys_count".to_owned(),
                Value::Object(self.e2ee.keys.one_time_key_counts(user, device).await?),
            );
            e2ee.insert(
                "device_unused_fallback_key_types".to_owned(),
                json!(self.e2ee.keys.unused_fallback_types(user, device).await?),
            );
            out.insert("e2ee".to_owned(), Value::Object(e2ee));
        }

        let covered = |extension: &request::RoomsExtension, room_id: &OwnedRoomId, room: &rooms::Shown| {
            let lists: Vec<&str> = room.lists.iter().map(String::as_str).collect();
            extension.covers(room_id.as_str(), &lists, room.subscribed)
        };

        if config.account_data.on() {
            let mut global = Vec::new();
            match since {
                None => {
                    // Rules never written are the defaults; clients need them.
                    if self.account_data.get(user, None, crate::push::PUSH_RULES).await?.is_none() {
                        let ruleset = self.push.ruleset(user).await?;
                        global.push(json!({ "type": crate::push::PUSH_RULES, "content": { "global": *ruleset } }));
                    }
                    for (kind, content) in self.account_data.changed(user, None, None).await? {
                        global.push(json!({ "type": kind, "content": content }));
                    }
                }
                Some(since) if feed.global_account_data => {
                    for (kind, content) in self.account_data.changed(user, None, Some(since)).await? {
                        global.push(json!({ "type": kind, "content": content }));
                    }
                }
                Some(_) => {}
            }
            let mut rooms = Map::new();
            for (room_id, room) in shown {
                if !covered(&config.account_data, room_id, room) {
                    continue;
                }
                let from = if newly_sent.contains(room_id) {
                    None
                } else if feed.room_account_data.contains(room_id) {
                    since
                } else {
                    continue;
                };
                let events: Vec<Value> = self
                    .account_data
                    .changed(user, Some(room_id), from)
                    .await?
                    .into_iter()
                    .map(|(kind, content)| json!({ "type": kind, "content": content }))
                    .collect();
                if !events.is_empty() {
                    rooms.insert(room_id.to_string(), Value::Array(events));
                }
            }
            *has_content |= !global.is_empty() || !rooms.is_empty();
            out.insert("account_data".to_owned(), json!({ "global": global, "rooms": rooms }));
        }

        if config.receipts.on() {
            let mut rooms = Map::new();
            for (room_id, room) in shown {
                if !covered(&config.receipts, room_id, room) || !room.can_read {
                    continue;
                }
                let from = if newly_sent.contains(room_id) {
                    None
                } else if feed.receipts.contains(room_id) {
                    since
                } else {
                    continue;
                };
                if let Some(receipts) = self.receipts.for_sync(room_id, user, from).await? {
                    rooms.insert(room_id.to_string(), receipts);
                }
            }
            *has_content |= !rooms.is_empty();
            out.insert("receipts".to_owned(), json!({ "rooms": rooms }));
        }

        if config.typing.on() {
            // The typing log lives in memory: after a restart (or when the
            // log no longer reaches back) every room counts as changed.
            let changed: Option<BTreeSet<OwnedRoomId>> = if since.is_none() || previous.typing > self.typing.serial() {
                None
            } else {
                self.typing.changed_since(previous.typing).map(|rooms| rooms.into_iter().collect())
            };
            let mut rooms = Map::new();
            for (room_id, room) in shown {
                if !covered(&config.typing, room_id, room) || !room.joined {
                    continue;
                }
                let users = self.typing.typing_in(room_id);
                let send = if newly_sent.contains(room_id) || since.is_none() {
                    !users.is_empty()
                } else {
                    changed.as_ref().is_none_or(|c| c.contains(room_id))
                };
                if send {
                    rooms.insert(room_id.to_string(), json!({ "type": "m.typing", "content": { "user_ids": users } }));
                }
            }
            *has_content |= !rooms.is_empty() && since.is_some();
            out.insert("typing".to_owned(), json!({ "rooms": rooms }));
        }
        Ok(out)
    }
}
