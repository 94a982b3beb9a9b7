//! Test helpers shared by the services' unit tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use nexus_storage::{CounterDef, Direction, Entry, KeyRange, LockGuard, MapDef, Store, WriteBatch};

/// Counts the storage work a piece of code does.
pub struct CountingStore {
    pub inner: Arc<dyn Store>,
    pub reads: AtomicU64,
    pub scanned: AtomicU64,
    pub writes: AtomicU64,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        CountingStore { inner, reads: AtomicU64::new(0), scanned: AtomicU64::new(0), writes: AtomicU64::new(0) }
    }

    /// `(reads, entries scanned, entries written)` so far.
    pub fn work(&self) -> (u64, u64, u64) {
        (self.reads.load(Ordering::SeqCst), self.scanned.load(Ordering::SeqCst), self.writes.load(Ordering::SeqCst))
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn get(&self, map: &'static MapDef, key: &[u8]) -> nexus_storage::Result<Option<Vec<u8>>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get(map, key).await
    }

    async fn scan(
        &self,
        map: &'static MapDef,
        range: KeyRange,
        direction: Direction,
        limit: usize,
    ) -> nexus_storage::Result<Vec<Entry>> {
        let entries = self.inner.scan(map, range, direction, limit).await?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.scanned.fetch_add(entries.len() as u64, Ordering::SeqCst);
        Ok(entries)
    }

    async fn write(&self, batch: WriteBatch) -> nexus_storage::Result<()> {
        self.writes.fetch_add(batch.ops().len() as u64, Ordering::SeqCst);
        self.inner.write(batch).await
    }

    async fn next(&self, counter: &'static CounterDef) -> nexus_storage::Result<u64> {
        self.inner.next(counter).await
    }

    async fn lock(&self, name: &[u8]) -> nexus_storage::Result<LockGuard> {
        self.inner.lock(name).await
    }

    async fn close(&self) -> nexus_storage::Result<()> {
        self.inner.close().await
    }
}

/// A fresh RocksDB store in a temporary directory (kept while the
/// directory lives).
pub async fn temp_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let options = nexus_storage::backend::StoreOptions {
        backend: nexus_storage::backend::Backend::RocksDb { path: dir.path().to_owned() },
        sync_writes: false,
        cluster: None,
    };
    let store = nexus_storage::open(&options, nexus_storage::catalog::NEXUS).await.expect("a store opens");
    (store, dir)
}
