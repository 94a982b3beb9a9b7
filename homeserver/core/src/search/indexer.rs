//! The indexer: the index's one writer. It takes the feed's oldest items,
//! works out what each changes, applies and commits that off the async
//! threads, and only then deletes the items — so nothing acknowledged is
//! lost and nothing is indexed twice (documents are replaced by event id).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nexus_search::{Document, Index};
use nexus_storage::{Direction, WriteBatch};
use ruma::EventId;
use serde_json::Value;

use super::Search;
use super::documents::{self, Source};
use super::feed::FeedItem;
use crate::{Error, Result};

/// Feed items per commit.
const BATCH: usize = 1000;

/// After a wake-up, gather what else arrives for this long before
/// committing: at most a few commits a second under a steady stream of
/// messages, and a search waits at most this long for a fresh message.
const GATHER: Duration = Duration::from_millis(50);

/// With nothing to do, look at the feed this often anyway.
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// How often a process that only reads the index asks for its writer lock.
const WRITER_CHECK: Duration = Duration::from_secs(2);

/// Timeline entries handed to the feed per write during a rebuild.
const REBUILD_CHUNK: usize = 1000;

enum Change {
    Upsert(Box<Document>),
    Remove(String),
    RemoveRoom(String),
}

pub(super) async fn run(search: Arc<Search>) {
    if !search.index.is_writable() {
        // One writer per index directory (in a cluster, the processes
        // share one): this one searches what the writer commits, and takes
        // over when the writer's process ends.
        tracing::info!("the search index is written by another process: this one searches it");
        loop {
            tokio::time::sleep(WRITER_CHECK).await;
            match search.index.try_take_writer() {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not ask for the search index's writer lock"),
            }
        }
        tracing::info!("this process now writes the search index");
    }
    loop {
        if search.rebuild_requested.swap(false, Ordering::SeqCst)
            && let Err(e) = rebuild(&search).await
        {
            tracing::warn!(error = %e, "search index rebuild failed; retrying");
            search.rebuild_requested.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        }
        match index_some(&search).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = tokio::time::timeout(IDLE_CHECK, search.feed.woken()).await;
                tokio::time::sleep(GATHER).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "search indexing failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Indexes the oldest feed items; whether more may be waiting.
async fn index_some(search: &Search) -> Result<bool> {
    // Everything persisted up to here is in the feed read below (items are
    // written in the batch that persists their event).
    let target = search.stream.current();
    let items = search.feed.oldest(BATCH).await?;
    if items.is_empty() {
        search.indexed_through.send_if_modified(|t| std::mem::replace(t, target) != target);
        return Ok(false);
    }
    let mut changes = Vec::new();
    for (_, item) in &items {
        plan(search, item, &mut changes).await?;
    }
    let index = search.index.clone();
    tokio::task::spawn_blocking(move || apply(&index, changes))
        .await
        .map_err(|e| Error::Internal(format!("indexing task: {e}")))??;
    let keys: Vec<u64> = items.iter().map(|(key, _)| *key).collect();
    search.feed.done(&keys).await?;
    let more = items.len() == BATCH;
    if !more {
        search.indexed_through.send_if_modified(|t| std::mem::replace(t, target) != target);
    }
    Ok(more)
}

fn apply(index: &Index, changes: Vec<Change>) -> Result<()> {
    for change in changes {
        match change {
            Change::Upsert(doc) => index.upsert(&doc)?,
            Change::Remove(event_id) => index.remove_event(&event_id)?,
            Change::RemoveRoom(room_id) => index.remove_room(&room_id)?,
        }
    }
    Ok(index.commit()?)
}

/// What one feed item changes in the index.
async fn plan(search: &Search, item: &FeedItem, changes: &mut Vec<Change>) -> Result<()> {
    let event_id = match item {
        FeedItem::PurgeRoom(room_id) => {
            changes.push(Change::RemoveRoom(room_id.to_string()));
            return Ok(());
        }
        FeedItem::Event(event_id) => event_id,
    };
    let Some(stored) = search.rooms.timeline.get(event_id).await? else {
        // Purged since.
        changes.push(Change::Remove(event_id.to_string()));
        return Ok(());
    };
    if stored.outlier {
        return Ok(());
    }
    let object = Value::from(ruma::CanonicalJsonValue::Object(stored.object()?));
    if !super::feed::concerns(object["type"].as_str().unwrap_or_default()) {
        // A rebuild hands over every event; most are not searchable.
        return Ok(());
    }
    if object["type"] == "m.room.redaction" {
        let target = object.get("redacts").or_else(|| object["content"].get("redacts")).and_then(Value::as_str);
        if let Some(target) = target {
            changes.push(Change::Remove(target.to_owned()));
            // A redacted edit gives its message back an earlier text.
            for edited in search.index.edited_by(target)? {
                if let Ok(edited) = EventId::parse(&edited) {
                    changes.push(document_change(search, &edited).await?);
                }
            }
        }
        return Ok(());
    }
    if stored.redacted_by.is_none()
        && let Some(original) = documents::replaced_event(&object["content"])
    {
        changes.push(document_change(search, &original).await?);
        return Ok(());
    }
    changes.push(document_change(search, event_id).await?);
    Ok(())
}

/// The event's document as it should be now (with its latest edit), or
/// its removal.
async fn document_change(search: &Search, event_id: &EventId) -> Result<Change> {
    let remove = || Change::Remove(event_id.to_string());
    let Some(stored) = search.rooms.timeline.get(event_id).await? else { return Ok(remove()) };
    if stored.outlier || stored.redacted_by.is_some() {
        return Ok(remove());
    }
    let object = Value::from(ruma::CanonicalJsonValue::Object(stored.object()?));
    let kind = object["type"].as_str().unwrap_or_default();
    let sender = object["sender"].as_str().unwrap_or_default();
    let edit = search.rooms.latest_replacement(&stored.room_id, event_id, sender, kind).await?.and_then(
        |(edit_id, _, edit_object)| {
            let new_content = edit_object.get("content").and_then(|c| c.as_object())?.get("m.new_content")?;
            Some((edit_id, Value::from(new_content.clone())))
        },
    );
    let source = Source {
        event_id: event_id.as_str(),
        room_id: stored.room_id.as_str(),
        kind,
        sender,
        ts: object["origin_server_ts"].as_u64().unwrap_or_default(),
        ordering: stored.stream_ordering,
        content: &object["content"],
    };
    let doc = documents::document(&source, edit.as_ref().map(|(id, content)| (id.as_str(), content)));
    Ok(doc.map_or_else(remove, |doc| Change::Upsert(Box::new(doc))))
}

/// Empties the index and hands it every event of every room again.
async fn rebuild(search: &Search) -> Result<()> {
    search.rebuilding.store(true, Ordering::SeqCst);
    let result = refill(search).await;
    search.rebuilding.store(false, Ordering::SeqCst);
    result
}

async fn refill(search: &Search) -> Result<()> {
    tracing::info!("rebuilding the search index");
    let index = search.index.clone();
    tokio::task::spawn_blocking(move || index.clear()).await.map_err(|e| Error::Internal(e.to_string()))??;
    let mut handed = 0u64;
    for room_id in search.rooms.all_rooms().await? {
        let mut from = None;
        loop {
            let page = search.rooms.timeline.page(&room_id, from, Direction::Forward, REBUILD_CHUNK).await?;
            let Some((last, _)) = page.last() else { break };
            from = Some(last + 1);
            let mut batch = WriteBatch::new();
            for (ordering, event_id) in &page {
                search.feed.put(&mut batch, *ordering, &FeedItem::Event(event_id.clone()));
            }
            handed += page.len() as u64;
            search.feed.write(batch).await?;
            if page.len() < REBUILD_CHUNK {
                break;
            }
        }
    }
    let index = search.index.clone();
    tokio::task::spawn_blocking(move || index.mark_complete()).await.map_err(|e| Error::Internal(e.to_string()))??;
    tracing::info!(events = handed, "search index rebuild: every event handed to the indexer");
    Ok(())
}
