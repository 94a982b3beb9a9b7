//! One conformance suite, run against every backend: services must not be
//! able to tell them apart.
//!
//! PostgreSQL runs when `NEXUS_TEST_POSTGRES_URL` names a server (an admin
//! URL such as `postgres://postgres@127.0.0.1:5433/postgres`; each test gets a
//! fresh database). `scripts/test.sh` starts one and sets
//! `NEXUS_TEST_REQUIRE_POSTGRES=1`, which turns a missing URL into a failure.

use std::ops::Bound;
use std::sync::Arc;

use nexus_storage::backend::{Backend, StoreOptions};
use nexus_storage::catalog::Catalog;
use nexus_storage::codec::KeyBuilder;
use nexus_storage::{CounterDef, Direction, KeyRange, MapDef, Store, WriteBatch};

static FRUIT: MapDef = MapDef { name: "conformance_fruit", key: "bytes", value: "bytes", owner: "tests" };
static VEG: MapDef = MapDef { name: "conformance_veg", key: "bytes", value: "bytes", owner: "tests" };
static NOT_OPENED: MapDef = MapDef { name: "conformance_not_opened", key: "-", value: "-", owner: "tests" };
static TICKETS: CounterDef = CounterDef { name: "conformance_tickets", owner: "tests" };
static CATALOG: Catalog = Catalog { name: "conformance", version: 1, maps: &[&FRUIT, &VEG], counters: &[&TICKETS] };

/// Where a backend keeps its data between a close and a reopen.
struct Site {
    options: StoreOptions,
    _dir: tempfile::TempDir,
}

impl Site {
    async fn open(&self) -> Arc<dyn Store> {
        nexus_storage::open(&self.options, CATALOG).await.expect("store opens")
    }
}

async fn rocksdb_site() -> Option<Site> {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::RocksDb { path: dir.path().join("db") };
    Some(Site { options: StoreOptions { backend, sync_writes: false, cluster: None }, _dir: dir })
}

async fn postgres_site() -> Option<Site> {
    let Ok(admin_url) = std::env::var("NEXUS_TEST_POSTGRES_URL") else {
        if std::env::var("NEXUS_TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("NEXUS_TEST_REQUIRE_POSTGRES=1 but NEXUS_TEST_POSTGRES_URL is not set");
        }
        eprintln!("SKIP: PostgreSQL conformance needs NEXUS_TEST_POSTGRES_URL (scripts/test.sh sets it)");
        return None;
    };
    let name = format!("nexus_conformance_{:016x}", rand_u64());
    let admin = sqlx::PgPool::connect(&admin_url).await.expect("admin connection");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("create database");
    admin.close().await;
    let url = with_database(&admin_url, &name);
    let backend = Backend::Postgres { url, max_connections: 8 };
    Some(Site {
        options: StoreOptions { backend, sync_writes: false, cluster: None },
        _dir: tempfile::tempdir().unwrap(),
    })
}

/// `postgres://u@h:p/db?x` with `db` replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{}", &base[..path_start], database);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}

