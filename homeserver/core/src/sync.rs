//! `/sync` (spec: "Syncing"): what changed for a user since their token,
//! waiting on the bus when nothing did.
//!
//! An incremental sync reads the user's change feed since the token and
//! builds only the rooms named there (plus rooms whose typing changed), so
//! its cost follows what changed; an initial sync builds every room.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ruma::events::room::member::MembershipState;
use ruma::{DeviceId, OwnedRoomId, RoomId, UserId};
use serde_json::{Map, Value, json};

use crate::account_data::AccountData;
use crate::changes::{Change, Changes};
use crate::e2ee::E2ee;
use crate::filters::Filter;
use crate::presence::Presence;
use crate::push::{Push, counts_json};
use crate::receipts::Receipts;
use crate::rooms::Rooms;
use crate::stream::Stream;
use crate::typing::Typing;
use crate::{Error, Result};

/// The longest a long-poll waits, whatever the client asks.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_TIMELINE_LIMIT: usize = 10;

pub struct SyncRequest {
    pub since: Option<String>,
    /// `set_presence`: `None` means online, as the spec's default.
    pub set_presence: Option<String>,
    pub timeout: Duration,
    pub full_state: bool,
    pub filter: Filter,
}

/// A sync position: the stream ordering and the typing serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Token {
    stream: u64,
    typing: u64,
}

/// The stream position of a sync token (for `/keys/changes`).
pub fn token_position(raw: &str) -> Result<u64> {
    Ok(Token::parse(raw)?.stream)
}

impl Token {
    fn parse(raw: &str) -> Result<Self> {
        let invalid = || Error::InvalidParam(format!("{raw:?} is not a sync token of this server"));
        let (stream, typing) = raw.strip_prefix('n').and_then(|r| r.split_once('_')).ok_or_else(invalid)?;
        Ok(Token { stream: stream.parse().map_err(|_| invalid())?, typing: typing.parse().map_err(|_| invalid())? })
    }

    fn render(self) -> String {
        format!("n{}_{}", self.stream, self.typing)
    }
}

pub struct Sync {
    rooms: Arc<Rooms>,
    changes: Arc<Changes>,
    stream: Arc<Stream>,
    typing: Arc<Typing>,
    receipts: Arc<Receipts>,
    account_data: Arc<AccountData>,
    push: Arc<Push>,
    presence: Arc<Presence>,
    e2ee: Arc<E2ee>,
}

/// What one pass found; empty passes make a long-poll wait.
struct Pass {
    body: Value,
    has_content: bool,
}

