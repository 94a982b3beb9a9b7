//! Scheduled events (extensions-spec §12): `nexus.scheduled_event` judged
//! (§14), RSVPs checked and counted, statuses moved on time, and the
//! server's upcoming events listed with their interested counts.
//!
//! Status on time: every `nexus.scheduled_event` change (local or from
//! another server) writes a timer due within a second (`super::timers`);
//! the timer reads the event's effective content and sends `active` at
//! `start`, `completed` at `end` — or, for a recurring event, the next
//! occurrence (start and end advanced, `scheduled` again) — then sleeps
//! until the next of those moments. Sent as the creator when local, otherwise as the
//! highest-ranked local member the update rules let.
//!
//! RSVPs are message events in the space; each is recorded in
//! `guild_rsvps` in its own batch (a member's latest answer decides, §12.2).

use std::collections::BTreeMap;

use nexus_extensions::RuleViolation;
use nexus_extensions::events::scheduled_event::{EventStatus, RsvpContent, ScheduledEventContent};
use nexus_extensions::events::{self, parse, parse_state};
use nexus_extensions::update_rules;
use nexus_storage::catalog::GUILD_RSVPS;
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, WriteBatch};
use ruma::{RoomId, UserId};
use serde_json::{Value, json};

use super::Guilds;
use super::context::{Scope, typed};
use super::timers::{TimerKind, schedule, soon};
use crate::rooms::NewEvent;
use crate::rooms::pdu::Pdu;
use crate::values::{decode, encode, now_ms};
use crate::{Error, Result};

fn refused(violation: RuleViolation) -> Error {
    Error::Forbidden(format!("Nexus update rules: {violation}"))
}

fn rsvp_prefix(space: &RoomId, event: &str) -> Vec<u8> {
    KeyBuilder::new().str(space.as_str()).str(event).build()
}

impl Guilds {
    /// §14 for `nexus.scheduled_event` in the space: creating needs
    /// CREATE_EVENTS or MANAGE_EVENTS with `creator` the sender; changing
    /// or deleting MANAGE_EVENTS, or CREATE_EVENTS for one's own; the
    /// creator never changes; the status follows its lifecycle. A `channel`
    /// must be one of the server's.
    pub(super) async fn check_scheduled_event_state(
        &self,
        scope: &Scope,
        sender: &UserId,
        key: &str,
        content: &Value,
        now: u64,
    ) -> Result<()> {
        let space = &scope.server.space;
        let new = parse_state::<ScheduledEventContent>(content)
            .map_err(|e| Error::BadJson(format!("nexus.scheduled_event: {e}")))?;
        if let Some(channel) = new.as_ref().and_then(|e| e.channel.as_deref()) {
            let listed = self.channels(space).await?.iter().any(|c| c.as_str() == channel);
            if !listed {
                return Err(Error::BadJson(format!(
                    "nexus.scheduled_event: `channel`: {channel} is not a channel of this server"
                )));
            }
        }
        let old = typed::<ScheduledEventContent>(self.effective(space, events::SCHEDULED_EVENT, key).await?.as_ref());
        update_rules::check_scheduled_event_update(
            &scope.server.guild,
            sender.as_str(),
            old.as_ref(),
            new.as_ref(),
            now,
        )
        .map_err(refused)
    }

    /// §12.2: an RSVP belongs in a server's space, parses, and names one of
    /// its scheduled events.
    pub(super) async fn check_rsvp(&self, scope: Option<&Scope>, content: &Value) -> Result<()> {
        let rsvp = parse::<RsvpContent>(content).map_err(|e| {
            let path =
                serde_path_to_error::deserialize::<_, RsvpContent>(content.clone()).err().map(|e| e.path().to_string());
            match path.filter(|p| p != ".") {
                Some(field) => Error::BadJson(format!("{}: `{field}`: {e}", events::SCHEDULED_EVENT_RSVP)),
                None => Error::BadJson(format!("{}: {e}", events::SCHEDULED_EVENT_RSVP)),
            }
        })?;
        let Some(scope) = scope.filter(|s| s.channel.is_none()) else {
            return Err(Error::Forbidden(format!(
                "{} belongs in a Nexus server's space",
                events::SCHEDULED_EVENT_RSVP
            )));
        };
        let event = self.effective(&scope.server.space, events::SCHEDULED_EVENT, &rsvp.scheduled_event).await?;
        if typed::<ScheduledEventContent>(event.as_ref()).is_none() {
            return Err(Error::BadJson(format!(
                "{}: `scheduled_event`: no scheduled event {:?} in this server",
                events::SCHEDULED_EVENT_RSVP,
                rsvp.scheduled_event
            )));
        }
        Ok(())
    }

    /// Adds what a scheduled event change or an RSVP implies to its batch
    /// (from the event alone).
    pub(super) fn record_scheduled_event(&self, batch: &mut WriteBatch, room: &RoomId, pdu: &Pdu) {
        let kind = pdu.kind.to_string();
        if kind == events::SCHEDULED_EVENT
            && let Some(key) = pdu.state_key.as_deref()
        {
            schedule(batch, soon(now_ms()), TimerKind::Event, room, key);
        } else if kind == events::SCHEDULED_EVENT_RSVP
            && pdu.state_key.is_none()
            && let Ok(rsvp) = parse::<RsvpContent>(&pdu.content_json())
        {
            let key = KeyBuilder::new()
                .str(room.as_str())
                .str(&rsvp.scheduled_event)
                .str(pdu.sender.as_str())
                .u64(pdu.origin_server_ts.get().into())
                .str(pdu.event_id.as_str())
                .build();
            batch.put(&GUILD_RSVPS, key, encode(&rsvp.interested));
        }
    }

