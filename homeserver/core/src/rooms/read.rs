//! Reading rooms: events, state, members and pagination, each through the
//! history visibility rules (spec: "History visibility").

use std::collections::{BTreeMap, HashMap, HashSet};

use nexus_storage::Direction;
use ruma::events::room::member::MembershipState;
use ruma::{DeviceId, EventId, OwnedRoomId, RoomId, UserId};
use serde_json::{Value, json};

use super::Rooms;
use super::client_format::client_event;
use super::state::StateIds;
use super::timeline::StoredEvent;
use crate::{Error, Result};

/// The parts of a `RoomEventFilter` that select events.
#[derive(Debug, Default, Clone)]
pub struct RoomEventFilter {
    pub types: Option<Vec<String>>,
    pub not_types: Vec<String>,
    pub senders: Option<Vec<String>>,
    pub not_senders: Vec<String>,
}

/// `*` matches any run of characters, as the spec's filters allow.
fn glob(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, rest)) => {
            let Some(remaining) = value.strip_prefix(head) else { return false };
            if rest.is_empty() {
                return true;
            }
            (0..=remaining.len()).filter(|i| remaining.is_char_boundary(*i)).any(|i| glob(rest, &remaining[i..]))
        }
    }
}

impl RoomEventFilter {
    fn matches(&self, kind: &str, sender: &str) -> bool {
        let type_ok = self.types.as_ref().is_none_or(|t| t.iter().any(|p| glob(p, kind)))
            && !self.not_types.iter().any(|p| glob(p, kind));
        let sender_ok = self.senders.as_ref().is_none_or(|s| s.iter().any(|x| x == sender))
            && !self.not_senders.iter().any(|x| x == sender);
        type_ok && sender_ok
    }
}

#[derive(Debug, Default)]
pub struct MessagesQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub backward: bool,
    pub limit: usize,
    pub filter: RoomEventFilter,
}

/// What a walk over the timeline collected, and where it stopped.
pub(super) struct Walk {
    pub(super) events: Vec<Value>,
    pub(super) position: u64,
    exhausted: bool,
    last_snapshot: Option<u64>,
}

/// The answer to `/context`.
#[derive(Debug)]
pub struct Context {
    pub start: String,
    pub end: String,
    pub events_before: Vec<Value>,
    pub event: Value,
    pub events_after: Vec<Value>,
    pub state: Vec<Value>,
}

#[derive(Debug)]
pub struct Messages {
    pub start: String,
    pub end: Option<String>,
    pub chunk: Vec<Value>,
}

/// Pagination tokens name a position just before a stream ordering.
pub(crate) fn token(position: u64) -> String {
    format!("t{position}")
}

/// Pagination tokens (`t<position>`), or sync tokens (`n<stream>_<typing>`,
/// which have seen everything up to `stream`), as the spec lets clients
/// pass a sync's `next_batch` to `/messages`.
pub(crate) fn parse_token(token: &str) -> Result<u64> {
    let invalid = || Error::InvalidParam(format!("{token:?} is not a pagination token of this server"));
    if let Some(position) = token.strip_prefix('t') {
        return position.parse().map_err(|_| invalid());
    }
    let stream = crate::sync::token_position(token).map_err(|_| invalid())?;
    Ok(stream.saturating_add(1))
}

/// The most events one `/messages` call returns, and scans.
const MAX_LIMIT: usize = 1000;

impl Rooms {
    pub(super) async fn content_of(&self, event_id: &EventId) -> Result<Value> {
        let Some(stored) = self.timeline.get(event_id).await? else { return Ok(Value::Null) };
        Ok(Value::from(stored.object()?.remove("content").unwrap_or(ruma::CanonicalJsonValue::Null)))
    }

    async fn field_of_state(&self, state: &StateIds, kind: &str, key: &str, field: &str) -> Result<Option<String>> {
        let Some(event_id) = state.get(&(kind.to_owned(), key.to_owned())) else { return Ok(None) };
        Ok(self.content_of(event_id).await?.get(field).and_then(Value::as_str).map(str::to_owned))
    }

