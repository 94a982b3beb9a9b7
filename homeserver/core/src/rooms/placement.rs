//! Placing an event from another server in a room: its state snapshot,
//! the room's new current state (resolved when the event forks the DAG),
//! forward extremities, the timeline, and everything the event changes for
//! local users — in one atomic batch, under the room's lock.

use std::collections::BTreeSet;

use nexus_storage::WriteBatch;
use nexus_storage::catalog::ROOM_HEADS;
use ruma::events::TimelineEventType;
use ruma::room_version_rules::RoomVersionRules;
use ruma::{OwnedEventId, OwnedServerName, RoomId, UserId};

use super::incoming::Checked;
use super::membership::RoomMembers;
use super::state::StateIds;
use super::timeline::StoredEvent;
use super::{RoomHead, Rooms, Wakeups, authorize_against};
use crate::federation::outbox::Item;
use crate::values::encode;
use crate::{Error, Result};

/// Forward extremities kept at most; older ones are dropped (their
/// branches stay reachable through later events).
const MAX_EXTREMITIES: usize = 20;

/// Where an event sits in the room's history.
pub(super) struct Placement {
    /// The room's state just before the event.
    pub state_before: StateIds,
    /// A stored snapshot equal to `state_before` (its single prev event's),
    /// when there is one.
    pub before_snapshot: Option<u64>,
    /// This event's state becomes the room's current state outright (a
    /// join the resident server vouched for), rather than being resolved
    /// against it.
    pub authoritative: bool,
    /// Send the event to the other servers in the room (events this server
    /// signed, or a join/leave/knock it relays as the resident).
    pub broadcast: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// Allowed by the state before it but not by the current state: kept,
    /// but not shown to clients nor built upon (spec: "Soft failure").
    SoftFailed,
}

impl Rooms {
    /// Stores an event known only as part of a room's state or auth chain.
    pub(super) fn put_outlier(&self, batch: &mut WriteBatch, room_id: &RoomId, checked: &Checked) -> Result<()> {
        let stored = StoredEvent {
            json: serde_json::to_string(&checked.json).map_err(|e| Error::Internal(e.to_string()))?,
            room_id: room_id.to_owned(),
            stream_ordering: 0,
            state_snapshot: 0,
            reference_hash: checked.reference_hash.clone(),
            redacted_by: None,
            transaction: None,
            outlier: true,
            replaces_state: None,
        };
        self.timeline.replace(batch, &checked.event_id, &stored);
        Ok(())
    }

