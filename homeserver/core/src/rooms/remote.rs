//! This server's users in rooms that live elsewhere: joining and leaving
//! through a resident server (`make_join`/`send_join`,
//! `make_leave`/`send_leave`), inviting other servers' users (their server
//! countersigns, `/invite`), and invites this server's users receive to
//! rooms it does not have yet.

use nexus_storage::WriteBatch;
use nexus_storage::catalog::{REMOTE_INVITES, ROOMS};
use nexus_storage::codec::KeyBuilder;
use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use ruma::events::TimelineEventType;
use ruma::events::room::member::MembershipState;
use ruma::room_version_rules::{EventIdFormatVersion, RoomIdFormatVersion, RoomVersionRules};
use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedServerName, OwnedUserId, RoomId, RoomVersionId, ServerName,
    UserId,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::incoming::{Checked, encode_path};
use super::partial_state::PartialJoin;
use super::pdu::{self, Pdu};
use super::placement::Placement;
use super::state::StateIds;
use super::{RoomHead, RoomRecord, Rooms, check_independent, room_lock, versions};
use crate::changes::Change;
use crate::values::{decode, encode};
use crate::{Error, Result};

/// An invite to a room this server does not have.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteInvite {
    /// The invite event, as countersigned by this server.
    pub event: String,
    /// What the inviting server showed of the room (`invite_room_state`).
    pub stripped_state: Vec<Value>,
    pub room_version: RoomVersionId,
    /// The inviting server: the first to ask to join through.
    pub via: OwnedServerName,
}

fn invite_key(user: &UserId, room_id: &RoomId) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(room_id.as_str()).build()
}

impl Rooms {
    /// Whether this server takes part in the room: it has it, and a local
    /// user is joined (otherwise its copy may be stale and joins go through
    /// a resident server).
    pub async fn participating(&self, room_id: &RoomId) -> Result<bool> {
        if self.version(room_id).await?.is_none() {
            return Ok(false);
        }
        let members = self.membership.room_members(room_id).await?;
        let local_joined = !members.local_joined().is_empty();
        let remote_joined = members.joined_servers().any(|server| *server != self.server_name);
        Ok(local_joined || !remote_joined)
    }

    /// The servers to try when joining a room through federation: those
    /// the client named, the inviting server, the room id's server, and
    /// the servers of members this server knows of.
    pub async fn join_candidates(
        &self,
        room_id: &RoomId,
        user: &UserId,
        via: &[OwnedServerName],
    ) -> Result<Vec<OwnedServerName>> {
        let mut servers: Vec<OwnedServerName> = via.to_vec();
        if let Some(invite) = self.remote_invite(user, room_id).await? {
            servers.push(invite.via);
        }
        if let Some(server) = room_id.server_name() {
            servers.push(server.to_owned());
        }
        for (member, membership) in self.membership.members(room_id).await? {
            if membership == MembershipState::Join {
                servers.push(member.server_name().to_owned());
            }
        }
        let mut seen = std::collections::HashSet::new();
        servers.retain(|s| *s != self.server_name && seen.insert(s.clone()));
        Ok(servers)
    }

    pub async fn remote_invite(&self, user: &UserId, room_id: &RoomId) -> Result<Option<RemoteInvite>> {
        let bytes = self.store.get(&REMOTE_INVITES, &invite_key(user, room_id)).await?;
        bytes.map(|b| decode(&REMOTE_INVITES, &b)).transpose()
    }

