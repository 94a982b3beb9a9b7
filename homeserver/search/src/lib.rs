//! Nexus's full-text index: what the homeserver's search service stores in
//! tantivy and how it asks for it back.
//!
//! The crate knows documents, words and filters, not Matrix: the search
//! service in `nexus-core` decides which events become which [`Document`]s,
//! which rooms a user may search and whether a hit may be shown. Three
//! parts:
//! - [`query`]: the query language people type (words, `"phrases"`,
//!   `-exclusions`, Discord's `from:`, `has:`, `in:`, `before:` …);
//! - [`analysis`]: how text becomes terms (stemming, folding) and the typo
//!   rule (edit distance by word length), shared by indexing, querying and
//!   highlighting so the three never disagree;
//! - [`index`]: the tantivy index — one writer, many readers, documents
//!   replaced by event id, a commit payload that records what is in it.

pub mod analysis;
pub mod index;
pub mod query;

pub use analysis::Language;
pub use index::{Cursor, Document, Hit, Index, Key, Order, Page, Search, TextQuery};
pub use query::{Has, ParsedQuery, parse};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Directory(String),
    #[error("{0}")]
    BadCursor(String),
    #[error("the search index is in use by another process (a running server): this one only reads it")]
    ReadOnly,
}

pub type Result<T> = std::result::Result<T, Error>;
