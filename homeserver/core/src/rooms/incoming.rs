//! Events from other servers (spec: "Checks performed on receipt of a
//! PDU"): format, event id, signatures and hashes; auth events present and
//! the event allowed by them; prev events present (fetched with
//! `/get_missing_events`, or the state before the event asked for with
//! `/state_ids` when the gap stays open); allowed by the state before it;
//! and, where it forks the room, by the current state (else soft-failed).

use std::collections::HashMap;

use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue, redact_in_place};
use ruma::room_version_rules::{EventIdFormatVersion, RoomVersionRules};
use ruma::signatures::Verified;
use ruma::{EventId, OwnedEventId, RoomId, ServerName};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::pdu::{MAX_PDU_BYTES, Pdu};
use super::placement::{Outcome, Placement};
use super::state::StateIds;
use super::{Rooms, check_independent, room_lock};
use crate::{Error, Result};

/// Events asked for at once when a gap opens before an event.
const MISSING_EVENTS_LIMIT: u64 = 20;

/// A PDU whose format, id, signatures and hashes have been checked.
#[derive(Clone, Debug)]
pub struct Checked {
    pub event_id: OwnedEventId,
    /// As signed; redacted when its content hash did not match.
    pub json: CanonicalJsonObject,
    pub pdu: Pdu,
    pub reference_hash: String,
}

/// The id of a PDU as its room version derives it, whatever else is wrong
/// with it (so that a rejection can name it).
pub fn event_id_of(rules: &RoomVersionRules, raw: &RawValue) -> Option<OwnedEventId> {
    let mut json: CanonicalJsonObject = serde_json::from_str(raw.get()).ok()?;
    json.remove("unsigned");
    match rules.event_id_format {
        EventIdFormatVersion::V1 => {
            json.get("event_id").and_then(CanonicalJsonValue::as_str).and_then(|id| OwnedEventId::try_from(id).ok())
        }
        _ => {
            let hash = ruma::signatures::reference_hash(&json, rules).ok()?;
            EventId::new_v2_or_v3(&hash).ok()
        }
    }
}

impl Rooms {
    /// Checks a PDU received from another server, up to (not including)
    /// the auth rules.
    pub async fn check_remote_pdu(&self, rules: &RoomVersionRules, raw: &RawValue) -> Result<Checked> {
        if raw.get().len() > MAX_PDU_BYTES {
            return Err(Error::TooLarge(format!("events are limited to {MAX_PDU_BYTES} bytes")));
        }
        let mut json: CanonicalJsonObject = serde_json::from_str(raw.get())
            .map_err(|e| Error::BadJson(format!("the PDU is not canonical JSON: {e}")))?;
        // `unsigned` is the sender's view; this server computes its own.
        json.remove("unsigned");
        ruma::state_res::check_pdu_format(&json, &rules.event_format)
            .map_err(|e| Error::BadJson(format!("the PDU is malformed: {e}")))?;
        let reference_hash = ruma::signatures::reference_hash(&json, rules)
            .map_err(|e| Error::BadJson(format!("the PDU cannot be hashed: {e}")))?;
        let event_id = match rules.event_id_format {
            EventIdFormatVersion::V1 => json
                .get("event_id")
                .and_then(CanonicalJsonValue::as_str)
                .map(OwnedEventId::try_from)
                .transpose()
                .map_err(|e| Error::BadJson(format!("event_id: {e}")))?
                .ok_or_else(|| Error::BadJson("the PDU has no event_id".to_owned()))?,
            _ => EventId::new_v2_or_v3(&reference_hash).map_err(|e| Error::BadJson(e.to_string()))?,
        };
        let servers = ruma::signatures::required_server_signatures_to_verify_event(&json, &rules.signatures)
            .map_err(|e| Error::InvalidSignature(format!("{event_id}: {e}")))?;
        let sent_at =
            json.get("origin_server_ts").and_then(CanonicalJsonValue::as_integer).map(|ts| i64::from(ts).max(0) as u64);
        let valid_at = if rules.enforce_key_validity { sent_at } else { None };
        let keys = self.remote_keys.public_key_map(servers.iter().map(AsRef::as_ref), valid_at).await?;
        match ruma::signatures::verify_event(&keys, &json, rules) {
            Ok(Verified::All) => {}
            Ok(Verified::Signatures) => {
                // A content hash mismatch: keep only what the signatures
                // cover (spec: "Checks performed on receipt of a PDU", 4).
                tracing::info!(%event_id, "content hash mismatch: the event is redacted");
                redact_in_place(&mut json, &rules.redaction, None)
                    .map_err(|e| Error::BadJson(format!("{event_id} cannot be redacted: {e}")))?;
            }
            Err(e) => return Err(Error::InvalidSignature(format!("{event_id}: bad signature: {e}"))),
        }
        let pdu = Pdu::from_canonical(&json, event_id.clone(), rules).map_err(|e| Error::BadJson(e.to_string()))?;
        Ok(Checked { event_id, json, pdu, reference_hash })
    }