    /// The member event template from `make_join`/`make_leave`/`make_knock`
    /// at the first server that answers, filled in and signed.
    async fn make_membership(
        &self,
        room_id: &RoomId,
        user: &UserId,
        membership: &str,
        servers: &[OwnedServerName],
        reason: Option<&str>,
    ) -> Result<(OwnedServerName, RoomVersionId, RoomVersionRules, Checked)> {
        let versions: Vec<String> = versions::SUPPORTED.iter().map(|v| format!("ver={v}")).collect();
        let mut last_error = Error::NotFound(format!("no server to join {room_id} through"));
        for server in servers {
            let path = format!(
                "/_matrix/federation/v1/make_{membership}/{}/{}{}",
                encode_path(room_id.as_str()),
                encode_path(user.as_str()),
                if membership == "leave" { String::new() } else { format!("?{}", versions.join("&")) }
            );
            let response = match self.federation.get(server, &path).await {
                Ok(response) => response,
                Err(e) => {
                    tracing::info!(%server, %room_id, error = %e, "make_{membership} failed");
                    last_error = e.into();
                    continue;
                }
            };
            let version = match response.get("room_version").and_then(Value::as_str) {
                Some(v) => RoomVersionId::try_from(v).map_err(|e| Error::Remote(e.to_string()))?,
                None => RoomVersionId::V1,
            };
            let rules = versions::rules(&version)?;
            let template =
                response.get("event").cloned().ok_or_else(|| Error::Remote("no event template".to_owned()))?;
            let json = self.fill_template(template, &rules, user, membership, reason).await?;
            let raw = serde_json::value::to_raw_value(&json).map_err(|e| Error::Internal(e.to_string()))?;
            let checked = self.check_remote_pdu(&rules, &raw).await?;
            return Ok((server.clone(), version, rules, checked));
        }
        Err(last_error)
    }

    async fn fill_template(
        &self,
        template: Value,
        rules: &RoomVersionRules,
        user: &UserId,
        membership: &str,
        reason: Option<&str>,
    ) -> Result<CanonicalJsonObject> {
        let mut json: CanonicalJsonObject = serde_json::from_value(template)
            .map_err(|e| Error::Remote(format!("the event template is not canonical JSON: {e}")))?;
        let checks = [("type", "m.room.member"), ("sender", user.as_str()), ("state_key", user.as_str())];
        for (field, expected) in checks {
            if json.get(field).and_then(CanonicalJsonValue::as_str) != Some(expected) {
                return Err(Error::Remote(format!("the event template has the wrong {field}")));
            }
        }
        for field in ["hashes", "signatures", "unsigned", "event_id"] {
            json.remove(field);
        }
        json.insert("origin".to_owned(), self.server_name.as_str().into());
        json.insert(
            "origin_server_ts".to_owned(),
            CanonicalJsonValue::Integer(MilliSecondsSinceUnixEpoch::now().0.into()),
        );
        let mut content = match json.remove("content") {
            Some(CanonicalJsonValue::Object(content)) => content,
            _ => CanonicalJsonObject::new(),
        };
        content.insert("membership".to_owned(), membership.into());
        if membership == "join" {
            let (displayname, avatar_url) = self.member_profile(user).await;
            if let Some(name) = displayname {
                content.insert("displayname".to_owned(), name.into());
            }
            if let Some(url) = avatar_url {
                content.insert("avatar_url".to_owned(), url.into());
            }
        }
        if let Some(reason) = reason {
            content.insert("reason".to_owned(), reason.into());
        }
        json.insert("content".to_owned(), content.into());
        if rules.event_id_format == EventIdFormatVersion::V1 {
            json.insert("event_id".to_owned(), EventId::new_v1(&self.server_name).as_str().into());
        }
        ruma::signatures::hash_and_sign_event(
            self.server_name.as_str(),
            self.keys.key_pair(),
            &mut json,
            &rules.redaction,
        )
        .map_err(|e| Error::Internal(format!("signing the member event: {e}")))?;
        Ok(json)
    }