    /// Who is interested in a scheduled event: each member's latest RSVP.
    pub(super) async fn interested(&self, space: &RoomId, event: &str) -> Result<Vec<String>> {
        let prefix = rsvp_prefix(space, event);
        let entries = self.store.scan_prefix(&GUILD_RSVPS, &prefix, Direction::Forward, usize::MAX).await?;
        // Keys sort by member, then time, then event ID: a member's last
        // entry is their latest answer.
        let mut latest: BTreeMap<String, bool> = BTreeMap::new();
        for (key, value) in entries {
            let user = KeyReader::new(&key[prefix.len()..])
                .str()
                .map_err(|e| nexus_storage::Error::corrupt(GUILD_RSVPS.name, e))?;
            latest.insert(user, decode(&GUILD_RSVPS, &value)?);
        }
        Ok(latest.into_iter().filter(|(_, interested)| *interested).map(|(user, _)| user).collect())
    }

    /// A scheduled event's timer: moves its status on when due. Returns
    /// when to look again.
    pub(super) async fn scheduled_event_timer(&self, space: &RoomId, key: &str, now: u64) -> Result<Option<u64>> {
        let Some(scope) = self.scope(space).await? else { return Ok(None) };
        if scope.channel.is_some() {
            return Ok(None);
        }
        let content = self.effective(space, events::SCHEDULED_EVENT, key).await?;
        let Some(event) = typed::<ScheduledEventContent>(content.as_ref()) else { return Ok(None) };
        let next = match event.status {
            EventStatus::Scheduled if now < event.start => return Ok(Some(event.start)),
            EventStatus::Scheduled => ScheduledEventContent { status: EventStatus::Active, ..event.clone() },
            EventStatus::Active => match event.end {
                Some(end) if now < end => return Ok(Some(end)),
                Some(_) => event
                    .next_occurrence()
                    .unwrap_or_else(|| ScheduledEventContent { status: EventStatus::Completed, ..event.clone() }),
                // Without an end, whoever runs it ends it.
                None => return Ok(None),
            },
            EventStatus::Completed | EventStatus::Cancelled => return Ok(None),
        };
        self.publish_scheduled_event(&scope, key, &event.creator, &next).await?;
        // The event just sent writes its own timer.
        Ok(None)
    }

    /// Sends `nexus.scheduled_event` as the creator if local, otherwise as
    /// the first local member by rank the update rules let.
    async fn publish_scheduled_event(
        &self,
        scope: &Scope,
        key: &str,
        creator: &str,
        content: &ScheduledEventContent,
    ) -> Result<()> {
        let space = &scope.server.space;
        let value = serde_json::to_value(content).map_err(|e| Error::Internal(e.to_string()))?;
        let Ok(ruma::CanonicalJsonValue::Object(object)) = ruma::CanonicalJsonValue::try_from(value) else {
            return Err(Error::Internal("scheduled event content is not a JSON object".to_owned()));
        };
        let trigger = UserId::parse(creator)
            .or_else(|_| UserId::parse(scope.server.guild.owner.as_str()))
            .map_err(|e| Error::Internal(e.to_string()))?;
        for sender in self.local_senders(scope, &trigger).await? {
            let event = NewEvent::state(events::SCHEDULED_EVENT, key, object.clone());
            match self.rooms.send_automatic(space, &sender, event).await {
                Ok(_) => return Ok(()),
                Err(Error::Forbidden(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        tracing::info!(%space, key, "no local member may move the scheduled event on; another server will");
        Ok(())
    }

    /// The server's scheduled and active events, soonest first, each with
    /// its interested count. Members of the space only.
    pub async fn upcoming_events(&self, viewer: &UserId, space: &RoomId) -> Result<Vec<Value>> {
        let hidden = || Error::NotFound(format!("{space} is not a Nexus server you are in"));
        let server = self.server(space).await?.ok_or_else(hidden)?;
        if !self.rooms.membership.is_joined(&server.space, viewer).await? {
            return Err(hidden());
        }
        let mut out = Vec::new();
        for (key, raw) in self.effective_of_type(space, events::SCHEDULED_EVENT).await? {
            let Some(event) = typed::<ScheduledEventContent>(Some(&raw)) else { continue };
            if !matches!(event.status, EventStatus::Scheduled | EventStatus::Active) {
                continue;
            }
            let interested = self.interested(space, &key).await?;
            let viewer_interested = interested.iter().any(|u| u == viewer.as_str());
            out.push(json!({
                "id": key,
                "event": event,
                "interested": interested.len(),
                "you_interested": viewer_interested,
            }));
        }
        out.sort_by_key(|e| e["event"]["start"].as_u64().unwrap_or(0));
        Ok(out)
    }
}
