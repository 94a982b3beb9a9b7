use std::ops::Bound;

use async_trait::async_trait;

use crate::{CounterDef, MapDef, Result};

/// One key/value pair read from a map.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Which way a scan walks the key order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// A contiguous range of keys. Scans return keys inside it in key order
/// (or reverse key order when walking backwards).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Bound<Vec<u8>>,
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    pub fn all() -> Self {
        KeyRange { start: Bound::Unbounded, end: Bound::Unbounded }
    }

    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        let end = match prefix_successor(prefix) {
            Some(next) => Bound::Excluded(next),
            None => Bound::Unbounded,
        };
        KeyRange { start: Bound::Included(prefix.to_vec()), end }
    }

    /// `[start, end)`.
    pub fn between(start: &[u8], end: &[u8]) -> Self {
        KeyRange { start: Bound::Included(start.to_vec()), end: Bound::Excluded(end.to_vec()) }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        let after_start = match &self.start {
            Bound::Included(s) => key >= s.as_slice(),
            Bound::Excluded(s) => key > s.as_slice(),
            Bound::Unbounded => true,
        };
        let before_end = match &self.end {
            Bound::Included(e) => key <= e.as_slice(),
            Bound::Excluded(e) => key < e.as_slice(),
            Bound::Unbounded => true,
        };
        after_start && before_end
    }
}

/// The smallest key greater than every key with this prefix, if one exists
/// (a prefix of only 0xFF bytes has none).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut next = prefix.to_vec();
    while let Some(last) = next.pop() {
        if last < 0xFF {
            next.push(last + 1);
            return Some(next);
        }
    }
    None
}

/// One change inside a [`WriteBatch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    Put { map: &'static MapDef, key: Vec<u8>, value: Vec<u8> },
    Delete { map: &'static MapDef, key: Vec<u8> },
}

/// Changes to any number of maps, applied all together or not at all.
#[derive(Clone, Debug, Default)]
pub struct WriteBatch {
    ops: Vec<WriteOp>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, map: &'static MapDef, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(WriteOp::Put { map, key: key.into(), value: value.into() });
        self
    }

    pub fn delete(&mut self, map: &'static MapDef, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(WriteOp::Delete { map, key: key.into() });
        self
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    pub fn into_ops(self) -> Vec<WriteOp> {
        self.ops
    }
}

/// Held while a named lock is taken; dropping it releases the lock.
pub struct LockGuard {
    _release: Box<dyn Send + Sync>,
}

impl LockGuard {
    pub(crate) fn new(release: impl Send + Sync + 'static) -> Self {
        LockGuard { _release: Box::new(release) }
    }
}

/// Named ordered byte maps with atomic batches, counters and locks.
///
/// Every backend passes the same conformance suite (`tests/conformance.rs`),
/// so services cannot tell them apart. A write that returned `Ok` is durable
/// to the degree the backend's durability setting promises (see
/// `nexus.example.toml`, `storage.sync_writes`).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn get(&self, map: &'static MapDef, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Up to `limit` entries of `range`, in `direction` order.
    async fn scan(
        &self,
        map: &'static MapDef,
        range: KeyRange,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<Entry>>;

    /// Applies every operation of the batch atomically, in order (a later
    /// operation on the same key wins).
    async fn write(&self, batch: WriteBatch) -> Result<()>;

    /// The next value of a counter: strictly greater than every value it
    /// returned before, across restarts and concurrent callers.
    async fn next(&self, counter: &'static CounterDef) -> Result<u64>;

    /// Waits for and takes the lock `name`. While held, no other holder of
    /// the same name proceeds — in this process or, for shared backends, in
    /// any worker on the same database.
    async fn lock(&self, name: &[u8]) -> Result<LockGuard>;

    /// Called once at shutdown: makes every acknowledged write durable on
    /// disk. The store must not be used afterwards.
    async fn close(&self) -> Result<()>;

    /// How this process coordinates with the others sharing the store;
    /// `None` when it is the only one.
    fn cluster(&self) -> Option<&dyn crate::cluster::Cluster> {
        None
    }

    /// Figures the metrics endpoint shows as `nexus_store_statistic{name}`
    /// (sizes in bytes, counts); none unless the backend has some.
    fn statistics(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }

    async fn put(&self, map: &'static MapDef, key: &[u8], value: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(map, key, value);
        self.write(batch).await
    }

    async fn delete(&self, map: &'static MapDef, key: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(map, key);
        self.write(batch).await
    }

    async fn scan_prefix(
        &self,
        map: &'static MapDef,
        prefix: &[u8],
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        self.scan(map, KeyRange::prefix(prefix), direction, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_skips_trailing_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_successor(&[]), None);
    }

    #[test]
    fn prefix_range_contains_exactly_the_prefixed_keys() {
        let range = KeyRange::prefix(&[1, 0xFF]);
        assert!(range.contains(&[1, 0xFF]));
        assert!(range.contains(&[1, 0xFF, 0xFF, 7]));
        assert!(!range.contains(&[2]));
        assert!(!range.contains(&[1, 0xFE, 0xFF]));
    }
}
