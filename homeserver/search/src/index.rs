//! The tantivy index: one document per searchable event, replaced by event
//! id; one writer (behind a lock), readers reloaded after each commit.

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, DocId, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentReader, TantivyDocument, Term};

use crate::analysis::{self, Language, TEXT_ANALYZER};
use crate::query::Has;
use crate::{Error, Result};

/// Bumped whenever the schema or what is indexed changes: an index built
/// by another version is rebuilt.
const SCHEMA_VERSION: u32 = 1;

/// The writer's indexing memory; one thread, so indexing takes at most one
/// of the machine's cores away from serving.
const WRITER_MEMORY: usize = 64 << 20;

/// Ranking blends relevance with recency: a message from today weighs up
/// to this much more than an equally relevant one from long ago, halving
/// every [`RECENCY_HALF_LIFE_MS`].
const RECENCY_WEIGHT: f32 = 0.5;
const RECENCY_HALF_LIFE_MS: f32 = 30.0 * 86_400_000.0;

/// An exact word counts twice a word reached through a typo.
const EXACT_BOOST: Score = 2.0;

/// Words, phrases and exclusions past this many (each) are ignored: a
/// query's cost stays bounded whatever is pasted into the box.
pub const MAX_TERMS: usize = 32;

/// One searchable event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    pub event_id: String,
    pub room_id: String,
    pub sender: String,
    pub kind: String,
    /// `origin_server_ts`, milliseconds.
    pub ts: u64,
    /// The event's place in the server's stream (paging in recent order).
    pub ordering: u64,
    /// `content.body` (and what else reads as the message: a file's name,
    /// a poll's question and answers).
    pub body: String,
    /// `content.name` (room and thread names).
    pub name: String,
    /// `content.topic`.
    pub topic: String,
    pub has: Vec<Has>,
    pub mentions: Vec<String>,
    pub in_thread: bool,
    /// The edit whose text this is (the latest `m.replace` by the sender).
    pub edit: Option<String>,
}

/// The text fields a search looks in (the spec's `keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Body,
    Name,
    Topic,
}

/// The text part of a search, already taken apart by [`crate::parse`].
#[derive(Debug, Clone, Default)]
pub struct TextQuery {
    pub words: Vec<String>,
    pub phrases: Vec<String>,
    pub excluded: Vec<String>,
    /// The last word is still being typed: it matches as a prefix.
    pub prefix: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Relevance blended with recency.
    #[default]
    Rank,
    /// Newest first.
    Recent,
}

/// Where a page ended: the next page holds only what sorts after it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    order: CursorOrder,
    score: f32,
    ordering: u64,
    /// The clock the recency blend used, kept so every page ranks alike.
    now_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum CursorOrder {
    Rank,
    Recent,
}

impl Cursor {
    /// An opaque token for `next_batch`.
    pub fn to_token(&self) -> String {
        let order = match self.order {
            CursorOrder::Rank => 'r',
            CursorOrder::Recent => 't',
        };
        format!("{order}{:08x}.{}.{}", self.score.to_bits(), self.ordering, self.now_ms)
    }

    pub fn from_token(token: &str) -> Result<Cursor> {
        let bad = || Error::BadCursor(format!("next_batch {token:?} is not one this server gave"));
        let mut chars = token.chars();
        let order = match chars.next() {
            Some('r') => CursorOrder::Rank,
            Some('t') => CursorOrder::Recent,
            _ => return Err(bad()),
        };
        let mut parts = chars.as_str().split('.');
        let score = u32::from_str_radix(parts.next().ok_or_else(bad)?, 16).map_err(|_| bad())?;
        let ordering = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let now_ms = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Cursor { order, score: f32::from_bits(score), ordering, now_ms })
    }
}