    /// Whether `viewer` may see `event` (spec: "History visibility",
    /// the algorithm for whether a user can see an event).
    pub(super) async fn can_see(
        &self,
        viewer: &UserId,
        room_id: &RoomId,
        event: &StoredEvent,
        now: &ViewerNow,
        cache: &mut HashMap<u64, (String, Option<String>)>,
    ) -> Result<bool> {
        if now.sees_all {
            return Ok(true);
        }
        let (visibility, membership_then) = match cache.get(&event.state_snapshot) {
            Some(cached) => cached.clone(),
            None => {
                let state = self.state.at(room_id, event.state_snapshot).await?;
                let visibility = self
                    .field_of_state(&state, "m.room.history_visibility", "", "history_visibility")
                    .await?
                    .unwrap_or_else(|| "shared".to_owned());
                let membership = self.field_of_state(&state, "m.room.member", viewer.as_str(), "membership").await?;
                cache.insert(event.state_snapshot, (visibility.clone(), membership.clone()));
                (visibility, membership)
            }
        };
        {
            // Users always see their own membership changes.
            let object = event.object()?;
            if object.get("type").and_then(|t| t.as_str()) == Some("m.room.member")
                && object.get("state_key").and_then(|k| k.as_str()) == Some(viewer.as_str())
            {
                return Ok(true);
            }
        }
        if now.history_floor.is_some_and(|floor| event.stream_ordering < floor) {
            return Ok(false);
        }
        if !now.ignored.is_empty() {
            let object = event.object()?;
            let sender = object.get("sender").and_then(|s| s.as_str()).unwrap_or_default();
            if !object.contains_key("state_key") && now.ignored.contains(sender) {
                return Ok(false);
            }
        }
        Ok(match (visibility.as_str(), membership_then.as_deref()) {
            ("world_readable", _) => true,
            _ if now.forgotten => false,
            (_, Some("join")) => true,
            ("shared", _) => now.joined_after(event.stream_ordering),
            ("invited", Some("invite")) => true,
            _ => false,
        })
    }

    pub(super) async fn viewer_now(&self, viewer: &UserId, room_id: &RoomId) -> Result<ViewerNow> {
        // A forgotten room's history is gone for the user who forgot it.
        if self.membership.is_forgotten(room_id, viewer).await? {
            let ignored = HashSet::new();
            return Ok(ViewerNow {
                membership: None,
                membership_event_ordering: None,
                forgotten: true,
                ignored,
                history_floor: None,
                sees_all: false,
            });
        }
        let membership = self.membership.of(room_id, viewer).await?;
        let since = match self.state.get(room_id, "m.room.member", viewer.as_str()).await? {
            Some(event_id) => self.timeline.get(&event_id).await?.map(|e| e.stream_ordering),
            None => None,
        };
        let ignored = self.ignored_users(viewer).await?;
        let joined_at = if membership == Some(MembershipState::Join) { since } else { None };
        let history_floor = match (self.policy(), joined_at) {
            (Some(policy), Some(joined_at)) => policy.history_floor(room_id, viewer, joined_at).await?,
            _ => None,
        };
        Ok(ViewerNow {
            membership,
            membership_event_ordering: since,
            forgotten: false,
            ignored,
            history_floor,
            sees_all: false,
        })
    }

    async fn ignored_users(&self, viewer: &UserId) -> Result<HashSet<String>> {
        let list = self.account_data.get(viewer, None, "m.ignored_user_list").await?;
        Ok(list
            .and_then(|content| {
                content.get("ignored_users").and_then(Value::as_object).map(|m| m.keys().cloned().collect())
            })
            .unwrap_or_default())
    }

    /// `unsigned.replaces_state`, `prev_content` and `prev_sender` of a
    /// state event that replaced `replaced` (redacted content if that one
    /// was redacted since: redaction happens in place).
    pub(super) async fn add_prev_content(&self, event: &mut Value, replaced: &EventId) -> Result<()> {
        let Some(previous) = self.timeline.get(replaced).await? else { return Ok(()) };
        let object = previous.object()?;
        event["unsigned"]["replaces_state"] = json!(replaced);
        if let Some(content) = object.get("content") {
            event["unsigned"]["prev_content"] = Value::from(content.clone());
        }
        if let Some(sender) = object.get("sender") {
            event["unsigned"]["prev_sender"] = Value::from(sender.clone());
        }
        Ok(())
    }

