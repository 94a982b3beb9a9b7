//! This server as the resident of a room others join or read: member
//! event templates and the relayed joins, leaves and knocks
//! (`make_*`/`send_*`), and the room's history and state as other servers
//! ask for them (`/event`, `/state_ids`, `/state`, `/backfill`,
//! `/get_missing_events`, `/event_auth`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use ruma::events::TimelineEventType;
use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedServerName, RoomId, RoomVersionId, ServerName, UserId,
};
use serde_json::{Value, json};

use super::pdu::{self, Pdu, Reference};
use super::placement::Outcome;
use super::state::StateIds;
use super::{Rooms, versions};
use crate::{Error, Result};

/// Events returned by one `/backfill` or `/get_missing_events` at most.
const MAX_EVENTS: usize = 100;

impl Rooms {
    /// A server may read a room's events when one of its users is or was
    /// in it (joined, invited, knocking or left).
    pub async fn server_in_room(&self, server: &ServerName, room_id: &RoomId) -> Result<bool> {
        Ok(self.membership.members(room_id).await?.iter().any(|(user, _)| user.server_name() == server))
    }

    async fn require_server_in_room(&self, server: &ServerName, room_id: &RoomId) -> Result<()> {
        if self.version(room_id).await?.is_none() {
            return Err(Error::NotFound(format!("this server does not have {room_id}")));
        }
        if !self.server_in_room(server, room_id).await? {
            return Err(Error::Forbidden(format!("{server} is not in {room_id}")));
        }
        self.check_server_acl(room_id, server).await
    }

    /// Whether `server` may see a stored event (spec: "History visibility"
    /// for servers — what its users could see at that event): always when
    /// world-readable; for `shared`, when the server has a member now; for
    /// `invited`/`joined`, when one of its users was invited/joined at the
    /// event. Cached per state snapshot.
    async fn server_can_see(
        &self,
        server: &ServerName,
        room_id: &RoomId,
        stored: &super::timeline::StoredEvent,
        cache: &mut HashMap<u64, bool>,
    ) -> Result<bool> {
        if let Some(known) = cache.get(&stored.state_snapshot) {
            return Ok(*known);
        }
        let state = self.state.at(room_id, stored.state_snapshot).await?;
        let visibility = match state.get(&("m.room.history_visibility".to_owned(), String::new())) {
            Some(id) => self.event_content(id).await?.unwrap_or(Value::Null)["history_visibility"]
                .as_str()
                .unwrap_or("shared")
                .to_owned(),
            None => "shared".to_owned(),
        };
        let visible = match visibility.as_str() {
            "world_readable" => true,
            "shared" => self.server_in_room(server, room_id).await?,
            wanted => {
                let suffix = format!(":{server}");
                let mut seen = false;
                for ((kind, key), id) in &state {
                    if kind != "m.room.member" || !key.ends_with(&suffix) {
                        continue;
                    }
                    let content = self.event_content(id).await?.unwrap_or(Value::Null);
                    let membership = content["membership"].as_str().unwrap_or_default();
                    if membership == "join" || (wanted == "invited" && membership == "invite") {
                        seen = true;
                        break;
                    }
                }
                seen
            }
        };
        cache.insert(stored.state_snapshot, visible);
        Ok(visible)
    }

    /// The event as `server` may have it: whole, or redacted when its
    /// users could not see it (the DAG stays complete either way).
    async fn event_for(
        &self,
        server: &ServerName,
        room_id: &RoomId,
        rules: &ruma::room_version_rules::RoomVersionRules,
        stored: &super::timeline::StoredEvent,
        cache: &mut HashMap<u64, bool>,
    ) -> Result<Value> {
        let mut object = stored.object()?;
        if !self.server_can_see(server, room_id, stored, cache).await? {
            ruma::canonical_json::redact_in_place(&mut object, &rules.redaction, None)
                .map_err(|e| Error::Internal(format!("redaction: {e}")))?;
        }
        Ok(Value::from(CanonicalJsonValue::Object(object)))
    }

