//! The scale-out backend: PostgreSQL through sqlx, a table per map
//! (`key BYTEA PRIMARY KEY, value BYTEA`), a sequence per counter, and
//! advisory locks (`advisory.rs`) so that several workers can share one
//! database. With
//! [`ClusterOptions`] it also keeps this process's writer row (the stream
//! floor, `cluster_pg.rs`) and fences every write on it.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool, Postgres, Row};

use super::advisory::{AdvisoryGuard, AdvisoryLocks};
use super::locks::{LocalLocks, NamedGuard};
use crate::catalog::Catalog;
use crate::cluster::ClusterOptions;
use crate::{CounterDef, Direction, Entry, KeyRange, LockGuard, MapDef, Result, Store, WriteBatch, WriteOp};

/// The advisory lock that serialises schema creation between workers that
/// start at the same time.
const SCHEMA_LOCK: i64 = 0x6e65_7875_735f_0001;

/// How long `lock` waits for a name held elsewhere (in this process or
/// another) before giving up with `Error::Busy`: longer than any holder
/// should take, short enough that a stuck holder surfaces as an error.
const LOCK_WAIT: Duration = Duration::from_secs(30);

pub struct PostgresStore {
    pub(super) pool: PgPool,
    locks: LocalLocks,
    advisory: AdvisoryLocks,
    /// Set when this process is one of several: every write first checks
    /// that its writer row still exists (see `cluster_pg.rs`).
    pub(super) cluster: Option<ClusterOptions>,
}

fn table(map: &MapDef) -> String {
    // Map names are `[a-z0-9_]+` (checked by the catalog's tests), so they
    // are safe inside a quoted identifier.
    format!("\"map_{}\"", map.name)
}

pub(super) fn sequence(counter: &CounterDef) -> String {
    format!("\"counter_{}\"", counter.name)
}

impl PostgresStore {
    pub async fn open(
        url: &str,
        max_connections: u32,
        catalog: Catalog,
        sync_writes: bool,
        cluster: Option<ClusterOptions>,
    ) -> Result<Self> {
        let connect: PgConnectOptions = url.parse()?;
        // Without sync_writes a commit returns once it is in PostgreSQL's
        // WAL buffers: a crash of Nexus loses nothing, a crash of the
        // database machine may lose the last moments.
        let connect = connect.options([("synchronous_commit", if sync_writes { "on" } else { "off" })]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect.clone())
            .await?;

        let mut conn = pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)").bind(SCHEMA_LOCK).execute(&mut *conn).await?;
        let created = create_schema(&mut conn, catalog).await;
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(SCHEMA_LOCK).execute(&mut *conn).await?;
        created?;
        drop(conn);
        let advisory = AdvisoryLocks::start(connect);
        let store = PostgresStore { pool, locks: LocalLocks::default(), advisory, cluster };
        store.register_writer().await?;
        Ok(store)
    }
}

async fn create_schema(conn: &mut PoolConnection<Postgres>, catalog: Catalog) -> Result<()> {
    super::cluster_pg::check_version(conn, catalog).await?;
    for map in catalog.maps {
        let sql = format!("CREATE TABLE IF NOT EXISTS {} (key BYTEA PRIMARY KEY, value BYTEA NOT NULL)", table(map));
        conn.execute(sql.as_str()).await?;
    }
    for counter in catalog.counters {
        conn.execute(format!("CREATE SEQUENCE IF NOT EXISTS {}", sequence(counter)).as_str()).await?;
    }
    super::cluster_pg::create_tables(conn).await
}

/// One map's share of a batch: the last change to each key, keys sorted
/// (so concurrent transactions lock rows in one order).
#[derive(Default, Debug, PartialEq)]
struct MapChanges {
    puts: Vec<(Vec<u8>, Vec<u8>)>,
    deletes: Vec<Vec<u8>>,
}

/// The batch as per-map changes, maps by name. Within a batch the last
/// change to a key wins (as in RocksDB), so one statement may carry each
/// key once — PostgreSQL refuses an upsert that touches a row twice.
fn by_map(batch: WriteBatch) -> Vec<(&'static MapDef, MapChanges)> {
    // (map name, key) → (map, the value put, or None for a delete)
    type LastChange = BTreeMap<(&'static str, Vec<u8>), (&'static MapDef, Option<Vec<u8>>)>;
    let mut last = LastChange::new();
    for op in batch.into_ops() {
        match op {
            WriteOp::Put { map, key, value } => last.insert((map.name, key), (map, Some(value))),
            WriteOp::Delete { map, key } => last.insert((map.name, key), (map, None)),
        };
    }
    let mut grouped: Vec<(&'static MapDef, MapChanges)> = Vec::new();
    for ((name, key), (map, value)) in last {
        if grouped.last().is_none_or(|(m, _)| m.name != name) {
            grouped.push((map, MapChanges::default()));
        }
        let changes = &mut grouped.last_mut().expect("pushed above").1;
        match value {
            Some(value) => changes.puts.push((key, value)),
            None => changes.deletes.push(key),
        }
    }
    grouped
}

/// A stable 64-bit name hash (FNV-1a) for advisory lock keys.
fn lock_key(name: &[u8]) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash as i64
}