    /// Receives an event of a room this server is in, from `origin`
    /// (a transaction, or a join/leave/knock it relays as the resident when
    /// `broadcast`).
    pub async fn receive_pdu(&self, origin: &ServerName, checked: Checked, broadcast: bool) -> Result<Outcome> {
        self.receive_with_gap_fill(origin, checked, broadcast, true).await
    }

    async fn receive_with_gap_fill(
        &self,
        origin: &ServerName,
        checked: Checked,
        broadcast: bool,
        fill_gaps: bool,
    ) -> Result<Outcome> {
        let room_id = checked
            .pdu
            .room_id
            .clone()
            .ok_or_else(|| Error::BadJson("a create event cannot be sent into an existing room".to_owned()))?;
        if let Some(existing) = self.timeline.get(&checked.event_id).await?
            && !existing.outlier
        {
            return Ok(Outcome::Accepted);
        }
        let rules = self.rules_of(&room_id).await?;
        self.check_server_acl(&room_id, origin).await?;
        if fill_gaps {
            self.fill_gap(origin, &room_id, &rules, &checked).await?;
        }
        self.fetch_missing_auth_events(origin, &room_id, &rules, &checked.pdu).await?;
        let create = self
            .state_pdu(&room_id, "m.room.create", "", &rules)
            .await?
            .ok_or_else(|| Error::Internal(format!("{room_id} has no create event")))?;
        let auth_events = self.load(&rules, &checked.pdu.auth_events).await?;
        check_independent(&rules, &checked.pdu, &create, &auth_events)?;
        super::authorize_against(&rules, &checked.pdu, &create, &auth_events)?;

        let (state_before, before_snapshot) = match self.state_from_prevs(&room_id, &rules, &checked.pdu).await? {
            Some(known) => known,
            None => (self.fetch_state_before(origin, &room_id, &rules, &checked.event_id).await?, None),
        };
        if self.has_partial_state(&room_id).await? {
            // Members this server does not know yet are missing from the
            // state: the event's own auth events stand in for them.
            let auth: Vec<&super::pdu::Pdu> = auth_events.values().collect();
            let filled = super::partial_state::with_auth_events(&state_before, &auth);
            self.authorize_with_state(&rules, &checked.pdu, &create, &filled).await?;
        } else {
            self.authorize_with_state(&rules, &checked.pdu, &create, &state_before).await?;
        }

        let _guard = self.store.lock(&room_lock(&room_id)).await?;
        if let Some(existing) = self.timeline.get(&checked.event_id).await?
            && !existing.outlier
        {
            return Ok(Outcome::Accepted);
        }
        let head = self.head(&room_id).await?;
        let placement = Placement { state_before, before_snapshot, authoritative: false, broadcast };
        let outcome = self.place(&room_id, &rules, head, &checked, placement, Default::default()).await?;
        if outcome == Outcome::SoftFailed {
            tracing::info!(event_id = %checked.event_id, %room_id, "soft-failed an event");
        }
        Ok(outcome)
    }

    /// Events by id, parsed; missing ones are left out.
    pub(super) async fn load(
        &self,
        rules: &RoomVersionRules,
        ids: &[OwnedEventId],
    ) -> Result<HashMap<OwnedEventId, Pdu>> {
        let mut events = HashMap::new();
        for id in ids {
            if let Some((pdu, _)) = self.pdu(id, rules).await? {
                events.insert(id.clone(), pdu);
            }
        }
        Ok(events)
    }