    async fn redaction_for_client(&self, stored: &StoredEvent) -> Result<Option<Value>> {
        let Some(redaction_id) = &stored.redacted_by else { return Ok(None) };
        let Some(redaction) = self.timeline.get(redaction_id).await? else { return Ok(None) };
        Ok(Some(client_event(&redaction.object()?, redaction_id, &redaction, None, None)))
    }

    pub(super) async fn format(
        &self,
        event_id: &EventId,
        stored: &StoredEvent,
        viewer: (&UserId, &DeviceId),
    ) -> Result<Value> {
        let because = self.redaction_for_client(stored).await?;
        let object = stored.object()?;
        let mut event = client_event(&object, event_id, stored, Some(viewer), because);
        if let Some(replaced) = &stored.replaces_state {
            self.add_prev_content(&mut event, replaced).await?;
        }
        if let Some(relations) = self.bundle(&stored.room_id, event_id, stored, viewer).await? {
            event["unsigned"]["m.relations"] = relations;
        }
        if stored.redacted_by.is_none()
            && let Some(tally) = self.poll_tally_for_client(&stored.room_id, event_id, &object).await?
        {
            event["unsigned"][super::polls::UNSIGNED_KEY] = tally;
        }
        Ok(event)
    }

    /// `GET /rooms/{roomId}/event/{eventId}`.
    pub async fn event_for_client(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<Value> {
        let not_found = || Error::NotFound("event not found".to_owned());
        let stored = self.timeline.get(event_id).await?.filter(|e| e.room_id == room_id).ok_or_else(not_found)?;
        let now = self.viewer_now(viewer, room_id).await?;
        if !self.can_see(viewer, room_id, &stored, &now, &mut HashMap::new()).await? {
            return Err(not_found());
        }
        self.format(event_id, &stored, (viewer, device)).await
    }

    /// `GET /rooms/{roomId}/messages`.
    pub async fn messages(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        query: MessagesQuery,
    ) -> Result<Messages> {
        if self.version(room_id).await?.is_none() {
            return Err(Error::Forbidden("you are not in this room".to_owned()));
        }
        let now = self.viewer_now(viewer, room_id).await?;
        if now.membership.is_none() && !self.world_readable(room_id).await? {
            return Err(Error::Forbidden("you are not in this room".to_owned()));
        }
        self.messages_seen_as(viewer, device, room_id, query, now).await
    }

    /// `/messages` as a server admin reads it: every event of the room.
    pub async fn messages_for_admin(
        &self,
        admin: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        query: MessagesQuery,
    ) -> Result<Messages> {
        if self.version(room_id).await?.is_none() {
            return Err(Error::NotFound("Room not found".to_owned()));
        }
        self.messages_seen_as(admin, device, room_id, query, ViewerNow::sees_all()).await
    }

    async fn messages_seen_as(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        query: MessagesQuery,
        now: ViewerNow,
    ) -> Result<Messages> {
        let direction = if query.backward { Direction::Backward } else { Direction::Forward };
        let limit = query.limit.clamp(1, MAX_LIMIT);
        let from = query.from.as_deref().map(parse_token).transpose()?;
        let to = query.to.as_deref().map(parse_token).transpose()?;
        let start = match (from, direction) {
            (Some(from), _) => from,
            (None, Direction::Forward) => 0,
            (None, Direction::Backward) => {
                let last = self.timeline.page(room_id, None, Direction::Backward, 1).await?;
                last.first().map_or(0, |(ordering, _)| ordering + 1)
            }
        };

        let mut cache = HashMap::new();
        let mut walk =
            self.walk(viewer, device, room_id, (start, direction), limit, to, &query.filter, &now, &mut cache).await?;
        // Paging back past the earliest event this server has: ask another
        // server in the room for older history, then look again.
        if direction == Direction::Backward
            && walk.exhausted
            && walk.events.len() < limit
            && to.is_none()
            && self.backfill(room_id, limit).await.unwrap_or_else(|e| {
                tracing::info!(%room_id, error = %e, "backfill failed");
                false
            })
        {
            walk = self
                .walk(viewer, device, room_id, (start, direction), limit, to, &query.filter, &now, &mut cache)
                .await?;
        }
        let end = (!walk.exhausted || walk.events.len() == limit).then(|| token(walk.position));
        Ok(Messages { start: token(start), end, chunk: walk.events })
    }

    /// Collects up to `limit` visible events matching `filter`, walking the
    /// room's timeline from a position. Filtered-out and invisible events
    /// cost a scan but no slot; the scan is bounded so that a sparse
    /// filter cannot walk all history.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn walk(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        (start, direction): (u64, Direction),
        limit: usize,
        to: Option<u64>,
        filter: &RoomEventFilter,
        now: &ViewerNow,
        cache: &mut HashMap<u64, (String, Option<String>)>,
    ) -> Result<Walk> {
        let mut walk = Walk { events: Vec::new(), position: start, exhausted: false, last_snapshot: None };
        let mut scanned = 0;
        while walk.events.len() < limit && scanned < MAX_LIMIT * 4 {
            let page = self.timeline.page(room_id, Some(walk.position), direction, limit).await?;
            if page.len() < limit {
                walk.exhausted = true;
            }
            for (ordering, event_id) in page {
                let beyond_to = match (to, direction) {
                    (Some(to), Direction::Backward) => ordering < to,
                    (Some(to), Direction::Forward) => ordering >= to,
                    (None, _) => false,
                };
                if beyond_to {
                    walk.exhausted = true;
                    break;
                }
                scanned += 1;
                walk.position = match direction {
                    Direction::Backward => ordering,
                    Direction::Forward => ordering + 1,
                };
                let Some(stored) = self.timeline.get(&event_id).await? else { continue };
                let object = stored.object()?;
                let kind = object.get("type").and_then(|v| v.as_str()).unwrap_or_default();
                let sender = object.get("sender").and_then(|v| v.as_str()).unwrap_or_default();
                if !filter.matches(kind, sender) || !self.can_see(viewer, room_id, &stored, now, cache).await? {
                    continue;
                }
                walk.last_snapshot = Some(stored.state_snapshot);
                walk.events.push(self.format(&event_id, &stored, (viewer, device)).await?);
                if walk.events.len() == limit {
                    break;
                }
            }
            if walk.exhausted {
                break;
            }
        }
        Ok(walk)
    }

