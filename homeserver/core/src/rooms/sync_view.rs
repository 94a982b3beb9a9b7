//! What `/sync` needs from a room: its timeline since a position, the state
//! around it, stripped state for invites, and the summary.

use std::collections::{BTreeSet, HashMap};

use nexus_storage::Direction;
use ruma::events::room::member::MembershipState;
use ruma::{DeviceId, OwnedEventId, RoomId, UserId};
use serde_json::{Value, json};

use super::Rooms;
use super::state::StateIds;
use crate::Result;
use crate::filters::RoomEventFilter;

/// A room's timeline section.
pub struct SyncTimeline {
    pub events: Vec<Value>,
    pub limited: bool,
    /// A `/messages` token just before the first event.
    pub prev_batch: String,
    /// The stream ordering of the first event returned, if any.
    pub first_ordering: Option<u64>,
    pub event_ids: BTreeSet<String>,
    pub senders: BTreeSet<String>,
    /// The stream ordering of each event in `events`, in the same order.
    pub orderings: Vec<u64>,
    /// Every event after `since` is in `events` (none held back by the
    /// limit, the filter or history visibility): the state at the
    /// timeline's start is then the state at `since`.
    pub complete: bool,
}

/// A user's membership event in a room: where it is, who sent it.
pub struct MembershipEvent {
    pub membership: MembershipState,
    pub ordering: u64,
    pub sender: String,
    pub content: Value,
}

/// State events types clients need to show an invite (spec: "Stripped state").
pub(super) const STRIPPED_TYPES: [&str; 6] = [
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.encryption",
];

