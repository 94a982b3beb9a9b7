//! The embedded backend: one RocksDB database, a column family per map.

use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, ReadOptions, WriteOptions};

use super::locks::LocalLocks;
use crate::catalog::Catalog;
use crate::{CounterDef, Direction, Entry, Error, KeyRange, LockGuard, MapDef, Result, Store, WriteBatch, WriteOp};

/// Counters live in their own column family, apart from the catalog's maps.
const COUNTERS_CF: &str = "_counters";

const MEMTABLE_BUDGET: usize = 128 * 1024 * 1024;
/// The write-ahead log is kept until every column family with data in it
/// has flushed; a rarely written family would otherwise pin it to
/// RocksDB's default bound (four times all the write buffers: gigabytes
/// with this many families), all of it replayed at the next start after
/// a crash. Past this size the families holding it back are flushed.
const MAX_WAL: u64 = 64 * 1024 * 1024;
const MEMTABLE_PER_MAP: usize = 32 * 1024 * 1024;
const ARENA_BLOCK: usize = 1024 * 1024;
const BLOCK_CACHE: usize = 32 * 1024 * 1024;

/// Counters reserve values in blocks so that a `next()` is usually a memory
/// increment; a restart skips the unused rest of a block, which keeps the
/// counter monotonic (the only promise) at the cost of a gap.
const COUNTER_BLOCK: u64 = 1024;

pub struct RocksStore {
    db: Arc<DB>,
    /// Every column family, for statistics summed over them.
    families: Vec<&'static str>,
    sync_writes: bool,
    counters: tokio::sync::Mutex<HashMap<&'static str, CounterState>>,
    locks: LocalLocks,
}

#[derive(Clone, Copy)]
struct CounterState {
    last: u64,
    reserved_up_to: u64,
}

impl RocksStore {
    pub fn open(path: &Path, catalog: Catalog, sync_writes: bool) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|e| Error::Config(format!("cannot create {}: {e}", path.display())))?;
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        options.increase_parallelism(2);
        // Memory: with dozens of column families, RocksDB's per-family
        // defaults (64 MiB memtables, 8 MiB arena blocks) add up to
        // gigabytes under load. One budget for all memtables, small
        // per-family buffers, and one shared block cache keep the server's
        // footprint small and bounded.
        options.set_db_write_buffer_size(MEMTABLE_BUDGET);
        options.set_write_buffer_size(MEMTABLE_PER_MAP);
        options.set_max_write_buffer_number(2);
        options.set_arena_block_size(ARENA_BLOCK);
        options.set_max_total_wal_size(MAX_WAL);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&rocksdb::Cache::new_lru_cache(BLOCK_CACHE));
        options.set_block_based_table_factory(&table);

        let mut names: Vec<&'static str> = catalog.maps.iter().map(|m| m.name).collect();
        names.push(COUNTERS_CF);
        // Column families left over from older versions must be opened too.
        if let Ok(existing) = DB::list_cf(&options, path) {
            for name in existing {
                if name != "default" && !names.contains(&name.as_str()) {
                    names.push(Box::leak(name.into_boxed_str()));
                }
            }
        }
        let descriptors = names.iter().map(|name| ColumnFamilyDescriptor::new(*name, options.clone()));
        let db = DB::open_cf_descriptors(&options, path, descriptors)?;

        let mut counters = HashMap::new();
        let cf = db.cf_handle(COUNTERS_CF).expect("counters column family was just opened");
        for counter in catalog.counters {
            let stored = match db.get_cf(cf, counter.name.as_bytes())? {
                Some(bytes) => decode_u64(&bytes).ok_or_else(|| Error::corrupt("_counters", counter.name))?,
                None => 0,
            };
            counters.insert(counter.name, CounterState { last: stored, reserved_up_to: stored });
        }

        Ok(RocksStore {
            db: Arc::new(db),
            families: names,
            sync_writes,
            counters: tokio::sync::Mutex::new(counters),
            locks: LocalLocks::default(),
        })
    }

    fn write_options(&self) -> WriteOptions {
        let mut options = WriteOptions::default();
        options.set_sync(self.sync_writes);
        options
    }
}

fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

fn cf<'a>(db: &'a DB, map: &MapDef) -> Result<&'a rocksdb::ColumnFamily> {
    db.cf_handle(map.name).ok_or_else(|| Error::Config(format!("map {} is not in the opened catalog", map.name)))
}

/// Scans asking for at most this many entries run inline (see `scan`).
const INLINE_SCAN_LIMIT: usize = 64;

fn scan_now(db: &DB, map: &MapDef, range: KeyRange, direction: Direction, limit: usize) -> Result<Vec<Entry>> {
    let handle = cf(db, map)?;
    let mut options = ReadOptions::default();
    match range.start {
        Bound::Included(start) => options.set_iterate_lower_bound(start),
        Bound::Excluded(start) => options.set_iterate_lower_bound(successor(&start)),
        Bound::Unbounded => {}
    }
    match range.end {
        Bound::Included(end) => options.set_iterate_upper_bound(successor(&end)),
        Bound::Excluded(end) => options.set_iterate_upper_bound(end),
        Bound::Unbounded => {}
    }
    let mode = match direction {
        Direction::Forward => IteratorMode::Start,
        Direction::Backward => IteratorMode::End,
    };
    let mut entries = Vec::new();
    for item in db.iterator_cf_opt(handle, options, mode).take(limit) {
        let (key, value) = item?;
        entries.push((key.into_vec(), value.into_vec()));
    }
    Ok(entries)
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::Task(e.to_string()))?
}