    /// `GET /rooms/{roomId}/context/{eventId}`: the event, up to `limit`
    /// events around it, and the state at the last one returned.
    pub async fn context(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        event_id: &EventId,
        limit: usize,
        filter: &RoomEventFilter,
    ) -> Result<Context> {
        let now = self.viewer_now(viewer, room_id).await?;
        self.context_seen_as(viewer, device, room_id, event_id, (limit, filter), now).await
    }

    /// `/context` as a server admin reads it: every event of the room.
    pub async fn context_for_admin(
        &self,
        admin: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        event_id: &EventId,
        limit: usize,
        filter: &RoomEventFilter,
    ) -> Result<Context> {
        self.context_seen_as(admin, device, room_id, event_id, (limit, filter), ViewerNow::sees_all()).await
    }

    async fn context_seen_as(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        event_id: &EventId,
        (limit, filter): (usize, &RoomEventFilter),
        now: ViewerNow,
    ) -> Result<Context> {
        let not_found = || Error::NotFound("Event not found.".to_owned());
        let stored = self.timeline.get(event_id).await?.filter(|e| e.room_id == room_id).ok_or_else(not_found)?;
        if !self.can_see(viewer, room_id, &stored, &now, &mut HashMap::new()).await? {
            return Err(not_found());
        }
        let event = self.format(event_id, &stored, (viewer, device)).await?;
        let mut cache = HashMap::new();
        let limit = limit.min(MAX_LIMIT);
        let before_limit = limit / 2;
        let after_limit = limit - before_limit;
        let position = stored.stream_ordering;
        let before = if before_limit == 0 {
            Walk { events: Vec::new(), position, exhausted: false, last_snapshot: None }
        } else {
            let from = (position, Direction::Backward);
            self.walk(viewer, device, room_id, from, before_limit, None, filter, &now, &mut cache).await?
        };
        let after = if after_limit == 0 {
            Walk { events: Vec::new(), position: position + 1, exhausted: false, last_snapshot: None }
        } else {
            let from = (position + 1, Direction::Forward);
            self.walk(viewer, device, room_id, from, after_limit, None, filter, &now, &mut cache).await?
        };
        let snapshot = after.last_snapshot.unwrap_or(stored.state_snapshot);
        let mut state = Vec::new();
        for state_event_id in self.state.at(room_id, snapshot).await?.values() {
            if let Some(state_stored) = self.timeline.get(state_event_id).await? {
                let object = state_stored.object()?;
                let kind = object.get("type").and_then(|v| v.as_str()).unwrap_or_default();
                let sender = object.get("sender").and_then(|v| v.as_str()).unwrap_or_default();
                if filter.matches(kind, sender) {
                    state.push(self.format(state_event_id, &state_stored, (viewer, device)).await?);
                }
            }
        }
        Ok(Context {
            start: token(before.position),
            end: token(after.position),
            events_before: before.events,
            event,
            events_after: after.events,
            state,
        })
    }

