//! Reading relations: bundled aggregations on served events, `/relations`
//! and `/threads` (spec: "Aggregations of child events", "Threading").

use std::collections::HashMap;

use nexus_storage::Direction;
use ruma::{DeviceId, EventId, OwnedEventId, RoomId, UserId};
use serde_json::{Map, Value, json};

use super::Rooms;
use super::client_format::client_event;
use super::read::{parse_token, token};
use super::relations::{Child, REFERENCE, REPLACE, THREAD, in_stream_order, relation_of};
use super::timeline::StoredEvent;
use crate::{Error, Result};
use ruma::CanonicalJsonValue;

/// How many references one event's bundle lists.
const MAX_BUNDLED_REFERENCES: usize = 50;

/// A page of related events and where the next one starts.
#[derive(Debug)]
pub struct RelatedPage {
    pub chunk: Vec<Value>,
    pub next_batch: Option<String>,
    pub prev_batch: Option<String>,
    /// Set when the request asked for recursion: how deep it went.
    pub recursion_depth: Option<u32>,
}

/// How deep `recurse=true` follows relations of relations (spec: at least
/// three levels).
const RECURSION_DEPTH: u32 = 3;

impl Rooms {
    /// The latest valid replacement of an event (spec: "Validity of
    /// replacement events"): same sender and type, no state key, a new
    /// content, not redacted. Bundled with the event, and what search
    /// indexes it by.
    pub async fn latest_replacement(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        sender: &str,
        kind: &str,
    ) -> Result<Option<(OwnedEventId, StoredEvent, ruma::CanonicalJsonObject)>> {
        let edits = self.relations.children(room_id, event_id, Some(REPLACE), None, Direction::Backward, 50).await?;
        for (_, edit) in edits {
            if edit.sender.as_str() != sender || edit.kind != kind {
                continue;
            }
            let Some(edit_stored) = self.timeline.get(&edit.event_id).await? else { continue };
            let edit_object = edit_stored.object()?;
            let has_new_content = edit_object
                .get("content")
                .and_then(|c| c.as_object())
                .and_then(|c| c.get("m.new_content"))
                .is_some_and(|n| n.as_object().is_some());
            if edit_stored.redacted_by.is_some() || edit_object.contains_key("state_key") || !has_new_content {
                continue;
            }
            return Ok(Some((edit.event_id, edit_stored, edit_object)));
        }
        Ok(None)
    }

    /// `unsigned["m.relations"]` for an event: its latest edit, its thread
    /// summary and its references. Annotations are not aggregated (spec:
    /// "Server-side aggregation of m.annotation relationships").
    pub(super) async fn bundle(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        stored: &StoredEvent,
        viewer: (&UserId, &DeviceId),
    ) -> Result<Option<Value>> {
        let mut relations = Map::new();
        let object = stored.object()?;
        let sender = object.get("sender").and_then(|s| s.as_str()).unwrap_or_default().to_owned();
        let kind = object.get("type").and_then(|s| s.as_str()).unwrap_or_default().to_owned();
        let is_edit = relation_of(&Value::from(object.get("content").cloned().unwrap_or(CanonicalJsonValue::Null)))
            .is_some_and(|(rel_type, _)| rel_type == REPLACE);
        if stored.redacted_by.is_none()
            && !is_edit
            && !object.contains_key("state_key")
            && let Some((edit_id, edit_stored, edit_object)) =
                self.latest_replacement(room_id, event_id, &sender, &kind).await?
        {
            let edit_event = client_event(&edit_object, &edit_id, &edit_stored, Some(viewer), None);
            relations.insert(REPLACE.to_owned(), edit_event);
        }
        if let Some(thread) = self.relations.thread(room_id, event_id).await?
            && let Some(latest) = self.timeline.get(&thread.latest).await?
        {
            let latest_event = client_event(&latest.object()?, &thread.latest, &latest, Some(viewer), None);
            relations.insert(
                THREAD.to_owned(),
                json!({
                    "latest_event": latest_event,
                    "count": thread.count,
                    "current_user_participated": sender == viewer.0.as_str()
                        || thread.participants.iter().any(|p| p == viewer.0),
                }),
            );
        }
        let references = self
            .relations
            .children(room_id, event_id, Some(REFERENCE), None, Direction::Forward, MAX_BUNDLED_REFERENCES)
            .await?;
        if !references.is_empty() {
            let chunk: Vec<Value> = references.iter().map(|(_, c)| json!({ "event_id": c.event_id })).collect();
            relations.insert(REFERENCE.to_owned(), json!({ "chunk": chunk }));
        }
        Ok((!relations.is_empty()).then_some(Value::Object(relations)))
    }