fn keys(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<Vec<u8>> {
    entries.iter().map(|(k, _)| k.clone()).collect()
}

async fn put_all(store: &dyn Store, map: &'static MapDef, keys: &[&[u8]]) {
    let mut batch = WriteBatch::new();
    for k in keys {
        batch.put(map, *k, [b"v:".as_slice(), k].concat());
    }
    store.write(batch).await.unwrap();
}

async fn put_get_delete_round_trip(site: Site) {
    let store = site.open().await;
    assert_eq!(store.get(&FRUIT, b"apple").await.unwrap(), None);
    store.put(&FRUIT, b"apple", b"red").await.unwrap();
    assert_eq!(store.get(&FRUIT, b"apple").await.unwrap(), Some(b"red".to_vec()));
    store.put(&FRUIT, b"apple", b"green").await.unwrap();
    assert_eq!(store.get(&FRUIT, b"apple").await.unwrap(), Some(b"green".to_vec()));
    store.delete(&FRUIT, b"apple").await.unwrap();
    assert_eq!(store.get(&FRUIT, b"apple").await.unwrap(), None);
    // Deleting what is absent is not an error.
    store.delete(&FRUIT, b"apple").await.unwrap();
}

async fn binary_keys_and_large_values_are_kept_exactly(site: Site) {
    let store = site.open().await;
    let key = [0u8, 0xFF, 0, 1, 0x80];
    let value: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    store.put(&FRUIT, &key, &value).await.unwrap();
    store.put(&FRUIT, b"", b"empty key").await.unwrap();
    store.put(&FRUIT, b"empty value", b"").await.unwrap();
    assert_eq!(store.get(&FRUIT, &key).await.unwrap(), Some(value));
    assert_eq!(store.get(&FRUIT, b"").await.unwrap(), Some(b"empty key".to_vec()));
    assert_eq!(store.get(&FRUIT, b"empty value").await.unwrap(), Some(Vec::new()));
}

async fn maps_are_independent(site: Site) {
    let store = site.open().await;
    store.put(&FRUIT, b"k", b"fruit").await.unwrap();
    store.put(&VEG, b"k", b"veg").await.unwrap();
    assert_eq!(store.get(&FRUIT, b"k").await.unwrap(), Some(b"fruit".to_vec()));
    assert_eq!(store.get(&VEG, b"k").await.unwrap(), Some(b"veg".to_vec()));
    store.delete(&VEG, b"k").await.unwrap();
    assert_eq!(store.get(&FRUIT, b"k").await.unwrap(), Some(b"fruit".to_vec()));
    let all = store.scan(&VEG, KeyRange::all(), Direction::Forward, 100).await.unwrap();
    assert!(all.is_empty());
}

async fn a_batch_applies_in_order_across_maps(site: Site) {
    let store = site.open().await;
    let mut batch = WriteBatch::new();
    batch
        .put(&FRUIT, b"a", b"1")
        .put(&FRUIT, b"a", b"2")
        .put(&VEG, b"b", b"x")
        .delete(&VEG, b"b")
        .put(&VEG, b"c", b"y");
    store.write(batch).await.unwrap();
    assert_eq!(store.get(&FRUIT, b"a").await.unwrap(), Some(b"2".to_vec()));
    assert_eq!(store.get(&VEG, b"b").await.unwrap(), None);
    assert_eq!(store.get(&VEG, b"c").await.unwrap(), Some(b"y".to_vec()));
}

async fn a_failing_batch_changes_nothing(site: Site) {
    let store = site.open().await;
    store.put(&FRUIT, b"kept", b"before").await.unwrap();
    let mut batch = WriteBatch::new();
    batch.put(&FRUIT, b"kept", b"after").put(&VEG, b"new", b"x").put(&NOT_OPENED, b"boom", b"x");
    assert!(store.write(batch).await.is_err());
    assert_eq!(store.get(&FRUIT, b"kept").await.unwrap(), Some(b"before".to_vec()));
    assert_eq!(store.get(&VEG, b"new").await.unwrap(), None);
}

async fn scans_walk_ranges_in_both_directions(site: Site) {
    let store = site.open().await;
    put_all(&*store, &FRUIT, &[b"a", b"b", b"ba", b"bb", b"c", b"d"]).await;
    let fwd = store.scan(&FRUIT, KeyRange::between(b"b", b"d"), Direction::Forward, 100).await.unwrap();
    assert_eq!(keys(&fwd), vec![b"b".to_vec(), b"ba".to_vec(), b"bb".to_vec(), b"c".to_vec()]);
    assert_eq!(fwd[0].1, b"v:b".to_vec());
    let back = store.scan(&FRUIT, KeyRange::between(b"b", b"d"), Direction::Backward, 100).await.unwrap();
    assert_eq!(keys(&back), vec![b"c".to_vec(), b"bb".to_vec(), b"ba".to_vec(), b"b".to_vec()]);
    let limited = store.scan(&FRUIT, KeyRange::all(), Direction::Backward, 2).await.unwrap();
    assert_eq!(keys(&limited), vec![b"d".to_vec(), b"c".to_vec()]);
    let exclusive = KeyRange { start: Bound::Excluded(b"b".to_vec()), end: Bound::Included(b"c".to_vec()) };
    let fwd = store.scan(&FRUIT, exclusive.clone(), Direction::Forward, 100).await.unwrap();
    assert_eq!(keys(&fwd), vec![b"ba".to_vec(), b"bb".to_vec(), b"c".to_vec()]);
    let back = store.scan(&FRUIT, exclusive, Direction::Backward, 100).await.unwrap();
    assert_eq!(keys(&back), vec![b"c".to_vec(), b"bb".to_vec(), b"ba".to_vec()]);
    let none = store.scan(&FRUIT, KeyRange::between(b"x", b"z"), Direction::Forward, 100).await.unwrap();
    assert!(none.is_empty());
    let zero = store.scan(&FRUIT, KeyRange::all(), Direction::Forward, 0).await.unwrap();
    assert!(zero.is_empty());
}

async fn prefix_scans_stop_at_the_prefix(site: Site) {
    let store = site.open().await;
    put_all(&*store, &FRUIT, &[&[1], &[1, 0], &[1, 0xFF], &[1, 0xFF, 0xFF], &[2], &[0xFF], &[0xFF, 0xFF, 3]]).await;
    let under_1 = store.scan_prefix(&FRUIT, &[1], Direction::Forward, 100).await.unwrap();
    assert_eq!(keys(&under_1), vec![vec![1], vec![1, 0], vec![1, 0xFF], vec![1, 0xFF, 0xFF]]);
    let under_ff = store.scan_prefix(&FRUIT, &[0xFF], Direction::Backward, 100).await.unwrap();
    assert_eq!(keys(&under_ff), vec![vec![0xFF, 0xFF, 3], vec![0xFF]]);
    let last_under_1 = store.scan_prefix(&FRUIT, &[1, 0xFF], Direction::Backward, 1).await.unwrap();
    assert_eq!(keys(&last_under_1), vec![vec![1, 0xFF, 0xFF]]);
}

async fn codec_keys_scan_in_tuple_order(site: Site) {
    let store = site.open().await;
    let alice = |n: u64| KeyBuilder::new().str("@alice:x").u64(n).build();
    let alicia = KeyBuilder::new().str("@alicia:x").u64(0).build();
    let mut batch = WriteBatch::new();
    for n in [300u64, 2, 1 << 40, 17] {
        batch.put(&FRUIT, alice(n), n.to_be_bytes());
    }
    batch.put(&FRUIT, alicia, b"other user");
    store.write(batch).await.unwrap();
    let prefix = KeyBuilder::new().str("@alice:x").build();
    let entries = store.scan_prefix(&FRUIT, &prefix, Direction::Forward, 100).await.unwrap();
    assert_eq!(keys(&entries), vec![alice(2), alice(17), alice(300), alice(1 << 40)]);
}

async fn counters_only_go_up_across_callers_and_restarts(site: Site) {
    let store = site.open().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..50 {
                seen.push(store.next(&TICKETS).await.unwrap());
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let seen = task.await.unwrap();
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "one caller's values go up");
        all.extend(seen);
    }
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "no value is handed out twice");
    let highest = *all.last().unwrap();
    store.close().await.unwrap();
    drop(store);
    let reopened = site.open().await;
    assert!(reopened.next(&TICKETS).await.unwrap() > highest);
}