    /// `make_join`, `make_leave`, `make_knock`: a member event for `user`
    /// to sign, built on the room's current extremities.
    pub async fn membership_template(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        user: &UserId,
        membership: &str,
        supported: &[RoomVersionId],
    ) -> Result<(RoomVersionId, Value)> {
        if user.server_name() != origin {
            return Err(Error::Forbidden("the user is not of the requesting server".to_owned()));
        }
        let version = self.version(room_id).await?.ok_or_else(|| Error::NotFound(format!("unknown room {room_id}")))?;
        self.check_server_acl(room_id, origin).await?;
        if !self.participating(room_id).await? {
            return Err(Error::NotFound(format!("this server is no longer in {room_id}")));
        }
        self.refuse_if_partial(room_id).await?;
        if membership != "leave" && !supported.contains(&version) {
            return Err(Error::IncompatibleRoomVersion(format!(
                "the room's version {version} is not supported by you"
            )));
        }
        let rules = versions::rules(&version)?;
        let mut content = CanonicalJsonObject::new();
        content.insert("membership".to_owned(), membership.into());
        if membership == "join"
            && let Some(authoriser) = self.restricted_join_authoriser(room_id, user).await?
        {
            content.insert("join_authorised_via_users_server".to_owned(), authoriser.as_str().into());
        }
        let head = self.head(room_id).await?;
        let content_raw = serde_json::value::to_raw_value(&content).map_err(|e| Error::Internal(e.to_string()))?;
        let auth_types = ruma::state_res::auth_types_for_event(
            &TimelineEventType::RoomMember,
            user,
            Some(user.as_str()),
            &content_raw,
            &rules.authorization,
        )
        .map_err(|e| Error::Internal(e.to_string()))?;
        let mut auth_refs = Vec::new();
        for (kind, key) in auth_types {
            let Some(id) = self.state.get(room_id, &kind.to_string(), &key).await? else { continue };
            let Some(stored) = self.timeline.get(&id).await? else { continue };
            auth_refs.push(Reference { event_id: id, reference_hash: stored.reference_hash });
        }
        let prevs = head
            .extremities
            .iter()
            .map(|(id, hash)| Reference { event_id: id.clone(), reference_hash: hash.clone() })
            .collect();
        let mut template = CanonicalJsonObject::new();
        template.insert("room_id".to_owned(), room_id.as_str().into());
        template.insert("sender".to_owned(), user.as_str().into());
        template.insert("origin".to_owned(), origin.as_str().into());
        template.insert("type".to_owned(), "m.room.member".into());
        template.insert("state_key".to_owned(), user.as_str().into());
        template.insert("content".to_owned(), content.into());
        template.insert(
            "depth".to_owned(),
            CanonicalJsonValue::Integer(ruma::Int::try_from(head.depth + 1).unwrap_or_default()),
        );
        template.insert(
            "origin_server_ts".to_owned(),
            CanonicalJsonValue::Integer(MilliSecondsSinceUnixEpoch::now().0.into()),
        );
        template.insert("prev_events".to_owned(), pdu::references(prevs, &rules));
        template.insert("auth_events".to_owned(), pdu::references(auth_refs, &rules));

        // Refuse early what the auth rules would refuse anyway.
        let probe_id = OwnedEventId::try_from(format!("$probe:{}", self.server_name))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let probe = Pdu::from_canonical(&template, probe_id, &rules)?;
        let create = self
            .state_pdu(room_id, "m.room.create", "", &rules)
            .await?
            .ok_or_else(|| Error::Internal(format!("{room_id} has no create event")))?;
        let current = self.state.current(room_id).await?;
        self.authorize_with_state(&rules, &probe, &create, &current).await?;
        Ok((version, Value::from(CanonicalJsonValue::Object(template))))
    }

