//! Relations between events (spec: "Forming relationships between
//! events", threads, edits, references, annotations): an index of each
//! parent's children, and a running summary of each thread.

use std::ops::Bound;
use std::sync::Arc;

use nexus_storage::catalog::{ANNOTATIONS, RELATIONS, THREAD_ACTIVITY, THREADS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, Store, WriteBatch};
use ruma::{EventId, OwnedEventId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Result;
use crate::values::{corrupt, decode, encode};

pub const THREAD: &str = "m.thread";
pub const REPLACE: &str = "m.replace";
pub const REFERENCE: &str = "m.reference";
pub const ANNOTATION: &str = "m.annotation";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Child {
    pub event_id: OwnedEventId,
    pub kind: String,
    pub sender: OwnedUserId,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Thread {
    pub count: u64,
    pub latest: OwnedEventId,
    pub latest_ordering: u64,
    pub participants: Vec<OwnedUserId>,
}

/// The `(rel_type, parent)` an event's content declares, if any. Rich
/// replies (`m.in_reply_to`) are not relations in this sense.
pub fn relation_of(content: &Value) -> Option<(String, OwnedEventId)> {
    let relates_to = content.get("m.relates_to")?;
    let rel_type = relates_to.get("rel_type")?.as_str()?;
    let parent = relates_to.get("event_id")?.as_str()?;
    Some((rel_type.to_owned(), OwnedEventId::try_from(parent).ok()?))
}

/// The annotation key (`m.relates_to.key`) of an `m.annotation`.
pub fn annotation_key(content: &Value) -> Option<&str> {
    let relates_to = content.get("m.relates_to")?;
    (relates_to.get("rel_type")?.as_str()? == ANNOTATION).then(|| relates_to.get("key")?.as_str())?
}

/// Who annotated which event with what: the identity the spec forbids twice.
pub struct Annotation<'a> {
    pub parent: &'a EventId,
    pub kind: &'a str,
    pub key: &'a str,
    pub sender: &'a UserId,
}

impl Annotation<'_> {
    fn map_key(&self, room_id: &RoomId) -> Vec<u8> {
        KeyBuilder::new()
            .str(room_id.as_str())
            .str(self.parent.as_str())
            .str(self.kind)
            .str(self.key)
            .str(self.sender.as_str())
            .build()
    }
}

pub struct Relations {
    store: Arc<dyn Store>,
}

/// Children gathered from several index ranges, put in stream order for
/// `direction`, from position `from` on, at most `limit`.
pub(super) fn in_stream_order(
    mut children: Vec<(u64, Child)>,
    direction: Direction,
    from: Option<u64>,
    limit: usize,
) -> Vec<(u64, Child)> {
    children.sort_by_key(|(o, _)| *o);
    if direction == Direction::Backward {
        children.reverse();
    }
    if let Some(from) = from {
        children.retain(|(o, _)| match direction {
            Direction::Forward => *o >= from,
            Direction::Backward => *o < from,
        });
    }
    children.truncate(limit);
    children
}

fn child_key(room_id: &RoomId, parent: &EventId, rel_type: &str, ordering: u64) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).str(parent.as_str()).str(rel_type).u64(ordering).build()
}

fn thread_key(room_id: &RoomId, root: &EventId) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).str(root.as_str()).build()
}

fn activity_key(room_id: &RoomId, ordering: u64) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).u64(ordering).build()
}