/// A search. Only documents in `rooms` are found: the caller decides which
/// rooms a user may search.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub text: TextQuery,
    /// Empty: every key.
    pub keys: Vec<Key>,
    pub rooms: Vec<String>,
    pub not_rooms: Vec<String>,
    pub senders: Vec<String>,
    pub not_senders: Vec<String>,
    pub types: Vec<String>,
    pub not_types: Vec<String>,
    pub mentions: Vec<String>,
    pub has: Vec<Has>,
    pub not_has: Vec<Has>,
    /// Only these events (`pinned:true`).
    pub event_ids: Option<Vec<String>>,
    pub not_event_ids: Vec<String>,
    pub thread_only: bool,
    pub after_ms: Option<u64>,
    pub before_ms: Option<u64>,
    pub order: Order,
    pub cursor: Option<Cursor>,
    pub limit: usize,
    /// Now, for the recency blend (ignored when a cursor carries its own).
    pub now_ms: u64,
}

/// A found document.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub event_id: String,
    pub room_id: String,
    pub ordering: u64,
    /// Relevance blended with recency (0 in recent order).
    pub rank: f32,
    /// The page after this hit.
    pub cursor: Cursor,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub hits: Vec<Hit>,
    /// How many documents match (before the caller's own checks).
    pub count: usize,
    /// Nothing sorts after the last hit.
    pub exhausted: bool,
}

/// What the index records about itself in each commit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Meta {
    schema: u32,
    language: String,
    /// Every event the server held when the index was (re)built has been
    /// handed to it (the caller's word, see [`Index::mark_complete`]).
    complete: bool,
}

struct Fields {
    event_id: Field,
    room_id: Field,
    sender: Field,
    kind: Field,
    ts: Field,
    ordering: Field,
    body: Field,
    name: Field,
    topic: Field,
    has: Field,
    mentions: Field,
    flags: Field,
    edit: Field,
}

const THREAD_FLAG: &str = "thread";

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TEXT_ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        event_id: builder.add_text_field("event_id", STRING | STORED),
        room_id: builder.add_text_field("room_id", STRING | STORED),
        sender: builder.add_text_field("sender", STRING),
        kind: builder.add_text_field("kind", STRING),
        ts: builder.add_u64_field("ts", INDEXED | FAST),
        ordering: builder.add_u64_field("ordering", INDEXED | FAST | STORED),
        body: builder.add_text_field("body", text.clone()),
        name: builder.add_text_field("name", text.clone()),
        topic: builder.add_text_field("topic", text),
        has: builder.add_text_field("has", STRING),
        mentions: builder.add_text_field("mentions", STRING),
        flags: builder.add_text_field("flags", STRING),
        edit: builder.add_text_field("edit", STRING),
    };
    (builder.build(), fields)
}

pub struct Index {
    fields: Fields,
    /// Unset while another process holds the index's writer lock (a
    /// running server, seen by `nexus admin`; another process of a cluster
    /// sharing the directory): this one only reads, reloading as that one
    /// commits, until [`Index::try_take_writer`] gets the lock.
    writer: OnceLock<Mutex<IndexWriter>>,
    index: tantivy::Index,
    reader: IndexReader,
    language: Language,
    language_name: String,
    /// The index was missing, built by another version or language, or
    /// never finished its first build: the caller must hand it everything.
    needs_rebuild: AtomicBool,
}