impl Rooms {
    /// The room's events with `since < ordering <= upto` that `viewer` may
    /// see, the newest `limit` of them; `limited` when more exist.
    #[allow(clippy::too_many_arguments)]
    pub async fn timeline_since(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        since: Option<u64>,
        upto: u64,
        limit: usize,
        filter: &RoomEventFilter,
    ) -> Result<SyncTimeline> {
        let now = self.viewer_now(viewer, room_id).await?;
        let mut cache = HashMap::new();
        let mut picked: Vec<(u64, Value)> = Vec::new();
        let mut position = upto.saturating_add(1);
        let mut limited = false;
        let mut skipped = false;
        let mut scanned = 0;
        'scan: loop {
            let page = self.timeline.page(room_id, Some(position), Direction::Backward, limit.max(1) + 1).await?;
            let exhausted = page.len() <= limit;
            for (ordering, event_id) in page {
                if since.is_some_and(|s| ordering <= s) {
                    break 'scan;
                }
                position = ordering;
                scanned += 1;
                let Some(stored) = self.timeline.get(&event_id).await? else {
                    skipped = true;
                    continue;
                };
                let object = stored.object()?;
                let kind = object.get("type").and_then(|v| v.as_str()).unwrap_or_default();
                let sender = object.get("sender").and_then(|v| v.as_str()).unwrap_or_default();
                if !filter.allows(kind, sender) || !self.can_see(viewer, room_id, &stored, &now, &mut cache).await? {
                    skipped = true;
                    continue;
                }
                if picked.len() == limit {
                    limited = true;
                    break 'scan;
                }
                picked.push((ordering, self.format(&event_id, &stored, (viewer, device)).await?));
            }
            // A sparse filter may not fill the page; the scan is bounded.
            if exhausted || scanned > limit.max(1) * 20 {
                limited |= !exhausted;
                break;
            }
        }
        picked.reverse();
        let first_ordering = picked.first().map(|(o, _)| *o);
        let orderings = picked.iter().map(|(o, _)| *o).collect();
        let prev_batch = format!("t{}", first_ordering.unwrap_or(upto.saturating_add(1)));
        let mut event_ids = BTreeSet::new();
        let mut senders = BTreeSet::new();
        for (_, event) in &picked {
            event_ids.extend(event["event_id"].as_str().map(str::to_owned));
            senders.extend(event["sender"].as_str().map(str::to_owned));
        }
        Ok(SyncTimeline {
            events: picked.into_iter().map(|(_, e)| e).collect(),
            limited,
            prev_batch,
            first_ordering,
            event_ids,
            senders,
            orderings,
            complete: !limited && !skipped,
        })
    }

    /// The room's state just before stream position `position` (after
    /// every event with a lower ordering).
    pub async fn state_before(&self, room_id: &RoomId, position: u64) -> Result<StateIds> {
        let Some((_, event_id)) = self.timeline.page(room_id, Some(position), Direction::Backward, 1).await?.pop()
        else {
            return self.state_before_first_event(room_id).await;
        };
        match self.timeline.get(&event_id).await? {
            Some(stored) => self.state.at(room_id, stored.state_snapshot).await,
            None => Ok(StateIds::new()),
        }
    }

    /// The state before the room's first event here: empty for a room made
    /// here (its first event is the create event); for a room joined over
    /// federation, the state the resident server gave with the join.
    async fn state_before_first_event(&self, room_id: &RoomId) -> Result<StateIds> {
        let Some((_, event_id)) = self.timeline.page(room_id, None, Direction::Forward, 1).await?.pop() else {
            return Ok(StateIds::new());
        };
        let Some(stored) = self.timeline.get(&event_id).await? else { return Ok(StateIds::new()) };
        let is_state = stored.object()?.contains_key("state_key");
        if !is_state {
            return self.state.at(room_id, stored.state_snapshot).await;
        }
        match self.state.parent_of(room_id, stored.state_snapshot).await? {
            Some(parent) => self.state.at(room_id, parent).await,
            None => Ok(StateIds::new()),
        }
    }

    /// The `state` section: the state at the start of the timeline, less
    /// what the client has (state at `since`, for an incremental sync) and
    /// what the timeline carries; with `lazy_members`, only the members the
    /// timeline mentions (and the viewer).
    #[allow(clippy::too_many_arguments)]
    pub async fn state_for_sync(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        since: Option<u64>,
        timeline: &SyncTimeline,
        upto: u64,
        filter: &RoomEventFilter,
    ) -> Result<Vec<Value>> {
        // The timeline carries everything since the client's position: no
        // state changed that the client has not seen or is not being sent
        // (the two full states below would be equal). The common case of a
        // woken long-poll, and it costs nothing per member of the room.
        if since.is_some() && timeline.complete {
            return Ok(Vec::new());
        }
        let start = timeline.first_ordering.unwrap_or(upto.saturating_add(1));
        let at_start = self.state_before(room_id, start).await?;
        let known: StateIds = match since {
            Some(since) => self.state_before(room_id, since.saturating_add(1)).await?,
            None => StateIds::new(),
        };
        // Lazy loading still sends the summary's heroes: clients name the
        // room after them (a user who just joined over federation has no
        // one else in the timeline yet).
        let heroes: BTreeSet<String> = if filter.lazy_load_members {
            let mut heroes: Vec<String> = self
                .membership
                .members(room_id)
                .await?
                .into_iter()
                .filter(|(u, m)| u != viewer && matches!(m, MembershipState::Join | MembershipState::Invite))
                .map(|(u, _)| u.to_string())
                .collect();
            heroes.sort();
            heroes.truncate(5);
            heroes.into_iter().collect()
        } else {
            BTreeSet::new()
        };
        let mut events = Vec::new();
        for ((kind, key), event_id) in &at_start {
            if known.get(&(kind.clone(), key.clone())) == Some(event_id)
                || timeline.event_ids.contains(event_id.as_str())
            {
                continue;
            }
            if kind == "m.room.member"
                && filter.lazy_load_members
                && key != viewer.as_str()
                && !timeline.senders.contains(key)
                && !heroes.contains(key)
            {
                continue;
            }
            if !filter.allows(kind, "") && filter.types.is_some() {
                continue;
            }
            if let Some(stored) = self.timeline.get(event_id).await? {
                events.push(self.format(event_id, &stored, (viewer, device)).await?);
            }
        }
        Ok(events)
    }

    /// Stripped state for an invite or knock: enough to show the room.
    pub async fn stripped_state(&self, room_id: &RoomId, user: &UserId) -> Result<Vec<Value>> {
        if self.version(room_id).await?.is_none()
            && let Some(invite) = self.remote_invite(user, room_id).await?
        {
            return Ok(invite.stripped_state);
        }
        let mut ids: Vec<OwnedEventId> = Vec::new();
        for kind in STRIPPED_TYPES {
            ids.extend(self.state.get(room_id, kind, "").await?);
        }
        ids.extend(self.state.get(room_id, "m.room.member", user.as_str()).await?);
        let mut events = Vec::new();
        for event_id in ids {
            let Some(stored) = self.timeline.get(&event_id).await? else { continue };
            let object = stored.object()?;
            let field = |name: &str| object.get(name).cloned().map(Value::from).unwrap_or(Value::Null);
            events.push(json!({
                "type": field("type"),
                "state_key": field("state_key"),
                "sender": field("sender"),
                "content": field("content"),
            }));
        }
        Ok(events)
    }

    /// The user's current membership event in a room.
    pub async fn membership_event(&self, room_id: &RoomId, user: &UserId) -> Result<Option<MembershipEvent>> {
        let Some(event_id) = self.state.get(room_id, "m.room.member", user.as_str()).await? else { return Ok(None) };
        let Some(stored) = self.timeline.get(&event_id).await? else { return Ok(None) };
        let object = stored.object()?;
        let content = object.get("content").cloned().map(Value::from).unwrap_or(Value::Null);
        let Some(membership) = content.get("membership").and_then(Value::as_str).map(MembershipState::from) else {
            return Ok(None);
        };
        let sender = object.get("sender").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        Ok(Some(MembershipEvent { membership, ordering: stored.stream_ordering, sender, content }))
    }

    /// The stream ordering of the room's newest event at or before `upto`
    /// whose type is one of `kinds` (the sliding sync `bump_stamp`); when
    /// none is found within `scan_limit` events, the oldest one looked at.
    pub async fn latest_of_types(
        &self,
        room_id: &RoomId,
        upto: u64,
        kinds: &[&str],
        scan_limit: usize,
    ) -> Result<Option<u64>> {
        let mut position = upto.saturating_add(1);
        let mut scanned = 0;
        let mut oldest = None;
        loop {
            let page = self.timeline.page(room_id, Some(position), Direction::Backward, 20).await?;
            if page.is_empty() {
                return Ok(oldest);
            }
            for (ordering, event_id) in page {
                position = ordering;
                oldest = Some(ordering);
                scanned += 1;
                let Some(stored) = self.timeline.get(&event_id).await? else { continue };
                let object = stored.object()?;
                if object.get("type").and_then(|v| v.as_str()).is_some_and(|t| kinds.contains(&t)) {
                    return Ok(Some(ordering));
                }
                if scanned >= scan_limit {
                    return Ok(oldest);
                }
            }
        }
    }

    /// The room's state ids as a viewer may know them: the current state
    /// (`None`), or the state just after the event at stream ordering
    /// `at` (for a user who left at that event).
    pub async fn state_ids_at(&self, room_id: &RoomId, at: Option<u64>) -> Result<StateIds> {
        match at {
            None => self.state.current(room_id).await,
            Some(at) => self.state_before(room_id, at.saturating_add(1)).await,
        }
    }

    /// State events by id, formatted for `viewer`.
    pub async fn state_events_for_client(
        &self,
        viewer: (&UserId, &DeviceId),
        ids: impl IntoIterator<Item = &OwnedEventId>,
    ) -> Result<Vec<Value>> {
        let mut events = Vec::new();
        for event_id in ids {
            if let Some(stored) = self.timeline.get(event_id).await? {
                events.push(self.format(event_id, &stored, viewer).await?);
            }
        }
        Ok(events)
    }

    /// Whether the user's current membership (a join) came after `since`.
    pub async fn joined_after(&self, room_id: &RoomId, user: &UserId, since: u64) -> Result<bool> {
        let Some(event_id) = self.state.get(room_id, "m.room.member", user.as_str()).await? else { return Ok(false) };
        Ok(self.timeline.get(&event_id).await?.is_some_and(|e| e.stream_ordering > since))
    }

    /// Everyone who shares a joined room with `user`, and `user`: who sees
    /// their presence and device list changes.
    pub async fn shared_audience(&self, user: &UserId) -> Result<BTreeSet<ruma::OwnedUserId>> {
        let mut users = BTreeSet::from([user.to_owned()]);
        for room in self.membership.rooms_of(user, &MembershipState::Join).await? {
            for (member, membership) in self.membership.members(&room).await? {
                if membership == MembershipState::Join {
                    users.insert(member);
                }
            }
        }
        Ok(users)
    }

    /// Whether two users share a joined room.
    pub async fn share_a_room(&self, a: &UserId, b: &UserId) -> Result<bool> {
        for room in self.membership.rooms_of(a, &MembershipState::Join).await? {
            if self.membership.is_joined(&room, b).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The room summary: heroes and member counts.
    pub async fn summary(&self, room_id: &RoomId, viewer: &UserId) -> Result<Value> {
        let members = self.membership.members(room_id).await?;
        let count = |m: MembershipState| members.iter().filter(|(_, x)| *x == m).count();
        let mut heroes: Vec<&str> = members
            .iter()
            .filter(|(user, m)| user != viewer && matches!(m, MembershipState::Join | MembershipState::Invite))
            .map(|(user, _)| user.as_str())
            .collect();
        heroes.sort();
        heroes.truncate(5);
        Ok(json!({
            "m.heroes": heroes,
            "m.joined_member_count": count(MembershipState::Join),
            "m.invited_member_count": count(MembershipState::Invite),
        }))
    }
}