/// The smallest key strictly greater than `key`.
fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = key.to_vec();
    next.push(0);
    next
}

/// RocksDB's own figures, summed over the column families (the block
/// cache is shared, so its usage is read once).
const SUMMED_PROPERTIES: &[(&str, &str)] = &[
    ("rocksdb_live_data_bytes", "rocksdb.estimate-live-data-size"),
    ("rocksdb_sst_files_bytes", "rocksdb.total-sst-files-size"),
    ("rocksdb_memtables_bytes", "rocksdb.cur-size-all-mem-tables"),
    ("rocksdb_estimated_keys", "rocksdb.estimate-num-keys"),
    ("rocksdb_pending_compaction_bytes", "rocksdb.estimate-pending-compaction-bytes"),
];

impl RocksStore {
    fn property_sum(&self, property: &str) -> u64 {
        self.families
            .iter()
            .filter_map(|name| self.db.cf_handle(name))
            .filter_map(|cf| self.db.property_int_value_cf(cf, property).ok().flatten())
            .sum()
    }
}

#[async_trait]
impl Store for RocksStore {
    fn statistics(&self) -> Vec<(&'static str, f64)> {
        let mut figures: Vec<(&'static str, f64)> =
            SUMMED_PROPERTIES.iter().map(|(name, property)| (*name, self.property_sum(property) as f64)).collect();
        let cache = self.families.first().and_then(|name| self.db.cf_handle(name));
        let cache = cache.and_then(|cf| self.db.property_int_value_cf(cf, "rocksdb.block-cache-usage").ok().flatten());
        figures.push(("rocksdb_block_cache_bytes", cache.unwrap_or(0) as f64));
        figures
    }

    async fn get(&self, map: &'static MapDef, key: &[u8]) -> Result<Option<Vec<u8>>> {
        // Point reads hit the memtable or block cache in microseconds; moving
        // them to the blocking pool would cost more than it saves.
        Ok(self.db.get_cf(cf(&self.db, map)?, key)?)
    }

    async fn scan(
        &self,
        map: &'static MapDef,
        range: KeyRange,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        // A short scan costs microseconds, like a point read: on the async
        // worker it saves the hand-off to the blocking pool, which under a
        // thousand woken syncs at once was most of their cost. Long ones
        // (whole maps, pages of history) still go to the blocking pool.
        if limit <= INLINE_SCAN_LIMIT {
            return scan_now(&self.db, map, range, direction, limit);
        }
        let db = self.db.clone();
        blocking(move || scan_now(&db, map, range, direction, limit)).await
    }

    async fn write(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let db = self.db.clone();
        let options = self.write_options();
        let apply = move || {
            let mut rocks_batch = rocksdb::WriteBatch::default();
            for op in batch.into_ops() {
                match op {
                    WriteOp::Put { map, key, value } => rocks_batch.put_cf(cf(&db, map)?, key, value),
                    WriteOp::Delete { map, key } => rocks_batch.delete_cf(cf(&db, map)?, key),
                }
            }
            Ok(db.write_opt(rocks_batch, &options)?)
        };
        if self.sync_writes {
            // An fsync blocks for milliseconds: off the async workers.
            // Concurrent writers meet in RocksDB's write group and share
            // one WAL flush (group commit).
            blocking(apply).await
        } else {
            // Without fsync a write is a memtable insert and a WAL append
            // to the page cache: microseconds, cheaper than a thread hop.
            apply()
        }
    }

    async fn next(&self, counter: &'static CounterDef) -> Result<u64> {
        // Held across the reservation write: no value of a new block may be
        // handed out before the block is durable, or a crash could hand the
        // same value out twice.
        let mut counters = self.counters.lock().await;
        let state = counters
            .get_mut(counter.name)
            .ok_or_else(|| Error::Config(format!("counter {} is not in the opened catalog", counter.name)))?;
        let value = state.last + 1;
        if value > state.reserved_up_to {
            let reserved_up_to = value + COUNTER_BLOCK;
            let db = self.db.clone();
            blocking(move || {
                let handle = db.cf_handle(COUNTERS_CF).expect("counters column family exists");
                let mut options = WriteOptions::default();
                options.set_sync(true);
                Ok(db.put_cf_opt(handle, counter.name.as_bytes(), reserved_up_to.to_be_bytes(), &options)?)
            })
            .await?;
            state.reserved_up_to = reserved_up_to;
        }
        state.last = value;
        Ok(value)
    }

    async fn lock(&self, name: &[u8]) -> Result<LockGuard> {
        Ok(LockGuard::new(self.locks.lock(name).await))
    }

    async fn close(&self) -> Result<()> {
        let db = self.db.clone();
        let families = self.families.clone();
        blocking(move || {
            db.flush_wal(true)?;
            // Every family's memtable, not just the default one: what is
            // left unflushed is replayed from the log at the next start.
            for name in families {
                if let Some(cf) = db.cf_handle(name) {
                    db.flush_cf(&cf)?;
                }
            }
            Ok(())
        })
        .await
    }
}