#[async_trait]
impl Store for PostgresStore {
    fn statistics(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("postgres_pool_connections", self.pool.size() as f64),
            ("postgres_pool_idle", self.pool.num_idle() as f64),
        ]
    }

    async fn get(&self, map: &'static MapDef, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let sql = format!("SELECT value FROM {} WHERE key = $1", table(map));
        let row = sqlx::query(&sql).bind(key).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.try_get::<Vec<u8>, _>(0)).transpose()?)
    }

    async fn scan(
        &self,
        map: &'static MapDef,
        range: KeyRange,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        let mut conditions = Vec::new();
        let mut binds: Vec<Vec<u8>> = Vec::new();
        for (bound, included, excluded) in [(range.start, ">=", ">"), (range.end, "<=", "<")] {
            match bound {
                Bound::Included(k) => {
                    binds.push(k);
                    conditions.push(format!("key {included} ${}", binds.len()));
                }
                Bound::Excluded(k) => {
                    binds.push(k);
                    conditions.push(format!("key {excluded} ${}", binds.len()));
                }
                Bound::Unbounded => {}
            }
        }
        let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
        let order = match direction {
            Direction::Forward => "ASC",
            Direction::Backward => "DESC",
        };
        let sql =
            format!("SELECT key, value FROM {} {filter} ORDER BY key {order} LIMIT ${}", table(map), binds.len() + 1);
        let mut query = sqlx::query(&sql);
        for bind in binds {
            query = query.bind(bind);
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = query.bind(limit).fetch_all(&self.pool).await?;
        rows.into_iter().map(|row| Ok((row.try_get::<Vec<u8>, _>(0)?, row.try_get::<Vec<u8>, _>(1)?))).collect()
    }

    async fn write(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        if let Some(cluster) = &self.cluster {
            super::cluster_pg::fence(&mut tx, &cluster.instance).await?;
        }
        // One statement per map and kind of change, not one per change: a
        // sent event writes dozens of keys, each a round trip otherwise.
        for (map, changes) in by_map(batch) {
            if !changes.puts.is_empty() {
                let sql = format!(
                    "INSERT INTO {} (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    table(map)
                );
                let (keys, values): (Vec<Vec<u8>>, Vec<Vec<u8>>) = changes.puts.into_iter().unzip();
                sqlx::query(&sql).bind(keys).bind(values).execute(&mut *tx).await?;
            }
            if !changes.deletes.is_empty() {
                let sql = format!("DELETE FROM {} WHERE key = ANY($1::bytea[])", table(map));
                sqlx::query(&sql).bind(changes.deletes).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn next(&self, counter: &'static CounterDef) -> Result<u64> {
        let sql = format!("SELECT nextval('{}')", sequence(counter));
        let value: i64 = sqlx::query_scalar(&sql).fetch_one(&self.pool).await?;
        Ok(value as u64)
    }

    async fn lock(&self, name: &[u8]) -> Result<LockGuard> {
        // The local lock first: contention inside one worker then never
        // reaches the database. Both waits share one bound.
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let local: NamedGuard = tokio::time::timeout_at(deadline, self.locks.lock(name))
            .await
            .map_err(|_| crate::Error::Busy("this process held the lock too long".into()))?;
        let advisory: AdvisoryGuard = self.advisory.lock(lock_key(name), deadline).await?;
        // Tuple fields drop in order: the advisory unlock is queued before
        // the local lock lets the next local waiter try for it.
        Ok(LockGuard::new((advisory, local)))
    }

    fn cluster(&self) -> Option<&dyn crate::cluster::Cluster> {
        self.cluster.as_ref().map(|_| self as &dyn crate::cluster::Cluster)
    }

    async fn close(&self) -> Result<()> {
        // Commits are PostgreSQL's to keep; closing the pool waits for
        // statements under way to finish.
        self.pool.close().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{MapChanges, by_map, lock_key};
    use crate::{MapDef, WriteBatch};

    static A: MapDef = MapDef { name: "a", key: "bytes", value: "bytes", owner: "tests" };
    static B: MapDef = MapDef { name: "b", key: "bytes", value: "bytes", owner: "tests" };

    #[test]
    fn a_batch_groups_by_map_and_the_last_change_to_a_key_wins() {
        let mut batch = WriteBatch::new();
        batch.put(&B, b"2".to_vec(), b"x".to_vec());
        batch.put(&A, b"k".to_vec(), b"first".to_vec());
        batch.delete(&B, b"1".to_vec());
        batch.put(&A, b"k".to_vec(), b"second".to_vec());
        batch.put(&B, b"1".to_vec(), b"back".to_vec());
        batch.put(&A, b"gone".to_vec(), b"v".to_vec());
        batch.delete(&A, b"gone".to_vec());
        let grouped = by_map(batch);
        let names: Vec<&str> = grouped.iter().map(|(m, _)| m.name).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            grouped[0].1,
            MapChanges { puts: vec![(b"k".to_vec(), b"second".to_vec())], deletes: vec![b"gone".to_vec()] }
        );
        assert_eq!(
            grouped[1].1,
            MapChanges {
                puts: vec![(b"1".to_vec(), b"back".to_vec()), (b"2".to_vec(), b"x".to_vec())],
                deletes: vec![]
            }
        );
    }

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(lock_key(b"room:!a"), lock_key(b"room:!a"));
        assert_ne!(lock_key(b"room:!a"), lock_key(b"room:!b"));
    }
}