    /// `GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]`.
    #[allow(clippy::too_many_arguments)]
    pub async fn relations_for_client(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        parent: &EventId,
        rel_type: Option<&str>,
        event_type: Option<&str>,
        from_token: Option<&str>,
        backward: bool,
        limit: usize,
        recurse: bool,
    ) -> Result<RelatedPage> {
        // The parent must be visible to the caller.
        self.event_for_client(viewer, device, room_id, parent).await?;
        let direction = if backward { Direction::Backward } else { Direction::Forward };
        let from = from_token.map(parse_token).transpose()?;
        let limit = limit.clamp(1, 1000);
        let now = self.viewer_now(viewer, room_id).await?;
        let mut cache = HashMap::new();
        let children = if recurse {
            self.descendants(room_id, parent, rel_type, from, direction, limit).await?
        } else {
            self.relations.children(room_id, parent, rel_type, from, direction, limit).await?
        };
        let complete = children.len() < limit;
        let mut chunk = Vec::new();
        let mut position = None;
        for (ordering, child) in children {
            position = Some(match direction {
                Direction::Backward => ordering,
                Direction::Forward => ordering + 1,
            });
            if event_type.is_some_and(|t| t != child.kind) {
                continue;
            }
            let Some(stored) = self.timeline.get(&child.event_id).await? else { continue };
            if self.can_see(viewer, room_id, &stored, &now, &mut cache).await? {
                chunk.push(self.format(&child.event_id, &stored, (viewer, device)).await?);
            }
        }
        let next_batch = if complete { None } else { position.map(token) };
        let prev_batch = from_token.map(str::to_owned);
        Ok(RelatedPage { chunk, next_batch, prev_batch, recursion_depth: recurse.then_some(RECURSION_DEPTH) })
    }

    /// Children, their children, … to `RECURSION_DEPTH`, in stream order
    /// from `from`, at most `limit`.
    async fn descendants(
        &self,
        room_id: &RoomId,
        parent: &EventId,
        rel_type: Option<&str>,
        from: Option<u64>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<(u64, Child)>> {
        let mut found: Vec<(u64, Child)> = Vec::new();
        let mut level = vec![parent.to_owned()];
        for _ in 0..RECURSION_DEPTH {
            let mut next = Vec::new();
            for node in &level {
                let children = self.relations.children(room_id, node, rel_type, None, Direction::Forward, 1000).await?;
                for (ordering, child) in children {
                    next.push(child.event_id.clone());
                    found.push((ordering, child));
                }
            }
            if next.is_empty() || found.len() >= 1000 {
                break;
            }
            level = next;
        }
        Ok(in_stream_order(found, direction, from, limit))
    }

    /// `GET /rooms/{roomId}/threads`: thread roots, most recent activity
    /// first; `participated_only` for `include=participated`.
    pub async fn threads_for_client(
        &self,
        viewer: &UserId,
        device: &DeviceId,
        room_id: &RoomId,
        participated_only: bool,
        from: Option<&str>,
        limit: usize,
    ) -> Result<RelatedPage> {
        let now = self.viewer_now(viewer, room_id).await?;
        if now.membership.is_none() {
            return Err(Error::Forbidden("you are not in this room".to_owned()));
        }
        let limit = limit.clamp(1, 1000);
        let from = from.map(parse_token).transpose()?;
        let roots = self.relations.threads_by_activity(room_id, from, limit).await?;
        let complete = roots.len() < limit;
        let mut cache = HashMap::new();
        let mut chunk = Vec::new();
        let mut position = None;
        for (ordering, root) in roots {
            position = Some(ordering);
            if participated_only {
                let root_sender = self
                    .timeline
                    .get(&root)
                    .await?
                    .and_then(|s| s.object().ok()?.get("sender").and_then(|v| v.as_str()).map(str::to_owned));
                let thread = self.relations.thread(room_id, &root).await?;
                let took_part = root_sender.as_deref() == Some(viewer.as_str())
                    || thread.is_some_and(|t| t.participants.iter().any(|p| p == viewer));
                if !took_part {
                    continue;
                }
            }
            let Some(stored) = self.timeline.get(&root).await? else { continue };
            if let Some(policy) = self.policy()
                && policy.hides_thread(room_id, viewer, &root).await?
            {
                continue;
            }
            if self.can_see(viewer, room_id, &stored, &now, &mut cache).await? {
                chunk.push(self.format(&root, &stored, (viewer, device)).await?);
            }
        }
        let next_batch = if complete { None } else { position.map(token) };
        Ok(RelatedPage { chunk, next_batch, prev_batch: None, recursion_depth: None })
    }
}
