//! Which rooms a request shows (lists with filters, ordered by recency,
//! and room subscriptions), and each room's entry.

use std::collections::{BTreeMap, BTreeSet};

use ruma::events::room::member::MembershipState;
use ruma::{DeviceId, EventId, OwnedEventId, OwnedRoomId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::connection::{Connection, RoomSent};
use super::request::{ListFilters, MAX_TIMELINE_LIMIT, Request, RoomConfig};
use super::{Feed, SlidingSync};
use crate::Result;
use crate::filters::RoomEventFilter;
use crate::rooms::state::StateIds;

pub use crate::rooms::timeline::BUMP_TYPES;
/// How far back a room's timeline is searched for a bump event when the
/// room has no recorded one (rooms from before the index).
const BUMP_SCAN: usize = 500;
const HEROES: usize = 5;
/// The memberships whose rooms the lists show.
const LISTED: [MembershipState; 5] = [
    MembershipState::Join,
    MembershipState::Invite,
    MembershipState::Knock,
    MembershipState::Ban,
    MembershipState::Leave,
];

/// What the lists and filters read about a room. A connection keeps them
/// for every room its lists may show, as of its position, and refreshes
/// only the rooms the change feed names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Facts {
    pub membership: MembershipState,
    /// The stream ordering of the user's membership event, when known.
    pub membership_ordering: Option<u64>,
    pub bump: u64,
    /// The invite carries `is_direct`.
    #[serde(default)]
    pub invited_direct: bool,
    pub is_dm: bool,
    pub is_encrypted: bool,
    pub room_type: Option<String>,
    /// Left by the user themselves: shown once, right after, then dropped.
    #[serde(default)]
    pub own_leave: bool,
    /// The room's tags, read once a list filters by tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeSet<String>>,
}

/// A room this request shows: through which lists, whether subscribed,
/// and the configuration they add up to.
#[derive(Debug, Clone)]
pub struct Shown {
    pub lists: Vec<String>,
    pub subscribed: bool,
    pub config: RoomConfig,
    pub joined: bool,
    /// Joined, or left or banned: the timeline can be read (up to the
    /// membership's end, by the visibility rules).
    pub can_read: bool,
    pub facts: Facts,
}

pub enum Built {
    /// Nothing to send; the client holds what it had.
    Unchanged,
    Sent(Map<String, Value>, RoomSent),
}

/// The state a user sees of a room: its current state while joined, the
/// state at their membership event otherwise.
enum StateView {
    Current,
    At(StateIds),
}

fn merge(into: &mut RoomConfig, config: &RoomConfig) {
    into.timeline_limit = into.timeline_limit.max(config.timeline_limit.min(MAX_TIMELINE_LIMIT));
    into.required_state.extend(config.required_state.iter().cloned());
    into.required_state.sort();
    into.required_state.dedup();
}

fn wants(required: &[(String, String)], user: &UserId, kind: &str, key: &str) -> bool {
    required.iter().any(|(t, k)| {
        (t == "*" || t == kind)
            && match k.as_str() {
                "*" => true,
                "$ME" => key == user.as_str(),
                "$LAZY" => false,
                other => other == key,
            }
    })
}

fn wants_lazy(required: &[(String, String)]) -> bool {
    required.iter().any(|(t, k)| t == "m.room.member" && k == "$LAZY")
}

impl SlidingSync {
    async fn content(&self, event_id: &EventId) -> Result<Value> {
        let Some(stored) = self.rooms.timeline.get(event_id).await? else { return Ok(Value::Null) };
        Ok(stored.object()?.remove("content").map(Value::from).unwrap_or(Value::Null))
    }

    async fn state_id(
        &self,
        room_id: &RoomId,
        view: &StateView,
        kind: &str,
        key: &str,
    ) -> Result<Option<OwnedEventId>> {
        match view {
            StateView::Current => self.rooms.state.get(room_id, kind, key).await,
            StateView::At(ids) => Ok(ids.get(&(kind.to_owned(), key.to_owned())).cloned()),
        }
    }

    async fn state_content(&self, room_id: &RoomId, view: &StateView, kind: &str, key: &str) -> Result<Value> {
        match self.state_id(room_id, view, kind, key).await? {
            Some(id) => self.content(&id).await,
            None => Ok(Value::Null),
        }
    }