    async fn world_readable(&self, room_id: &RoomId) -> Result<bool> {
        let content = self.current_state_content(room_id, "m.room.history_visibility", "").await?;
        Ok(content.and_then(|c| c.get("history_visibility")?.as_str().map(|v| v == "world_readable")).unwrap_or(false))
    }

    /// The state a viewer may read: the current state while joined (or in a
    /// world-readable room), the state when they left once they have left.
    async fn readable_state(&self, viewer: &UserId, room_id: &RoomId) -> Result<StateIds> {
        Ok(self.readable_snapshot(viewer, room_id).await?.1)
    }

    /// Like `readable_state`, with the stream position it holds at (`None`
    /// for the present).
    async fn readable_snapshot(&self, viewer: &UserId, room_id: &RoomId) -> Result<(Option<u64>, StateIds)> {
        let membership = match self.membership.is_forgotten(room_id, viewer).await? {
            true => None,
            false => self.membership.of(room_id, viewer).await?,
        };
        match membership {
            Some(MembershipState::Join) => Ok((None, self.state.current(room_id).await?)),
            Some(MembershipState::Leave | MembershipState::Ban) => {
                let left = self.state.get(room_id, "m.room.member", viewer.as_str()).await?;
                let stored = match left {
                    Some(event_id) => self.timeline.get(&event_id).await?,
                    None => None,
                };
                match stored {
                    Some(stored) => {
                        Ok((Some(stored.stream_ordering + 1), self.state.at(room_id, stored.state_snapshot).await?))
                    }
                    None => Err(Error::Forbidden("you are not in this room".to_owned())),
                }
            }
            _ if self.version(room_id).await?.is_some() && self.world_readable(room_id).await? => {
                Ok((None, self.state.current(room_id).await?))
            }
            _ => Err(Error::Forbidden("you are not in this room".to_owned())),
        }
    }

    /// `GET /rooms/{roomId}/state`.
    pub async fn state_for_client(&self, viewer: &UserId, device: &DeviceId, room_id: &RoomId) -> Result<Vec<Value>> {
        self.await_full_state(room_id).await?;
        let state = self.readable_state(viewer, room_id).await?;
        let mut events = Vec::with_capacity(state.len());
        for event_id in state.values() {
            if let Some(stored) = self.timeline.get(event_id).await? {
                events.push(self.format(event_id, &stored, (viewer, device)).await?);
            }
        }
        Ok(events)
    }

    /// The readable state for a lookup of one entry: a member event this
    /// server may not know yet (a partial state) is waited for.
    async fn readable_state_holding(
        &self,
        viewer: &UserId,
        room_id: &RoomId,
        kind: &str,
        key: &str,
    ) -> Result<StateIds> {
        let state = self.readable_state(viewer, room_id).await?;
        if kind != "m.room.member"
            || state.contains_key(&(kind.to_owned(), key.to_owned()))
            || !self.has_partial_state(room_id).await?
        {
            return Ok(state);
        }
        self.await_full_state(room_id).await?;
        self.readable_state(viewer, room_id).await
    }

    /// `GET /rooms/{roomId}/state/{type}/{stateKey}`: the content.
    pub async fn state_content(&self, viewer: &UserId, room_id: &RoomId, kind: &str, key: &str) -> Result<Value> {
        let state = self.readable_state_holding(viewer, room_id, kind, key).await?;
        let event_id = state
            .get(&(kind.to_owned(), key.to_owned()))
            .ok_or_else(|| Error::NotFound(format!("no {kind} state with key {key:?}")))?;
        self.content_of(event_id).await
    }

