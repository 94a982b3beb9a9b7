//! Full-text search: the spec's `POST /search` and Nexus's Discord-style
//! search, over a tantivy index (`nexus-search`) kept beside the store.
//!
//! - `feed`: what the index must still look at, written in the batch that
//!   persists each event (durable; see there).
//! - `indexer`: one task, the index's only writer: turns feed items into
//!   documents, commits, then forgets the items; rebuilds the index when it
//!   is new, from another version, or asked to (`nexus admin search
//!   reindex`).
//! - `documents`: which events are searchable and what of them.
//! - `spec`: `POST /_matrix/client/v3/search`.
//! - `discord`: `POST /_nexus/client/v1/search` (`from:`, `has:`, `in:` …
//!   in a server or a channel) and saved searches (`saved`).
//!
//! The index only proposes: every hit is shown only if the searcher may
//! read it now (history visibility, through `Rooms::search_hit`), and only
//! rooms the searcher is or was in are searched. Encrypted rooms are
//! ciphertext to the server: their messages are never indexed, and the
//! answers name the encrypted rooms searched so clients can say so.

pub mod discord;
pub mod documents;
pub mod feed;
mod indexer;
pub mod saved;
pub mod spec;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nexus_search::{Cursor, Hit, Index};
use nexus_storage::{Store, WriteBatch};
use ruma::{OwnedEventId, OwnedRoomId, OwnedServerName, RoomId};
use tokio::sync::watch;

use crate::account_data::AccountData;
use crate::rooms::{Rooms, SearchHit, SearchReader};
use crate::settings::SearchSettings;
use crate::stream::Stream;
use crate::{Error, Result};

/// How long a search waits for the index to hold everything sent before
/// it began (read your own writes), before answering from what it has.
const FRESHNESS_WAIT: Duration = Duration::from_secs(2);

/// Candidates fetched per round are this many times what is still needed
/// (hits the searcher may not see are dropped), within these bounds; after
/// this many rounds a page is returned short, with a `next_batch`.
const OVERFETCH: usize = 2;
const MAX_CANDIDATES: usize = 200;
const MAX_ROUNDS: usize = 5;

pub struct Search {
    rooms: Arc<Rooms>,
    stream: Arc<Stream>,
    account_data: Arc<AccountData>,
    server_name: OwnedServerName,
    index: Arc<Index>,
    feed: Arc<feed::Feed>,
    /// Every event at or below this stream position is in the index.
    indexed_through: watch::Sender<u64>,
    /// A rebuild was asked for (the indexer does it between batches).
    rebuild_requested: AtomicBool,
    rebuilding: AtomicBool,
}

/// What the index and the visibility check found for one page.
struct Found {
    hits: Vec<(Hit, SearchHit)>,
    count: usize,
    /// Where the next page starts (`None`: nothing more).
    next: Option<Cursor>,
}

/// The index's state, for admins.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    pub documents: u64,
    pub pending: usize,
    pub rebuilding: bool,
}

impl Search {
    pub fn open(
        settings: &SearchSettings,
        store: Arc<dyn Store>,
        rooms: Arc<Rooms>,
        stream: Arc<Stream>,
        account_data: Arc<AccountData>,
        server_name: OwnedServerName,
    ) -> Result<Arc<Self>> {
        let index = Index::open(settings.path.as_deref(), &settings.language)
            .map_err(|e| Error::Internal(format!("opening the search index: {e}")))?;
        let feed = Arc::new(feed::Feed::new(store));
        rooms.set_search_feed(feed.clone());
        let needs_rebuild = index.needs_rebuild();
        Ok(Arc::new(Search {
            rooms,
            stream,
            account_data,
            server_name,
            index: Arc::new(index),
            feed,
            indexed_through: watch::Sender::new(0),
            rebuild_requested: AtomicBool::new(needs_rebuild),
            rebuilding: AtomicBool::new(false),
        }))
    }

    /// Runs the indexer until the process ends.
    pub async fn run(self: Arc<Self>) {
        indexer::run(self).await
    }

    /// Forgets a purged room's documents (durably: through the feed).
    pub async fn purge_room(&self, room_id: &RoomId) -> Result<()> {
        let reservation = self.stream.reserve().await?;
        let mut batch = WriteBatch::new();
        self.feed.put(&mut batch, reservation.ordering, &feed::FeedItem::PurgeRoom(room_id.to_owned()));
        self.feed.write(batch).await?;
        drop(reservation);
        self.feed.wake();
        Ok(())
    }