    /// Joins a room another server has (spec: "Joining rooms").
    pub async fn join_remote(
        &self,
        room_id: &RoomId,
        user: &UserId,
        servers: &[OwnedServerName],
        reason: Option<&str>,
    ) -> Result<OwnedEventId> {
        let (server, version, rules, join) = self.make_membership(room_id, user, "join", servers, reason).await?;
        // Members are left out only for a room new to this server: filling
        // in never overrides, so a rejoin's stale members would stay.
        let omit_members = self.record(room_id).await?.is_none();
        let path = format!(
            "/_matrix/federation/v2/send_join/{}/{}?omit_members={omit_members}",
            encode_path(room_id.as_str()),
            encode_path(join.event_id.as_str())
        );
        let body = Value::from(CanonicalJsonValue::Object(join.json.clone()));
        let response = self.federation.put(&server, &path, &body).await.map_err(Error::from)?;
        // The resident may have countersigned the join (restricted rooms).
        let join = match response.get("event") {
            Some(event) if event.is_object() => {
                let raw = serde_json::value::to_raw_value(event).map_err(|e| Error::Internal(e.to_string()))?;
                let signed = self.check_remote_pdu(&rules, &raw).await?;
                if signed.event_id != join.event_id {
                    return Err(Error::Remote(format!("{server} returned another join event")));
                }
                signed
            }
            _ => join,
        };
        let mut events = Vec::new();
        let mut state_ids = Vec::new();
        for (field, is_state) in [("auth_chain", false), ("state", true)] {
            for raw in response.get(field).and_then(Value::as_array).into_iter().flatten() {
                let raw = serde_json::value::to_raw_value(raw).map_err(|e| Error::Internal(e.to_string()))?;
                match self.check_remote_pdu(&rules, &raw).await {
                    Ok(event) => {
                        if is_state {
                            state_ids.push(event.event_id.clone());
                        }
                        events.push(event);
                    }
                    Err(e) => {
                        tracing::info!(%room_id, error = %e, "send_join returned an event that failed its checks")
                    }
                }
            }
        }
        let create = events
            .iter()
            .find(|e| e.pdu.kind == TimelineEventType::RoomCreate && e.pdu.state_key.as_deref() == Some(""))
            .map(|e| e.pdu.clone())
            .ok_or_else(|| Error::Remote(format!("{server} sent no create event for {room_id}")))?;
        if rules.room_id_format == RoomIdFormatVersion::V2
            && create.event_id.as_str().strip_prefix('$') != room_id.as_str().strip_prefix('!')
        {
            return Err(Error::Remote("the create event does not match the room id".to_owned()));
        }

        let _guard = self.store.lock(&room_lock(room_id)).await?;
        let known = self.record(room_id).await?.is_some();
        self.store_checked_outliers(room_id, &rules, events).await?;
        let mut state_before = StateIds::new();
        for id in &state_ids {
            if let Some((pdu, _)) = self.pdu(id, &rules).await?
                && let Some(key) = &pdu.state_key
            {
                state_before.insert((pdu.kind.to_string(), key.clone()), id.clone());
            }
        }
        let auth_events = self.load(&rules, &join.pdu.auth_events).await?;
        check_independent(&rules, &join.pdu, &create, &auth_events)?;
        // With members omitted, the joiner's own earlier membership (an
        // invite, say) may be missing from the state: its auth events hold it.
        let members_omitted = omit_members && response.get("members_omitted").and_then(Value::as_bool) == Some(true);
        let servers_in_room = partial_state_servers(&response, &server, &self.server_name);
        if members_omitted {
            let auth: Vec<&Pdu> = auth_events.values().collect();
            let filled = super::partial_state::with_auth_events(&state_before, &auth);
            self.authorize_with_state(&rules, &join.pdu, &create, &filled).await?;
        } else {
            self.authorize_with_state(&rules, &join.pdu, &create, &state_before).await?;
        }

        // Placing the join reads the room's version and state: the record
        // and the state before the join go first, and the record is taken
        // back if the join cannot be placed.
        let mut before = WriteBatch::new();
        let mut head = if known {
            self.head(room_id).await?
        } else {
            let record = RoomRecord { version, created_ts: Self::created_now() };
            before.put(&ROOMS, room_id.as_str().as_bytes(), encode(&record));
            RoomHead { extremities: Vec::new(), depth: 0, snapshot: 0, next_snapshot: 0, state_entries: 0 }
        };
        // The state before the join is a snapshot of its own: backfilled
        // history is seen through it.
        let before_snapshot = head.next_snapshot;
        head.next_snapshot += 1;
        self.state.put_snapshot(&mut before, room_id, before_snapshot, None, Vec::new(), Some(&state_before));
        for ((kind, key), id) in &state_before {
            self.state.set_current(&mut before, room_id, kind, key, id);
            if kind == "m.room.member"
                && let Some((member, _)) = self.pdu(id, &rules).await?
            {
                self.apply_membership(&mut before, room_id, &member, key).await?;
            }
        }
        self.store.write(before).await?;
        let mut batch = WriteBatch::new();
        batch.delete(&REMOTE_INVITES, invite_key(user, room_id));
        if members_omitted {
            let partial =
                PartialJoin { join_event_id: join.event_id.clone(), before_snapshot, servers: servers_in_room };
            self.record_partial_join(&mut batch, room_id, &partial);
        }
        let placement =
            Placement { state_before, before_snapshot: Some(before_snapshot), authoritative: true, broadcast: false };
        if let Err(e) = self.place(room_id, &rules, head, &join, placement, batch).await {
            if !known {
                self.store.delete(&ROOMS, room_id.as_str().as_bytes()).await?;
            }
            return Err(e);
        }
        if members_omitted {
            self.start_resync(room_id);
        }
        tracing::info!(%room_id, %server, partial_state = members_omitted, "joined a room over federation");
        Ok(join.event_id)
    }