    /// The state before an event from its prev events' states: `None` when
    /// a prev event is unknown (or known only as an outlier).
    async fn state_from_prevs(
        &self,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        pdu: &Pdu,
    ) -> Result<Option<(StateIds, Option<u64>)>> {
        let mut states = Vec::new();
        let mut single_snapshot = None;
        for prev in &pdu.prev_events {
            let Some(stored) = self.timeline.get(prev).await? else { return Ok(None) };
            if stored.outlier || stored.room_id != room_id {
                return Ok(None);
            }
            // A snapshot is the state after its event: the state before ours.
            single_snapshot = Some(stored.state_snapshot);
            states.push(self.state.at(room_id, stored.state_snapshot).await?);
        }
        match states.len() {
            0 => Ok(None),
            1 => Ok(Some((states.pop().expect("one state"), single_snapshot))),
            _ => Ok(Some((self.resolve_states(room_id, rules, &states, &[]).await?, None))),
        }
    }

    /// Asks `origin` for the events between what this server has and the
    /// event's prev events, and receives them oldest first.
    async fn fill_gap(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        checked: &Checked,
    ) -> Result<()> {
        let mut missing = false;
        for prev in &checked.pdu.prev_events {
            if self.timeline.get(prev).await?.is_none_or(|e| e.outlier) {
                missing = true;
            }
        }
        if !missing {
            return Ok(());
        }
        let head = self.head(room_id).await?;
        let earliest: Vec<&OwnedEventId> = head.extremities.iter().map(|(id, _)| id).collect();
        let body = json!({
            "earliest_events": earliest,
            "latest_events": [checked.event_id],
            "limit": MISSING_EVENTS_LIMIT,
            "min_depth": 0,
        });
        let path = format!("/_matrix/federation/v1/get_missing_events/{}", encode_path(room_id.as_str()));
        let response = match self.federation.post(origin, &path, &body).await {
            Ok(response) => response,
            Err(e) => {
                tracing::info!(%origin, %room_id, error = %e, "get_missing_events failed");
                return Ok(());
            }
        };
        let mut events = Vec::new();
        for raw in response.get("events").and_then(Value::as_array).into_iter().flatten() {
            let raw = serde_json::value::to_raw_value(raw).map_err(|e| Error::BadJson(e.to_string()))?;
            match self.check_remote_pdu(rules, &raw).await {
                Ok(event) if event.pdu.room_id.as_deref() == Some(room_id) => events.push(event),
                Ok(event) => tracing::info!(event_id = %event.event_id, "a missing event of another room; ignored"),
                Err(e) => tracing::info!(error = %e, "a missing event failed its checks"),
            }
        }
        events.sort_by_key(|e| e.pdu.depth);
        for event in events {
            let event_id = event.event_id.clone();
            if let Err(e) = Box::pin(self.receive_with_gap_fill(origin, event, false, false)).await {
                tracing::info!(%event_id, error = %e, "a missing event was rejected");
            }
        }
        Ok(())
    }

    /// Fetches auth events this server lacks (`GET /event/{id}`), checks
    /// them, and keeps them as outliers.
    async fn fetch_missing_auth_events(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        pdu: &Pdu,
    ) -> Result<()> {
        let mut missing = Vec::new();
        for id in &pdu.auth_events {
            if self.timeline.get(id).await?.is_none() {
                missing.push(id.clone());
            }
        }
        self.fetch_outliers(origin, room_id, rules, missing).await
    }