    /// `GET /rooms/{roomId}/state/{type}/{stateKey}?format=event`.
    pub async fn state_event_for_client(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        kind: &str,
        key: &str,
    ) -> Result<Value> {
        let state = self.readable_state_holding(viewer, room_id, kind, key).await?;
        let not_found = || Error::NotFound(format!("no {kind} state with key {key:?}"));
        let event_id = state.get(&(kind.to_owned(), key.to_owned())).ok_or_else(not_found)?;
        let stored = self.timeline.get(event_id).await?.ok_or_else(not_found)?;
        self.format(event_id, &stored, (viewer, device)).await
    }

    /// `GET /rooms/{roomId}/members`, filtered by membership.
    pub async fn members_for_client(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        membership: Option<&str>,
        not_membership: Option<&str>,
        at: Option<&str>,
    ) -> Result<Vec<Value>> {
        // Every member is needed: a partial state waits to be completed.
        self.await_full_state(room_id).await?;
        let (readable_until, mut state) = self.readable_snapshot(viewer, room_id).await?;
        // `at`: the members as of a pagination token, but never later than
        // what the viewer may read.
        if let Some(at) = at.map(parse_token).transpose()?
            && readable_until.is_none_or(|until| at < until)
            && let Some((_, before)) = self.timeline.page(room_id, Some(at), Direction::Backward, 1).await?.pop()
            && let Some(stored) = self.timeline.get(&before).await?
        {
            state = self.state.at(room_id, stored.state_snapshot).await?;
        }
        let mut events = Vec::new();
        for ((kind, _), event_id) in &state {
            if kind != "m.room.member" {
                continue;
            }
            let Some(stored) = self.timeline.get(event_id).await? else { continue };
            let event = self.format(event_id, &stored, (viewer, device)).await?;
            let this = event.get("content").and_then(|c| c.get("membership")).and_then(Value::as_str);
            // Both given: either condition admits a member (spec: "or").
            let admitted = match (membership, not_membership) {
                (Some(m), Some(n)) => Some(m) == this || Some(n) != this,
                (Some(m), None) => Some(m) == this,
                (None, Some(n)) => Some(n) != this,
                (None, None) => true,
            };
            if !admitted {
                continue;
            }
            events.push(event);
        }
        Ok(events)
    }

    /// `GET /rooms/{roomId}/joined_members`: only for members.
    pub async fn joined_members(&self, viewer: &UserId, room_id: &RoomId) -> Result<BTreeMap<String, Value>> {
        if !self.membership.is_joined(room_id, viewer).await? {
            return Err(Error::Forbidden("you are not in this room".to_owned()));
        }
        self.await_full_state(room_id).await?;
        let mut joined = BTreeMap::new();
        for (user, event_id) in self.state.current_of_type(room_id, "m.room.member").await? {
            let content = self.content_of(&event_id).await?;
            if content.get("membership").and_then(Value::as_str) == Some("join") {
                // Absent (or non-string) fields are left out: the schema's
                // fields are strings, never null.
                let mut profile = serde_json::Map::new();
                for (from, to) in [("displayname", "display_name"), ("avatar_url", "avatar_url")] {
                    if let Some(value) = content.get(from).filter(|v| v.is_string()) {
                        profile.insert(to.to_owned(), value.clone());
                    }
                }
                joined.insert(user, Value::Object(profile));
            }
        }
        Ok(joined)
    }

    /// `GET /rooms/{roomId}/timestamp_to_event`: the visible event closest
    /// to `ts` in `direction` (at or after it forwards, at or before it
    /// backwards), as `(event id, origin_server_ts)`.
    pub async fn event_at_time(
        &self,
        viewer: &UserId,
        room_id: &RoomId,
        ts: u64,
        direction: Direction,
    ) -> Result<(ruma::OwnedEventId, u64)> {
        let now = self.viewer_now(viewer, room_id).await?;
        if now.membership.is_none() && !self.world_readable(room_id).await? {
            return Err(Error::Forbidden("you are not in this room".to_owned()));
        }
        self.event_at_time_seen_as(viewer, room_id, ts, direction, now).await
    }