impl Relations {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Relations { store }
    }

    /// Adds a new child to the index in `batch` (the caller holds the
    /// room's lock, so thread summaries update without races).
    #[allow(clippy::too_many_arguments)]
    pub async fn index(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        event_id: &EventId,
        kind: &str,
        sender: &UserId,
        rel_type: &str,
        parent: &EventId,
        ordering: u64,
    ) -> Result<()> {
        let child = Child { event_id: event_id.to_owned(), kind: kind.to_owned(), sender: sender.to_owned() };
        batch.put(&RELATIONS, child_key(room_id, parent, rel_type, ordering), encode(&child));
        if rel_type == THREAD {
            let mut thread = self.thread(room_id, parent).await?.unwrap_or(Thread {
                count: 0,
                latest: event_id.to_owned(),
                latest_ordering: ordering,
                participants: Vec::new(),
            });
            if thread.count > 0 {
                batch.delete(&THREAD_ACTIVITY, activity_key(room_id, thread.latest_ordering));
            }
            thread.count += 1;
            thread.latest = event_id.to_owned();
            thread.latest_ordering = ordering;
            if !thread.participants.iter().any(|p| p == sender) {
                thread.participants.push(sender.to_owned());
            }
            batch.put(&THREADS, thread_key(room_id, parent), encode(&thread));
            batch.put(&THREAD_ACTIVITY, activity_key(room_id, ordering), encode(&parent));
        }
        Ok(())
    }

    /// The sender's live annotation with the same type and key, if any.
    pub async fn existing_annotation(
        &self,
        room_id: &RoomId,
        annotation: &Annotation<'_>,
    ) -> Result<Option<OwnedEventId>> {
        let bytes = self.store.get(&ANNOTATIONS, &annotation.map_key(room_id)).await?;
        bytes.map(|b| decode(&ANNOTATIONS, &b)).transpose()
    }

    /// Whether anyone has a live annotation with this type and key on the
    /// event (reacting with an existing key needs less than a new one).
    pub async fn annotation_key_in_use(
        &self,
        room_id: &RoomId,
        parent: &EventId,
        kind: &str,
        key: &str,
    ) -> Result<bool> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).str(parent.as_str()).str(kind).str(key).build();
        Ok(!self.store.scan_prefix(&ANNOTATIONS, &prefix, Direction::Forward, 1).await?.is_empty())
    }

    /// Records a new annotation in `batch` (the room lock is held).
    pub fn index_annotation(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        annotation: &Annotation<'_>,
        event_id: &EventId,
    ) {
        batch.put(&ANNOTATIONS, annotation.map_key(room_id), encode(&event_id));
    }

    /// Forgets a redacted annotation in `batch`, so the key may be used again.
    pub fn unindex_annotation(&self, batch: &mut WriteBatch, room_id: &RoomId, annotation: &Annotation<'_>) {
        batch.delete(&ANNOTATIONS, annotation.map_key(room_id));
    }

    /// Adds the removal of a redacted child to `batch`, recounting its
    /// thread from the index.
    pub async fn unindex(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        rel_type: &str,
        parent: &EventId,
        ordering: u64,
    ) -> Result<()> {
        batch.delete(&RELATIONS, child_key(room_id, parent, rel_type, ordering));
        if rel_type != THREAD {
            return Ok(());
        }
        let Some(old) = self.thread(room_id, parent).await? else { return Ok(()) };
        batch.delete(&THREAD_ACTIVITY, activity_key(room_id, old.latest_ordering));
        let remaining: Vec<(u64, Child)> = self
            .children(room_id, parent, Some(THREAD), None, Direction::Forward, usize::MAX)
            .await?
            .into_iter()
            .filter(|(o, _)| *o != ordering)
            .collect();
        match remaining.last() {
            None => batch.delete(&THREADS, thread_key(room_id, parent)),
            Some((latest_ordering, latest)) => {
                let mut participants: Vec<OwnedUserId> = Vec::new();
                for (_, child) in &remaining {
                    if !participants.contains(&child.sender) {
                        participants.push(child.sender.clone());
                    }
                }
                let thread = Thread {
                    count: remaining.len() as u64,
                    latest: latest.event_id.clone(),
                    latest_ordering: *latest_ordering,
                    participants,
                };
                batch.put(&THREAD_ACTIVITY, activity_key(room_id, *latest_ordering), encode(&parent));
                batch.put(&THREADS, thread_key(room_id, parent), encode(&thread))
            }
        };
        Ok(())
    }

    pub async fn thread(&self, room_id: &RoomId, root: &EventId) -> Result<Option<Thread>> {
        let bytes = self.store.get(&THREADS, &thread_key(room_id, root)).await?;
        bytes.map(|b| decode(&THREADS, &b)).transpose()
    }

    /// A parent's children with `rel_type` (any, if `None`), from position
    /// `from` on (a stream ordering, as in pagination tokens).
    pub async fn children(
        &self,
        room_id: &RoomId,
        parent: &EventId,
        rel_type: Option<&str>,
        from: Option<u64>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<(u64, Child)>> {
        let base = KeyBuilder::new().str(room_id.as_str()).str(parent.as_str());
        let prefix = match rel_type {
            Some(rel_type) => base.str(rel_type).build(),
            None => base.build(),
        };
        let mut range = KeyRange::prefix(&prefix);
        if let (Some(rel_type), Some(from)) = (rel_type, from) {
            match direction {
                Direction::Forward => range.start = Bound::Included(child_key(room_id, parent, rel_type, from)),
                Direction::Backward => range.end = Bound::Excluded(child_key(room_id, parent, rel_type, from)),
            }
        }
        // Across several rel_types the key order is by type first, so all of
        // a parent's children are read and ordered here.
        let scan_limit = if rel_type.is_some() { limit } else { usize::MAX };
        let entries = self.store.scan(&RELATIONS, range, direction, scan_limit).await?;
        let parent_prefix = KeyBuilder::new().str(room_id.as_str()).str(parent.as_str()).build();
        let mut children = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let mut reader = KeyReader::new(&key[parent_prefix.len()..]);
            reader.str().map_err(|e| corrupt(&RELATIONS, e))?;
            let ordering = reader.u64().map_err(|e| corrupt(&RELATIONS, e))?;
            children.push((ordering, decode(&RELATIONS, &value)?));
        }
        if rel_type.is_none() {
            children = in_stream_order(children, direction, from, limit);
        }
        Ok(children)
    }

    /// Thread roots by latest activity, newest first, before position `from`.
    pub async fn threads_by_activity(
        &self,
        room_id: &RoomId,
        from: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, OwnedEventId)>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).build();
        let mut range = KeyRange::prefix(&prefix);
        if let Some(from) = from {
            range.end = Bound::Excluded(activity_key(room_id, from));
        }
        let entries = self.store.scan(&THREAD_ACTIVITY, range, Direction::Backward, limit).await?;
        entries
            .into_iter()
            .map(|(key, value)| {
                let ordering = KeyReader::new(&key[prefix.len()..]).u64().map_err(|e| corrupt(&THREAD_ACTIVITY, e))?;
                Ok((ordering, decode(&THREAD_ACTIVITY, &value)?))
            })
            .collect()
    }
}
