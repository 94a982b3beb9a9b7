//! Backfill: history from before this server joined a room, fetched from
//! another server in it (`/backfill`) when a client pages back past the
//! earliest event this server has. Backfilled events take stream orderings
//! just below that event's, so they read as older history and never show up
//! as new in a sync.

use std::collections::HashMap;

use nexus_storage::WriteBatch;
use ruma::events::room::member::MembershipState;
use ruma::{OwnedEventId, RoomId};
use serde_json::Value;

use super::incoming::encode_path;
use super::timeline::StoredEvent;
use super::{Direction, Rooms, authorize_against, check_independent};
use crate::{Error, Result};

impl Rooms {
    /// Fetches up to `limit` events before the room's earliest known one.
    /// Returns whether any arrived.
    pub(super) async fn backfill(&self, room_id: &RoomId, limit: usize) -> Result<bool> {
        let Some((earliest_ordering, earliest_id)) =
            self.timeline.page(room_id, None, Direction::Forward, 1).await?.into_iter().next()
        else {
            return Ok(false);
        };
        let rules = self.rules_of(room_id).await?;
        let Some((earliest, earliest_stored)) = self.pdu(&earliest_id, &rules).await? else { return Ok(false) };
        let mut gap = false;
        for prev in &earliest.prev_events {
            if self.timeline.get(prev).await?.is_none_or(|e| e.outlier) {
                gap = true;
            }
        }
        if !gap || earliest_ordering <= 1 {
            return Ok(false);
        }
        // What visibility checks see for all of the fetched history: the
        // state before the earliest event.
        let snapshot = self
            .state
            .parent_of(room_id, earliest_stored.state_snapshot)
            .await?
            .unwrap_or(earliest_stored.state_snapshot);
        let servers: Vec<_> = self
            .membership
            .members(room_id)
            .await?
            .into_iter()
            .filter(|(u, m)| *m == MembershipState::Join && u.server_name() != self.server_name)
            .map(|(u, _)| u.server_name().to_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for server in servers {
            let path = format!(
                "/_matrix/federation/v1/backfill/{}?v={}&limit={}",
                encode_path(room_id.as_str()),
                encode_path(earliest_id.as_str()),
                limit.clamp(1, 100)
            );
            let response = match self.federation.get(&server, &path).await {
                Ok(response) => response,
                Err(e) => {
                    tracing::info!(%server, %room_id, error = %e, "backfill failed");
                    continue;
                }
            };
            let mut events = Vec::new();
            let received = response.get("pdus").and_then(Value::as_array).map_or(0, Vec::len);
            tracing::debug!(%server, %room_id, received, "backfill response");
            for raw in response.get("pdus").and_then(Value::as_array).into_iter().flatten() {
                let raw = serde_json::value::to_raw_value(raw).map_err(|e| Error::BadJson(e.to_string()))?;
                match self.check_remote_pdu(&rules, &raw).await {
                    Ok(event) if event.pdu.room_id.as_deref() == Some(room_id) || event.pdu.room_id.is_none() => {
                        events.push(event)
                    }
                    Ok(_) => {}
                    Err(e) => tracing::info!(%server, error = %e, "a backfilled event failed its checks"),
                }
            }
            // Newest first: each takes the next ordering down.
            events.sort_by_key(|e| std::cmp::Reverse(e.pdu.depth));
            let mut ordering = earliest_ordering;
            let mut batch = WriteBatch::new();
            let mut added = 0;
            let mut known: HashMap<OwnedEventId, super::pdu::Pdu> = HashMap::new();
            for event in &events {
                if self.timeline.get(&event.event_id).await?.is_some_and(|e| !e.outlier) {
                    tracing::debug!(event_id = %event.event_id, "backfill: already in the timeline");
                    continue;
                }
                self.fetch_outliers(&server, room_id, &rules, event.pdu.auth_events.clone()).await?;
                let mut auth = self.load(&rules, &event.pdu.auth_events).await?;
                auth.extend(
                    known
                        .iter()
                        .filter(|(id, _)| event.pdu.auth_events.contains(id))
                        .map(|(i, p)| (i.clone(), p.clone())),
                );
                let create = match self.state_pdu(room_id, "m.room.create", "", &rules).await? {
                    Some(create) => create,
                    None => continue,
                };
                let allowed = if event.pdu.kind == ruma::events::TimelineEventType::RoomCreate {
                    true
                } else {
                    check_independent(&rules, &event.pdu, &create, &auth)
                        .and_then(|()| authorize_against(&rules, &event.pdu, &create, &auth))
                        .is_ok()
                };
                if !allowed {
                    tracing::info!(event_id = %event.event_id, "a backfilled event failed its auth checks");
                    continue;
                }
                if ordering <= 1 {
                    break;
                }
                ordering -= 1;
                let stored = StoredEvent {
                    json: serde_json::to_string(&event.json).map_err(|e| Error::Internal(e.to_string()))?,
                    room_id: room_id.to_owned(),
                    stream_ordering: ordering,
                    state_snapshot: snapshot,
                    reference_hash: event.reference_hash.clone(),
                    redacted_by: None,
                    transaction: None,
                    outlier: false,
                    replaces_state: None,
                };
                self.timeline.append(&mut batch, &event.event_id, &stored, event.pdu.origin_server_ts.get().into());
                self.queue_for_search(&mut batch, ordering, &event.pdu.kind.to_string(), &event.event_id);
                known.insert(event.event_id.clone(), event.pdu.clone());
                added += 1;
            }
            self.store.write(batch).await?;
            for event in &events {
                self.timeline.forget(&event.event_id);
            }
            if added > 0 {
                if let Some(feed) = self.search_feed.get() {
                    feed.wake();
                }
                tracing::info!(%room_id, %server, added, "backfilled history");
                return Ok(true);
            }
        }
        Ok(false)
    }
}