    /// The rooms a user's lists may show, with their facts: joined,
    /// invited, knocked, banned and kicked rooms, and rooms they left
    /// themselves after `since` (reported once, then dropped). One pass
    /// over the user's rooms, point reads for each.
    async fn candidates(&self, user: &UserId, since: Option<u64>, upto: u64) -> Result<BTreeMap<OwnedRoomId, Facts>> {
        let direct = self.direct_rooms(user).await?;
        let mut out = BTreeMap::new();
        for membership in LISTED {
            for room_id in self.rooms.membership.rooms_of(user, &membership).await? {
                if let Some(facts) = self.facts(user, &room_id, membership.clone(), since, upto, &direct).await? {
                    out.insert(room_id, facts);
                }
            }
        }
        Ok(out)
    }

    /// The connection's candidates moved from `since` to `upto`: only the
    /// rooms the change feed names are read again (and, when global
    /// account data changed, the DM flags and invites; left rooms are
    /// checked for a forget, which the feed does not carry).
    async fn updated_candidates(
        &self,
        user: &UserId,
        mut known: BTreeMap<OwnedRoomId, Facts>,
        since: u64,
        upto: u64,
        feed: &Feed,
    ) -> Result<BTreeMap<OwnedRoomId, Facts>> {
        known.retain(|_, facts| !(facts.own_leave && facts.membership_ordering.is_some_and(|o| o <= since)));
        let mut recheck: BTreeSet<OwnedRoomId> = feed.rooms.clone();
        if feed.global_account_data {
            // `m.direct` or the ignore list may have changed.
            recheck.extend(self.rooms.membership.rooms_of(user, &MembershipState::Invite).await?);
            recheck
                .extend(known.iter().filter(|(_, f)| f.membership == MembershipState::Invite).map(|(r, _)| r.clone()));
        }
        for (room_id, facts) in &known {
            if matches!(facts.membership, MembershipState::Leave | MembershipState::Ban)
                && !recheck.contains(room_id)
                && self.rooms.membership.is_forgotten(room_id, user).await?
            {
                recheck.insert(room_id.clone());
            }
        }
        let direct = if feed.global_account_data || !recheck.is_empty() {
            self.direct_rooms(user).await?
        } else {
            BTreeSet::new()
        };
        if feed.global_account_data {
            for (room_id, facts) in &mut known {
                facts.is_dm = facts.invited_direct || direct.contains(room_id.as_str());
            }
        }
        for room_id in &recheck {
            let membership = self.rooms.membership.of(room_id, user).await?;
            let facts = match membership {
                Some(membership) if LISTED.contains(&membership) => {
                    self.facts(user, room_id, membership, Some(since), upto, &direct).await?
                }
                _ => None,
            };
            match facts {
                Some(mut facts) => {
                    if !feed.room_account_data.contains(room_id) {
                        facts.tags = known.get(room_id).and_then(|f| f.tags.clone());
                    }
                    known.insert(room_id.clone(), facts);
                }
                None => {
                    known.remove(room_id);
                }
            }
        }
        for room_id in &feed.room_account_data {
            if let Some(facts) = known.get_mut(room_id) {
                facts.tags = None;
            }
        }
        Ok(known)
    }

    async fn direct_rooms(&self, user: &UserId) -> Result<BTreeSet<String>> {
        let direct = self.account_data.get(user, None, "m.direct").await?.unwrap_or_default();
        Ok(direct.values().filter_map(Value::as_array).flatten().filter_map(Value::as_str).map(str::to_owned).collect())
    }

