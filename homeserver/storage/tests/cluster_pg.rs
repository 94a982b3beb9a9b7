//! The PostgreSQL cluster primitives (docs/scale-out.md), with two stores
//! on one database standing for two processes: the stream floor, the
//! fence and reaping of a lapsed writer, job leases, and the schema
//! version check. Needs `NEXUS_TEST_POSTGRES_URL` (scripts/test.sh).

use std::time::Duration;

use nexus_storage::backend::{Backend, StoreOptions};
use nexus_storage::catalog::Catalog;
use nexus_storage::{ClusterOptions, CounterDef, Error, MapDef, Store, WriteBatch};

static ITEMS: MapDef = MapDef { name: "cluster_items", key: "bytes", value: "bytes", owner: "tests" };
static ORDERING: CounterDef = CounterDef { name: "cluster_ordering", owner: "tests" };
static CATALOG: Catalog = Catalog { name: "cluster_test", version: 1, maps: &[&ITEMS], counters: &[&ORDERING] };

/// A fresh database's URL, or `None` (after a SKIP line) without PostgreSQL.
async fn database() -> Option<String> {
    let Ok(admin_url) = std::env::var("NEXUS_TEST_POSTGRES_URL") else {
        assert_ne!(std::env::var("NEXUS_TEST_REQUIRE_POSTGRES").as_deref(), Ok("1"), "NEXUS_TEST_POSTGRES_URL unset");
        eprintln!("SKIP: the cluster primitives need NEXUS_TEST_POSTGRES_URL (scripts/test.sh sets it)");
        return None;
    };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let name = format!("nexus_cluster_{:x}_{}", nanos, std::process::id());
    let admin = sqlx::PgPool::connect(&admin_url).await.expect("admin connection");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("create database");
    admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').expect("an admin URL with a database");
    Some(format!("{base}/{name}"))
}

async fn process(url: &str, instance: &str, lease: Duration) -> std::sync::Arc<dyn Store> {
    let options = StoreOptions {
        backend: Backend::Postgres { url: url.to_owned(), max_connections: 4 },
        sync_writes: false,
        cluster: Some(ClusterOptions { instance: instance.to_owned(), lease }),
    };
    nexus_storage::open(&options, CATALOG).await.expect("store opens")
}

#[tokio::test]
async fn the_floor_waits_for_the_slowest_busy_writer() {
    let Some(url) = database().await else { return };
    let a = process(&url, "a", Duration::from_secs(30)).await;
    let b = process(&url, "b", Duration::from_secs(30)).await;
    let (ca, cb) = (a.cluster().unwrap(), b.cluster().unwrap());
    assert_eq!(ca.floor(&ORDERING).await.unwrap(), 0, "nothing taken yet");

    ca.go_busy(&ORDERING).await.unwrap();
    let slow = a.next(&ORDERING).await.unwrap();
    cb.go_busy(&ORDERING).await.unwrap();
    let fast = b.next(&ORDERING).await.unwrap();
    assert!(fast > slow);
    cb.publish_floor(None).await.unwrap();
    assert_eq!(cb.floor(&ORDERING).await.unwrap(), slow - 1, "b's committed value hides behind a's busy one");

    ca.publish_floor(Some(slow - 1)).await.unwrap();
    assert_eq!(cb.floor(&ORDERING).await.unwrap(), slow - 1, "a stale floor is only lower");
    ca.publish_floor(None).await.unwrap();
    assert_eq!(cb.floor(&ORDERING).await.unwrap(), fast, "both idle: the counter's last value");
}

#[tokio::test]
async fn a_lapsed_writer_is_reaped_and_can_commit_nothing() {
    let Some(url) = database().await else { return };
    let dead = process(&url, "dead", Duration::from_millis(500)).await;
    let live = process(&url, "live", Duration::from_secs(30)).await;
    dead.cluster().unwrap().go_busy(&ORDERING).await.unwrap();
    let stuck = dead.next(&ORDERING).await.unwrap();
    live.cluster().unwrap().go_busy(&ORDERING).await.unwrap();
    let later = live.next(&ORDERING).await.unwrap();
    live.cluster().unwrap().publish_floor(None).await.unwrap();
    assert_eq!(live.cluster().unwrap().floor(&ORDERING).await.unwrap(), stuck - 1);

    assert_eq!(live.cluster().unwrap().reap().await.unwrap(), 0, "a live lease is kept");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(live.cluster().unwrap().reap().await.unwrap(), 1);
    assert_eq!(live.cluster().unwrap().floor(&ORDERING).await.unwrap(), later, "readers pass the reaped writer");

    let mut batch = WriteBatch::new();
    batch.put(&ITEMS, b"late".to_vec(), b"write".to_vec());
    assert!(matches!(dead.write(batch).await, Err(Error::Fenced)), "a reaped writer's write is refused");
    assert!(live.get(&ITEMS, b"late").await.unwrap().is_none());
    assert!(matches!(dead.cluster().unwrap().publish_floor(None).await, Err(Error::Fenced)));
    live.put(&ITEMS, b"live", b"write").await.expect("the live process writes on");
}