    /// `timestamp_to_event` as a server admin reads it.
    pub async fn event_at_time_for_admin(
        &self,
        admin: &UserId,
        room_id: &RoomId,
        ts: u64,
        direction: Direction,
    ) -> Result<(ruma::OwnedEventId, u64)> {
        if self.version(room_id).await?.is_none() {
            return Err(Error::NotFound("Room not found".to_owned()));
        }
        self.event_at_time_seen_as(admin, room_id, ts, direction, ViewerNow::sees_all()).await
    }

    async fn event_at_time_seen_as(
        &self,
        viewer: &UserId,
        room_id: &RoomId,
        ts: u64,
        direction: Direction,
        now: ViewerNow,
    ) -> Result<(ruma::OwnedEventId, u64)> {
        let mut cache = HashMap::new();
        for (event_ts, event_id) in self.timeline.by_time(room_id, ts, direction, 100).await? {
            let Some(stored) = self.timeline.get(&event_id).await? else { continue };
            if self.can_see(viewer, room_id, &stored, &now, &mut cache).await? {
                return Ok((event_id, event_ts));
            }
        }
        Err(Error::NotFound("no event in that direction from that time".to_owned()))
    }

    /// `GET /joined_rooms`.
    pub async fn joined_rooms(&self, user: &UserId) -> Result<Vec<OwnedRoomId>> {
        self.membership.rooms_of(user, &MembershipState::Join).await
    }

    /// The event id a room alias points at.
    /// An unknown local alias in an application service's namespace is
    /// asked of the appservice, which may create the room, then looked up
    /// again (spec: application service API, "Querying").
    pub async fn resolve_alias(&self, alias: &ruma::RoomAliasId) -> Result<OwnedRoomId> {
        if let Some(room_id) = self.aliases.resolve(alias).await? {
            return Ok(room_id);
        }
        if alias.server_name() == self.server_name
            && let Some(appservices) = self.appservices.get()
            && appservices.query_alias(alias).await
            && let Some(room_id) = self.aliases.resolve(alias).await?
        {
            return Ok(room_id);
        }
        Err(Error::NotFound(format!("{alias} does not exist")))
    }

    /// Whether a local user exists, asking the application service whose
    /// namespace holds an unknown one (it may create it).
    pub(crate) async fn local_user_exists(&self, user_id: &UserId) -> bool {
        if self.profiles.get(user_id).await.is_ok() {
            return true;
        }
        match self.appservices.get() {
            Some(appservices) => appservices.query_user(user_id).await && self.profiles.get(user_id).await.is_ok(),
            None => false,
        }
    }
}

/// A viewer's membership now, for the "shared" visibility rule.
pub(super) struct ViewerNow {
    pub(super) membership: Option<MembershipState>,
    membership_event_ordering: Option<u64>,
    forgotten: bool,
    /// Users the viewer ignores (`m.ignored_user_list`): their non-state
    /// events are hidden on every read path.
    ignored: HashSet<String>,
    /// Events before this stream ordering are hidden from the viewer, as
    /// the room policy says (a Nexus channel without READ_MESSAGE_HISTORY).
    history_floor: Option<u64>,
    /// A server admin's reading (the admin API): every event is visible.
    sees_all: bool,
}

impl ViewerNow {
    /// A server admin's view, whom no history visibility hides anything
    /// from (`Services` checks the admin before reading this way).
    fn sees_all() -> Self {
        ViewerNow {
            membership: None,
            membership_event_ordering: None,
            forgotten: false,
            ignored: HashSet::new(),
            history_floor: None,
            sees_all: true,
        }
    }

    /// "shared": visible if the user is joined now, or their latest
    /// membership (a leave) came after the event — they were in the room
    /// at some point after it was sent.
    fn joined_after(&self, event_ordering: u64) -> bool {
        match self.membership {
            Some(MembershipState::Join) => true,
            Some(MembershipState::Leave | MembershipState::Ban) => {
                self.membership_event_ordering.is_some_and(|o| o > event_ordering)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn filter_globs_match_like_the_spec_says() {
        assert!(glob("m.room.*", "m.room.message"));
        assert!(glob("*", "anything"));
        assert!(glob("m.*.message", "m.room.message"));
        assert!(!glob("m.room.*", "org.example"));
        assert!(glob("m.room.message", "m.room.message"));
        assert!(!glob("m.room.message", "m.room.messages"));
    }
}