    /// `send_join`, `send_leave`, `send_knock`: receives the signed member
    /// event, relays it to the room's other servers, and (for a join)
    /// returns the room's state before it and its auth chain — without
    /// the member events when the joiner asked for that (`omit_members`).
    pub async fn receive_membership(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
        membership: &str,
        raw: &serde_json::value::RawValue,
        omit_members: bool,
    ) -> Result<Value> {
        let rules = self.rules_of(room_id).await?;
        self.refuse_if_partial(room_id).await?;
        let mut json: CanonicalJsonObject = serde_json::from_str(raw.get())
            .map_err(|e| Error::BadJson(format!("the event is not canonical JSON: {e}")))?;
        // A restricted join names one of this server's users as the one
        // who let it in: this server signs for that (spec: "Restricted
        // rooms").
        let authoriser = json
            .get("content")
            .and_then(CanonicalJsonValue::as_object)
            .and_then(|c| c.get("join_authorised_via_users_server"))
            .and_then(CanonicalJsonValue::as_str)
            .and_then(|u| UserId::parse(u).ok());
        let countersign = membership == "join" && authoriser.is_some_and(|u| u.server_name() == self.server_name);
        if countersign {
            ruma::signatures::sign_event(self.server_name.as_str(), self.keys.key_pair(), &mut json, &rules.redaction)
                .map_err(|e| Error::BadJson(format!("the event cannot be signed: {e}")))?;
        }
        let raw = serde_json::value::to_raw_value(&json).map_err(|e| Error::Internal(e.to_string()))?;
        let checked = self.check_remote_pdu(&rules, &raw).await?;
        let pdu = &checked.pdu;
        let is_membership = pdu.kind == TimelineEventType::RoomMember
            && pdu.state_key.as_deref() == Some(pdu.sender.as_str())
            && pdu.content_json().get("membership").and_then(Value::as_str) == Some(membership);
        if checked.event_id != event_id || pdu.room_id.as_deref() != Some(room_id) || !is_membership {
            return Err(Error::BadJson(format!("not a {membership} event of this room and id")));
        }
        if pdu.sender.server_name() != origin {
            return Err(Error::Forbidden("the event's sender is not of the requesting server".to_owned()));
        }
        if self.receive_pdu(origin, checked.clone(), true).await? == Outcome::SoftFailed {
            return Err(Error::Forbidden("the room's current state does not allow this".to_owned()));
        }
        match membership {
            "join" => {
                let mut state_before = self.state_before_event(room_id, &rules, &checked.event_id).await?;
                // Those with joined members before the join: the joiner's
                // server had none, or it would not have joined through us.
                let mut servers = self.joined_servers(room_id).await?;
                servers.retain(|s| s != pdu.sender.server_name());
                let mut chain_from: Vec<OwnedEventId> = state_before.values().cloned().collect();
                if omit_members {
                    let keep = self.members_kept(&state_before, &pdu.sender).await?;
                    state_before.retain(|(kind, key), _| kind != "m.room.member" || keep.contains(key));
                    // The join's own auth chain holds what authorised it.
                    chain_from = state_before.values().chain(&pdu.auth_events).cloned().collect();
                }
                let mut chain = self.auth_chain_ids(&rules, chain_from).await?;
                if omit_members {
                    // "Any events returned in state may be omitted from auth_chain."
                    let in_state: HashSet<&OwnedEventId> = state_before.values().collect();
                    chain.retain(|id| !in_state.contains(id));
                }
                let state = self.events_json(state_before.values()).await?;
                let auth_chain = self.events_json(chain.iter()).await?;
                let mut response = json!({
                    "origin": self.server_name,
                    "state": state,
                    "auth_chain": auth_chain,
                    "members_omitted": omit_members,
                    "servers_in_room": servers,
                });
                if countersign {
                    response["event"] = Value::from(CanonicalJsonValue::Object(checked.json));
                }
                Ok(response)
            }
            "knock" => Ok(json!({ "knock_room_state": self.stripped_state(room_id, &pdu.sender).await? })),
            _ => Ok(json!({})),
        }
    }