    /// Places an authorised event (the caller holds the room's lock and has
    /// checked it against its auth events and `placement.state_before`).
    pub(super) async fn place(
        &self,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        mut head: RoomHead,
        checked: &Checked,
        placement: Placement,
        mut batch: WriteBatch,
    ) -> Result<Outcome> {
        let pdu = &checked.pdu;
        let mut state_after = placement.state_before.clone();
        let own_change = pdu.state_key.as_ref().map(|key| ((pdu.kind.to_string(), key.clone()), pdu.event_id.clone()));
        if let Some((key, id)) = &own_change {
            state_after.insert(key.clone(), id.clone());
        }

        // The event's snapshot: its prev's when it changes nothing.
        let snapshot = match (&own_change, placement.before_snapshot) {
            (None, Some(before)) => before,
            (change, before) => {
                let id = head.next_snapshot;
                head.next_snapshot += 1;
                let changes =
                    change.iter().map(|((kind, key), event)| (kind.clone(), key.clone(), event.clone())).collect();
                let full = before.is_none() || super::state::is_checkpoint(id, state_after.len() as u64);
                self.state.put_snapshot(&mut batch, room_id, id, before, changes, full.then_some(&state_after));
                id
            }
        };

        // The room's current state after it.
        let prevs: BTreeSet<&OwnedEventId> = pdu.prev_events.iter().collect();
        let covers_all = head.extremities.iter().all(|(id, _)| prevs.contains(id));
        let linear = covers_all
            && head.extremities.len() == 1
            && placement.before_snapshot == Some(head.snapshot)
            && !placement.authoritative;
        let mut changed: Vec<((String, String), OwnedEventId)> = Vec::new();
        if linear {
            changed.extend(own_change.clone());
            head.snapshot = snapshot;
            head.state_entries = state_after.len() as u64;
        } else {
            let current = self.state.current(room_id).await?;
            let target = if placement.authoritative || covers_all {
                state_after.clone()
            } else {
                // The event forks the room: it must also be allowed by the
                // current state, or it is soft-failed — unless that state
                // is partial (it lacks members this server does not know
                // yet, and would refuse their events).
                let create = self.state_pdu(room_id, "m.room.create", "", rules).await?;
                if let Some(create) = &create
                    && !self.has_partial_state(room_id).await?
                    && self.authorize_with_state(rules, pdu, create, &current).await.is_err()
                {
                    self.put_outlier(&mut batch, room_id, checked)?;
                    self.store.write(batch).await?;
                    return Ok(Outcome::SoftFailed);
                }
                self.resolve_states(room_id, rules, &[current.clone(), state_after.clone()], &[pdu]).await?
            };
            for (key, id) in &target {
                if current.get(key) != Some(id) {
                    changed.push((key.clone(), id.clone()));
                }
            }
            head.state_entries = target.len() as u64;
            head.snapshot = if target == state_after {
                snapshot
            } else {
                let id = head.next_snapshot;
                head.next_snapshot += 1;
                self.state.put_snapshot(&mut batch, room_id, id, None, Vec::new(), Some(&target));
                id
            };
        }
        if pdu.state_key.is_some()
            && let Some(policy) = self.policy()
        {
            policy.judge_remote(&mut batch, room_id, pdu, &placement.state_before).await?;
        }
        for ((kind, key), id) in &changed {
            self.state.set_current(&mut batch, room_id, kind, key, id);
            if kind == "m.room.member" {
                let member = if *id == pdu.event_id {
                    pdu.clone()
                } else {
                    self.pdu(id, rules)
                        .await?
                        .map(|(p, _)| p)
                        .ok_or_else(|| Error::Internal(format!("{id} is missing")))?
                };
                self.apply_membership(&mut batch, room_id, &member, key).await?;
            }
        }

        if placement.authoritative {
            head.extremities.clear();
        }
        head.extremities.retain(|(id, _)| !prevs.contains(id));
        head.extremities.push((pdu.event_id.clone(), checked.reference_hash.clone()));
        if head.extremities.len() > MAX_EXTREMITIES {
            head.extremities.drain(..head.extremities.len() - MAX_EXTREMITIES);
        }
        head.depth = head.depth.max(pdu.depth);

        let reservation = self.stream.reserve().await?;
        let stream_ordering = reservation.ordering;
        if let Some(target) = &pdu.redacts
            && self.may_redact(room_id, rules, &pdu.sender, target).await?
        {
            self.apply_redaction(&mut batch, rules, target, &pdu.event_id).await?;
        }
        self.index_relation(&mut batch, room_id, pdu, stream_ordering).await?;
        let stored = StoredEvent {
            json: serde_json::to_string(&checked.json).map_err(|e| Error::Internal(e.to_string()))?,
            room_id: room_id.to_owned(),
            stream_ordering,
            state_snapshot: snapshot,
            reference_hash: checked.reference_hash.clone(),
            redacted_by: None,
            transaction: None,
            outlier: false,
            replaces_state: own_change.as_ref().and_then(|(key, _)| placement.state_before.get(key).cloned()),
        };
        self.timeline.append(&mut batch, &pdu.event_id, &stored, pdu.origin_server_ts.get().into());
        self.timeline.bump(&mut batch, room_id, stream_ordering, &pdu.kind.to_string());
        batch.put(&ROOM_HEADS, room_id.as_str().as_bytes(), encode(&head));

        // The members before this event (the index is updated in the same
        // batch, after this read).
        let members = self.membership.room_members(room_id).await?;
        let topics = self.record_change(&mut batch, room_id, &members, pdu, stream_ordering).await?;
        let notifications =
            self.evaluate_push(&mut batch, room_id, rules, &checked.json, pdu, stream_ordering, &members).await?;
        let destinations = if placement.broadcast {
            self.destinations(&members, pdu, Some(pdu.sender.server_name()), self.partial_state_servers(room_id).await?)
        } else {
            Vec::new()
        };
        if !destinations.is_empty() {
            let item = Item::Pdu(serde_json::Value::from(ruma::CanonicalJsonValue::Object(checked.json.clone())));
            self.outbox.enqueue(&mut batch, &destinations, stream_ordering, &item);
        }
        let wakeups = Wakeups { members, topics, destinations, notifications };
        self.commit_event(batch, reservation, pdu, &checked.json, wakeups, stored.replaces_state.as_ref()).await?;
        Ok(Outcome::Accepted)
    }