    /// Empties the index and hands it every event again (in the
    /// background); searches find less until it has caught up. The emptied
    /// index is committed as unfinished first, so a server stopped (or an
    /// offline `nexus admin search reindex`) finishes the rebuild when it
    /// next starts.
    pub async fn request_rebuild(&self) -> Result<()> {
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || index.clear())
            .await
            .map_err(|e| Error::Internal(format!("search task: {e}")))??;
        self.rebuild_requested.store(true, Ordering::SeqCst);
        self.feed.wake();
        Ok(())
    }

    pub async fn status(&self) -> Result<Status> {
        Ok(Status {
            documents: self.index.len(),
            pending: self.feed.oldest(10_000).await?.len(),
            rebuilding: self.rebuilding.load(Ordering::SeqCst) || self.rebuild_requested.load(Ordering::SeqCst),
        })
    }

    /// Waits (briefly) until the index holds every event persisted before
    /// the search began — when this process writes it. A process that only
    /// reads it (another writes: a cluster sharing the directory) searches
    /// what was committed; the writer commits within moments of a write.
    async fn wait_indexed(&self) {
        if !self.index.is_writable() {
            return;
        }
        let target = self.stream.current();
        let mut through = self.indexed_through.subscribe();
        let _ = tokio::time::timeout(FRESHNESS_WAIT, through.wait_for(|t| *t >= target)).await;
    }

    /// Runs an index search, keeping only hits the reader may see, until
    /// `limit` are found or the candidates run out.
    async fn collect(
        &self,
        reader: &mut SearchReader,
        mut search: nexus_search::Search,
        limit: usize,
    ) -> Result<Found> {
        self.wait_indexed().await;
        let mut hits = Vec::new();
        let mut count = None;
        for _ in 0..MAX_ROUNDS {
            search.limit = ((limit - hits.len()) * OVERFETCH).clamp(10, MAX_CANDIDATES);
            let index = self.index.clone();
            let query = search.clone();
            let page = tokio::task::spawn_blocking(move || index.search(&query))
                .await
                .map_err(|e| Error::Internal(format!("search task: {e}")))??;
            count.get_or_insert(page.count);
            for hit in page.hits {
                search.cursor = Some(hit.cursor);
                let (Ok(room_id), Ok(event_id)) =
                    (OwnedRoomId::try_from(hit.room_id.as_str()), OwnedEventId::try_from(hit.event_id.as_str()))
                else {
                    continue;
                };
                if let Some(visible) = self.rooms.search_hit(reader, &room_id, &event_id).await? {
                    hits.push((hit, visible));
                    if hits.len() == limit {
                        let next = hits.last().map(|(h, _)| h.cursor);
                        return Ok(Found { hits, count: count.unwrap_or(0), next });
                    }
                }
            }
            if page.exhausted {
                return Ok(Found { hits, count: count.unwrap_or(0), next: None });
            }
        }
        Ok(Found { hits, count: count.unwrap_or(0), next: search.cursor })
    }

    /// The encrypted rooms among those searched (their messages are not in
    /// the index).
    async fn encrypted_rooms(&self, rooms: &[OwnedRoomId]) -> Result<Vec<OwnedRoomId>> {
        let mut encrypted = Vec::new();
        for room in rooms {
            if self.rooms.is_encrypted(room).await? {
                encrypted.push(room.clone());
            }
        }
        Ok(encrypted)
    }

    /// The words to highlight in what was found.
    fn highlights(&self, text: &nexus_search::TextQuery, found: &Found) -> Vec<String> {
        let mut words: Vec<String> = Vec::new();
        for (_, hit) in &found.hits {
            // An edited message was found by its latest edit's text (the
            // edit the server bundles with it).
            let edited = hit.event.pointer("/unsigned/m.relations/m.replace/content/m.new_content");
            let content = edited.unwrap_or(&hit.event["content"]);
            for key in ["body", "name", "topic"] {
                if let Some(value) = content.get(key).and_then(serde_json::Value::as_str) {
                    for word in self.index.highlights(text, value) {
                        if !words.contains(&word) {
                            words.push(word);
                        }
                    }
                }
            }
        }
        words
    }
}