    /// Leaves a room through a resident server: rejecting a remote invite,
    /// or leaving a room this server no longer takes part in.
    pub async fn leave_remote(&self, room_id: &RoomId, user: &UserId, reason: Option<&str>) -> Result<()> {
        let servers = self.join_candidates(room_id, user, &[]).await?;
        let (server, _version, _rules, leave) = self.make_membership(room_id, user, "leave", &servers, reason).await?;
        let path = format!(
            "/_matrix/federation/v2/send_leave/{}/{}",
            encode_path(room_id.as_str()),
            encode_path(leave.event_id.as_str())
        );
        let body = Value::from(CanonicalJsonValue::Object(leave.json.clone()));
        self.federation.put(&server, &path, &body).await.map_err(Error::from)?;
        self.forget_remote_invite(user, room_id, MembershipState::Leave).await
    }

    async fn forget_remote_invite(&self, user: &UserId, room_id: &RoomId, membership: MembershipState) -> Result<()> {
        let reservation = self.stream.reserve().await?;
        let mut batch = WriteBatch::new();
        batch.delete(&REMOTE_INVITES, invite_key(user, room_id));
        self.membership.set(&mut batch, room_id, user, &membership).await?;
        self.changes.note_membership(&mut batch, room_id, user, membership == MembershipState::Join).await?;
        self.changes.record(&mut batch, [user], reservation.ordering, &Change::Room(room_id.to_owned()));
        self.store.write(batch).await?;
        drop(reservation);
        self.changes.wake([user]);
        Ok(())
    }

    /// The invitee of an invite event, when on another server.
    pub(super) fn remote_invitee(&self, pdu: &Pdu) -> Option<OwnedUserId> {
        invitee(pdu).filter(|target| target.server_name() != self.server_name)
    }

    /// Has the invitee's server countersign an invite (`PUT /v2/invite`).
    pub(super) async fn exchange_invite(
        &self,
        room_id: &RoomId,
        version: &RoomVersionId,
        rules: &RoomVersionRules,
        built: pdu::Built,
        invitee: &UserId,
    ) -> Result<pdu::Built> {
        let server = invitee.server_name();
        // Full PDUs since v1.16 (the invitee's server may check them).
        let mut stripped = Vec::new();
        let sender = built.json.get("sender").and_then(CanonicalJsonValue::as_str).unwrap_or_default().to_owned();
        let slots =
            super::sync_view::STRIPPED_TYPES.iter().map(|t| (*t, "")).chain([("m.room.member", sender.as_str())]);
        for (kind, key) in slots {
            if let Some(id) = self.state.get(room_id, kind, key).await?
                && let Some(stored) = self.timeline.get(&id).await?
            {
                stripped.push(Value::from(CanonicalJsonValue::Object(stored.object()?)));
            }
        }
        let body = json!({
            "room_version": version,
            "event": Value::from(CanonicalJsonValue::Object(built.json.clone())),
            "invite_room_state": stripped,
        });
        let path = format!(
            "/_matrix/federation/v2/invite/{}/{}",
            encode_path(room_id.as_str()),
            encode_path(built.event_id.as_str())
        );
        let response = self.federation.put(server, &path, &body).await.map_err(Error::from)?;
        let event = response.get("event").ok_or_else(|| Error::Remote(format!("{server} returned no invite event")))?;
        let raw = serde_json::value::to_raw_value(event).map_err(|e| Error::Internal(e.to_string()))?;
        let signed = self.check_remote_pdu(rules, &raw).await?;
        let countersigned = signed
            .json
            .get("signatures")
            .and_then(CanonicalJsonValue::as_object)
            .is_some_and(|s| s.contains_key(server.as_str()));
        if signed.event_id != built.event_id || !countersigned {
            return Err(Error::Remote(format!("{server} did not countersign the invite")));
        }
        Ok(pdu::Built { json: signed.json, event_id: signed.event_id, reference_hash: signed.reference_hash })
    }

