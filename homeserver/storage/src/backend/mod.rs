//! The storage backends. Choosing one is configuration only.

mod advisory;
mod cluster_pg;
mod locks;
pub mod postgres;
pub mod rocks;

use std::path::PathBuf;
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::{Result, Store};

/// Which engine stores the maps, and how.
#[derive(Debug, Clone)]
pub enum Backend {
    RocksDb { path: PathBuf },
    Postgres { url: String, max_connections: u32 },
}

/// Storage settings shared by all backends.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub backend: Backend,
    /// When true every acknowledged write is flushed to disk (fsync) before
    /// it is acknowledged; when false it is in the write-ahead log, which
    /// survives a crash of the process but not of the machine.
    pub sync_writes: bool,
    /// Set when several processes share the (PostgreSQL) store.
    pub cluster: Option<crate::ClusterOptions>,
}

/// Opens (creating if needed) every map and counter of `catalog`.
pub async fn open(options: &StoreOptions, catalog: Catalog) -> Result<Arc<dyn Store>> {
    match &options.backend {
        Backend::RocksDb { .. } if options.cluster.is_some() => {
            Err(crate::Error::Config("several processes need a shared store: storage.backend = \"postgres\"".into()))
        }
        Backend::RocksDb { path } => {
            let store = rocks::RocksStore::open(path, catalog, options.sync_writes)?;
            Ok(Arc::new(store))
        }
        Backend::Postgres { url, max_connections } => {
            let store = postgres::PostgresStore::open(
                url,
                *max_connections,
                catalog,
                options.sync_writes,
                options.cluster.clone(),
            )
            .await?;
            Ok(Arc::new(store))
        }
    }
}