/// The index's writer, unless another process holds its lock.
fn take_writer(index: &tantivy::Index) -> Result<Option<Mutex<IndexWriter>>> {
    match index.writer_with_num_threads(1, WRITER_MEMORY) {
        Ok(writer) => {
            writer.set_merge_policy(Box::new(merge_policy()));
            Ok(Some(Mutex::new(writer)))
        }
        Err(tantivy::TantivyError::LockFailure(..)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Segments smaller than this many documents count as one size when
/// merging. Tantivy's default (10,000) suits bulk loads; commits here come
/// a few times a second with a few documents each, and with that default
/// every merge rewrote the one growing segment along with the new small
/// ones — a third of the server's CPU under a steady stream of messages.
/// Sized tiers instead: each document is rewritten a handful of times.
const MIN_MERGE_LAYER_DOCS: u32 = 100;

fn merge_policy() -> tantivy::indexer::LogMergePolicy {
    let mut policy = tantivy::indexer::LogMergePolicy::default();
    policy.set_min_layer_size(MIN_MERGE_LAYER_DOCS);
    policy
}

impl Index {
    /// Opens the index in `path` (created if absent; rebuilt empty if it was
    /// made by another schema or language), or in memory without a path.
    pub fn open(path: Option<&Path>, language_name: &str) -> Result<Index> {
        let language = analysis::language(language_name)
            .ok_or_else(|| Error::Directory(format!("unknown search language {language_name:?}")))?;
        let (schema, fields) = schema();
        let index = match path {
            None => tantivy::Index::create_in_ram(schema.clone()),
            Some(path) => match open_dir(path, &schema) {
                Ok(index) => index,
                Err(e) => {
                    // Another version's index: start again (the caller
                    // refills it, as `needs_rebuild` says).
                    tracing::warn!(error = %e, path = %path.display(), "rebuilding the search index");
                    std::fs::remove_dir_all(path).map_err(|e| Error::Directory(e.to_string()))?;
                    open_dir(path, &schema)?
                }
            },
        };
        index.tokenizers().register(TEXT_ANALYZER, analysis::text_analyzer(language));
        let writer = OnceLock::new();
        if let Some(taken) = take_writer(&index)? {
            let _ = writer.set(taken);
        }
        let reload = if writer.get().is_some() { ReloadPolicy::Manual } else { ReloadPolicy::OnCommitWithDelay };
        let reader = index.reader_builder().reload_policy(reload).try_into()?;
        let meta = index.load_metas()?.payload.and_then(|p| serde_json::from_str::<Meta>(&p).ok());
        let expected = Meta { schema: SCHEMA_VERSION, language: language_name.to_ascii_lowercase(), complete: true };
        let needs_rebuild = meta.as_ref() != Some(&expected);
        Ok(Index {
            fields,
            writer,
            index,
            reader,
            language,
            language_name: expected.language,
            needs_rebuild: AtomicBool::new(needs_rebuild),
        })
    }

    /// Whether the caller must hand the index every event it holds
    /// ([`Index::clear`], then [`Index::upsert`] each, then
    /// [`Index::mark_complete`]).
    pub fn needs_rebuild(&self) -> bool {
        self.needs_rebuild.load(AtomicOrdering::SeqCst)
    }

    /// Whether this process may change the index (see `writer`).
    pub fn is_writable(&self) -> bool {
        self.writer.get().is_some()
    }

    /// Takes the writer lock if it is free now (the process that held it
    /// ended: the lock is the operating system's, released with it);
    /// whether this process may now change the index.
    pub fn try_take_writer(&self) -> Result<bool> {
        if self.is_writable() {
            return Ok(true);
        }
        if let Some(taken) = take_writer(&self.index)? {
            let _ = self.writer.set(taken);
        }
        Ok(self.is_writable())
    }

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, IndexWriter>> {
        let writer = self.writer.get().ok_or(Error::ReadOnly)?;
        Ok(writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn analyzer(&self) -> TextAnalyzer {
        analysis::text_analyzer(self.language)
    }

    /// Adds a document, replacing any with the same event id (so handing
    /// an event over twice indexes it once).
    pub fn upsert(&self, doc: &Document) -> Result<()> {
        let f = &self.fields;
        let mut tantivy_doc = TantivyDocument::new();
        tantivy_doc.add_text(f.event_id, &doc.event_id);
        tantivy_doc.add_text(f.room_id, &doc.room_id);
        tantivy_doc.add_text(f.sender, &doc.sender);
        tantivy_doc.add_text(f.kind, &doc.kind);
        tantivy_doc.add_u64(f.ts, doc.ts);
        tantivy_doc.add_u64(f.ordering, doc.ordering);
        tantivy_doc.add_text(f.body, &doc.body);
        tantivy_doc.add_text(f.name, &doc.name);
        tantivy_doc.add_text(f.topic, &doc.topic);
        for has in &doc.has {
            tantivy_doc.add_text(f.has, has.as_str());
        }
        for mention in &doc.mentions {
            tantivy_doc.add_text(f.mentions, mention);
        }
        if doc.in_thread {
            tantivy_doc.add_text(f.flags, THREAD_FLAG);
        }
        if let Some(edit) = &doc.edit {
            tantivy_doc.add_text(f.edit, edit);
        }
        let writer = self.writer()?;
        writer.delete_term(Term::from_field_text(f.event_id, &doc.event_id));
        writer.add_document(tantivy_doc)?;
        Ok(())
    }

    pub fn remove_event(&self, event_id: &str) -> Result<()> {
        self.writer()?.delete_term(Term::from_field_text(self.fields.event_id, event_id));
        Ok(())
    }

    pub fn remove_room(&self, room_id: &str) -> Result<()> {
        self.writer()?.delete_term(Term::from_field_text(self.fields.room_id, room_id));
        Ok(())
    }

    /// Empties the index (committed with the next [`Index::commit`]) and
    /// marks it incomplete until [`Index::mark_complete`].
    pub fn clear(&self) -> Result<()> {
        self.writer()?.delete_all_documents()?;
        self.needs_rebuild.store(true, AtomicOrdering::SeqCst);
        self.commit()
    }

    /// Records that every event held when the rebuild began has been handed
    /// over (and is committed with this call).
    pub fn mark_complete(&self) -> Result<()> {
        self.needs_rebuild.store(false, AtomicOrdering::SeqCst);
        self.commit()
    }

    /// Makes every change so far durable and visible to searches.
    pub fn commit(&self) -> Result<()> {
        let meta =
            Meta { schema: SCHEMA_VERSION, language: self.language_name.clone(), complete: !self.needs_rebuild() };
        let payload = serde_json::to_string(&meta).expect("index meta serialises");
        {
            let mut writer = self.writer()?;
            let mut prepared = writer.prepare_commit()?;
            prepared.set_payload(&payload);
            prepared.commit()?;
        }
        self.reader.reload()?;
        Ok(())
    }

    /// The documents whose text came from the edit `edit_id` (committed
    /// ones): when that edit goes, they go back to an earlier text.
    pub fn edited_by(&self, edit_id: &str) -> Result<Vec<String>> {
        let searcher = self.reader.searcher();
        let query = TermQuery::new(Term::from_field_text(self.fields.edit, edit_id), IndexRecordOption::Basic);
        let found = searcher.search(&query, &TopDocs::with_limit(16).order_by_score())?;
        found.into_iter().map(|(_, address)| Ok(self.stored_ids(&searcher, address)?.0)).collect()
    }

    /// How many documents the index holds (committed ones).
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One page of documents matching `search`, best first.
    pub fn search(&self, search: &Search) -> Result<Page> {
        let empty = Page { hits: Vec::new(), count: 0, exhausted: true };
        if search.rooms.is_empty() || search.event_ids.as_ref().is_some_and(Vec::is_empty) {
            return Ok(empty);
        }
        let Some(query) = self.build_query(search) else { return Ok(empty) };
        let order = match search.order {
            Order::Rank => CursorOrder::Rank,
            Order::Recent => CursorOrder::Recent,
        };
        if let Some(cursor) = &search.cursor
            && cursor.order != order
        {
            return Err(Error::BadCursor("next_batch belongs to a search in another order".to_owned()));
        }
        let now_ms = search.cursor.map_or(search.now_ms, |c| c.now_ms);
        let after = search.cursor.map(|c| (c.score, c.ordering));
        let limit = search.limit.max(1);
        let collector = TopDocs::with_limit(limit).tweak_score(move |segment: &SegmentReader| {
            let ts = segment.fast_fields().u64("ts").ok().map(|c| c.first_or_default_col(0));
            let orderings = segment.fast_fields().u64("ordering").ok().map(|c| c.first_or_default_col(0));
            move |doc: DocId, score: Score| -> (Score, u64) {
                let ordering = orderings.as_ref().map_or(0, |c| c.get_val(doc));
                let key = match order {
                    CursorOrder::Rank => {
                        let ts = ts.as_ref().map_or(0, |c| c.get_val(doc));
                        let age = now_ms.saturating_sub(ts) as f32;
                        (score * (1.0 + RECENCY_WEIGHT * 0.5f32.powf(age / RECENCY_HALF_LIFE_MS)), ordering)
                    }
                    CursorOrder::Recent => (0.0, ordering),
                };
                match after {
                    // Already on an earlier page: sorts last, then dropped.
                    Some(after) if key.partial_cmp(&after) != Some(std::cmp::Ordering::Less) => {
                        (Score::NEG_INFINITY, 0)
                    }
                    _ => key,
                }
            }
        });
        let searcher = self.reader.searcher();
        let (count, top) = searcher.search(&query, &(Count, collector))?;
        let mut hits = Vec::with_capacity(top.len());
        for ((score, ordering), address) in top {
            if score == Score::NEG_INFINITY {
                continue;
            }
            let (event_id, room_id) = self.stored_ids(&searcher, address)?;
            hits.push(Hit {
                event_id,
                room_id,
                ordering,
                rank: score,
                cursor: Cursor { order, score, ordering, now_ms },
            });
        }
        let exhausted = hits.len() < limit;
        Ok(Page { hits, count, exhausted })
    }

    fn stored_ids(&self, searcher: &tantivy::Searcher, address: DocAddress) -> Result<(String, String)> {
        let doc: TantivyDocument = searcher.doc(address)?;
        let text = |field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        Ok((text(self.fields.event_id), text(self.fields.room_id)))
    }

    fn key_fields(&self, keys: &[Key]) -> Vec<Field> {
        let all = [Key::Body, Key::Name, Key::Topic];
        let keys = if keys.is_empty() { &all[..] } else { keys };
        keys.iter()
            .map(|k| match k {
                Key::Body => self.fields.body,
                Key::Name => self.fields.name,
                Key::Topic => self.fields.topic,
            })
            .collect()
    }

    /// `None` when the search cannot match anything (a word with no
    /// searchable characters, say).
    fn build_query(&self, search: &Search) -> Option<Box<dyn Query>> {
        let f = &self.fields;
        let mut analyzer = self.analyzer();
        let fields = self.key_fields(&search.keys);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();

        let words = &search.text.words[..search.text.words.len().min(MAX_TERMS)];
        let last_word = words.len().saturating_sub(1);
        for (i, word) in words.iter().enumerate() {
            let terms = analysis::terms(&mut analyzer, word);
            let budget = analysis::typo_budget(word);
            let typing = search.text.prefix && i == last_word;
            for (j, term) in terms.iter().enumerate() {
                let prefix = typing && j + 1 == terms.len();
                clauses.push((Occur::Must, word_query(&fields, term, budget, prefix)));
            }
        }
        for phrase in search.text.phrases.iter().take(MAX_TERMS) {
            let terms = analysis::terms(&mut analyzer, phrase);
            if terms.is_empty() {
                continue;
            }
            clauses.push((Occur::Must, phrase_query(&fields, &terms)));
        }
        for excluded in search.text.excluded.iter().take(MAX_TERMS) {
            let terms = analysis::terms(&mut analyzer, excluded);
            if !terms.is_empty() {
                clauses.push((Occur::MustNot, phrase_query(&fields, &terms)));
            }
        }
        let has_text = clauses.iter().any(|(occur, _)| *occur == Occur::Must);
        if !has_text && (!search.text.words.is_empty() || !search.text.phrases.is_empty()) {
            // Every word analysed to nothing: nothing can match it.
            return None;
        }

        let set = |field: Field, values: &[String]| -> Box<dyn Query> {
            Box::new(TermSetQuery::new(values.iter().map(|v| Term::from_field_text(field, v))))
        };
        clauses.push((Occur::Must, set(f.room_id, &search.rooms)));
        let filters: [(Occur, Field, &[String]); 7] = [
            (Occur::MustNot, f.room_id, &search.not_rooms),
            (Occur::Must, f.sender, &search.senders),
            (Occur::MustNot, f.sender, &search.not_senders),
            (Occur::Must, f.kind, &search.types),
            (Occur::MustNot, f.kind, &search.not_types),
            (Occur::Must, f.mentions, &search.mentions),
            (Occur::MustNot, f.event_id, &search.not_event_ids),
        ];
        for (occur, field, values) in filters {
            if !values.is_empty() {
                clauses.push((occur, set(field, values)));
            }
        }
        for (occur, has) in [(Occur::Must, &search.has), (Occur::MustNot, &search.not_has)] {
            if !has.is_empty() {
                let has: Vec<String> = has.iter().map(|h| h.as_str().to_owned()).collect();
                clauses.push((occur, set(f.has, &has)));
            }
        }
        if let Some(event_ids) = &search.event_ids {
            clauses.push((Occur::Must, set(f.event_id, event_ids)));
        }
        if search.thread_only {
            let term = Term::from_field_text(f.flags, THREAD_FLAG);
            clauses.push((Occur::Must, Box::new(TermQuery::new(term, IndexRecordOption::Basic))));
        }
        if search.after_ms.is_some() || search.before_ms.is_some() {
            let lower = search.after_ms.map_or(Bound::Unbounded, |a| Bound::Included(Term::from_field_u64(f.ts, a)));
            let upper = search.before_ms.map_or(Bound::Unbounded, |b| Bound::Excluded(Term::from_field_u64(f.ts, b)));
            clauses.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
        }
        if !has_text {
            // Filters alone: every document they allow scores alike.
            clauses.push((Occur::Should, Box::new(AllQuery)));
        }
        Some(Box::new(BooleanQuery::new(clauses)))
    }

    /// The words of `text` a person would see highlighted for `search`:
    /// those whose terms the query's words reach (exactly, by prefix, or
    /// within their typo budget) and the words of its phrases.
    pub fn highlights(&self, text: &TextQuery, haystack: &str) -> Vec<String> {
        let mut analyzer = self.analyzer();
        let mut wanted: Vec<(String, u8, bool)> = Vec::new();
        let last_word = text.words.len().saturating_sub(1);
        for (i, word) in text.words.iter().enumerate() {
            let budget = analysis::typo_budget(word);
            let prefix = text.prefix && i == last_word;
            wanted.extend(analysis::terms(&mut analyzer, word).into_iter().map(|t| (t, budget, prefix)));
        }
        for phrase in &text.phrases {
            wanted.extend(analysis::terms(&mut analyzer, phrase).into_iter().map(|t| (t, 0, false)));
        }
        let mut found: Vec<String> = Vec::new();
        for (word, term) in analysis::words_with_terms(&mut analyzer, haystack) {
            let hit = wanted.iter().any(|(want, budget, prefix)| {
                term == *want
                    || (*prefix && term.starts_with(want.as_str()))
                    || analysis::within_edits(&term, want, *budget)
            });
            if hit && !found.contains(&word) {
                found.push(word);
            }
        }
        found
    }
}

fn open_dir(path: &Path, schema: &Schema) -> Result<tantivy::Index> {
    std::fs::create_dir_all(path).map_err(|e| Error::Directory(e.to_string()))?;
    let directory = tantivy::directory::MmapDirectory::open(path).map_err(|e| Error::Directory(e.to_string()))?;
    Ok(tantivy::Index::open_or_create(directory, schema.clone())?)
}

/// One query word in any of `fields`: exact (weighted up), within its typo
/// budget, or as a prefix while it is being typed.
fn word_query(fields: &[Field], term: &str, budget: u8, prefix: bool) -> Box<dyn Query> {
    let mut options: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for &field in fields {
        let t = Term::from_field_text(field, term);
        options.push((
            Occur::Should,
            Box::new(BoostQuery::new(Box::new(TermQuery::new(t.clone(), IndexRecordOption::WithFreqs)), EXACT_BOOST)),
        ));
        if budget > 0 {
            options.push((Occur::Should, Box::new(FuzzyTermQuery::new(t.clone(), budget, true))));
        }
        if prefix {
            options.push((Occur::Should, Box::new(FuzzyTermQuery::new_prefix(t, 0, true))));
        }
    }
    Box::new(BooleanQuery::new(options))
}

/// Terms in this order, in any of `fields`.
fn phrase_query(fields: &[Field], terms: &[String]) -> Box<dyn Query> {
    let options = fields
        .iter()
        .map(|&field| -> (Occur, Box<dyn Query>) {
            let terms: Vec<Term> = terms.iter().map(|t| Term::from_field_text(field, t)).collect();
            if terms.len() == 1 {
                let term = terms.into_iter().next().expect("one term");
                (Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)))
            } else {
                (Occur::Should, Box::new(PhraseQuery::new(terms)))
            }
        })
        .collect();
    Box::new(BooleanQuery::new(options))
}

#[cfg(test)]
mod tests;