    /// The member events a reduced `send_join` answer keeps: the joiner's
    /// own earlier one and, in a room with neither name nor canonical
    /// alias, those of the members its clients name it after (the heroes,
    /// as `/sync`'s summary picks them).
    async fn members_kept(&self, state: &StateIds, joiner: &UserId) -> Result<HashSet<String>> {
        let mut keep = HashSet::from([joiner.to_string()]);
        let named = [("m.room.name", ""), ("m.room.canonical_alias", "")]
            .iter()
            .any(|(kind, key)| state.contains_key(&((*kind).to_owned(), (*key).to_owned())));
        if !named {
            let mut heroes = Vec::new();
            for ((kind, key), id) in state {
                if kind != "m.room.member" || key == joiner.as_str() {
                    continue;
                }
                let content = self.content_of(id).await?;
                if matches!(content.get("membership").and_then(Value::as_str), Some("join" | "invite")) {
                    heroes.push(key.clone());
                }
                if heroes.len() == 5 {
                    break;
                }
            }
            keep.extend(heroes);
        }
        Ok(keep)
    }

    /// The state before a stored event: its prev events' state.
    async fn state_before_event(
        &self,
        room_id: &RoomId,
        rules: &ruma::room_version_rules::RoomVersionRules,
        event_id: &EventId,
    ) -> Result<StateIds> {
        let (pdu, stored) =
            self.pdu(event_id, rules).await?.ok_or_else(|| Error::NotFound(format!("unknown event {event_id}")))?;
        if stored.room_id != room_id {
            return Err(Error::NotFound(format!("{event_id} is not in {room_id}")));
        }
        let mut state = self.state.at(room_id, stored.state_snapshot).await?;
        if let Some(key) = &pdu.state_key {
            // The snapshot is the state after the event: put back what it
            // replaced, from the state before its first prev event.
            let slot = (pdu.kind.to_string(), key.clone());
            if state.get(&slot) == Some(&pdu.event_id) {
                state.remove(&slot);
                let mut previous = None;
                for prev in &pdu.prev_events {
                    if let Some((_, prev_stored)) = self.pdu(prev, rules).await?
                        && !prev_stored.outlier
                    {
                        previous = self.state.at(room_id, prev_stored.state_snapshot).await?.remove(&slot);
                        break;
                    }
                }
                if let Some(previous) = previous {
                    state.insert(slot, previous);
                }
            }
        }
        Ok(state)
    }