    /// A room's facts for the lists; `None` when the lists leave it out.
    async fn facts(
        &self,
        user: &UserId,
        room_id: &RoomId,
        membership: MembershipState,
        since: Option<u64>,
        upto: u64,
        direct: &BTreeSet<String>,
    ) -> Result<Option<Facts>> {
        let event = self.rooms.membership_event(room_id, user).await?;
        let mut own_leave = false;
        match membership {
            MembershipState::Leave | MembershipState::Ban => {
                if self.rooms.membership.is_forgotten(room_id, user).await? {
                    return Ok(None);
                }
                let Some(event) = &event else { return Ok(None) };
                own_leave = membership == MembershipState::Leave && event.sender == user.as_str();
                if own_leave && since.is_none_or(|s| event.ordering <= s) {
                    return Ok(None);
                }
            }
            MembershipState::Invite => {
                if let Some(event) = &event
                    && self.account_data.ignores(user, &event.sender).await?
                {
                    return Ok(None);
                }
            }
            _ => {}
        }
        let membership_ordering = event.as_ref().map(|e| e.ordering);
        let bump = match membership {
            MembershipState::Join => self.bump(room_id, upto).await?.or(membership_ordering),
            MembershipState::Leave | MembershipState::Ban => match membership_ordering {
                Some(at) => self.bump(room_id, at).await?.or(Some(at)),
                None => None,
            },
            _ => membership_ordering,
        }
        .unwrap_or(0);
        let invited_direct = membership == MembershipState::Invite
            && event.as_ref().is_some_and(|e| e.content.get("is_direct") == Some(&Value::Bool(true)));
        let is_encrypted = self.rooms.state.get(room_id, "m.room.encryption", "").await?.is_some();
        let room_type = self
            .state_content(room_id, &StateView::Current, "m.room.create", "")
            .await?
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(Some(Facts {
            membership,
            membership_ordering,
            bump,
            invited_direct,
            is_dm: invited_direct || direct.contains(room_id.as_str()),
            is_encrypted,
            room_type,
            own_leave,
            tags: None,
        }))
    }

    /// The stream ordering of the room's newest bump event at or before
    /// `upto`: one point read of the index, a bounded scan only when the
    /// index has none that old (a room from before the index, or a room
    /// left before its newest bump).
    async fn bump(&self, room_id: &RoomId, upto: u64) -> Result<Option<u64>> {
        match self.rooms.timeline.latest_bump(room_id).await? {
            Some(bump) if bump <= upto => Ok(Some(bump)),
            _ => self.rooms.latest_of_types(room_id, upto, &BUMP_TYPES, BUMP_SCAN).await,
        }
    }

    /// Reads the tags of the candidates that lack them.
    async fn load_tags(&self, user: &UserId, candidates: &mut BTreeMap<OwnedRoomId, Facts>) -> Result<()> {
        for (room_id, facts) in candidates.iter_mut() {
            if facts.tags.is_some() {
                continue;
            }
            let tags = self.account_data.get(user, Some(room_id), "m.tag").await?.unwrap_or_default();
            facts.tags = Some(
                tags.get("tags").and_then(Value::as_object).map(|t| t.keys().cloned().collect()).unwrap_or_default(),
            );
        }
        Ok(())
    }

    async fn space_children(&self, spaces: &[OwnedRoomId]) -> Result<BTreeSet<String>> {
        let mut children = BTreeSet::new();
        for space in spaces {
            for (child, event_id) in self.rooms.state.current_of_type(space, "m.space.child").await? {
                if self.content(&event_id).await?.get("via").and_then(Value::as_array).is_some_and(|v| !v.is_empty()) {
                    children.insert(child);
                }
            }
        }
        Ok(children)
    }

    fn passes(room_id: &RoomId, facts: &Facts, filters: &ListFilters, children: &Option<BTreeSet<String>>) -> bool {
        let is_invite = facts.membership == MembershipState::Invite;
        if filters.is_dm.is_some_and(|v| v != facts.is_dm)
            || filters.is_encrypted.is_some_and(|v| v != facts.is_encrypted)
            || filters.is_invite.is_some_and(|v| v != is_invite)
            || (!filters.room_types.is_empty() && !filters.room_types.contains(&facts.room_type))
            || filters.not_room_types.contains(&facts.room_type)
            || children.as_ref().is_some_and(|c| !c.contains(room_id.as_str()))
        {
            return false;
        }
        if !filters.tags.is_empty() || !filters.not_tags.is_empty() {
            let tags = facts.tags.clone().unwrap_or_default();
            if filters.not_tags.iter().any(|t| tags.contains(t))
                || (!filters.tags.is_empty() && !filters.tags.iter().any(|t| tags.contains(t)))
            {
                return false;
            }
        }
        true
    }