async fn data_survives_a_reopen(site: Site) {
    let store = site.open().await;
    store.put(&FRUIT, b"durable", b"yes").await.unwrap();
    store.close().await.unwrap();
    drop(store);
    let reopened = site.open().await;
    assert_eq!(reopened.get(&FRUIT, b"durable").await.unwrap(), Some(b"yes".to_vec()));
}

async fn locks_serialise_read_modify_write(site: Site) {
    let store = site.open().await;
    store.put(&FRUIT, b"count", &0u64.to_be_bytes()).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                let _guard = store.lock(b"count").await.unwrap();
                let bytes = store.get(&FRUIT, b"count").await.unwrap().unwrap();
                let n = u64::from_be_bytes(bytes.try_into().unwrap());
                tokio::task::yield_now().await;
                store.put(&FRUIT, b"count", &(n + 1).to_be_bytes()).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let bytes = store.get(&FRUIT, b"count").await.unwrap().unwrap();
    assert_eq!(u64::from_be_bytes(bytes.try_into().unwrap()), 100, "no update was lost");
}

async fn different_lock_names_do_not_block_each_other(site: Site) {
    let store = site.open().await;
    let _a = store.lock(b"room:a").await.unwrap();
    let b = tokio::time::timeout(std::time::Duration::from_secs(5), store.lock(b"room:b")).await;
    assert!(b.is_ok(), "an unrelated lock was blocked");
}

macro_rules! conformance {
    ($backend:ident, $site:ident: $($scenario:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some(site) = super::$site().await {
                        super::$scenario(site).await;
                    }
                }
            )*
        }
    };
}

macro_rules! suite {
    ($($backend:ident => $site:ident),*) => {$(
        conformance!($backend, $site:
            put_get_delete_round_trip,
            binary_keys_and_large_values_are_kept_exactly,
            maps_are_independent,
            a_batch_applies_in_order_across_maps,
            a_failing_batch_changes_nothing,
            scans_walk_ranges_in_both_directions,
            prefix_scans_stop_at_the_prefix,
            codec_keys_scan_in_tuple_order,
            counters_only_go_up_across_callers_and_restarts,
            data_survives_a_reopen,
            locks_serialise_read_modify_write,
            different_lock_names_do_not_block_each_other,
        );
    )*};
}

suite!(rocksdb => rocksdb_site, postgres => postgres_site);

#[test]
fn database_urls_are_rewritten() {
    assert_eq!(with_database("postgres://u@h:1/postgres", "x"), "postgres://u@h:1/x");
    assert_eq!(with_database("postgres://u@h:1/postgres?sslmode=disable", "x"), "postgres://u@h:1/x?sslmode=disable");
    assert_eq!(with_database("postgres://u@h:1", "x"), "postgres://u@h:1/x");
}