    async fn events_json<'a>(&self, ids: impl Iterator<Item = &'a OwnedEventId>) -> Result<Vec<Value>> {
        let mut events = Vec::new();
        for id in ids {
            if let Some(stored) = self.timeline.get(id).await? {
                events.push(Value::from(CanonicalJsonValue::Object(stored.object()?)));
            }
        }
        Ok(events)
    }

    /// `GET /event/{eventId}`.
    pub async fn event_for_server(&self, origin: &ServerName, event_id: &EventId) -> Result<Value> {
        let stored =
            self.timeline.get(event_id).await?.ok_or_else(|| Error::NotFound(format!("unknown event {event_id}")))?;
        self.require_server_in_room(origin, &stored.room_id).await?;
        let rules = self.rules_of(&stored.room_id).await?;
        self.event_for(origin, &stored.room_id, &rules, &stored, &mut HashMap::new()).await
    }

    /// `GET /state_ids` and `/state`: the state before an event, and its
    /// auth chain.
    pub async fn state_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<(Vec<OwnedEventId>, Vec<OwnedEventId>)> {
        self.require_server_in_room(origin, room_id).await?;
        self.refuse_if_partial(room_id).await?;
        let rules = self.rules_of(room_id).await?;
        let state = self.state_before_event(room_id, &rules, event_id).await?;
        let chain = self.auth_chain_ids(&rules, state.values().cloned()).await?;
        Ok((state.into_values().collect(), chain))
    }

    /// Events as JSON, for `/state`.
    pub async fn pdus_json(&self, ids: &[OwnedEventId]) -> Result<Vec<Value>> {
        self.events_json(ids.iter()).await
    }

    /// `GET /event_auth/{roomId}/{eventId}`.
    pub async fn event_auth_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<Vec<Value>> {
        self.require_server_in_room(origin, room_id).await?;
        let rules = self.rules_of(room_id).await?;
        let chain = self.auth_chain_ids(&rules, [event_id.to_owned()]).await?;
        self.events_json(chain.iter()).await
    }

    /// `GET /backfill`: events before (and including) `from`, walking prev
    /// events, newest first.
    pub async fn backfill_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        from: &[OwnedEventId],
        limit: usize,
    ) -> Result<Vec<Value>> {
        self.require_server_in_room(origin, room_id).await?;
        let rules = self.rules_of(room_id).await?;
        let limit = limit.clamp(1, MAX_EVENTS);
        let mut seen: HashSet<OwnedEventId> = HashSet::new();
        let mut found: BTreeMap<(u64, OwnedEventId), Value> = BTreeMap::new();
        let mut todo: VecDeque<OwnedEventId> = from.iter().cloned().collect();
        let mut visibility = HashMap::new();
        while let Some(id) = todo.pop_front() {
            if found.len() >= limit || !seen.insert(id.clone()) {
                continue;
            }
            let Some((pdu, stored)) = self.pdu(&id, &rules).await? else { continue };
            if stored.room_id != room_id || stored.outlier {
                continue;
            }
            todo.extend(pdu.prev_events.iter().cloned());
            found.insert((pdu.depth, id), self.event_for(origin, room_id, &rules, &stored, &mut visibility).await?);
        }
        Ok(found.into_values().rev().collect())
    }

    /// `POST /get_missing_events`: events between `earliest` and `latest`
    /// (exclusive), oldest first.
    pub async fn missing_events_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        earliest: &[OwnedEventId],
        latest: &[OwnedEventId],
        limit: usize,
        min_depth: u64,
    ) -> Result<Vec<Value>> {
        self.require_server_in_room(origin, room_id).await?;
        let rules = self.rules_of(room_id).await?;
        let limit = limit.clamp(1, MAX_EVENTS);
        let stop: HashSet<&OwnedEventId> = earliest.iter().collect();
        let mut visibility = HashMap::new();
        let mut seen: HashSet<OwnedEventId> = HashSet::new();
        let mut found: BTreeMap<(u64, OwnedEventId), Value> = BTreeMap::new();
        let mut todo: VecDeque<OwnedEventId> = VecDeque::new();
        for id in latest {
            if let Some((pdu, _)) = self.pdu(id, &rules).await? {
                todo.extend(pdu.prev_events.iter().cloned());
            }
        }
        while let Some(id) = todo.pop_front() {
            if found.len() >= limit || stop.contains(&id) || !seen.insert(id.clone()) {
                continue;
            }
            let Some((pdu, stored)) = self.pdu(&id, &rules).await? else { continue };
            if stored.room_id != room_id || stored.outlier || pdu.depth < min_depth {
                continue;
            }
            todo.extend(pdu.prev_events.iter().cloned());
            found.insert((pdu.depth, id), self.event_for(origin, room_id, &rules, &stored, &mut visibility).await?);
        }
        Ok(found.into_values().collect())
    }

    /// The servers with joined members (for `/query/directory` answers).
    pub async fn joined_servers(&self, room_id: &RoomId) -> Result<Vec<OwnedServerName>> {
        let mut servers: Vec<OwnedServerName> = self
            .membership
            .members(room_id)
            .await?
            .into_iter()
            .filter(|(_, m)| *m == ruma::events::room::member::MembershipState::Join)
            .map(|(u, _)| u.server_name().to_owned())
            .collect();
        servers.sort();
        servers.dedup();
        Ok(servers)
    }
}