    /// An invite of one of this server's users (`PUT /v2/invite`): checked,
    /// countersigned, and shown to the user.
    pub async fn receive_invite(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
        version: &RoomVersionId,
        raw: &serde_json::value::RawValue,
        invite_room_state: Vec<Value>,
    ) -> Result<Value> {
        if !versions::SUPPORTED.contains(version) {
            return Err(Error::IncompatibleRoomVersion(format!("room version {version} is not supported")));
        }
        let rules = versions::rules(version)?;
        let mut checked = self.check_remote_pdu(&rules, raw).await?;
        if checked.event_id != event_id || checked.pdu.room_id.as_deref() != Some(room_id) {
            return Err(Error::BadJson("the invite does not match the request".to_owned()));
        }
        let invitee = invitee(&checked.pdu)
            .filter(|target| target.server_name() == self.server_name)
            .ok_or_else(|| Error::BadJson("not an invite of a user of this server".to_owned()))?;
        if checked.pdu.sender.server_name() != origin {
            return Err(Error::Forbidden("the invite's sender is not of the requesting server".to_owned()));
        }
        if self.profiles.get(&invitee).await.is_err() {
            return Err(Error::NotFound(format!("{invitee} does not exist")));
        }
        ruma::signatures::sign_event(
            self.server_name.as_str(),
            self.keys.key_pair(),
            &mut checked.json,
            &rules.redaction,
        )
        .map_err(|e| Error::Internal(format!("countersigning the invite: {e}")))?;
        let signed = Value::from(CanonicalJsonValue::Object(checked.json.clone()));
        if self.participating(room_id).await? && self.version(room_id).await?.is_some() {
            // The event reaches this server through the room as well.
            return Ok(signed);
        }
        // Clients see stripped state, whatever form the server sent.
        let mut stripped: Vec<Value> = invite_room_state
            .into_iter()
            .map(|e| json!({ "type": e["type"], "state_key": e["state_key"], "sender": e["sender"], "content": e["content"] }))
            .collect();
        stripped.push(json!({
            "type": "m.room.member",
            "state_key": invitee,
            "sender": checked.pdu.sender,
            "content": checked.pdu.content_json(),
        }));
        let invite = RemoteInvite {
            event: serde_json::to_string(&signed).map_err(|e| Error::Internal(e.to_string()))?,
            stripped_state: stripped,
            room_version: version.clone(),
            via: origin.to_owned(),
        };
        let reservation = self.stream.reserve().await?;
        let mut batch = WriteBatch::new();
        batch.put(&REMOTE_INVITES, invite_key(&invitee, room_id), encode(&invite));
        self.membership.set(&mut batch, room_id, &invitee, &MembershipState::Invite).await?;
        self.changes.record(&mut batch, [invitee.as_ref()], reservation.ordering, &Change::Room(room_id.to_owned()));
        self.store.write(batch).await?;
        drop(reservation);
        self.changes.wake([invitee.as_ref()]);
        Ok(signed)
    }
}

/// The target of an invite event.
fn invitee(pdu: &Pdu) -> Option<OwnedUserId> {
    if pdu.kind != TimelineEventType::RoomMember {
        return None;
    }
    let target = UserId::parse(pdu.state_key.as_deref()?).ok()?;
    let invite = pdu.content_json().get("membership").and_then(Value::as_str) == Some("invite");
    invite.then_some(target)
}

/// Where a partial-state room's full state can be fetched and its events
/// must go: the server that answered the join, then the others it named.
fn partial_state_servers(response: &Value, resident: &ServerName, own: &ServerName) -> Vec<OwnedServerName> {
    let mut servers = vec![resident.to_owned()];
    for name in response.get("servers_in_room").and_then(Value::as_array).into_iter().flatten() {
        if let Some(name) = name.as_str().and_then(|n| ServerName::parse(n).ok())
            && !servers.contains(&name)
            && name != own
        {
            servers.push(name);
        }
    }
    servers
}