    /// Fetches events by id from `origin` (and their missing auth events),
    /// checks format, signatures and auth against their auth events, and
    /// stores them as outliers.
    pub(super) async fn fetch_outliers(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        ids: Vec<OwnedEventId>,
    ) -> Result<()> {
        let mut fetched: HashMap<OwnedEventId, Checked> = HashMap::new();
        let mut todo = ids;
        while let Some(id) = todo.pop() {
            if fetched.contains_key(&id) || self.timeline.get(&id).await?.is_some() {
                continue;
            }
            if fetched.len() > 1000 {
                return Err(Error::Remote("too many unknown auth events".to_owned()));
            }
            let path = format!("/_matrix/federation/v1/event/{}", encode_path(id.as_str()));
            let response = self.federation.get(origin, &path).await.map_err(Error::from)?;
            let raw = response
                .get("pdus")
                .and_then(Value::as_array)
                .and_then(|p| p.first())
                .ok_or_else(|| Error::Remote(format!("{origin} did not return {id}")))?;
            let raw = serde_json::value::to_raw_value(raw).map_err(|e| Error::BadJson(e.to_string()))?;
            let checked = self.check_remote_pdu(rules, &raw).await?;
            if checked.event_id != id || checked.pdu.room_id.as_deref().is_some_and(|r| r != room_id) {
                return Err(Error::Remote(format!("{origin} returned another event for {id}")));
            }
            todo.extend(checked.pdu.auth_events.iter().cloned());
            fetched.insert(id, checked);
        }
        self.store_checked_outliers(room_id, rules, fetched.into_values().collect()).await
    }

    /// Auth-checks events against their own auth events (oldest first) and
    /// stores those that pass as outliers.
    pub(super) async fn store_checked_outliers(
        &self,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        mut events: Vec<Checked>,
    ) -> Result<()> {
        events.sort_by_key(|e| e.pdu.depth);
        let mut known: HashMap<OwnedEventId, Pdu> = HashMap::new();
        let create =
            events.iter().find(|e| e.pdu.kind == ruma::events::TimelineEventType::RoomCreate).map(|e| e.pdu.clone());
        let create = match create {
            Some(create) => create,
            None => self
                .state_pdu(room_id, "m.room.create", "", rules)
                .await?
                .ok_or_else(|| Error::Remote(format!("no create event for {room_id}")))?,
        };
        let mut batch = nexus_storage::WriteBatch::new();
        for event in events {
            let mut auth = HashMap::new();
            for id in &event.pdu.auth_events {
                if let Some(p) = known.get(id) {
                    auth.insert(id.clone(), p.clone());
                } else if let Some((p, _)) = self.pdu(id, rules).await? {
                    auth.insert(id.clone(), p);
                }
            }
            let allowed = if event.pdu.kind == ruma::events::TimelineEventType::RoomCreate {
                check_independent(rules, &event.pdu, &create, &auth).is_ok()
            } else {
                check_independent(rules, &event.pdu, &create, &auth)
                    .and_then(|()| super::authorize_against(rules, &event.pdu, &create, &auth))
                    .is_ok()
            };
            if !allowed {
                tracing::info!(event_id = %event.event_id, "an auth or state event failed its auth checks");
                continue;
            }
            known.insert(event.event_id.clone(), event.pdu.clone());
            if self.timeline.get(&event.event_id).await?.is_none() {
                self.put_outlier(&mut batch, room_id, &event)?;
            }
        }
        Ok(self.store.write(batch).await?)
    }

    /// Asks `origin` for the state before an event (`/state_ids`) and
    /// fetches the events of it this server lacks.
    async fn fetch_state_before(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        event_id: &EventId,
    ) -> Result<StateIds> {
        let path = format!(
            "/_matrix/federation/v1/state_ids/{}?event_id={}",
            encode_path(room_id.as_str()),
            encode_path(event_id.as_str())
        );
        let response = self.federation.get(origin, &path).await.map_err(Error::from)?;
        let ids: Vec<OwnedEventId> = response
            .get("pdu_ids")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().and_then(|s| OwnedEventId::try_from(s).ok()))
            .collect();
        self.fetch_outliers(origin, room_id, rules, ids.clone()).await?;
        let mut state = StateIds::new();
        for id in ids {
            if let Some((pdu, _)) = self.pdu(&id, rules).await?
                && let Some(key) = pdu.state_key
            {
                state.insert((pdu.kind.to_string(), key), id);
            }
        }
        Ok(state)
    }
}

/// Percent-encodes a path segment (room and event ids carry `!`, `$`, `:`
/// and, in some versions, `/` and `+`).
pub fn encode_path(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