#[tokio::test]
async fn a_job_has_one_holder_until_its_lease_lapses() {
    let Some(url) = database().await else { return };
    let first = process(&url, "first", Duration::from_millis(500)).await;
    let second = process(&url, "second", Duration::from_secs(30)).await;
    assert!(first.cluster().unwrap().hold_job("upkeep").await.unwrap());
    assert!(!second.cluster().unwrap().hold_job("upkeep").await.unwrap());
    assert!(first.cluster().unwrap().hold_job("upkeep").await.unwrap(), "the holder renews");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(second.cluster().unwrap().hold_job("upkeep").await.unwrap(), "taken over once it lapsed");
    assert!(!first.cluster().unwrap().hold_job("upkeep").await.unwrap());
}

#[tokio::test]
async fn a_binary_refuses_a_database_a_newer_one_wrote() {
    let Some(url) = database().await else { return };
    let options = StoreOptions {
        backend: Backend::Postgres { url: url.clone(), max_connections: 2 },
        sync_writes: false,
        cluster: None,
    };
    let newer = Catalog { version: 2, ..CATALOG };
    nexus_storage::open(&options, newer).await.expect("the newer binary opens").close().await.unwrap();
    let refused = nexus_storage::open(&options, CATALOG).await.err().expect("the older binary is refused");
    assert!(refused.to_string().contains("newer than this binary"), "{refused}");
    nexus_storage::open(&options, newer).await.expect("the same version opens again");
}

#[tokio::test]
async fn held_locks_take_no_pooled_connections() {
    // The pool has 4 connections; 12 holders each write while holding a
    // lock (the benchmark's busy rooms). Locks held on pooled connections
    // starved the holders of the connection they needed to write.
    let Some(url) = database().await else { return };
    let store = process(&url, "a", Duration::from_secs(30)).await;
    let holders = (0..12u8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let _guard = store.lock(format!("room:{i}").as_bytes()).await.expect("lock");
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut batch = WriteBatch::new();
            batch.put(&ITEMS, vec![i], b"held".to_vec());
            store.write(batch).await.expect("write while holding");
        })
    });
    let all = futures::future::join_all(holders);
    let joined = tokio::time::timeout(Duration::from_secs(10), all).await.expect("no holder starves");
    assert!(joined.into_iter().all(|j| j.is_ok()));
}

#[tokio::test]
async fn a_lock_excludes_other_processes_and_an_abandoned_wait_leaves_nothing_held() {
    let Some(url) = database().await else { return };
    let a = process(&url, "a", Duration::from_secs(30)).await;
    let b = process(&url, "b", Duration::from_secs(30)).await;
    let held = a.lock(b"room:!x").await.expect("a locks");
    let waited = tokio::time::timeout(Duration::from_millis(300), b.lock(b"room:!x")).await;
    assert!(waited.is_err(), "b must not get a lock a holds");
    drop(held);
    let b_guard = tokio::time::timeout(Duration::from_secs(5), b.lock(b"room:!x"))
        .await
        .expect("b gets it once a lets go")
        .expect("lock");
    // a's local waiters still serialise, and an abandoned try by a (its
    // future dropped mid-wait) holds nothing once b lets go.
    let abandoned = tokio::time::timeout(Duration::from_millis(100), a.lock(b"room:!x")).await;
    assert!(abandoned.is_err());
    drop(b_guard);
    let again = tokio::time::timeout(Duration::from_secs(5), b.lock(b"room:!x")).await;
    assert!(again.is_ok(), "nothing left holding the lock");
    drop(again);
    let a_again = tokio::time::timeout(Duration::from_secs(5), a.lock(b"room:!x")).await;
    assert!(a_again.is_ok(), "a can take it again");
    drop(a_again);
    let b_last = tokio::time::timeout(Duration::from_secs(5), b.lock(b"room:!x")).await;
    assert!(b_last.is_ok(), "a's unlock released it: its session holds no stray count");
}