impl Sync {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rooms: Arc<Rooms>,
        changes: Arc<Changes>,
        stream: Arc<Stream>,
        typing: Arc<Typing>,
        receipts: Arc<Receipts>,
        account_data: Arc<AccountData>,
        push: Arc<Push>,
        presence: Arc<Presence>,
        e2ee: Arc<E2ee>,
    ) -> Self {
        Sync { rooms, changes, stream, typing, receipts, account_data, push, presence, e2ee }
    }

    pub async fn sync(&self, user: &UserId, device: &DeviceId, request: SyncRequest) -> Result<Value> {
        let since = request.since.as_deref().map(Token::parse).transpose()?;
        self.presence.touch(user, request.set_presence.as_deref()).await?;
        let deadline = Instant::now() + request.timeout.min(MAX_TIMEOUT);
        let subscriptions = self.changes.subscribe(user).await?;
        self.stream.catch_up().await?;
        loop {
            // Armed before looking, so a change landing between the look
            // and the wait still wakes us.
            let woken = subscriptions.armed();
            let pass = self.pass(user, device, since, &request).await?;
            let now = Instant::now();
            if pass.has_content || since.is_none() || request.full_state || now >= deadline {
                return Ok(pass.body);
            }
            if tokio::time::timeout(deadline - now, woken).await.is_err() {
                return Ok(self.pass(user, device, since, &request).await?.body);
            }
        }
    }

    async fn pass(
        &self,
        user: &UserId,
        device: &DeviceId,
        since: Option<Token>,
        request: &SyncRequest,
    ) -> Result<Pass> {
        let mut upto = Token { stream: self.stream.current(), typing: self.typing.serial() };
        // To-device messages come first: when more are waiting than one
        // sync carries, the token stops after the last one sent, so that
        // the next sync's acknowledgement cannot drop the rest.
        let (to_device, to_device_cut) =
            self.e2ee.to_device.for_sync(user, device, since.map(|s| s.stream), upto.stream).await?;
        if let Some(last) = to_device_cut {
            upto.stream = last;
        }
        // full_state: everything as for an initial sync, but timelines still
        // start at the token (spec: `full_state`).
        let full_state_since = since.filter(|_| request.full_state).map(|s| s.stream);
        let since = since.filter(|_| !request.full_state);
        let mut device_lists_changed: BTreeSet<ruma::OwnedUserId> = BTreeSet::new();
        let mut device_lists_left: BTreeSet<ruma::OwnedUserId> = BTreeSet::new();
        let mut account_data_changed = since.is_none();
        let mut presence_changed: BTreeSet<ruma::OwnedUserId> = BTreeSet::new();
        let mut room_account_data: BTreeSet<OwnedRoomId> = BTreeSet::new();
        let mut timeline_changed: BTreeSet<OwnedRoomId> = BTreeSet::new();
        let mut receipts_changed: BTreeSet<OwnedRoomId> = BTreeSet::new();
        let mut typing_changed: BTreeSet<OwnedRoomId> = BTreeSet::new();
        let rooms: BTreeSet<OwnedRoomId> = match since {
            None => {
                let mut all = BTreeSet::new();
                for membership in [MembershipState::Join, MembershipState::Invite, MembershipState::Knock] {
                    all.extend(self.rooms.membership.rooms_of(user, &membership).await?);
                }
                if request.filter.room.include_leave {
                    all.extend(self.rooms.membership.rooms_of(user, &MembershipState::Leave).await?);
                    all.extend(self.rooms.membership.rooms_of(user, &MembershipState::Ban).await?);
                }
                all
            }
            Some(since) => {
                for (_, change) in self.changes.since(user, since.stream, upto.stream).await? {
                    match change {
                        Change::Room(room) => {
                            timeline_changed.insert(room);
                        }
                        Change::Receipt(room) => {
                            receipts_changed.insert(room);
                        }
                        Change::AccountData(None) => account_data_changed = true,
                        Change::AccountData(Some(room)) => {
                            room_account_data.insert(room);
                        }
                        Change::Presence(other) => {
                            presence_changed.insert(other);
                        }
                        Change::DeviceList(other) => {
                            device_lists_changed.insert(other);
                        }
                        // Read from the device's inbox above.
                        Change::ToDevice => {}
                    }
                }
                let typing = match self.typing.changed_since(since.typing) {
                    Some(rooms) => rooms,
                    None => self.rooms.membership.rooms_of(user, &MembershipState::Join).await?,
                };
                for room in typing {
                    if self.rooms.membership.is_joined(&room, user).await? {
                        typing_changed.insert(room);
                    }
                }
                timeline_changed
                    .iter()
                    .chain(&receipts_changed)
                    .chain(&typing_changed)
                    .chain(&room_account_data)
                    .cloned()
                    .collect()
            }
        };

        let mut join = Map::new();
        let mut invite = Map::new();
        let mut knock = Map::new();
        let mut leave = Map::new();
        for room_id in rooms {
            if !request.filter.room.allows_room(room_id.as_str()) {
                continue;
            }
            let fresh = since.is_none() || timeline_changed.contains(&room_id);
            match self.rooms.membership_of(&room_id, user).await? {
                Some(MembershipState::Join) => {
                    let parts = RoomParts {
                        timeline: fresh,
                        receipts: since.is_none() || receipts_changed.contains(&room_id),
                        typing: since.is_none() || typing_changed.contains(&room_id),
                        account_data: since.is_none() || room_account_data.contains(&room_id),
                    };
                    let section = self
                        .joined_room(user, device, &room_id, (since, full_state_since), upto, parts, &request.filter)
                        .await?;
                    if since.is_some()
                        && let Some(section) = &section
                    {
                        self.track_members(user, &room_id, section, &mut device_lists_changed, &mut device_lists_left)
                            .await?;
                    }
                    if let Some(section) = section {
                        join.insert(room_id.to_string(), section);
                    }
                }
                Some(MembershipState::Invite) if fresh => {
                    let state = self.rooms.stripped_state(&room_id, user).await?;
                    // Invites from ignored users are not shown (spec: "Ignoring users").
                    let inviter = state
                        .iter()
                        .find(|e| e["type"] == "m.room.member" && e["state_key"] == user.as_str())
                        .and_then(|e| e["sender"].as_str().map(str::to_owned));
                    if let Some(inviter) = inviter
                        && self.ignores(user, &inviter).await?
                    {
                        continue;
                    }
                    invite.insert(room_id.to_string(), json!({ "invite_state": { "events": state } }));
                }
                Some(MembershipState::Knock) if fresh => {
                    let state = self.rooms.stripped_state(&room_id, user).await?;
                    knock.insert(room_id.to_string(), json!({ "knock_state": { "events": state } }));
                }
                Some(MembershipState::Leave | MembershipState::Ban) if fresh => {
                    // Having left, the user may now share no room with its
                    // members: their device lists are "left".
                    if since.is_some() {
                        for (member, membership) in self.rooms.membership.members(&room_id).await? {
                            if membership == MembershipState::Join
                                && member != user
                                && !self.rooms.share_a_room(user, &member).await?
                            {
                                device_lists_left.insert(member);
                            }
                        }
                    }
                    let filter = &request.filter.room.timeline;
                    let limit = filter.limit.unwrap_or(DEFAULT_TIMELINE_LIMIT);
                    let stream = since.map(|s| s.stream);
                    let timeline =
                        self.rooms.timeline_since(user, device, &room_id, stream, upto.stream, limit, filter).await?;
                    let state = self
                        .rooms
                        .state_for_sync(
                            user,
                            device,
                            &room_id,
                            stream,
                            &timeline,
                            upto.stream,
                            &request.filter.room.state,
                        )
                        .await?;
                    leave.insert(
                        room_id.to_string(),
                        json!({
                            "timeline": { "events": timeline.events, "limited": timeline.limited, "prev_batch": timeline.prev_batch },
                            "state": { "events": state },
                        }),
                    );
                }
                _ => {}
            }
        }

        let mut global_account_data = Vec::new();
        // Rules never written are the defaults; an initial sync still
        // carries them, so clients need not ask.
        if since.is_none() && self.account_data.get(user, None, crate::push::PUSH_RULES).await?.is_none() {
            let ruleset = self.push.ruleset(user).await?;
            global_account_data.push(json!({ "type": crate::push::PUSH_RULES, "content": { "global": *ruleset } }));
        }
        if account_data_changed {
            for (kind, content) in self.account_data.changed(user, None, since.map(|s| s.stream)).await? {
                if request.filter.account_data.allows(&kind, None) {
                    global_account_data.push(json!({ "type": kind, "content": content }));
                }
            }
        }
        let presence = match since {
            None => self.presence.events(user, None).await?,
            Some(_) if presence_changed.is_empty() => Vec::new(),
            Some(_) => self.presence.events(user, Some(presence_changed)).await?,
        };
        let presence: Vec<Value> = presence
            .into_iter()
            .filter(|e| request.filter.presence.allows("m.presence", e["sender"].as_str()))
            .collect();
        let device_lists_changed: Vec<_> = device_lists_changed.into_iter().collect();
        let device_lists_left: Vec<_> = device_lists_left.into_iter().collect();
        let has_content = !to_device.is_empty()
            || !device_lists_changed.is_empty()
            || !device_lists_left.is_empty()
            || !presence.is_empty() && since.is_some()
            || !(join.is_empty()
                && invite.is_empty()
                && knock.is_empty()
                && leave.is_empty()
                && global_account_data.is_empty());
        if let Some(fields) = &request.filter.event_fields {
            for section in [&mut join, &mut leave] {
                for room in section.values_mut() {
                    for part in ["timeline", "state"] {
                        if let Some(Value::Array(events)) = room.get_mut(part).and_then(|p| p.get_mut("events")) {
                            for event in events.iter_mut() {
                                *event = only_fields(event, fields);
                            }
                        }
                    }
                }
            }
        }
        let body = json!({
            "next_batch": upto.render(),
            "rooms": { "join": join, "invite": invite, "knock": knock, "leave": leave },
            "account_data": { "events": global_account_data },
            "presence": { "events": presence },
            "to_device": { "events": to_device },
            "device_lists": { "changed": device_lists_changed, "left": device_lists_left },
            "device_one_time_keys_count": self.e2ee.keys.one_time_key_counts(user, device).await?,
            "device_unused_fallback_key_types": self.e2ee.keys.unused_fallback_types(user, device).await?,
        });
        Ok(Pass { body, has_content })
    }

    /// Device-list bookkeeping from membership changes in a room's new
    /// timeline (spec: "Tracking the device list for a user"): someone who
    /// joins is a changed device list; someone who leaves the last room we
    /// share is "left". When the viewer joined, every member is new to them.
    async fn track_members(
        &self,
        user: &UserId,
        room_id: &RoomId,
        section: &Value,
        changed: &mut BTreeSet<ruma::OwnedUserId>,
        left: &mut BTreeSet<ruma::OwnedUserId>,
    ) -> Result<()> {
        let events = section["timeline"]["events"].as_array().cloned().unwrap_or_default();
        for event in events.iter().filter(|e| e["type"] == "m.room.member") {
            let Some(target) = event["state_key"].as_str().and_then(|k| UserId::parse(k).ok()) else { continue };
            match event["content"]["membership"].as_str() {
                Some("join") if target == user => {
                    for (member, membership) in self.rooms.membership.members(room_id).await? {
                        if membership == MembershipState::Join && member != user {
                            changed.insert(member);
                        }
                    }
                }
                Some("join") => {
                    changed.insert(target);
                }
                Some("leave" | "ban") if target != user && !self.rooms.share_a_room(user, &target).await? => {
                    left.insert(target);
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn ignores(&self, user: &UserId, other: &str) -> Result<bool> {
        self.account_data.ignores(user, other).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn joined_room(
        &self,
        user: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        (since, full_state_since): (Option<Token>, Option<u64>),
        upto: Token,
        parts: RoomParts,
        filter: &Filter,
    ) -> Result<Option<Value>> {
        let mut section = Map::new();
        let mut stream_since = since.map(|s| s.stream);
        // A room joined since the token is new to the client: it gets the
        // room as an initial sync would give it.
        if let Some(since) = stream_since
            && self.rooms.joined_after(room_id, user, since).await?
        {
            stream_since = None;
        }
        if parts.timeline {
            let timeline_filter = &filter.room.timeline;
            let limit = timeline_filter.limit.unwrap_or(DEFAULT_TIMELINE_LIMIT);
            let timeline = self
                .rooms
                .timeline_since(
                    user,
                    device,
                    room_id,
                    full_state_since.or(stream_since),
                    upto.stream,
                    limit,
                    timeline_filter,
                )
                .await?;
            let state = self
                .rooms
                .state_for_sync(user, device, room_id, stream_since, &timeline, upto.stream, &filter.room.state)
                .await?;
            // A summary's fields may be left out when unchanged since the
            // last sync (spec: RoomSummary): with every event since then in
            // the timeline and none a membership, none changed — and
            // counting the members costs as much as the room is large.
            let unchanged = stream_since.is_some()
                && timeline.complete
                && !timeline.events.iter().any(|e| e["type"] == "m.room.member");
            section.insert(
                "timeline".to_owned(),
                json!({ "events": timeline.events, "limited": timeline.limited, "prev_batch": timeline.prev_batch }),
            );
            section.insert("state".to_owned(), json!({ "events": state }));
            let summary = if unchanged { json!({}) } else { self.rooms.summary(room_id, user).await? };
            section.insert("summary".to_owned(), summary);
        }
        if parts.timeline || parts.receipts {
            let counts = self.push.counts(user, room_id).await?;
            let (room_counts, thread_counts) = counts_json(&counts, filter.room.timeline.unread_thread_notifications);
            section.insert("unread_notifications".to_owned(), room_counts);
            if let Some(threads) = thread_counts {
                section.insert("unread_thread_notifications".to_owned(), threads);
            }
        }
        let mut ephemeral = Vec::new();
        if parts.receipts
            && filter.room.ephemeral.allows("m.receipt", "")
            && let Some(receipts) = self.receipts.for_sync(room_id, user, stream_since).await?
        {
            ephemeral.push(receipts);
        }
        if parts.typing && filter.room.ephemeral.allows("m.typing", "") {
            let typing = self.typing.typing_in(room_id);
            if since.is_some() || !typing.is_empty() {
                ephemeral.push(json!({ "type": "m.typing", "content": { "user_ids": typing } }));
            }
        }
        if !ephemeral.is_empty() {
            section.insert("ephemeral".to_owned(), json!({ "events": ephemeral }));
        }
        if parts.account_data {
            let mut events = Vec::new();
            for (kind, content) in self.account_data.changed(user, Some(room_id), stream_since).await? {
                if filter.room.account_data.allows(&kind, "") {
                    events.push(json!({ "type": kind, "content": content }));
                }
            }
            if !events.is_empty() {
                section.insert("account_data".to_owned(), json!({ "events": events }));
            }
        }
        Ok((!section.is_empty()).then_some(Value::Object(section)))
    }
}

/// Which parts of a joined room a pass builds.
#[derive(Clone, Copy)]
struct RoomParts {
    timeline: bool,
    receipts: bool,
    typing: bool,
    account_data: bool,
}

/// The filter's `event_fields`: only the named (dotted, `\\.`-escaped)
/// paths of an event are kept.
fn only_fields(event: &Value, fields: &[String]) -> Value {
    let mut out = Value::Object(Map::new());
    for field in fields {
        let mut path = Vec::new();
        let mut current = String::new();
        let mut chars = field.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => current.extend(chars.next()),
                '.' => path.push(std::mem::take(&mut current)),
                c => current.push(c),
            }
        }
        path.push(current);
        let Some(value) = path.iter().try_fold(event, |v, key| v.get(key)) else { continue };
        let mut target = &mut out;
        for key in &path[..path.len() - 1] {
            target = target
                .as_object_mut()
                .expect("built from objects")
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        if let Some(object) = target.as_object_mut() {
            object.insert(path[path.len() - 1].clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Token;

    #[test]
    fn event_fields_keep_only_the_named_paths() {
        let event = serde_json::json!({"type": "m.room.message", "content": {"body": "hi", "m.x": 1, "a.b": 2}, "sender": "@a:x"});
        let fields = vec!["type".to_owned(), "content.body".to_owned(), "content.a\\.b".to_owned()];
        assert_eq!(
            super::only_fields(&event, &fields),
            serde_json::json!({"type": "m.room.message", "content": {"body": "hi", "a.b": 2}})
        );
    }

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        let token = Token { stream: 42, typing: 7 };
        assert_eq!(Token::parse(&token.render()).unwrap(), token);
        for bad in ["", "n", "n1", "x1_2", "n1_", "n_2", "t5"] {
            assert!(Token::parse(bad).is_err(), "{bad}");
        }
    }
}
