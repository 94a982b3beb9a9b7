use std::fmt;

/// A storage failure. Services surface it as an internal error: nothing a
/// client sent can cause one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rocksdb: {0}")]
    RocksDb(#[from] rocksdb::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("storage configuration: {0}")]
    Config(String),
    #[error("corrupt record in map {map}: {detail}")]
    Corrupt { map: &'static str, detail: String },
    /// This process's writer lease lapsed and another process reaped it:
    /// it may commit nothing more (readers have passed its orderings).
    #[error("this process lost its cluster lease and may no longer write")]
    Fenced,
    /// A named lock stayed held by others past the wait bound: the caller
    /// may try again later.
    #[error("busy: {0}")]
    Busy(String),
    #[error("redis: {0}")]
    Redis(String),
    #[error("storage task failed: {0}")]
    Task(String),
}

impl Error {
    pub fn corrupt(map: &'static str, detail: impl fmt::Display) -> Self {
        Error::Corrupt { map, detail: detail.to_string() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