    /// The other servers an event goes to: those with joined members (and,
    /// while the room's state is partial, those the resident named), and
    /// the server of a membership change's target. `except` is left out
    /// (the server the event came from).
    pub(super) fn destinations(
        &self,
        members: &RoomMembers,
        pdu: &super::pdu::Pdu,
        except: Option<&ruma::ServerName>,
        partial_state_servers: Vec<OwnedServerName>,
    ) -> Vec<OwnedServerName> {
        let mut servers: BTreeSet<OwnedServerName> =
            members.joined_servers().cloned().chain(partial_state_servers).collect();
        // A membership change reaches its target's server too, except an
        // invite, which that server countersigned through `/invite`.
        if pdu.kind == TimelineEventType::RoomMember
            && let Some(target) = pdu.state_key.as_deref().and_then(|k| UserId::parse(k).ok())
            && pdu.content_json().get("membership").and_then(serde_json::Value::as_str) != Some("invite")
        {
            servers.insert(target.server_name().to_owned());
        }
        servers.remove(&self.server_name);
        if let Some(except) = except {
            servers.remove(except);
        }
        servers.into_iter().collect()
    }

    /// Whether a redaction from another server may take effect: its sender
    /// redacts their own server's event, or has the power to redact.
    async fn may_redact(
        &self,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        sender: &UserId,
        target: &ruma::EventId,
    ) -> Result<bool> {
        let Some((target_pdu, stored)) = self.pdu(target, rules).await? else { return Ok(false) };
        if stored.room_id != room_id {
            return Ok(false);
        }
        if target_pdu.sender.server_name() == sender.server_name() {
            return Ok(true);
        }
        let power = self.power_levels(room_id).await?;
        Ok(power.user(sender) >= power.action("redact"))
    }

    /// Runs the state-dependent auth rules against a full state.
    pub(super) async fn authorize_with_state(
        &self,
        rules: &RoomVersionRules,
        pdu: &super::pdu::Pdu,
        create: &super::pdu::Pdu,
        state: &StateIds,
    ) -> Result<()> {
        let auth_types = ruma::state_res::auth_types_for_event(
            &pdu.kind,
            &pdu.sender,
            pdu.state_key.as_deref(),
            &pdu.content,
            &rules.authorization,
        )
        .map_err(|e| Error::Forbidden(format!("invalid event: {e}")))?;
        let mut auth = std::collections::HashMap::new();
        for (kind, key) in auth_types {
            let Some(id) = state.get(&(kind.to_string(), key.clone())) else { continue };
            if let Some((p, _)) = self.pdu(id, rules).await? {
                auth.insert(id.clone(), p);
            }
        }
        authorize_against(rules, pdu, create, &auth)
    }
}