    /// The rooms this request shows; records each list's count.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn shown_rooms(
        &self,
        user: &UserId,
        since: Option<u64>,
        upto: u64,
        request: &Request,
        previous: &Connection,
        feed: &Feed,
        connection: &mut Connection,
    ) -> Result<BTreeMap<OwnedRoomId, Shown>> {
        let mut shown: BTreeMap<OwnedRoomId, Shown> = BTreeMap::new();
        let new_shown = |facts: &Facts| Shown {
            lists: Vec::new(),
            subscribed: false,
            config: RoomConfig::default(),
            joined: facts.membership == MembershipState::Join,
            can_read: matches!(facts.membership, MembershipState::Join | MembershipState::Leave | MembershipState::Ban),
            facts: facts.clone(),
        };
        // The candidates and their facts: kept by the connection and moved
        // forward by the change feed; read in full only when it has none.
        let mut candidates = match (&previous.candidates, since) {
            _ if request.lists.is_empty() => BTreeMap::new(),
            (Some(known), Some(since)) => self.updated_candidates(user, known.clone(), since, upto, feed).await?,
            _ => self.candidates(user, since, upto).await?,
        };
        let by_tags = request
            .lists
            .values()
            .filter_map(|l| l.filters.as_ref())
            .any(|f| !f.tags.is_empty() || !f.not_tags.is_empty());
        if by_tags {
            self.load_tags(user, &mut candidates).await?;
        }
        for (name, list) in &request.lists {
            let filters = list.filters.clone().unwrap_or_default();
            let children =
                if filters.spaces.is_empty() { None } else { Some(self.space_children(&filters.spaces).await?) };
            let mut ordered: Vec<(&OwnedRoomId, &Facts)> = candidates
                .iter()
                .filter(|(room_id, facts)| Self::passes(room_id, facts, &filters, &children))
                .collect();
            // Most recent first; the room id breaks ties so the order is stable.
            ordered.sort_by(|a, b| b.1.bump.cmp(&a.1.bump).then_with(|| a.0.cmp(b.0)));
            let count = ordered.len() as u64;
            connection.lists.insert(name.clone(), count);
            for (start, end) in &list.ranges {
                if *start >= count {
                    continue;
                }
                for index in *start..=(*end).min(count - 1) {
                    let (room_id, facts) = ordered[index as usize];
                    let entry = shown.entry(room_id.clone()).or_insert_with(|| new_shown(facts));
                    if !entry.lists.contains(name) {
                        entry.lists.push(name.clone());
                    }
                    merge(&mut entry.config, &list.room);
                }
            }
        }
        let mut direct = None;
        for (room_id, config) in &request.room_subscriptions {
            let facts = match candidates.get(room_id) {
                Some(facts) => Some(facts.clone()),
                None => match self.rooms.membership.of(room_id, user).await? {
                    // A subscription reaches any room the user has a
                    // membership in; what they may read of it is the
                    // visibility rules' business.
                    Some(membership) => {
                        if direct.is_none() {
                            direct = Some(self.direct_rooms(user).await?);
                        }
                        let direct = direct.as_ref().expect("just read");
                        self.facts(user, room_id, membership, None, upto, direct).await?
                    }
                    None => None,
                },
            };
            let facts = match facts {
                Some(facts) => facts,
                // An own leave from before this connection: still readable
                // up to the leave.
                None => match self.rooms.membership_event(room_id, user).await? {
                    Some(event) if event.membership == MembershipState::Leave => Facts {
                        membership: MembershipState::Leave,
                        membership_ordering: Some(event.ordering),
                        bump: event.ordering,
                        invited_direct: false,
                        is_dm: false,
                        is_encrypted: false,
                        room_type: None,
                        own_leave: true,
                        tags: None,
                    },
                    _ => continue,
                },
            };
            let entry = shown.entry(room_id.clone()).or_insert_with(|| new_shown(&facts));
            entry.subscribed = true;
            merge(&mut entry.config, config);
        }
        if !request.lists.is_empty() {
            connection.candidates = Some(candidates);
        }
        Ok(shown)
    }

    /// One room's entry, or [`Built::Unchanged`] when the client has it.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn room(
        &self,
        user: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        shown: &Shown,
        sent: Option<&RoomSent>,
        previous: &Connection,
        since: Option<u64>,
        upto: u64,
        feed: &Feed,
    ) -> Result<Built> {
        let facts = &shown.facts;
        let membership = facts.membership.as_str().to_owned();
        let limit = shown.config.timeline_limit;
        let required = &shown.config.required_state;
        let was_pending = sent.is_some_and(|s| s.membership == "invite" || s.membership == "knock");
        let membership_changed = sent.is_some_and(|s| s.membership != membership);
        let initial = sent.is_none() || (was_pending && membership_changed);
        let changed = feed.rooms.contains(room_id);
        let mut entry = Map::new();
        if initial {
            entry.insert("initial".to_owned(), json!(true));
        }
        if facts.is_dm {
            entry.insert("is_dm".to_owned(), json!(true));
        }
        entry.insert("bump_stamp".to_owned(), json!(facts.bump));

        if !shown.can_read {
            // Invited or knocking: the stripped state, with the user's own
            // member event.
            if !(initial || membership_changed) {
                return Ok(Built::Unchanged);
            }
            entry.insert("invite_state".to_owned(), json!(self.rooms.stripped_state(room_id, user).await?));
            let record = RoomSent { timeline_limit: limit, membership, ..RoomSent::default() };
            return Ok(Built::Sent(entry, record));
        }

        let counts = if shown.joined && (initial || changed || membership_changed || feed.receipts.contains(room_id)) {
            let counts = self.push.counts(user, room_id).await?;
            (counts.notifications, counts.highlights)
        } else {
            sent.map(|s| s.counts).unwrap_or_default()
        };
        let limit_raised = sent.is_some_and(|s| limit > s.timeline_limit);
        let state_grown = sent.is_some_and(|s| !required.iter().all(|r| previous.config(s.config).contains(r)));
        let counts_changed = sent.is_some_and(|s| s.counts != counts);
        if !(initial || membership_changed || changed || limit_raised || state_grown || counts_changed) {
            return Ok(Built::Unchanged);
        }

        let view = match (shown.joined, facts.membership_ordering) {
            (false, Some(at)) => StateView::At(self.rooms.state_ids_at(room_id, Some(at)).await?),
            _ => StateView::Current,
        };
        // The timeline: from scratch for a room new to the client or whose
        // limit grew, else what came since the connection's position.
        let timeline_from = if initial || limit_raised { None } else { since };
        let timeline = if initial || limit_raised || changed || membership_changed {
            let filter = RoomEventFilter::default();
            let usize_limit = usize::try_from(limit).unwrap_or(usize::MAX);
            Some(self.rooms.timeline_since(user, device, room_id, timeline_from, upto, usize_limit, &filter).await?)
        } else {
            None
        };

        // Required state.
        let lazy = wants_lazy(required);
        let senders: BTreeSet<String> = timeline.as_ref().map(|t| t.senders.clone()).unwrap_or_default();
        let mut lazy_members: BTreeSet<String> =
            if initial { BTreeSet::new() } else { sent.map(|s| s.lazy_members.clone()).unwrap_or_default() };
        let mut state_ids: BTreeSet<OwnedEventId> = BTreeSet::new();
        let full_state = initial || state_grown;
        if full_state {
            state_ids.extend(self.selected_state(user, room_id, &view, required).await?);
        } else if (membership_changed || timeline.as_ref().is_some_and(|t| t.limited))
            && let Some(since) = since
        {
            // Events were skipped, or the user's membership changed (a
            // left room ends with its `$ME` leave): the state that changed.
            let before = self.rooms.state_before(room_id, since.saturating_add(1)).await?;
            let now = match &view {
                StateView::Current => self.rooms.state.current(room_id).await?,
                StateView::At(ids) => ids.clone(),
            };
            for ((kind, key), id) in &now {
                let tracked =
                    wants(required, user, kind, key) || (lazy && kind == "m.room.member" && lazy_members.contains(key));
                if tracked && before.get(&(kind.clone(), key.clone())) != Some(id) {
                    state_ids.insert(id.clone());
                }
            }
        }
        if lazy {
            for sender in &senders {
                if (full_state || !lazy_members.contains(sender))
                    && let Some(id) = self.state_id(room_id, &view, "m.room.member", sender).await?
                {
                    state_ids.insert(id);
                }
                lazy_members.insert(sender.clone());
            }
        }
        if !state_ids.is_empty() {
            entry.insert(
                "required_state".to_owned(),
                json!(self.rooms.state_events_for_client((user, device), &state_ids).await?),
            );
        }

        if let Some(timeline) = &timeline {
            let num_live = since.map_or(0, |s| timeline.orderings.iter().filter(|o| **o > s).count());
            entry.insert("timeline".to_owned(), json!(timeline.events));
            entry.insert("limited".to_owned(), json!(timeline.limited));
            entry.insert("prev_batch".to_owned(), json!(timeline.prev_batch));
            entry.insert("num_live".to_owned(), json!(num_live));
        }

        // Name, avatar, heroes and member counts.
        let name = self.state_content(room_id, &view, "m.room.name", "").await?;
        if let Some(name) = name.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            entry.insert("name".to_owned(), json!(name));
        }
        if let Some(id) = self.state_id(room_id, &view, "m.room.avatar", "").await? {
            let url = self.content(&id).await?.get("url").and_then(Value::as_str).map(str::to_owned);
            entry.insert("avatar".to_owned(), json!(url));
        }
        let members = self.rooms.membership.members(room_id).await?;
        let count = |m: MembershipState| members.iter().filter(|(_, x)| *x == m).count();
        entry.insert("joined_count".to_owned(), json!(count(MembershipState::Join)));
        entry.insert("invited_count".to_owned(), json!(count(MembershipState::Invite)));
        let mut heroes: Vec<&UserId> = members
            .iter()
            .filter(|(u, m)| u != user && matches!(m, MembershipState::Join | MembershipState::Invite))
            .map(|(u, _)| u.as_ref())
            .collect();
        heroes.sort();
        heroes.truncate(HEROES);
        let mut hero_values = Vec::new();
        for hero in heroes {
            let content = self.state_content(room_id, &view, "m.room.member", hero.as_str()).await?;
            let mut value = json!({ "user_id": hero });
            if let Some(name) = content.get("displayname").and_then(Value::as_str) {
                value["displayname"] = json!(name);
            }
            if let Some(avatar) = content.get("avatar_url").and_then(Value::as_str) {
                value["avatar_url"] = json!(avatar);
            }
            hero_values.push(value);
        }
        entry.insert("heroes".to_owned(), json!(hero_values));
        if shown.joined {
            entry.insert("notification_count".to_owned(), json!(counts.0));
            entry.insert("highlight_count".to_owned(), json!(counts.1));
        }

        let record = RoomSent {
            timeline_limit: if limit_raised || initial {
                limit
            } else {
                sent.map_or(limit, |s| s.timeline_limit.max(limit))
            },
            config: 0,
            lazy_members,
            counts,
            membership,
        };
        Ok(Built::Sent(entry, record))
    }

    /// The ids of the state `required` selects (without `$LAZY`).
    async fn selected_state(
        &self,
        user: &UserId,
        room_id: &RoomId,
        view: &StateView,
        required: &[(String, String)],
    ) -> Result<Vec<OwnedEventId>> {
        if required.iter().any(|(t, _)| t == "*") {
            let all = match view {
                StateView::Current => self.rooms.state.current(room_id).await?,
                StateView::At(ids) => ids.clone(),
            };
            return Ok(all
                .into_iter()
                .filter(|((kind, key), _)| wants(required, user, kind, key))
                .map(|(_, id)| id)
                .collect());
        }
        let mut ids = Vec::new();
        for (kind, key) in required {
            match key.as_str() {
                "$LAZY" => {}
                "*" => match view {
                    StateView::Current => {
                        ids.extend(self.rooms.state.current_of_type(room_id, kind).await?.into_iter().map(|(_, id)| id))
                    }
                    StateView::At(all) => {
                        ids.extend(all.iter().filter(|((k, _), _)| k == kind).map(|(_, id)| id.clone()))
                    }
                },
                "$ME" => ids.extend(self.state_id(room_id, view, kind, user.as_str()).await?),
                key => ids.extend(self.state_id(room_id, view, kind, key).await?),
            }
        }
        Ok(ids)
    }
}
